"""Validated CRM history: the object every later stage reads."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from leadscore import validation_cache
from leadscore.clock import utc_now
from leadscore.config import CrmMapping
from leadscore.contract import CONTRACT, SCHEMA_VERSION, TABLE_NAMES
from leadscore.errors import DataContractError
from leadscore.sources import Source, source_for
from leadscore.validation import Problem, Severity, canonical_views, validate

__all__ = ["CrmData", "create_canonical_tables", "open_crm"]


class CrmData:
    """CRM tables with contract types and vocabularies, as views of a DuckDB connection.

    Engine-side work (features at scale) runs SQL on :attr:`con`; :meth:`frame` reads small tables.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, *, description: str, problems: list[Problem]
    ) -> None:
        self.con = con
        self.description = description
        self.problems = problems

    def frame(self, table: str, *, order_by_key: bool = True) -> pd.DataFrame:
        """The canonical table as a pandas DataFrame (ordered by its key for reproducibility)."""
        spec = next(t for t in CONTRACT if t.name == table)
        order = spec.key or (spec.row_id, *((spec.time_column,) if spec.time_column else ()))
        columns = ", ".join(f'"{c}"' for c in (*order, *spec.column_names) if c)
        sql = f'SELECT * FROM "{table}"'
        if order_by_key:
            sql += f" ORDER BY {columns}"
        return self.con.execute(sql).df()

    def row_counts(self) -> dict[str, int]:
        """Number of rows per table."""
        counts = {}
        for table in TABLE_NAMES:
            row = self.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts

    def fingerprint(self) -> str:
        """A content hash of every contract column, independent of row order and source kind."""
        digest = hashlib.sha256(f"schema={SCHEMA_VERSION}".encode())
        for spec in CONTRACT:
            columns = ", ".join(f'"{c}"' for c in spec.column_names)
            row = self.con.execute(
                f'SELECT count(*), coalesce(sum(hash({columns})::HUGEINT), 0) FROM "{spec.name}"'
            ).fetchone()
            digest.update(f"{spec.name}:{row}".encode())
        return digest.hexdigest()[:16]

    def close(self) -> None:
        self.con.close()


def create_canonical_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every contract table as an empty DuckDB table with the contract's columns and
    types, under the canonical names (``accounts``, ``contacts``, ...).

    For rows that are already typed and checked against the contract elsewhere (the HTTP API's
    request models): rows inserted into these tables are *not* validated, so only use it for
    such rows. :func:`open_crm` is the validating entry point for any other source.
    """
    for spec in CONTRACT:
        columns = ", ".join(f'"{c.name}" {c.dtype}' for c in spec.columns)
        con.execute(f'CREATE OR REPLACE TABLE "{spec.name}" ({columns})')


def open_crm(
    location: str | Path | Source,
    mapping: CrmMapping | None = None,
    *,
    as_of: datetime | None = None,
    raise_on_error: bool = True,
    allow_empty_tables: bool = False,
) -> CrmData:
    """Open a CRM source, validate it against the contract and return its canonical tables.

    ``as_of`` is the moment after which timestamps count as "in the future" (default: now, in
    UTC like every CRM timestamp).
    A DuckDB file or folder that passed these checks before and is unchanged since is not
    checked again (:mod:`leadscore.validation_cache`; the same problems are returned).
    Raises :class:`~leadscore.errors.DataContractError` listing every problem found.
    """
    source = location if not isinstance(location, str | Path) else source_for(location)
    mapping = mapping or CrmMapping()
    moment = as_of or utc_now()
    con = duckdb.connect()
    try:
        source.register(con)
        findings = list(getattr(source, "findings", ()))
        key = (  # no key when caching is off: nothing is stat'ed, hashed or read back
            validation_cache.cache_key(source, con, mapping, allow_empty_tables=allow_empty_tables)
            if validation_cache.cache_dir() is not None
            else None
        )
        known = validation_cache.lookup(key, moment)
        if known is not None:  # the same files passed the same checks before
            problems = canonical_views(con, mapping, checks=known, findings=findings)
            if raise_on_error and any(p.severity is Severity.ERROR for p in problems):
                raise DataContractError(list(problems))
        else:
            problems = validate(
                con,
                mapping,
                as_of=moment,
                raise_on_error=raise_on_error,
                allow_empty_tables=allow_empty_tables,
                findings=findings,
            )
            if key is not None:
                after = validation_cache.cache_key(
                    source, con, mapping, allow_empty_tables=allow_empty_tables
                )
                checks = problems[len(findings) :]
                if after == key and not any(p.severity is Severity.ERROR for p in checks):
                    validation_cache.record(key, after, checks, validation_cache.latest_times(con))
    except BaseException:
        con.close()
        raise
    return CrmData(con, description=source.describe(), problems=problems)
