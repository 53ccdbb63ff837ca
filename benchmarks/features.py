"""Benchmark: point-in-time behaviour features, straightforward pandas vs leadscore (DuckDB).

Both compute the same features (event counts per type in 7/30/90-day windows and days since the
last event of each type, capped at the lookback) for the same (contact, cutoff) rows of a
synthetic CRM, side by side in one run; values are compared exactly, then wall time, CPU time,
speed ratio and peak memory (process RSS, and DuckDB's own memory) are printed. The machine may
be shared: compare the ratio, measured in the same run, rather than absolute times.

    .venv/bin/python benchmarks/features.py --smoke
    .venv/bin/python benchmarks/features.py --contacts 100000 --cutoffs 12
    .venv/bin/python benchmarks/features.py --contacts 1000000 --skip-pandas \\
        --crm /tmp/crm1m.duckdb --memory-limit 5GB --temp-dir /tmp/duckdb-spill
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
import numpy as np
import pandas as pd

from leadscore.contract import EventType
from leadscore.crm import CrmData, open_crm
from leadscore.features import DuckDBEngine, build_features, load_definition
from leadscore.features.build import cutoffs_per_query_for
from leadscore.features.definition import FeatureDefinition

T = TypeVar("T")
WINDOWS = (7, 30, 90)
LOOKBACK = 365
US_PER_DAY = 86_400_000_000
MiB = 2**20


def subset_definition() -> FeatureDefinition:
    """One count per event type and window, one recency per event type."""
    add: list[dict[str, Any]] = []
    for kind in EventType:
        add.append(
            {
                "name": f"n_{kind.value}_{{window}}d",
                "kind": "event_count",
                "event_types": [kind.value],
                "windows": list(WINDOWS),
                "concept": "engagement",
                "type": "numeric",
                "explanation": "{value}",
            }
        )
        add.append(
            {
                "name": f"recency_{kind.value}",
                "kind": "days_since",
                "event_types": [kind.value],
                "concept": "recency",
                "type": "numeric",
                "explanation": "{value}",
            }
        )
    return load_definition({"add": add, "include": ["n_*", "recency_*"], "lookback_days": LOOKBACK})


def pandas_features(crm: CrmData, rows: pd.DataFrame) -> pd.DataFrame:
    """The straightforward way: loop over cutoffs, filter events, group by."""
    events = crm.frame("events", order_by_key=False)[["contact_id", "occurred_at", "event_type"]]
    out = []
    for key, keys in rows.groupby("cutoff", sort=True):
        cutoff = cast(pd.Timestamp, key)
        past = events[
            (events["occurred_at"] < cutoff)
            & (events["occurred_at"] >= cutoff - pd.Timedelta(days=LOOKBACK))
        ]
        age = cutoff - past["occurred_at"]
        frame = keys[["contact_id", "cutoff"]].set_index("contact_id")
        for kind in EventType:
            typed = past["event_type"] == kind.value
            for window in WINDOWS:
                counts = (
                    past[typed & (age <= pd.Timedelta(days=window))].groupby("contact_id").size()
                )
                frame[f"n_{kind.value}_{window}d"] = counts.reindex(frame.index, fill_value=0)
            last = past[typed].groupby("contact_id")["occurred_at"].max()
            micros = (cutoff - last).to_numpy().astype("timedelta64[us]").astype(np.int64)
            days = pd.Series(np.minimum(micros // US_PER_DAY, LOOKBACK), index=last.index)
            frame[f"recency_{kind.value}"] = days.reindex(frame.index).fillna(LOOKBACK)
        out.append(frame.reset_index())
    result = pd.concat(out, ignore_index=True)
    return result.astype({c: "int64" for c in result.columns if c not in ("contact_id", "cutoff")})


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux), 0 when unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


class _Sampler(threading.Thread):
    """Samples the process RSS and DuckDB's memory (and spill) every ``interval`` seconds."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.con = con.cursor() if con is not None else None
        self.interval = interval
        self.stop = threading.Event()
        self.rss = self.duckdb = self.spill = 0

    def sample(self) -> None:
        self.rss = max(self.rss, _rss_bytes())
        if self.con is not None:
            rows = self.con.execute(
                "SELECT sum(memory_usage_bytes), sum(temporary_storage_bytes) FROM duckdb_memory()"
            ).fetchall()
            if rows:
                row = rows[0]
                self.duckdb = max(self.duckdb, int(row[0] or 0))
                self.spill = max(self.spill, int(row[1] or 0))

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def finish(self) -> None:
        self.stop.set()
        self.join()
        self.sample()
        if self.con is not None:
            self.con.close()


@dataclass(frozen=True)
class Measure:
    wall: float
    cpu: float


