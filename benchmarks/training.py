"""End-to-end training benchmark on the default synthetic CRM (out-of-time test, with oracle).

Run: ``.venv/bin/python benchmarks/training.py [--contacts 20000] [--out data/bench]``.
Prints rules vs logistic vs LightGBM vs the oracle and the headline gain at the MQL volume.

``--sampling 1,0.2`` times the demo's training (``train`` as ``leadscore demo`` runs it: the
default config, MLflow logging, report, heads) on the same table once per negative-sample
fraction, in one run: wall and CPU seconds (with the machine's load average, as the ratio is what
carries over between machines), LightGBM's normalised AUC and the gain over the rules at their
MQL volume per target. ``--time-oracle`` also times the oracle (true probabilities, which the
demo's train step computes too), once, apart.

``--seeds 42,7,2024`` instead compares, over several synthetic CRMs, the LightGBM heads before
(the former defaults, one fit) and after (regularised defaults + validation search): normalized
AUC, gain over the rules at their MQL volume (cluster-bootstrap CI), Brier vs the oracle's and
LightGBM fit time, per seed and as mean / spread. Parameters are only ever chosen on the
validation period; the test period is only read here, to report.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

from leadscore.crm import open_crm
from leadscore.features import CutoffSchedule, build_training_table, load_definition
from leadscore.synthetic import GeneratorConfig, generate_crm
from leadscore.synthetic.oracle import true_probabilities
from leadscore.training import pipeline
from leadscore.training.api import train
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.models import LightGBMParams
from leadscore.training.pipeline import TrainingConfig, fit_and_evaluate
from leadscore.training.table import load_training_table
from leadscore.training.tuning import LightGBMSearch, TuningConfig

LEGACY = LightGBMParams(
    num_leaves=15,
    learning_rate=0.03,
    max_rounds=2000,
    early_stopping_rounds=100,
    min_child_samples=50,
    min_sum_hessian_in_leaf=1e-3,
    feature_fraction=0.8,
    bagging_fraction=0.8,
    negative_fraction=1.0,
    lambda_l2=1.0,
    max_bin=255,
    imbalance="sqrt",
)
"""The LightGBM settings before the regularised defaults and the search ("before")."""


def prepare(contacts: int, seed: int, horizon: int, every: str, out: Path) -> tuple[Path, Path]:
    """Generate (or reuse) the CRM, its training table and the oracle; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    crm_path = out / f"crm-{contacts}-{seed}.duckdb"
    t0 = time.perf_counter()
    if not crm_path.exists():
        generate_crm(GeneratorConfig(n_contacts=contacts, seed=seed), crm_path)
    print(f"[seed {seed}] CRM ready in {time.perf_counter() - t0:.1f} s", flush=True)
    table_path = out / f"training-{contacts}-{seed}-{every}-{horizon}.parquet"
    crm = open_crm(crm_path)
    try:
        start = crm.frame("contacts")["created_at"].min().date()
        end = crm.frame("events", order_by_key=False)["occurred_at"].max().date()
        schedule = CutoffSchedule(date(start.year, start.month, 1), end, every=every)
        t1 = time.perf_counter()
        if not table_path.exists():
            build_training_table(crm, load_definition(), schedule, horizon, table_path)
        print(f"[seed {seed}] training table in {time.perf_counter() - t1:.1f} s", flush=True)
    finally:
        crm.close()
    oracle_path = out / f"oracle-{contacts}-{seed}-{every}-{horizon}.parquet"
    if not oracle_path.exists():
        t2 = time.perf_counter()
        frame = pd.read_parquet(table_path, columns=["cutoff"])
        cutoffs = sorted(pd.to_datetime(frame["cutoff"].unique()).to_pydatetime())
        true_probabilities(crm_path, cutoffs, horizon).to_parquet(oracle_path)
        print(f"[seed {seed}] oracle in {time.perf_counter() - t2:.1f} s", flush=True)
    return table_path, oracle_path


class _Searched:
    """Stands in for ``LightGBMModel`` in the pipeline until it calls the tuner itself."""

    def __init__(self, features: Any, params: LightGBMParams) -> None:
        self.search = LightGBMSearch(features, params, TuningConfig())

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        return self.search.fit(*args, **kwargs).best_estimator_


