"""Pooled DuckDB connections: rows live for one call only, and a renewed connection answers
as the one it replaces."""

from __future__ import annotations

import threading
import time

import duckdb
import pyarrow as pa

from leadscore.features.duck_pool import ConnectionPool


def _build() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 1})
    con.execute("CREATE TABLE t (x BIGINT)")
    con.execute("PREPARE total AS SELECT count(*), coalesce(sum(x), 0) FROM t")
    return con


def test_rows_are_rolled_back_and_connections_renewed() -> None:
    pool = ConnectionPool(_build, 2, renew_after=3)
    try:
        for n in range(1, 30):
            rows = pa.table({"x": pa.array(range(n), pa.int64())})
            with pool.rows_in({"t": rows}) as con:
                assert con.execute("EXECUTE total").fetchone() == (n, n * (n - 1) // 2)
            if n % 5 == 0:
                time.sleep(0.05)  # lets the background builds finish
        assert pool.renewed >= 2
        for _ in range(2):
            with pool.connection() as con:
                assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        pool.close()


def test_a_failed_query_leaves_the_connection_usable() -> None:
    pool = ConnectionPool(_build, 1)
    try:
        rows = pa.table({"x": pa.array([1, 2], pa.int64())})
        try:
            with pool.rows_in({"t": rows}) as con:
                con.execute("SELECT * FROM missing_table")
        except duckdb.CatalogException:
            pass
        with pool.rows_in({"t": rows}) as con:
            assert con.execute("EXECUTE total").fetchone() == (2, 3)
    finally:
        pool.close()


def test_threads_share_the_pool_while_it_renews() -> None:
    pool = ConnectionPool(_build, 2, renew_after=2)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for n in range(1, 40):
                rows = pa.table({"x": pa.array([k] * n, pa.int64())})
                with pool.rows_in({"t": rows}) as con:
                    assert con.execute("EXECUTE total").fetchone() == (n, k * n)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()
    assert not errors
