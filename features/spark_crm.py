"""The CRM on Spark: contract tables read from a lake (Parquet folders) or a catalog, checked
and mapped by the same validation as DuckDB's (:mod:`leadscore.validation`), without any local
copy.

:func:`open_spark_crm` registers the raw tables as temporary views, runs the validator through
:class:`SparkSqlConnection` (the validator's DuckDB-dialect SQL transpiled to Spark SQL, so the
checks and messages are the same), and returns a :class:`SparkCrm` whose canonical views feed a
:class:`~leadscore.features.engine.SparkEngine`. Row counts and the data fingerprint are
computed on Spark too.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from leadscore.clock import utc_now
from leadscore.config import CrmMapping
from leadscore.contract import CONTRACT, SCHEMA_VERSION, TABLE_NAMES
from leadscore.errors import DataContractError, SourceError
from leadscore.features.engine import SparkEngine, to_spark_sql
from leadscore.features.engine import utc_session as _utc
from leadscore.validation import Problem, raw_view, validate
from leadscore.validation_counts import FetchedRows

__all__ = ["CATALOG_PREFIX", "SparkCrm", "SparkSqlConnection", "open_spark_crm"]

CATALOG_PREFIX = "catalog:"
"""A source ``catalog:<database>`` reads the contract tables from a Spark catalog database."""

_CREATE_VIEW = re.compile(r"^\s*CREATE OR REPLACE VIEW\s+(\S+)\s+AS\s+(.*)$", re.S | re.I)
_COUNT = re.compile(r"^SELECT count\(\*\) FROM (.+?)(?: WHERE (.*))?$", re.S)
_DESCRIBE = re.compile(r"^\s*DESCRIBE\s+(\S+)\s*$", re.I)
_SPARK_TO_DUCKDB = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
}


class SparkSqlConnection:
    """The validator's connection on Spark: DuckDB-dialect SQL transpiled to Spark SQL, with the
    logical table names (``raw_contacts``, ``contacts``, ...) mapped to this CRM's temporary
    views. ``DESCRIBE``, the catalog listing and ``CREATE OR REPLACE VIEW`` are translated."""

    def __init__(self, spark: Any, names: dict[str, str]) -> None:
        self.spark = spark
        self.names = names
        """Logical name -> Spark temporary view."""
        self.recorded: list[tuple[str, str]] | None = None
        """While recording (a first, dry pass of the checks): the counts they will ask for."""
        self.counts: dict[tuple[str, str], int] = {}

    def record(self) -> None:
        """Start a dry pass: counts are not run but recorded (filtered counts read 0, whole
        table counts 1), to be run together by :meth:`prefetch`."""
        self.recorded = []

    def prefetch(self) -> None:
        """Run the recorded counts, one Spark job per table for the plain conditions (each
        Spark job has a fixed cost; the checks ask for a hundred counts), then stop recording."""
        wanted = dict.fromkeys(self.recorded or [])
        self.recorded = None
        by_source: dict[str, list[str]] = {}
        for source, where in wanted:
            if where and re.search(r"\bselect\b", where, re.I):
                self.counts[(source, where)] = self._count(source, where)
            else:
                by_source.setdefault(source, []).append(where)
        for source, conditions in by_source.items():
            sums = ", ".join(
                f"sum(CASE WHEN {c} THEN 1 ELSE 0 END) AS c{i}" if c else f"count(*) AS c{i}"
                for i, c in enumerate(conditions)
            )
            row = self.spark.sql(to_spark_sql(f"SELECT {sums} FROM {source}", self.names)).collect()
            for i, condition in enumerate(conditions):
                self.counts[(source, condition)] = int(row[0][i] or 0)

    def _count(self, source: str, where: str) -> int:
        sql = f"SELECT count(*) FROM {source}" + (f" WHERE {where}" if where else "")
        return int(self.spark.sql(to_spark_sql(sql, self.names)).collect()[0][0])

    def execute(self, query: str) -> FetchedRows:
        counted = _COUNT.match(query)
        if counted:
            key = (counted.group(1).strip(), (counted.group(2) or "").strip())
            if self.recorded is not None:
                self.recorded.append(key)
                return FetchedRows([(0 if key[1] else 1,)])
            if key not in self.counts:
                self.counts[key] = self._count(*key)
            return FetchedRows([(self.counts[key],)])
        if "duckdb_views()" in query:
            present = [(name,) for name in self.names if name.startswith("raw_")]
            return FetchedRows(present)
        described = _DESCRIBE.match(query)
        if described:
            frame = self.spark.table(self.names[described.group(1).strip('"')])
            return FetchedRows([(n, _SPARK_TO_DUCKDB.get(t, t.upper())) for n, t in frame.dtypes])
        created = _CREATE_VIEW.match(query)
        if created:
            logical = created.group(1).strip('"')
            view = self.names.setdefault(logical, f"_ls_{logical}_{uuid.uuid4().hex[:8]}")
            select = to_spark_sql(created.group(2), self.names)
            self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{view}` AS {select}")
            return FetchedRows([])
        rows = self.spark.sql(to_spark_sql(query, self.names)).collect()
        return FetchedRows([tuple(row) for row in rows])


class SparkCrm:
    """A validated CRM on Spark: canonical temporary views, the problems found (warnings), and
    what the DuckDB :class:`~leadscore.crm.CrmData` offers that Spark can compute."""

    def __init__(
        self, spark: Any, views: dict[str, str], *, description: str, problems: list[Problem]
    ) -> None:
        self.spark = spark
        self.views = views
        """Logical name (``raw_<table>`` and canonical) -> Spark temporary view."""
        self.description = description
        self.problems = problems

    @property
    def tables(self) -> dict[str, str]:
        """Canonical table name -> Spark temporary view."""
        return {name: self.views[name] for name in TABLE_NAMES if name in self.views}

    def engine(self) -> SparkEngine:
        """The Spark engine over the canonical views."""
        return SparkEngine(self.spark, tables=self.tables)

    def row_counts(self) -> dict[str, int]:
        """Number of rows per table."""
        return {
            name: int(self.spark.sql(f"SELECT count(*) FROM `{view}`").collect()[0][0])
            for name, view in self.tables.items()
        }

    def fingerprint(self) -> str:
        """A content hash of every contract column computed on Spark (independent of row
        order; Spark's hash differs from DuckDB's, so the value differs from the DuckDB path's
        fingerprint of the same rows)."""
        digest = hashlib.sha256(f"schema={SCHEMA_VERSION};engine=spark".encode())
        with _utc(self.spark):
            for spec in CONTRACT:
                columns = ", ".join(f"`{c}`" for c in spec.column_names)
                row = self.spark.sql(
                    f"SELECT count(*), coalesce(sum(CAST(xxhash64({columns}) AS DECIMAL(38, 0))),"
                    f" 0) FROM `{self.views[spec.name]}`"
                ).collect()[0]
                digest.update(f"{spec.name}:({int(row[0])}, {int(row[1])})".encode())
        return digest.hexdigest()[:16]

    def close(self) -> None:
        """Drop this CRM's temporary views."""
        for view in self.views.values():
            self.spark.catalog.dropTempView(view)