@contextmanager
def _tuned_pipeline() -> Iterator[TrainingConfig]:
    if "tuning" in TrainingConfig.model_fields:  # the pipeline has the hook
        yield TrainingConfig()
        return
    with mock.patch.object(pipeline, "LightGBMModel", _Searched):
        yield TrainingConfig()


def _timed_steps(log: dict[str, list[float]]) -> Callable[[str, int, int], None]:
    """A progress callback recording wall and CPU time spent in each LightGBM step."""
    state: dict[str, Any] = {"step": None}

    def progress(step: str, _done: int, _total: int) -> None:
        now = (time.perf_counter(), time.process_time())
        if state["step"] is not None and "LightGBM" in state["step"]:
            log["wall"].append(now[0] - state["t"][0])
            log["cpu"].append(now[1] - state["t"][1])
        state["step"], state["t"] = step, now

    return progress


def run_arm(table_path: Path, oracle_path: Path, arm: str, n_bootstrap: int) -> dict[str, Any]:
    """Fit and evaluate one arm (``before`` or ``after``); return its headline numbers."""
    table = load_training_table(table_path)
    oracle = pd.read_parquet(oracle_path)
    evaluation = EvaluationConfig(n_bootstrap=n_bootstrap)
    log: dict[str, list[float]] = {"wall": [], "cpu": []}
    if arm == "before":
        config = TrainingConfig(lightgbm=LEGACY, evaluation=evaluation, shap_rows=0)
        extra = (
            {"tuning": TuningConfig(enabled=False)}
            if "tuning" in TrainingConfig.model_fields
            else {}
        )
        outcome = fit_and_evaluate(
            table, config.model_copy(update=extra), oracle=oracle, progress=_timed_steps(log)
        )
    else:
        with _tuned_pipeline() as base:
            config = base.model_copy(update={"evaluation": evaluation, "shap_rows": 0})
            outcome = fit_and_evaluate(table, config, oracle=oracle, progress=_timed_steps(log))
    m = outcome.evaluation.metrics.set_index(["method", "target"])
    h = outcome.evaluation.headline.set_index(["method", "target"])
    row: dict[str, Any] = {
        "lgbm_wall_s": sum(log["wall"]),
        "lgbm_cpu_s": sum(log["cpu"]),
    }
    for t in ("sql", "meeting"):
        lgbm, oracle_m = m.loc[("lightgbm", t)], m.loc[("oracle", t)]
        row |= {
            f"{t}_auc": lgbm["roc_auc"],
            f"{t}_logistic_auc": m.loc[("logistic", t), "roc_auc"],
            f"{t}_oracle_auc": oracle_m["roc_auc"],
            f"{t}_norm_auc": lgbm["normalized_auc"],
            f"{t}_norm_logistic": m.loc[("logistic", t), "normalized_auc"],
            f"{t}_gain": h.loc[("lightgbm", t), "relative_gain"],
            f"{t}_gain_low": h.loc[("lightgbm", t), "gain_low"],
            f"{t}_gain_high": h.loc[("lightgbm", t), "gain_high"],
            f"{t}_brier_ratio": lgbm["brier"] / oracle_m["brier"],
            f"{t}_iterations": outcome.validated.get(t, outcome.lightgbm[t]).best_iteration_,
            f"{t}_leaves": outcome.lightgbm[t].params.num_leaves,
        }
    return row


def compare(args: argparse.Namespace) -> None:
    """Before vs after over several seeds: per-seed rows, then mean and spread."""
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        paths = prepare(args.contacts, seed, args.horizon, args.every, args.out)
        for arm in ("before", "after"):
            row = {"seed": seed, "arm": arm} | run_arm(*paths, arm, args.bootstrap)
            rows.append(row)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
    frame = pd.DataFrame(rows)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    cols = [
        "sql_norm_auc",
        "meeting_norm_auc",
        "sql_norm_logistic",
        "meeting_norm_logistic",
        "sql_gain",
        "meeting_gain",
        "sql_brier_ratio",
        "meeting_brier_ratio",
        "lgbm_wall_s",
        "lgbm_cpu_s",
    ]
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        per_seed = frame[["seed", "arm", *cols, "sql_gain_low", "meeting_gain_low"]]
        print("\nper seed (gain_low: lower end of the 95% cluster-bootstrap CI):")
        print(per_seed.round(3).to_string(index=False))
        summary = frame.groupby("arm", sort=False)[cols].agg(["mean", "std", "min"]).T.unstack()
        print("\nmean / std / min over seeds:")
        print(summary.round(3).to_string())


