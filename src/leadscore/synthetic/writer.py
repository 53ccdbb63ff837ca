"""Chunked, atomic output: one DuckDB file, or a folder of Parquet parts / CSV files.

Raw block tables (integer ``*_num`` ids) are turned into contract tables by one SQL projection
per table, executed by DuckDB for every format, so the three formats hold identical data.
Everything is written under a temporary sibling path that replaces ``out`` only on success.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from leadscore.atomic import (
    check_writable,
    fault_point,
    output_error,
    sweep_dead_temps,
    temp_sibling,
)
from leadscore.contract import table_spec
from leadscore.sql import quote_literal
from leadscore.synthetic.config import OutputFormat

__all__ = [
    "CRM_TABLES",
    "ORACLE_FOLDER",
    "ORACLE_SCHEMA",
    "ORACLE_TABLES",
    "CrmWriter",
]

CRM_TABLES = ("accounts", "contacts", "events", "stage_changes")
ORACLE_SCHEMA = "oracle"
ORACLE_FOLDER = "_oracle"
_ID_FORMATS = {"account_id": "A%06d", "contact_id": "C%07d", "event_id": "E%09d"}
_ID_SOURCES = {"account_id": "account_num", "contact_id": "contact_num", "event_id": "event_num"}

ORACLE_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "contacts": (
        ("contact_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("fit", "DOUBLE"),
        ("burst_rate", "DOUBLE"),
        ("half_life_days", "DOUBLE"),
        ("dormant_at", "TIMESTAMP"),
        ("mql_at", "TIMESTAMP"),
        ("sql_at", "TIMESTAMP"),
        ("meeting_at", "TIMESTAMP"),
        ("customer_at", "TIMESTAMP"),
        ("disqualified_at", "TIMESTAMP"),
        ("is_bot", "BOOLEAN"),
    ),
    "bursts": (("contact_id", "VARCHAR"), ("burst_at", "TIMESTAMP"), ("amplitude", "DOUBLE")),
    "hand_raises": (("contact_id", "VARCHAR"), ("raised_at", "TIMESTAMP")),
    "meta": (("key", "VARCHAR"), ("value", "VARCHAR")),
}
"""Oracle tables and their columns: the latent truth, kept apart from the CRM tables."""


def _columns(name: str) -> tuple[tuple[str, str], ...]:
    if name.startswith(f"{ORACLE_SCHEMA}."):
        return ORACLE_TABLES[name.split(".", 1)[1]]
    return tuple((c.name, c.dtype) for c in table_spec(name).columns)


def _projection(name: str) -> str:
    """``SELECT`` list turning a raw table into ``name``'s columns with their exact types."""
    parts = []
    for column, dtype in _columns(name):
        if column in _ID_FORMATS:
            parts.append(f"printf('{_ID_FORMATS[column]}', {_ID_SOURCES[column]}) AS {column}")
        else:
            parts.append(f"CAST({column} AS {dtype}) AS {column}")
    return ", ".join(parts)


def _empty_projection(name: str) -> str:
    return ", ".join(f"CAST(NULL AS {dtype}) AS {column}" for column, dtype in _columns(name))


class CrmWriter:
    """Writes tables chunk by chunk under a temporary path; :meth:`commit` publishes them."""

    def __init__(self, out: Path, fmt: OutputFormat) -> None:
        self.out = out
        self.fmt = fmt
        check_writable(out, folder_ok=True)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(out, exc) from None
        sweep_dead_temps(out.parent)
        self.tmp = temp_sibling(out)
        self._parts: dict[str, int] = {}
        if fmt == "duckdb":
            self._con: Any = duckdb.connect(str(self.tmp))
            self._con.execute(f"CREATE SCHEMA {ORACLE_SCHEMA}")
            for name in (*CRM_TABLES, "feedback", *(f"{ORACLE_SCHEMA}.{t}" for t in ORACLE_TABLES)):
                cols = ", ".join(f"{c} {t}" for c, t in _columns(name))
                self._con.execute(f"CREATE TABLE {name} ({cols})")
        else:
            self.tmp.mkdir()
            self._con = duckdb.connect()
            self._copy("feedback", f"SELECT {_empty_projection('feedback')} LIMIT 0")

    def _target(self, name: str) -> Path:
        folder = self.tmp
        if name.startswith(f"{ORACLE_SCHEMA}."):
            folder, name = self.tmp / ORACLE_FOLDER, name.split(".", 1)[1]
        folder.mkdir(exist_ok=True)
        return folder / (f"{name}.csv" if self.fmt == "csv" else name)

    def _copy(self, name: str, query: str) -> None:
        """Write one chunk of ``name`` (folder formats)."""
        part = self._parts.get(name, 0)
        self._parts[name] = part + 1
        target = self._target(name)
        if self.fmt == "parquet":
            target.mkdir(exist_ok=True)
            dest = target / f"part-{part:05d}.parquet"
            self._con.execute(f"COPY ({query}) TO {quote_literal(dest)} (FORMAT parquet)")
        elif part == 0:
            self._con.execute(
                f"COPY ({query}) TO {quote_literal(target)} (FORMAT csv, HEADER true)"
            )
        else:
            scratch = target.with_name(target.name + ".part")
            self._con.execute(
                f"COPY ({query}) TO {quote_literal(scratch)} (FORMAT csv, HEADER false)"
            )
            with target.open("ab") as dst, scratch.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
            scratch.unlink()

    def append(self, name: str, raw: pa.Table) -> None:
        """Append a raw chunk to table ``name`` (``"events"``, ``"oracle.bursts"``, ...)."""
        self._con.register("_chunk", raw)
        try:
            query = f"SELECT {_projection(name)} FROM _chunk"
            if self.fmt == "duckdb":
                self._con.execute(f"INSERT INTO {name} {query}")
            else:
                self._copy(name, query)
        finally:
            self._con.unregister("_chunk")
        fault_point("generate.chunk_written")

    def commit(self) -> None:
        """Close and move the finished output into place (replacing any previous output)."""
        if self.fmt == "duckdb":
            self._con.execute("CHECKPOINT")
        self._con.close()
        fault_point("generate.before_replace")
        if self.fmt == "duckdb" and not self.out.is_dir():
            os.replace(self.tmp, self.out)
            return
        backup = temp_sibling(self.out, "old")
        had_previous = self.out.exists()
        if had_previous:
            os.replace(self.out, backup)
            fault_point("generate.between_replaces")
        try:
            os.replace(self.tmp, self.out)
        except OSError:
            if had_previous:
                os.replace(backup, self.out)
            raise
        if had_previous:
            if backup.is_dir():
                shutil.rmtree(backup)
            else:
                backup.unlink()

    def discard(self) -> None:
        """Drop the temporary output (after a failure); the previous output stays as it was."""
        with contextlib.suppress(duckdb.Error):
            self._con.close()
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            for path in (self.tmp, self.tmp.with_name(self.tmp.name + ".wal")):
                path.unlink(missing_ok=True)
