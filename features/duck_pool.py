"""A pool of prepared in-memory DuckDB connections, each renewed after a number of uses.

The HTTP API runs the same prepared statements over and over on small in-memory DuckDB
connections (the feature query, the contract checks). Such a connection gets slower as it
goes: measured with DuckDB 2.0.1 on one posted lead, the feature query costs about 24 ms of
CPU on a fresh connection and about 36 ms after 1,000 runs, and that stays so even on empty
tables (state DuckDB keeps per database, not the rows: none stays, see :meth:`ConnectionPool.
rows_in`); a new connection is fast again. So after ``renew_after`` uses a connection's
successor is built in the background, and the next time the connection is taken from the pool
the successor takes its place (the old one is closed). A request never waits for a build.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from leadscore.errors import ConfigError

__all__ = ["RENEW_AFTER", "ConnectionPool"]

RENEW_AFTER = 100
"""Uses of a connection before its successor is built: a build (tables, prepared statements)
costs 30-50 ms of CPU, under 0.5 ms per use, while the slowdown grows by a few ms per 100
runs."""


class ConnectionPool:
    """``size`` connections made by ``build`` (each holding its tables and prepared
    statements); thread-safe. Take one with :meth:`connection`; :meth:`rows_in` runs work on
    rows that are gone when it ends."""

    def __init__(
        self,
        build: Callable[[], duckdb.DuckDBPyConnection],
        size: int,
        *,
        renew_after: int = RENEW_AFTER,
    ) -> None:
        if size < 1:
            raise ConfigError(f"connections must be at least 1, got {size}.")
        self.renew_after = max(1, renew_after)
        self.renewed = 0
        """Connections replaced by a successor so far."""
        self._build = build
        self._pool: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        self._all: list[duckdb.DuckDBPyConnection] = []
        self._uses: dict[int, int] = {}
        self._next: dict[int, Future[duckdb.DuckDBPyConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._renewer = ThreadPoolExecutor(1, thread_name_prefix="leadscore-duckdb-renew")
        try:
            for _ in range(size):
                con = build()
                self._all.append(con)
                self._uses[id(con)] = 0
                self._pool.put(con)
        except BaseException:
            self.close()
            raise

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of the pool for the ``with`` block (others wait for a free one)."""
        con = self._take()
        try:
            yield con
        finally:
            self._give(con)

    @contextmanager
    def rows_in(self, tables: Mapping[str, pa.Table]) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose tables of the same names hold ``tables``' rows for the ``with``
        block, in a transaction rolled back at its end: no row is ever committed, so none
        stays between calls, and nothing is left to delete."""
        with self.connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for name, table in tables.items():
                    if table.num_rows:
                        _ls_rows = table  # read by name: DuckDB's replacement scan
                        con.execute(f'INSERT INTO "{name}" SELECT * FROM _ls_rows')
                yield con
            finally:
                con.execute("ROLLBACK")

    def _take(self) -> duckdb.DuckDBPyConnection:
        con = self._pool.get()
        with self._lock:
            successor = self._next.get(id(con))
            if successor is None or not successor.done():
                return con
            del self._next[id(con)]
        try:
            fresh = successor.result()
        except Exception:  # the build failed (e.g. out of memory): keep the old one
            with self._lock:
                self._uses[id(con)] = 0
            return con
        with self._lock:
            self._all.remove(con)
            self._uses.pop(id(con), None)
            self._all.append(fresh)
            self._uses[id(fresh)] = 0
            self.renewed += 1
        con.close()
        return fresh

    def _give(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            uses = self._uses.get(id(con), 0) + 1
            self._uses[id(con)] = uses
            if uses >= self.renew_after and id(con) not in self._next and not self._closed:
                self._next[id(con)] = self._renewer.submit(self._build)
        self._pool.put(con)

    def close(self) -> None:
        """Close every connection (and successors already built)."""
        with self._lock:
            self._closed = True
        self._renewer.shutdown(wait=True)
        for successor in self._next.values():
            if successor.exception() is None:
                successor.result().close()
        self._next.clear()
        for con in self._all:
            con.close()