def sampling(args: argparse.Namespace) -> None:
    """The demo's training per negative-sample fraction, on one table, side by side."""
    import os
    import tempfile

    from leadscore.synthetic.oracle import true_probabilities

    table_path, oracle_path = prepare(args.contacts, args.seed, args.horizon, args.every, args.out)
    oracle = pd.read_parquet(oracle_path)
    if args.time_oracle:
        cutoffs = sorted(pd.to_datetime(oracle["cutoff"].unique()))
        crm_path = args.out / f"crm-{args.contacts}-{args.seed}.duckdb"
        t0, c0 = time.perf_counter(), time.process_time()
        true_probabilities(crm_path, [c.to_pydatetime() for c in cutoffs], args.horizon)
        print(f"oracle (computed by the demo's train step too): {time.perf_counter() - t0:.1f} "
              f"s wall, {time.process_time() - c0:.1f} s CPU", flush=True)  # fmt: skip
    rows = []
    for fraction in [float(f) for f in args.sampling.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            load = os.getloadavg()[0]
            t1, c1 = time.perf_counter(), time.process_time()
            result = train(
                table_path,
                tracking_uri=f"sqlite:///{tmp}/mlflow.db",
                config=TrainingConfig(sample_negatives=fraction, report_dir=Path(tmp) / "r"),
                oracle=oracle,
            )
            wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        m = result.outcome.evaluation.metrics.set_index(["method", "target"])
        h = result.outcome.evaluation.headline.set_index(["method", "target"])
        row: dict[str, Any] = {
            "negatives": fraction,
            "rows_fitted": int(result.outcome.fit_mask("train").sum())
            if result.outcome.sample is None
            else int(result.outcome.sample.keep.sum()),
            "wall_s": wall,
            "cpu_s": cpu,
            "load_1min": max(load, os.getloadavg()[0]),
        }
        for t in ("sql", "meeting"):
            row[f"{t}_norm_auc"] = m.loc[("lightgbm", t), "normalized_auc"]
            row[f"{t}_gain"] = h.loc[("lightgbm", t), "relative_gain"]
            row[f"{t}_shipped"] = result.outcome.choices[t].shipped
        rows.append(row)
        print(pd.DataFrame([row]).round(4).to_string(index=False), flush=True)
    frame = pd.DataFrame(rows)
    base = frame.iloc[0]
    frame["cpu_ratio"] = frame["cpu_s"] / base["cpu_s"]
    frame["wall_ratio"] = frame["wall_s"] / base["wall_s"]
    for t in ("sql", "meeting"):
        frame[f"{t}_norm_auc_diff"] = frame[f"{t}_norm_auc"] - base[f"{t}_norm_auc"]
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\nthe demo's training per negative-sample fraction (first row: the reference):")
        print(frame.round(4).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", help="comma-separated seeds: compare before/after instead")
    parser.add_argument(
        "--sampling", help="comma-separated negative-sample fractions: time the demo's training"
    )
    parser.add_argument(
        "--time-oracle", action="store_true", help="with --sampling: time the oracle too"
    )
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--csv", type=Path, help="with --seeds: also write the rows here")
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--every", choices=["week", "month"], default="week")
    parser.add_argument("--out", type=Path, default=Path("data/bench"))
    args = parser.parse_args()
    if args.seeds:
        compare(args)
        return
    if args.sampling:
        sampling(args)
        return
    table_path, oracle_path = prepare(args.contacts, args.seed, args.horizon, args.every, args.out)
    t3 = time.perf_counter()
    config = TrainingConfig(report_dir=args.out / "reports")
    result = train(
        table_path,
        tracking_uri=f"sqlite:///{args.out.resolve()}/mlruns/mlflow.db",
        config=config,
        oracle=pd.read_parquet(oracle_path),
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
