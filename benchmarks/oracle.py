"""The demo's oracle (true probabilities of a synthetic CRM) before and after the speed-up.

Run: ``.venv/bin/python benchmarks/oracle.py [--contacts 20000] [--seed 42]`` (``--smoke``: 1,500
contacts).

Generates the synthetic CRM, builds its weekly training table (30-day horizon, as the demo) and
times, in one run:

* **before**: :mod:`oracle_reference` (the package's oracle at b8fc6dc, plus the hand-raises of
  generator version 2): every cutoff of the table, every eligible contact, every Monte Carlo
  draw computed on its own;
* **after, every row**: :func:`leadscore.synthetic.true_probabilities` on the same cutoffs (draws
  without a future burst nor a future hand-raise share their contact's path);
* **after, test rows** (what ``train`` now asks for): ``only=`` the test period's rows.

Checks that both "after" frames equal the reference's rows exactly and prints seconds, CPU
seconds and the ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oracle_reference

from leadscore.pipeline import FeaturesSpec, GenerateSpec, build_features_step, generate_step
from leadscore.synthetic import load_oracle, true_probabilities
from leadscore.training.split import SplitConfig, time_split


def _timed(fn: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.contacts = 1500
    with tempfile.TemporaryDirectory() as tmp:
        crm, table = Path(tmp) / "crm.duckdb", Path(tmp) / "training.parquet"
        generate_step(GenerateSpec(out=crm, contacts=args.contacts, seed=args.seed))
        build_features_step(FeaturesSpec(source=crm, out=table, every="week", horizon=30))
        frame = pd.read_parquet(table, columns=["contact_id", "cutoff"])
        cutoffs = sorted(pd.to_datetime(frame["cutoff"].unique()).to_pydatetime())
        split = time_split(frame, SplitConfig(), horizon=pd.Timedelta(days=30))
        test = frame.loc[split.mask("test"), ["contact_id", "cutoff"]]
        old, new = oracle_reference.load_oracle(crm), load_oracle(crm)
        runs: dict[str, tuple[pd.DataFrame, float, float]] = {
            "before (every row)": _timed(
                lambda: oracle_reference.true_probabilities(old, cutoffs, 30)
            ),
            "after (every row)": _timed(lambda: true_probabilities(new, cutoffs, 30)),
            "after (test rows)": _timed(lambda: true_probabilities(new, cutoffs, 30, only=test)),
        }
    reference = runs["before (every row)"][0]
    keys = ["contact_id", "cutoff"]
    base_wall, base_cpu = runs["before (every row)"][1:]
    print(
        f"{args.contacts:,} contacts, {len(cutoffs)} weekly cutoffs, {len(frame):,} table rows, "
        f"{len(test):,} test rows"
    )
    for name, (out, wall, cpu) in runs.items():
        expected: Any = reference.merge(out[keys], on=keys)
        same = len(expected) == len(out) and expected.sort_values(keys).reset_index(
            drop=True
        ).equals(out.sort_values(keys).reset_index(drop=True))
        print(
            f"{name:<20} {len(out):>9,} rows {wall:7.1f} s {cpu:7.1f} CPU-s  "
            f"{base_wall / wall:5.1f}x wall {base_cpu / cpu:5.1f}x CPU  equal to before: {same}"
        )


if __name__ == "__main__":
    main()