def _read_parquet(spark: Any, root: str, table: str) -> Any | None:
    """The table's Parquet (``<table>.parquet`` file or ``<table>/`` folder), None if absent."""
    local = (
        Path(root.removeprefix("file://"))
        if "://" not in root or root.startswith("file://")
        else None
    )
    if local is not None:
        if not local.is_dir():
            raise SourceError(f"Folder {local} does not exist: give a folder of Parquet tables.")
        found = [p for p in (local / f"{table}.parquet", local / table) if p.exists()]
        if len(found) > 1:
            raise SourceError(
                f"Table '{table}' exists more than once in {local} ({table}.parquet, {table}/); "
                "keep exactly one file or parts folder per table."
            )
        if not found:
            if (local / f"{table}.csv").exists():
                raise SourceError(
                    f"Table '{table}' in {local} is CSV: the Spark engine reads Parquet (one file "
                    "or folder per table). Convert it, or build with --engine duckdb."
                )
            return None
        return spark.read.parquet(str(found[0].resolve()))
    for candidate in (f"{root.rstrip('/')}/{table}", f"{root.rstrip('/')}/{table}.parquet"):
        try:
            return spark.read.parquet(candidate)
        except Exception:
            continue
    return None


def _read_catalog(spark: Any, database: str, table: str) -> Any | None:
    name = f"{database}.{table}" if database else table
    return spark.table(name) if spark.catalog.tableExists(name) else None


def open_spark_crm(
    spark: Any,
    location: str | Path,
    mapping: CrmMapping | None = None,
    *,
    as_of: datetime | None = None,
    raise_on_error: bool = True,
) -> SparkCrm:
    """Read the contract tables at ``location`` (a folder or URI of Parquet tables, one file or
    folder per table, or ``catalog:<database>``) on ``spark``, validate them there with the
    DuckDB path's checks and messages, and return the canonical views.

    Raises :class:`~leadscore.errors.DataContractError` listing every problem found."""
    text = str(location)
    moment = as_of or utc_now()
    suffix = uuid.uuid4().hex[:8]
    views: dict[str, str] = {}
    catalog = text.startswith(CATALOG_PREFIX)
    with _utc(spark):
        for table in TABLE_NAMES:
            if catalog:
                frame = _read_catalog(spark, text.removeprefix(CATALOG_PREFIX), table)
            else:
                frame = _read_parquet(spark, text, table)
            if frame is None:
                continue
            views[raw_view(table)] = f"_ls_raw_{table}_{suffix}"
            frame.createOrReplaceTempView(views[raw_view(table)])
        con = SparkSqlConnection(spark, views)
        try:
            con.record()  # a dry pass gathers the counts, run together: same checks, fewer jobs
            validate(con, mapping or CrmMapping(), as_of=moment, raise_on_error=False)
            con.prefetch()
            problems = validate(
                con,
                mapping or CrmMapping(),
                as_of=moment,
                raise_on_error=raise_on_error,
            )
        except DataContractError:
            _drop(spark, con.names.values())
            raise
    kind = "catalog database" if catalog else "Parquet tables at"
    name = text.removeprefix(CATALOG_PREFIX) if catalog else text
    return SparkCrm(spark, con.names, description=f"Spark: {kind} {name}", problems=problems)


def _drop(spark: Any, views: Sequence[str] | Any) -> None:
    for view in views:
        spark.catalog.dropTempView(view)
