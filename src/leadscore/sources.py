"""Readers for the places CRM history lives. Each registers ``raw_<table>`` views in DuckDB.

Supported locations (see :func:`open_crm`):

- a DuckDB database file (``*.duckdb`` / ``*.db``): the embedded default;
- a folder with one entry per table: ``<table>.parquet``, ``<table>.csv`` or a ``<table>/``
  folder of Parquet or CSV parts;
- a SQL database reachable through SQLAlchemy (``postgresql+psycopg://user@host/db``...).

All of them return the same :class:`~leadscore.crm.CrmData`, validated against the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import duckdb

from leadscore.contract import TABLE_NAMES
from leadscore.errors import SourceError
from leadscore.validation import raw_view

__all__ = ["DuckDBFileSource", "FolderSource", "Source", "SqlSource", "source_for"]

_SQL_CHUNK_ROWS = 200_000


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Source(Protocol):
    """Something that can register raw CRM tables into a DuckDB connection."""

    def describe(self) -> str:
        """A human-readable description without secrets."""
        ...

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the ``raw_<table>`` views (or tables) for every table the source holds."""
        ...


class DuckDBFileSource:
    """Tables in the ``main`` schema of a DuckDB database file, attached read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"DuckDB file {self.path}"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.path.is_file():
            raise SourceError(f"DuckDB file {self.path} does not exist.")
        try:
            con.execute(f"ATTACH {_literal(str(self.path))} AS crm_source (READ_ONLY)")
        except duckdb.Error as exc:
            raise SourceError(f"Cannot open {self.path} as a DuckDB database: {exc}") from None
        names = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'crm_source' "
                "AND schema_name = 'main' UNION SELECT view_name FROM duckdb_views() "
                "WHERE database_name = 'crm_source' AND schema_name = 'main'"
            ).fetchall()
        }
        for table in TABLE_NAMES:
            if table in names:
                con.execute(
                    f'CREATE OR REPLACE VIEW {raw_view(table)} AS SELECT * FROM crm_source.main."{table}"'
                )


class FolderSource:
    """One file or folder of parts per table, in CSV (read as text, then typed) or Parquet."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"folder {self.path}"

    def _reader(self, table: str) -> str | None:
        candidates: list[str] = []
        for suffix, reader in (("parquet", "read_parquet"), ("csv", "read_csv")):
            single = self.path / f"{table}.{suffix}"
            parts = self.path / table
            if single.is_file():
                candidates.append(f"{reader}({_literal(str(single))}")
            elif parts.is_dir() and any(parts.glob(f"*.{suffix}")):
                candidates.append(f"{reader}({_literal(str(parts / f'*.{suffix}'))}")
        if len(candidates) > 1:
            raise SourceError(
                f"Table '{table}' exists twice in {self.path} (as CSV and as Parquet); keep one."
            )
        if not candidates:
            return None
        reader = candidates[0]
        if reader.startswith("read_csv"):
            return reader + ", header = true, all_varchar = true)"
        return reader + ")"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.path.is_dir():
            raise SourceError(f"Folder {self.path} does not exist.")
        for table in TABLE_NAMES:
            reader = self._reader(table)
            if reader is None:
                continue
            try:
                con.execute(f"CREATE OR REPLACE VIEW {raw_view(table)} AS SELECT * FROM {reader}")
            except duckdb.Error as exc:
                raise SourceError(f"Cannot read table '{table}' from {self.path}: {exc}") from None


class SqlSource:
    """Tables of a SQL database read through SQLAlchemy, copied in chunks into DuckDB."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema

    def describe(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            return f"database {make_url(self.url).render_as_string(hide_password=True)}"
        except Exception:  # an unparsable URL: never echo it, it may hold a password
            return "database (unparsable URL)"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        import pandas as pd
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(self.url)
        except Exception as exc:
            raise SourceError(
                f"Cannot use {self.describe()}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            with engine.connect() as connection:
                names = set(sa.inspect(connection).get_table_names(schema=self.schema))
                for table in TABLE_NAMES:
                    if table not in names:
                        continue
                    qualified = sa.table(table, schema=self.schema)
                    query = sa.select(sa.text("*")).select_from(qualified)
                    first = True
                    for chunk in pd.read_sql(query, connection, chunksize=_SQL_CHUNK_ROWS):
                        con.register("_sql_chunk", chunk)
                        if first:
                            con.execute(
                                f"CREATE OR REPLACE TABLE {raw_view(table)} AS SELECT * FROM _sql_chunk"
                            )
                            first = False
                        else:
                            con.execute(f"INSERT INTO {raw_view(table)} SELECT * FROM _sql_chunk")
                        con.unregister("_sql_chunk")
        except sa.exc.SQLAlchemyError as exc:
            reason = str(exc.orig) if getattr(exc, "orig", None) is not None else type(exc).__name__
            raise SourceError(f"Cannot read {self.describe()}: {reason.strip()}") from None
        finally:
            engine.dispose()


def source_for(location: str | Path) -> Source:
    """Pick the reader for a location: a SQLAlchemy URL, a DuckDB file or a folder."""
    text = str(location)
    if "://" in text:
        return SqlSource(text)
    path = Path(text)
    if path.is_dir():
        return FolderSource(path)
    if path.suffix in {".duckdb", ".db"} or path.is_file():
        return DuckDBFileSource(path)
    raise SourceError(
        f"{text} is neither a DuckDB file, a folder of CSV/Parquet tables nor a database URL "
        "(e.g. postgresql+psycopg://user@host/db). Generate a demo CRM with `leadscore generate`."
    )
