"""Readers for the places CRM history lives. Each registers ``raw_<table>`` views in DuckDB.

Supported locations (see :func:`open_crm`):

- a DuckDB database file (``*.duckdb`` / ``*.db``): the embedded default;
- a folder with one entry per table: ``<table>.parquet``, ``<table>.csv`` or a ``<table>/``
  folder of Parquet or CSV parts (``<table>/part-0.parquet``, ...);
- a SQL database reachable through SQLAlchemy (``postgresql+psycopg://user@host/db``...).

All of them return the same :class:`~leadscore.crm.CrmData`, validated against the contract: the
same rows give the same canonical tables and the same fingerprint whatever the source. Two rules
make this hold:

- every source sets the DuckDB session time zone to UTC, so time-zone-aware timestamps
  (``TIMESTAMPTZ`` in DuckDB, Parquet or PostgreSQL) become naive UTC timestamps, never local ones;
- timestamps stored as text (CSV, text columns) are parsed the same way: a value with a UTC offset
  (``2024-03-01T09:30:00+02:00``, ``...Z``) is converted to UTC, a value without one is taken as
  UTC. Unparsable text is passed through unchanged so validation reports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from leadscore.contract import TABLE_NAMES, table_spec
from leadscore.errors import SourceError
from leadscore.source_files import (
    CSV_OPTIONS,
    check_readable,
    duplicate_header_problems,
    read_error,
    unknown_entry_problems,
)
from leadscore.sql import quote_identifier as _quote
from leadscore.sql import quote_literal as _literal
from leadscore.validation import Problem, Severity, raw_view

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa

__all__ = ["DuckDBFileSource", "FolderSource", "Source", "SqlSource", "source_for"]

_SQL_CHUNK_ROWS = 100_000
_FILE_FORMATS: tuple[tuple[str, str], ...] = (("parquet", "read_parquet"), ("csv", "read_csv"))


@dataclass(frozen=True)
class _Candidate:
    """One form of a table in a folder: its name, reader call, kind and files."""

    name: str
    call: str
    kind: str
    files: list[Path]


class Source(Protocol):
    """Something that can register raw CRM tables into a DuckDB connection."""

    def describe(self) -> str:
        """A human-readable description without secrets."""
        ...

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the ``raw_<table>`` views (or tables) for every table the source holds."""
        ...


def _first_line(exc: Exception) -> str:
    """The first line of a DuckDB error, without its query excerpt, cut short."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


def _use_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Make time-zone conversions independent of the machine's local time zone."""
    con.execute("SET TimeZone = 'UTC'")


def _create_raw_view(
    con: duckdb.DuckDBPyConnection, table: str, relation_sql: str, *, skip_empty: bool = False
) -> None:
    """Create ``raw_<table>`` over ``relation_sql``, normalising text timestamps to UTC.

    Contract ``TIMESTAMP`` columns held as text are rewritten as ISO text in UTC when they parse
    as a timestamp (with or without an offset); other values are kept so validation reports them.
    Every other column is passed through unchanged. ``skip_empty`` (CSV): a row with no value
    at all (a line of separators, as Excel leaves below a sheet) is no row.
    """
    columns = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
    spec = table_spec(table)
    timestamp_columns = {c.name for c in spec.columns if c.dtype == "TIMESTAMP"}
    replaced = []
    for name, dtype, *_ in columns:
        if name in timestamp_columns and dtype == "VARCHAR":
            col = _quote(name)
            replaced.append(
                f"coalesce(CAST(timezone('UTC', TRY_CAST({col} AS TIMESTAMPTZ)) AS VARCHAR), "
                f"{col}) AS {col}"
            )
    select = f"* REPLACE ({', '.join(replaced)})" if replaced else "*"
    where = ""
    if skip_empty and columns:
        where = " WHERE NOT (" + " AND ".join(f"{_quote(c[0])} IS NULL" for c in columns) + ")"
    con.execute(
        f"CREATE OR REPLACE VIEW {raw_view(table)} AS SELECT {select} FROM {relation_sql}{where}"
    )


