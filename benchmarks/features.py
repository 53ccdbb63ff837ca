"""Benchmark: point-in-time behaviour features, straightforward pandas vs leadscore (DuckDB).

Both compute the same features (event counts per type in 7/30/90-day windows and days since the
last event of each type, capped at the lookback) for the same (contact, cutoff) rows of a
synthetic CRM; values are compared exactly, then time, speed ratio and peak memory are printed.

    .venv/bin/python benchmarks/features.py --smoke
    .venv/bin/python benchmarks/features.py --contacts 100000 --cutoffs 12
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from leadscore.contract import EventType
from leadscore.crm import CrmData, open_crm
from leadscore.features import build_features, load_definition
from leadscore.features.definition import FeatureDefinition

T = TypeVar("T")
WINDOWS = (7, 30, 90)
LOOKBACK = 365
US_PER_DAY = 86_400_000_000


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
    for cutoff, keys in rows.groupby("cutoff", sort=True):
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


def measure(label: str, func: Callable[[], T]) -> tuple[T, float]:
    tracemalloc.start()
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<28} {elapsed:8.2f} s   peak Python heap {peak / 2**20:8.1f} MiB   "
        f"process peak RSS so far {rss:8.1f} MiB"
    )
    return result, elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="small and quick (2,000 contacts)")
    parser.add_argument("--crm", type=Path, help="reuse an existing CRM file instead")
    args = parser.parse_args(argv)
    contacts = 2_000 if args.smoke else args.contacts

    with tempfile.TemporaryDirectory() as tmp:
        path = args.crm
        if path is None:
            from leadscore.synthetic import GeneratorConfig, generate_crm

            path = Path(tmp) / "crm.duckdb"
            start = time.perf_counter()
            generate_crm(GeneratorConfig(n_contacts=contacts, seed=args.seed), path)
            print(f"generated {contacts:,} contacts in {time.perf_counter() - start:.1f} s")
        crm = open_crm(path, as_of=datetime(2100, 1, 1))
        print("CRM:", ", ".join(f"{n:,} {t}" for t, n in crm.row_counts().items()))
        months = pd.date_range(end=datetime(2025, 12, 1), periods=args.cutoffs, freq="MS")
        cutoffs = [m.to_pydatetime() for m in months]
        definition = subset_definition()
        print(f"{len(definition.features)} features x {len(cutoffs)} monthly cutoffs")

        ours, t_ours = measure(
            "leadscore (DuckDB)", lambda: build_features(crm, definition, cutoffs)
        )
        rows = ours[["contact_id", "cutoff"]]
        theirs, t_pandas = measure("pandas loop over cutoffs", lambda: pandas_features(crm, rows))
        columns = ["contact_id", "cutoff", *definition.names]
        left = ours[columns].sort_values(["cutoff", "contact_id"]).reset_index(drop=True)
        right = theirs[columns].sort_values(["cutoff", "contact_id"]).reset_index(drop=True)
        left["cutoff"] = left["cutoff"].astype("datetime64[us]")
        right["cutoff"] = right["cutoff"].astype("datetime64[us]")
        pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=True)
        print(f"values identical on {len(left):,} rows x {len(definition.features)} features")
        print(f"speed-up leadscore vs pandas: {t_pandas / t_ours:.1f}x")
        full = load_definition()
        measure(
            f"leadscore full catalog ({len(full.features)})",
            lambda: build_features(crm, full, cutoffs),
        )
        crm.close()


if __name__ == "__main__":
    main()
