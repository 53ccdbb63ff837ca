"""Engines execute the generated SQL: DuckDB (embedded default) and Spark (local or cluster).

Both take the DuckDB-dialect query of :mod:`leadscore.features.sql`; the Spark engine transpiles
it with :mod:`sqlglot`, so there is one SQL generator and no per-engine feature code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from leadscore.crm import CrmData
from leadscore.errors import LeadscoreError
from leadscore.features.sql import CUTOFFS_TABLE
from leadscore.sql import quote_literal

__all__ = ["CRM_TABLES", "DuckDBEngine", "Engine", "SparkEngine", "to_spark_sql"]

CRM_TABLES: tuple[str, ...] = ("accounts", "contacts", "events", "stage_changes")
"""Canonical tables the feature query reads."""


class Engine(Protocol):
    """Runs a feature query for a list of cutoffs and returns an Arrow table."""

    name: str

    def run(self, sql: str, cutoffs: Sequence[datetime]) -> pa.Table:
        """Execute ``sql`` with the table of ``cutoffs`` registered."""
        ...


def _cutoff_table(cutoffs: Sequence[datetime]) -> pa.Table:
    return pa.table({"cutoff": pa.array(list(cutoffs), type=pa.timestamp("us"))})


class DuckDBEngine:
    """Runs queries on the DuckDB connection of a :class:`~leadscore.crm.CrmData`.

    ``threads``, ``memory_limit`` (DuckDB syntax, e.g. ``"6GB"``) and ``temp_directory``
    (where DuckDB spills when a query outgrows the memory limit) are applied for the duration
    of each query and restored afterwards (except ``temp_directory``, which DuckDB cannot
    switch back once used); ``None`` keeps the connection's setting. Insertion
    order is never preserved during a query (the feature query orders its output itself),
    which lets DuckDB stream and spill more freely.
    """

    name = "duckdb"

    def __init__(
        self,
        crm: CrmData,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
    ) -> None:
        self.crm = crm
        self.settings: dict[str, Any] = {"preserve_insertion_order": False}
        if threads is not None:
            self.settings["threads"] = int(threads)
        if memory_limit is not None:
            self.settings["memory_limit"] = str(memory_limit)
        if temp_directory is not None:
            self.settings["temp_directory"] = str(temp_directory)

    def run(self, sql: str, cutoffs: Sequence[datetime]) -> pa.Table:
        con = self.crm.con.cursor()  # its own result state; shares the catalog and views
        try:
            con.register(CUTOFFS_TABLE, _cutoff_table(cutoffs))
            with _duckdb_settings(con, self.settings):
                result: pa.Table = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        return result


@contextmanager
def _duckdb_settings(con: duckdb.DuckDBPyConnection, settings: Mapping[str, Any]) -> Iterator[None]:
    """Apply DuckDB ``settings`` for the duration of a block, then restore the previous ones."""
    previous: dict[str, Any] = {}
    try:
        for name, value in settings.items():
            rows = con.execute("SELECT current_setting(?)", [name]).fetchall()
            old = rows[0][0] if rows else None
            if old == value:
                continue
            previous[name] = old
            con.execute(f"SET {name} = {_setting_literal(value)}")
        yield
    finally:
        for name, value in previous.items():
            if name in _KEPT_ONCE_USED:
                continue
            con.execute(f"RESET {name}")  # exact when the previous value was the default
            rows = con.execute("SELECT current_setting(?)", [name]).fetchall()
            if not rows or rows[0][0] != value:
                con.execute(f"SET {name} = {_setting_literal(value)}")


_KEPT_ONCE_USED = frozenset({"temp_directory"})
"""Settings DuckDB cannot switch back once used (spill files live there): kept as set."""


def _setting_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return quote_literal(str(value))


def to_spark_sql(sql: str, tables: Mapping[str, str] | None = None) -> str:
    """Transpile a DuckDB-dialect query to Spark SQL, renaming tables via ``tables``."""
    try:
        import sqlglot
        from sqlglot import exp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LeadscoreError(
            "The Spark engine needs sqlglot: pip install 'leadscore[spark]' "
            "(or pip install 'sqlglot<30.18')."
        ) from exc
    tree = sqlglot.parse_one(sql, read="duckdb")
    if tables:
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.name in tables and table.name not in ctes and not table.db:
                table.replace(exp.to_table(tables[table.name]).as_(table.alias_or_name))
    return tree.sql(dialect="spark")


class SparkEngine:
    """Runs queries on a Spark session.

    ``tables`` maps canonical table names to Spark tables or views (lake tables at scale).
    Without it, the canonical tables of ``crm`` are copied into temporary views (small data,
    tests and local mode). Times are naive UTC: queries run with the session time zone set to
    UTC (restored afterwards).
    """

    name = "spark"

    def __init__(
        self,
        spark: Any,
        crm: CrmData | None = None,
        *,
        tables: Mapping[str, str] | None = None,
    ) -> None:
        if tables is None and crm is None:
            raise LeadscoreError("SparkEngine needs either a CrmData to copy or `tables`.")
        self.spark = spark
        self._suffix = uuid.uuid4().hex[:8]
        self.tables: dict[str, str] = dict(tables or {})
        if tables is None and crm is not None:
            for name in CRM_TABLES:
                view = f"_ls_{name}_{self._suffix}"
                arrow = crm.con.cursor().sql(f'SELECT * FROM "{name}"').to_arrow_table()
                self._create_view(arrow, view, cache=True)
                self.tables[name] = view
        missing = [name for name in CRM_TABLES if name not in self.tables]
        if missing:
            raise LeadscoreError(f"SparkEngine `tables` lacks: {', '.join(missing)}.")

    def _create_view(self, arrow: pa.Table, view: str, *, cache: bool = False) -> None:
        with _utc(self.spark):
            frame = self.spark.createDataFrame(arrow)
            if cache:
                frame = frame.cache()
            frame.createOrReplaceTempView(view)

    def run(self, sql: str, cutoffs: Sequence[datetime]) -> pa.Table:
        view = f"_ls_cutoffs_{self._suffix}"
        self._create_view(_cutoff_table(cutoffs), view)
        spark_sql = to_spark_sql(sql, {**self.tables, CUTOFFS_TABLE: view})
        try:
            with _utc(self.spark):
                result: pa.Table = self.spark.sql(spark_sql).toArrow()
        finally:
            self.spark.catalog.dropTempView(view)
        return result


class _utc:
    """Set the Spark session time zone to UTC for the duration of a block."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.previous: str | None = None

    def __enter__(self) -> None:
        self.previous = self.spark.conf.get("spark.sql.session.timeZone")
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            self.spark.conf.set("spark.sql.session.timeZone", self.previous)