def measure(
    label: str, func: Callable[[], T], con: duckdb.DuckDBPyConnection | None
) -> tuple[T, Measure]:
    """Run ``func``; print wall and CPU time (all threads), peak RSS and DuckDB memory."""
    sampler = _Sampler(con)
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    result = func()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    sampler.finish()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    duck = (
        f"   DuckDB peak {sampler.duckdb / MiB:7.0f} MiB (spilled {sampler.spill / MiB:.0f} MiB)"
        if con is not None
        else ""
    )
    print(
        f"{label:<30} wall {elapsed:8.2f} s   cpu {used:8.2f} s   "
        f"peak RSS during {sampler.rss / MiB:7.0f} MiB   process peak (ru_maxrss) "
        f"{maxrss / MiB:7.0f} MiB{duck}",
        flush=True,
    )
    return result, Measure(elapsed, used)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="small and quick (2,000 contacts)")
    parser.add_argument("--crm", type=Path, help="reuse this CRM file (generated when missing)")
    parser.add_argument("--skip-pandas", action="store_true", help="leadscore only (large runs)")
    parser.add_argument("--skip-full", action="store_true", help="skip the full-catalog run")
    parser.add_argument("--cutoffs-per-query", type=int, help="default: sized by contacts")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    parser.add_argument("--memory-limit", help="DuckDB memory limit, e.g. 5GB")
    parser.add_argument("--temp-dir", type=Path, help="where DuckDB spills")
    args = parser.parse_args(argv)
    contacts = 2_000 if args.smoke else args.contacts

    with tempfile.TemporaryDirectory() as tmp:
        path: Path = args.crm or Path(tmp) / "crm.duckdb"
        if not path.exists():
            from leadscore.synthetic import GeneratorConfig, generate_crm

            start = time.perf_counter()
            generate_crm(GeneratorConfig(n_contacts=contacts, seed=args.seed), path)
            print(f"generated {contacts:,} contacts in {time.perf_counter() - start:.1f} s")
        crm = open_crm(path, as_of=datetime(2100, 1, 1))
        print("CRM:", ", ".join(f"{n:,} {t}" for t, n in crm.row_counts().items()))
        months = pd.date_range(end=datetime(2025, 12, 1), periods=args.cutoffs, freq="MS")
        cutoffs = [m.to_pydatetime() for m in months]
        definition = subset_definition()
        engine = DuckDBEngine(
            crm, threads=args.threads, memory_limit=args.memory_limit, temp_directory=args.temp_dir
        )
        per_query = args.cutoffs_per_query or cutoffs_per_query_for(crm, len(cutoffs))
        print(
            f"{len(definition.features)} features x {len(cutoffs)} monthly cutoffs, "
            f"{per_query} cutoffs per query; DuckDB threads "
            f"{crm.con.execute('SELECT current_setting(?)', ['threads']).fetchall()[0][0]}"
            f" (override {args.threads}), memory limit {args.memory_limit or 'default'}"
        )

        def ours_subset() -> pd.DataFrame:
            return build_features(
                crm, definition, cutoffs, engine=engine, cutoffs_per_query=per_query
            )

        ours, t_ours = measure("leadscore (DuckDB)", ours_subset, crm.con)
        print(f"{len(ours):,} (contact, cutoff) rows")
        if args.skip_pandas:
            print("pandas side skipped (--skip-pandas): no comparison, no speed ratio")
        else:
            rows = ours[["contact_id", "cutoff"]]
            theirs, t_pandas = measure(
                "pandas loop over cutoffs", lambda: pandas_features(crm, rows), None
            )
            columns = ["contact_id", "cutoff", *definition.names]
            left = ours[columns].sort_values(["cutoff", "contact_id"]).reset_index(drop=True)
            right = theirs[columns].sort_values(["cutoff", "contact_id"]).reset_index(drop=True)
            left["cutoff"] = left["cutoff"].astype("datetime64[us]")
            right["cutoff"] = right["cutoff"].astype("datetime64[us]")
            pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=True)
            print(f"values identical on {len(left):,} rows x {len(definition.features)} features")
            print(
                f"speed-up leadscore vs pandas: {t_pandas.wall / t_ours.wall:.1f}x wall, "
                f"{t_pandas.cpu / t_ours.cpu:.1f}x CPU"
            )
            del theirs, left, right, rows
        del ours
        if not args.skip_full:
            full = load_definition()
            measure(
                f"leadscore full catalog ({len(full.features)})",
                lambda: build_features(
                    crm, full, cutoffs, engine=engine, cutoffs_per_query=per_query
                ),
                crm.con,
            )
        crm.close()


if __name__ == "__main__":
    main()
