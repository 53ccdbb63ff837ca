"""Score store benchmark: the same store calls on a DuckDB file and on PostgreSQL, side by side.

Run::

    .venv/bin/python benchmarks/store.py [--leads 5000] [--calls 200] [--url postgresql://...]

Without ``--url`` it starts a throw-away PostgreSQL server (tests/postgres_support.py; the
server binaries must be installed). It fills each store with ``--leads`` leads scored 3 times
(a batch run staged from Parquet and committed), then times, per call (median ms): a verdict
(``add_feedback``), a lead's history, an inbox page (50 leads of the latest scores, trend and
last verdict; then filtered to open grade-A leads), and ``record_scores`` of 100 posted leads; and the batch run's staging (rows/s).
PostgreSQL is timed twice: opening a connection per call, and reusing the process's idle
connections (the default). Prints ratios to DuckDB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

T0 = datetime(2026, 11, 1, 8)


def _rows(leads: int, at: datetime, offset: float) -> pd.DataFrame:
    from leadscore.serving.store import HISTORY_COLUMNS

    p = [((i * 7919) % 1000) / 1000 * 0.5 + offset for i in range(leads)]
    return pd.DataFrame(
        {
            "contact_id": [f"C{i:07d}" for i in range(leads)],
            "scored_at": at,
            "model_version": "3",
            "p_sql": p,
            "p_meeting": [v / 2 for v in p],
            "grade": ["ABCD"[min(int(v * 8), 3)] for v in p],
            "fit_score": 0.5,
            "engagement_score": p,
            "reasons_positive": [["Visited the pricing page 3 times", "VP title"]] * leads,
            "reasons_negative": [["No email opened in 30 days"]] * leads,
        },
        columns=list(HISTORY_COLUMNS),
    )


def _fill(location: Path | str, leads: int, work: Path) -> float:
    """Three batch runs of ``leads`` rows; returns the staging rows/s of the last."""
    from leadscore.serving.runs import RUN_ID_KEY, new_run_id
    from leadscore.serving.store import ScoreStore

    store = ScoreStore(location)
    seconds = 0.0
    for day in range(3):
        run = new_run_id()
        table = pa.Table.from_pandas(
            _rows(leads, T0 + timedelta(days=day), day * 0.1), preserve_index=False
        )
        parquet = work / f"run-{run}.parquet"
        pq.write_table(table.replace_schema_metadata({RUN_ID_KEY: run.encode()}), parquet)
        started = time.perf_counter()
        store.stage_run(run, parquet, work / "scores.parquet", as_of=T0 + timedelta(days=day))
        seconds = time.perf_counter() - started
        store.commit_run(run)
    return leads / seconds


def _median_ms(call: Callable[[int], object], calls: int) -> float:
    call(0)  # warm
    times = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _measure(location: Path | str, leads: int, calls: int) -> dict[str, float]:
    from leadscore.serving.leads import InboxFilter, inbox_leads
    from leadscore.serving.store import ScoreStore

    store = ScoreStore(location)
    posted = _rows(100, T0 + timedelta(days=5), 0.05)
    return {
        "add_feedback": _median_ms(
            lambda i: store.add_feedback(f"C{i % leads:07d}", "accepted", rep="ann"), calls
        ),
        "history": _median_ms(lambda i: store.history(f"C{(i * 31) % leads:07d}"), calls),
        "inbox page": _median_ms(
            lambda i: inbox_leads(store, InboxFilter(offset=(i % 10) * 50)), max(calls // 10, 5)
        ),
        "inbox grade A, open": _median_ms(
            lambda i: inbox_leads(store, InboxFilter(grade="A", status="open")),
            max(calls // 10, 5),
        ),
        "record 100": _median_ms(lambda i: store.record_scores(posted), max(calls // 10, 5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: start a server)")
    args = parser.parse_args()

    from leadscore.serving import store_pg

    with ExitStack() as stack:
        url = args.url
        if url is None:
            from tests.postgres_support import new_database, postgres_bindir, start_server

            bindir = postgres_bindir()
            if bindir is None:
                sys.exit("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
            url = new_database(stack.enter_context(start_server(bindir)))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        duck = work / "scores.duckdb"
        staging = {
            "duckdb": _fill(duck, args.leads, work),
            "postgresql": _fill(url, args.leads, work),
        }
        results = {"duckdb": _measure(duck, args.leads, args.calls)}
        pooled = store_pg.IDLE_PER_URL
        store_pg.IDLE_PER_URL = 0  # a connection per call
        store_pg._close_idle()
        results["pg, connection per call"] = _measure(url, args.leads, args.calls)
        store_pg.IDLE_PER_URL = pooled
        results["pg, reused connections"] = _measure(url, args.leads, args.calls)

    print(f"{args.leads:,} leads x 3 scores; median ms per call (ratio to DuckDB)")
    names = list(results)
    print(f"{'call':<20}" + "".join(f"{n:>30}" for n in names))
    for call in results["duckdb"]:
        base = results["duckdb"][call]
        cells = [f"{results[n][call]:8.2f} ({results[n][call] / base:5.2f}x)" for n in names]
        print(f"{call:<20}" + "".join(f"{c:>30}" for c in cells))
    print(
        f"batch staging rows/s: duckdb {staging['duckdb']:,.0f}, postgresql (COPY) "
        f"{staging['postgresql']:,.0f} ({staging['postgresql'] / staging['duckdb']:.2f}x)"
    )


if __name__ == "__main__":
    main()