class DuckDBFileSource:
    """Tables (or views) in the ``main`` schema of a DuckDB database file, attached read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.findings: list[Problem] = []
        """Problems found while reading (tables that are not in the contract), for validation."""

    def describe(self) -> str:
        return f"DuckDB file {self.path}"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.path.is_file():
            raise SourceError(f"DuckDB file {self.path} does not exist.")
        _use_utc(con)
        try:
            con.execute(f"ATTACH {_literal(str(self.path))} AS crm_source (READ_ONLY)")
        except duckdb.Error as exc:
            raise SourceError(
                f"Cannot open {self.path} as a DuckDB database ({_first_line(exc)}): check that "
                "it is a DuckDB file written by a compatible DuckDB version and not in use by "
                "another process."
            ) from None
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
                try:
                    _create_raw_view(con, table, f"crm_source.main.{_quote(table)}")
                except duckdb.Error as exc:
                    raise SourceError(
                        f"Cannot read table '{table}' from {self.path} ({_first_line(exc)}); "
                        "check the table (or view) in DuckDB."
                    ) from None
        self.findings = [
            Problem(
                name,
                None,
                0,
                "ignored: not a table of the data contract; expected only the tables "
                f"{', '.join(TABLE_NAMES)} in the main schema (other schemas are never read)",
                severity=Severity.WARNING,
            )
            for name in sorted(names - set(TABLE_NAMES))
        ]


class FolderSource:
    """One file or folder of parts per table, in CSV (read as text, then typed) or Parquet.

    Accepted per table: ``<table>.parquet``, ``<table>.csv`` or a ``<table>/`` folder holding
    ``*.parquet`` or ``*.csv`` parts (read together, columns matched by name). A table found in
    more than one of these forms is an error, never a silent choice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.findings: list[Problem] = []
        """Problems found while reading (duplicate headers, ignored files), for validation."""

    def describe(self) -> str:
        return f"folder {self.path}"

    def _candidates(self, table: str) -> list[_Candidate]:
        """Every form of ``table`` found in the folder, with its DuckDB reader call."""
        found: list[_Candidate] = []
        parts = self.path / table
        for suffix, reader in _FILE_FORMATS:
            options = CSV_OPTIONS if suffix == "csv" else ""
            single = self.path / f"{table}.{suffix}"
            if single.is_file():
                call = f"{reader}({_literal(str(single))}{options})"
                found.append(_Candidate(single.name, call, suffix, [single]))
            files = sorted(parts.glob(f"*.{suffix}")) if parts.is_dir() else []
            if files:
                pattern = _literal(str(parts / f"*.{suffix}"))
                call = f"{reader}({pattern}{options}, union_by_name = true)"
                found.append(_Candidate(f"{table}/*.{suffix}", call, suffix, files))
        return found

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.path.is_dir():
            raise SourceError(f"Folder {self.path} does not exist.")
        _use_utc(con)
        self.findings = []
        used: set[str] = set()
        for table in TABLE_NAMES:
            candidates = self._candidates(table)
            if len(candidates) > 1:
                forms = ", ".join(c.name for c in candidates)
                raise SourceError(
                    f"Table '{table}' exists more than once in {self.path} ({forms}); "
                    "keep exactly one file or parts folder per table."
                )
            if not candidates:
                continue
            found = candidates[0]
            used.add(found.name.split("/", 1)[0])
            try:
                _create_raw_view(con, table, found.call, skip_empty=found.kind == "csv")
                check_readable(con, raw_view(table))
            except duckdb.Error as exc:
                location = str(found.files[0] if len(found.files) == 1 else self.path / table)
                raise read_error(exc, table, location, found.kind) from None
            self.findings += duplicate_header_problems(con, table, found.files, found.kind)
        self.findings += unknown_entry_problems(self.path, used)


# -- SQL databases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SqlColumn:
    """How one database column is copied: its DuckDB type, Arrow type and value conversion."""

    name: str
    duckdb_type: str
    arrow_type: pa.DataType
    convert: Callable[[Any], Any] | None = None


def _to_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _to_naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _sql_column(name: str, sql_type: Any) -> _SqlColumn:
    """Map a reflected SQLAlchemy type onto an exact DuckDB/Arrow type.

    Types the contract may need exactly keep their meaning: integers stay integers, decimals with
    a declared precision stay exact decimals, time-zone-aware timestamps become naive UTC. Anything
    else (unconstrained NUMERIC, UUID, JSON, enums...) is copied as text, which validation then
    casts to the contract type.
    """
    import pyarrow as pa
    import sqlalchemy as sa

    if isinstance(sql_type, sa.Boolean):
        return _SqlColumn(name, "BOOLEAN", pa.bool_())
    if isinstance(sql_type, sa.Integer):
        return _SqlColumn(name, "BIGINT", pa.int64())
    if isinstance(sql_type, sa.Float):
        return _SqlColumn(name, "DOUBLE", pa.float64(), lambda v: None if v is None else float(v))
    if isinstance(sql_type, sa.Numeric):
        precision, scale = sql_type.precision, sql_type.scale
        if precision is not None and 0 < precision <= 38:
            scale = scale or 0
            return _SqlColumn(
                name, f"DECIMAL({precision}, {scale})", pa.decimal128(precision, scale)
            )
        return _SqlColumn(name, "VARCHAR", pa.string(), _to_text)
    if isinstance(sql_type, sa.DateTime):
        return _SqlColumn(name, "TIMESTAMP", pa.timestamp("us"), _to_naive_utc)
    if isinstance(sql_type, sa.Date):
        return _SqlColumn(name, "DATE", pa.date32())
    return _SqlColumn(name, "VARCHAR", pa.string(), _to_text)


