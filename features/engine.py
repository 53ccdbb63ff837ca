"""Engines execute the generated SQL: DuckDB (embedded default), a pool of prepared in-memory
DuckDB connections (the HTTP API's posted leads) and Spark (local or cluster).

One interface, :class:`Engine`: ``run(sql, tables)`` and ``batches(sql, tables, rows)``, where
``tables`` are Arrow tables registered under the names the query reads (the cutoffs, given label
times, contact ids). Every engine takes the DuckDB-dialect query of
:mod:`leadscore.features.sql`; the Spark engine transpiles it with :mod:`sqlglot`, so there is
one SQL generator and no per-engine feature code. Build, batch scoring and the API all run
their SQL through an engine.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from leadscore.crm import CrmData, create_canonical_tables
from leadscore.errors import ConfigError, LeadscoreError
from leadscore.features.duck_pool import RENEW_AFTER, ConnectionPool
from leadscore.features.label_times import CUTOFFS_TABLE
from leadscore.sql import quote_literal

__all__ = [
    "CRM_TABLES",
    "DuckDBEngine",
    "Engine",
    "PooledDuckDBEngine",
    "SparkEngine",
    "Tables",
    "contact_count",
    "cutoff_table",
    "data_end",
    "to_spark_sql",
    "utc_session",
]

CRM_TABLES: tuple[str, ...] = ("accounts", "contacts", "events", "stage_changes")
"""Canonical tables the feature query reads."""


Tables = Mapping[str, pa.Table] | Sequence[datetime]
"""What a query reads besides the CRM: Arrow tables by name, or a list of cutoffs (registered
as the cutoffs table)."""


class Engine(Protocol):
    """Runs a query on the CRM tables plus the given Arrow ``tables``."""

    name: str

    def run(self, sql: str, tables: Tables) -> pa.Table:
        """Execute ``sql`` with ``tables`` registered; the whole result."""
        ...

    def batches(self, sql: str, tables: Tables, rows: int) -> Iterator[pa.Table]:
        """Execute ``sql`` with ``tables`` registered; the result ``rows`` rows at a time."""
        ...


def cutoff_table(cutoffs: Sequence[datetime]) -> pa.Table:
    """The one-column table of cutoffs a feature query reads."""
    return pa.table({"cutoff": pa.array(list(cutoffs), type=pa.timestamp("us"))})


def _tables(tables: Tables) -> dict[str, pa.Table]:
    if isinstance(tables, Mapping):
        return dict(tables)
    return {CUTOFFS_TABLE: cutoff_table(tables)}


def _scalar(engine: Engine, sql: str) -> Any:
    rows = engine.run(sql, {}).to_pylist()
    return next(iter(rows[0].values())) if rows else None


def data_end(engine: Engine) -> datetime:
    """The latest timestamp anywhere in the CRM (the end of the observed data), via ``engine``."""
    end = _scalar(
        engine,
        "SELECT greatest((SELECT max(occurred_at) FROM events), "
        "(SELECT max(changed_at) FROM stage_changes), (SELECT max(created_at) FROM contacts))"
        " AS data_end",
    )
    if end is None:
        raise ConfigError("The CRM holds no timestamp at all: cannot find the end of the data.")
    moment: datetime = end
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def contact_count(engine: Engine) -> int:
    """Number of contacts in the CRM, via ``engine``."""
    return int(_scalar(engine, "SELECT count(*) AS n FROM contacts") or 0)


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
        self._streaming: set[duckdb.DuckDBPyConnection] = set()
        self._lock = threading.Lock()

    def interrupt(self) -> None:
        """Interrupt the queries of :meth:`batches` running now (from another thread: a
        consumer stopping while the query runs in the background); each raises DuckDB's
        ``InterruptException`` where it runs."""
        with self._lock:
            for con in self._streaming:
                con.interrupt()

    def run(self, sql: str, tables: Tables) -> pa.Table:
        con = self.crm.con.cursor()  # its own result state; shares the catalog and views
        try:
            for name, table in _tables(tables).items():
                con.register(name, table)
            with _duckdb_settings(con, self.settings):
                result: pa.Table = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        return result

    def batches(self, sql: str, tables: Tables, rows: int) -> Iterator[pa.Table]:
        if rows < 1:
            raise ConfigError(f"Batches must hold at least 1 row, got {rows}.")
        con = self.crm.con.cursor()
        with self._lock:
            self._streaming.add(con)
        try:
            for name, table in _tables(tables).items():
                con.register(name, table)
            with _duckdb_settings(con, self.settings):
                result = con.sql(sql)
                try:
                    for batch in result.to_arrow_reader(rows):
                        if batch.num_rows:
                            yield pa.Table.from_batches([batch])
                finally:
                    result.close()  # a consumer stopping early: drop the open result first
        finally:
            with self._lock:
                self._streaming.discard(con)
            con.close()


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

    def run(self, sql: str, tables: Tables) -> pa.Table:
        views: dict[str, str] = {}
        try:
            for name, table in _tables(tables).items():
                views[name] = f"{name}_{self._suffix}"
                self._create_view(table, views[name])
            spark_sql = to_spark_sql(sql, {**self.tables, **views})
            with _utc(self.spark):
                result: pa.Table = self.spark.sql(spark_sql).toArrow()
        finally:
            for view in views.values():
                self.spark.catalog.dropTempView(view)
        return result

    def batches(self, sql: str, tables: Tables, rows: int) -> Iterator[pa.Table]:
        result = self.run(sql, tables)
        for start in range(0, result.num_rows, max(rows, 1)):
            yield result.slice(start, rows)

    @contextmanager
    def dataframe(self, sql: str, tables: Tables) -> Iterator[Any]:
        """The result of ``sql`` as a Spark DataFrame, never collected to the driver (batch
        scoring at scale); the input views live until the block ends. Run actions on it
        inside :func:`utc_session`."""
        views = {name: f"{name}_{uuid.uuid4().hex[:8]}" for name in _tables(tables)}
        try:
            for name, table in _tables(tables).items():
                self._create_view(table, views[name])
            with _utc(self.spark):
                yield self.spark.sql(to_spark_sql(sql, {**self.tables, **views}))
        finally:
            for view in views.values():
                self.spark.catalog.dropTempView(view)


def utc_session(spark: Any) -> _utc:
    """A block during which the Spark session time zone is UTC (CRM times are naive UTC)."""
    return _utc(spark)


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


class PooledDuckDBEngine:
    """Small in-memory CRMs (the HTTP API's posted leads), fast: a pool of long-lived DuckDB
    connections (:class:`~leadscore.features.duck_pool.ConnectionPool`, each renewed after a
    number of uses), each holding the canonical tables (created once, empty) and the
    ``prepared`` queries prepared once.

    ``run`` takes a connection from the pool, inserts ``tables`` into the tables of the same
    names (CRM tables and the query's inputs) in a transaction, executes the prepared
    statement of ``sql`` (any other query is run as is) and rolls the transaction back: no
    posted data stays in memory between calls. Calls from several threads are safe: each uses
    its own connection. Rows are not validated: pass only rows that meet the data contract.

    ``optimizer=False`` switches DuckDB's optimizer off: with it on, every ``EXECUTE`` binds and
    optimizes again (~80 ms of planning for ~30 ms of work on one lead); off, the prepared plan
    is reused. The optimizer never changes a result, only the plan.
    """

    name = "duckdb-pool"

    def __init__(
        self,
        inputs: Mapping[str, str],
        prepared: Sequence[str],
        *,
        connections: int = 2,
        optimizer: bool = False,
        renew_after: int = RENEW_AFTER,
    ) -> None:
        self._names = {sql: f"_ls_q{i}" for i, sql in enumerate(prepared)}
        self._inputs = dict(inputs)
        self._optimizer = optimizer
        self.pool = ConnectionPool(self._connect, connections, renew_after=renew_after)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={"threads": 1})
        try:
            con.execute("SET TimeZone = 'UTC'")
            if not self._optimizer:
                con.execute("SET enable_optimizer = false")
            create_canonical_tables(con)
            for name, columns in self._inputs.items():
                con.execute(f"CREATE TABLE {name} ({columns})")
            for sql, name in self._names.items():
                con.execute(f"PREPARE {name} AS {sql}")
        except BaseException:
            con.close()
            raise
        return con

    def run(self, sql: str, tables: Tables) -> pa.Table:
        prepared = self._names.get(sql)
        with self.pool.rows_in(_tables(tables)) as con:
            result: pa.Table = con.sql(f"EXECUTE {prepared}" if prepared else sql).to_arrow_table()
        return result

    def batches(self, sql: str, tables: Tables, rows: int) -> Iterator[pa.Table]:
        result = self.run(sql, tables)
        for start in range(0, result.num_rows, max(rows, 1)):
            yield result.slice(start, rows)

    def close(self) -> None:
        """Close every connection of the pool."""
        self.pool.close()
