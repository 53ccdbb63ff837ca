"""End-to-end training benchmark on the default synthetic CRM (out-of-time test, with oracle).

Run: ``.venv/bin/python benchmarks/training.py [--contacts 20000] [--out data/bench]``.
Prints rules vs logistic vs LightGBM vs the oracle and the headline gain at the MQL volume.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import pandas as pd

from leadscore.crm import open_crm
from leadscore.features import CutoffSchedule, build_training_table, load_definition
from leadscore.synthetic import GeneratorConfig, generate_crm
from leadscore.synthetic.oracle import true_probabilities
from leadscore.training.api import train
from leadscore.training.pipeline import TrainingConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--every", choices=["week", "month"], default="week")
    parser.add_argument("--out", type=Path, default=Path("data/bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    crm_path = args.out / f"crm-{args.contacts}-{args.seed}.duckdb"
    t0 = time.perf_counter()
    if not crm_path.exists():
        generate_crm(GeneratorConfig(n_contacts=args.contacts, seed=args.seed), crm_path)
    print(f"CRM ready in {time.perf_counter() - t0:.1f} s")
    table_path = (
        args.out / f"training-{args.contacts}-{args.seed}-{args.every}-{args.horizon}.parquet"
    )
    crm = open_crm(crm_path)
    try:
        start = crm.frame("contacts")["created_at"].min().date()
        end = crm.frame("events", order_by_key=False)["occurred_at"].max().date()
        schedule = CutoffSchedule(date(start.year, start.month, 1), end, every=args.every)
        t1 = time.perf_counter()
        if not table_path.exists():
            build_training_table(crm, load_definition(), schedule, args.horizon, table_path)
        print(f"training table in {time.perf_counter() - t1:.1f} s")
    finally:
        crm.close()
    frame = pd.read_parquet(table_path, columns=["contact_id", "cutoff"])
    cutoffs = sorted(pd.to_datetime(frame["cutoff"].unique()).to_pydatetime())
    t2 = time.perf_counter()
    oracle = true_probabilities(crm_path, cutoffs, args.horizon)
    print(f"oracle in {time.perf_counter() - t2:.1f} s")
    t3 = time.perf_counter()
    config = TrainingConfig(report_dir=args.out / "reports")
    result = train(
        table_path,
        tracking_uri=f"sqlite:///{args.out.resolve()}/mlruns/mlflow.db",
        config=config,
        oracle=oracle,
        progress=lambda step, done, total: print(f"  {step}: {done}/{total}", flush=True),
    )
    print(f"training + evaluation in {time.perf_counter() - t3:.1f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.summary.to_string(index=False))
        print(result.outcome.evaluation.headline.to_string(index=False))
    print("\n".join(result.headline))
    print(f"report: {result.report_path}")


if __name__ == "__main__":
    main()
