"""Engines execute the generated SQL: DuckDB (embedded default) and Spark (local or cluster).

Both take the DuckDB-dialect query of :mod:`leadscore.features.sql`; the Spark engine transpiles
it with :mod:`sqlglot`, so there is one SQL generator and no per-engine feature code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from leadscore.crm import CrmData
from leadscore.errors import LeadscoreError
from leadscore.features.sql import CUTOFFS_TABLE

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
    """Runs queries on the DuckDB connection of a :class:`~leadscore.crm.CrmData`."""

    name = "duckdb"

    def __init__(self, crm: CrmData) -> None:
        self.crm = crm

    def run(self, sql: str, cutoffs: Sequence[datetime]) -> pa.Table:
        con = self.crm.con.cursor()  # its own result state; shares the catalog and views
        try:
            con.register(CUTOFFS_TABLE, _cutoff_table(cutoffs))
            result: pa.Table = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        return result


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