def _arrow_chunk(columns: Sequence[_SqlColumn], rows: Iterable[Sequence[Any]]) -> pa.Table:
    import pyarrow as pa

    values = list(zip(*rows, strict=True)) or [() for _ in columns]
    arrays = []
    for column, column_values in zip(columns, values, strict=True):
        data: Iterable[Any] = column_values
        if column.convert is not None:
            data = [column.convert(v) for v in column_values]
        arrays.append(pa.array(data, type=column.arrow_type))
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


class SqlSource:
    """Tables (or views) of a SQL database read through SQLAlchemy, copied in chunks into DuckDB.

    Rows are streamed with a server-side cursor where the driver supports it, converted with
    explicit types taken from the database schema (never guessed from the values, so an empty or
    all-NULL chunk keeps its types), and appended to a DuckDB table per contract table.
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema

    def describe(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            return f"database {make_url(self.url).render_as_string(hide_password=True)}"
        except Exception:  # an unparsable URL: never echo it, it may hold a password
            return "database (unparsable URL)"

    def _scrub(self, message: str) -> str:
        """Remove the URL's password from a driver message, should a driver ever echo it."""
        from sqlalchemy.engine import make_url

        try:
            password = make_url(self.url).password
        except Exception:
            password = None
        secrets = [str(password)] if password else []
        secrets.append(self.url)
        for secret in sorted(secrets, key=len, reverse=True):
            message = message.replace(secret, "***")
        return message.strip()

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        import sqlalchemy as sa

        _use_utc(con)
        try:
            engine = sa.create_engine(self.url)
        except Exception as exc:
            hint = ""
            if isinstance(exc, ModuleNotFoundError | sa.exc.NoSuchModuleError):
                hint = " (install the database driver, e.g. `pip install 'leadscore[postgres]'`)"
            raise SourceError(
                self._scrub(f"Cannot use {self.describe()}: {type(exc).__name__}: {exc}{hint}")
            ) from None
        table = None
        try:
            with engine.connect() as connection:
                inspector = sa.inspect(connection)
                names = [
                    *inspector.get_table_names(schema=self.schema),
                    *inspector.get_view_names(schema=self.schema),
                ]
                for table in TABLE_NAMES:
                    if table in names:
                        self._copy_table(con, connection, inspector, table)
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            reason = str(orig) if orig is not None else f"{type(exc).__name__}: {exc}"
            where = f" (table '{table}')" if table else ""
            raise SourceError(
                self._scrub(f"Cannot read {self.describe()}{where}: {reason}")
            ) from None
        except (duckdb.Error, ValueError, TypeError, ArithmeticError) as exc:
            # pyarrow's conversion errors derive from ValueError/TypeError/ArithmeticError
            raise SourceError(
                self._scrub(
                    f"Cannot copy table '{table}' from {self.describe()}: "
                    f"{type(exc).__name__}: {exc}"
                )
            ) from None
        finally:
            engine.dispose()

    def _copy_table(
        self,
        con: duckdb.DuckDBPyConnection,
        connection: sa.Connection,
        inspector: sa.Inspector,
        table: str,
    ) -> None:
        import sqlalchemy as sa

        columns = [
            _sql_column(str(info["name"]), info["type"])
            for info in inspector.get_columns(table, schema=self.schema)
        ]
        copy = f"_sql_{table}"
        definition = ", ".join(f"{_quote(c.name)} {c.duckdb_type}" for c in columns)
        con.execute(f"CREATE OR REPLACE TABLE {_quote(copy)} ({definition})")
        query: sa.Executable = sa.select(*(sa.column(c.name) for c in columns)).select_from(
            sa.table(table, schema=self.schema)
        )
        result = connection.execution_options(
            stream_results=True, yield_per=_SQL_CHUNK_ROWS
        ).execute(query)
        with result:
            for rows in result.partitions(_SQL_CHUNK_ROWS):
                chunk = _arrow_chunk(columns, rows)
                con.register("_sql_chunk", chunk)
                try:
                    con.execute(f"INSERT INTO {_quote(copy)} SELECT * FROM _sql_chunk")
                finally:
                    con.unregister("_sql_chunk")
        _create_raw_view(con, table, _quote(copy))


def source_for(location: str | Path) -> Source:
    """Pick the reader for a location: a SQLAlchemy URL, a DuckDB file or a folder."""
    text = str(location)
    if "://" in text:
        return SqlSource(text)
    path = Path(text)
    if path.is_dir():
        return FolderSource(path)
    if path.suffix.lower() in {".csv", ".parquet", ".tsv", ".xlsx", ".json"}:
        raise SourceError(
            f"{text} is a single file: a CRM is several tables. Pass the folder holding one "
            "file per table (accounts, contacts, events, stage_changes), or a DuckDB file."
        )
    if path.suffix in {".duckdb", ".db"} or path.is_file():
        return DuckDBFileSource(path)
    raise SourceError(
        f"{text} is neither a DuckDB file, a folder of CSV/Parquet tables nor a database URL "
        "(e.g. postgresql+psycopg://user@host/db). Generate a demo CRM with `leadscore generate`."
    )
