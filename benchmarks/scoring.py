"""Exact SHAP for batch scoring: shap.TreeExplainer on every row vs leadscore's dedupe path.

    .venv/bin/python benchmarks/scoring.py                  # real pipeline, leadscore's head
    .venv/bin/python benchmarks/scoring.py --trees 500 --leaves 31   # DESIGN.md reference size
    .venv/bin/python benchmarks/scoring.py --data simulated # simulated features (older default)
    .venv/bin/python benchmarks/scoring.py --smoke          # seconds, for CI

By default the rows are the real thing: a synthetic CRM (``--contacts``, cached under
``--out``), the current features of every eligible contact at the data's end
(``build_features``), a LightGBM head trained the way leadscore trains it on a training table
of the same CRM (``LightGBMModel``; ``--trees``/``--leaves`` fix its size instead), and the
rows encoded by the head's ``FeatureEncoder``, as ``Scorer.explain`` does. ``--data simulated``
keeps the simulated lead-scoring features (counts, continuous, categoricals, NaN).

Both paths run side by side in one process on the same rows and threads; the ratio is what
counts on a shared machine. The naive path is timed on a subsample when the full set would
take too long (``--naive-rows``): its cost per row does not depend on the batch size, while
leadscore's improves with larger batches, so the ratio on the full set is the one batch scoring
sees (the ratio on the subsample is printed too).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from leadscore.serving.contributions import ThresholdBinner, exact_contributions

__all__ = ["main", "prepare_crm", "simulate_leads"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LeadData:
    X: Floats
    y: npt.NDArray[np.int64]
    categorical: list[int]
    names: list[str]


def simulate_leads(n: int, n_features: int, seed: int) -> LeadData:
    """Lead-scoring-like features: counts, a few continuous, categoricals, NaN."""
    rng = np.random.default_rng(seed)
    n_cat = min(4, max(1, n_features // 10))
    n_cont = min(6, max(1, n_features // 7))
    n_count = n_features - n_cat - n_cont
    if n_count < 1:
        raise SystemExit(f"--features must be at least 4, got {n_features}")
    n_accounts = max(1, n // 8)
    account = rng.integers(0, n_accounts, n)
    intent = rng.gamma(0.5, 1.0, n)  # most contacts cold, a few very engaged
    employees = np.round(np.exp(rng.normal(5.0, 1.5, n_accounts)))[account]
    revenue = employees * rng.lognormal(11.0, 0.5, n_accounts)[account]
    columns: list[Floats] = []
    names: list[str] = []
    windows = (7, 30, 90)
    kinds = ("email_open", "email_click", "web_visit", "form_fill", "webinar", "content")
    for j in range(n_count):
        rate = intent * (0.1 + 0.9 * rng.random()) * windows[j % 3] / 30.0
        columns.append(rng.poisson(rate).astype(np.float64))
        names.append(f"{kinds[(j // 3) % len(kinds)]}_{windows[j % 3]}d_{j}")
    continuous = [
        ("days_since_last_activity", np.where(intent > 0.3, rng.integers(0, 365, n), np.nan)),
        ("account_employees", employees),
        ("tenure_days", rng.integers(0, 1500, n).astype(np.float64)),
        ("account_revenue", np.where(rng.random(n) < 0.3, np.nan, np.round(revenue, -3))),
        ("web_minutes_30d", np.round(rng.exponential(3.0, n) * (intent > 0.5), 1)),
        ("email_open_rate", np.where(intent > 0.1, np.round(rng.beta(2, 5, n), 2), 0.0)),
    ][:n_cont]
    for name, values in continuous:
        columns.append(values.astype(np.float64))
        names.append(name)
    cats = [
        ("industry", rng.integers(0, 20, n_accounts)[account]),
        ("country", rng.integers(0, 30, n_accounts)[account]),
        ("seniority", rng.integers(0, 6, n)),
        ("lead_source", rng.integers(0, 10, n)),
    ][:n_cat]
    for name, values in cats:
        columns.append(values.astype(np.float64))
        names.append(name)
    X = np.column_stack(columns)
    engagement = np.log1p(X[:, :n_count].sum(axis=1))
    recency = np.nan_to_num(continuous[0][1], nan=400.0) if n_cont else np.zeros(n)
    logit = (
        -3.5
        + 1.2 * engagement
        + 0.3 * np.log1p(employees) / 5.0
        + 0.4 * (cats[-1][1] % 3 == 0)
        - 0.003 * recency
        + rng.normal(0.0, 0.5, n)
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    categorical = list(range(n_features - n_cat, n_features))
    return LeadData(X=X, y=y, categorical=categorical, names=names)


@dataclass(frozen=True)
class CrmCase:
    """A trained head and the encoded feature rows of every contact at the data's end."""

    booster: Any
    X: Floats
    description: str


def prepare_crm(args: argparse.Namespace) -> CrmCase:
    """Synthetic CRM -> current features -> LightGBM head (trained on a training table) ->
    rows encoded as the scorer encodes them. Everything is cached under ``args.out``."""
    from datetime import date

    import lightgbm as lgb

    from leadscore.crm import open_crm
    from leadscore.features import (
        CutoffSchedule,
        build_features,
        build_training_table,
        data_end_of,
        load_definition,
    )
    from leadscore.synthetic import GeneratorConfig, generate_crm
    from leadscore.training.models import LightGBMModel, LightGBMParams
    from leadscore.training.split import time_split
    from leadscore.training.table import label_column, load_training_table

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    crm_path = out / f"crm-{args.contacts}-{args.seed}.duckdb"
    table_path = out / f"training-{args.contacts}-{args.seed}.parquet"
    features_path = out / f"features-{args.contacts}-{args.seed}.parquet"
    t0 = time.perf_counter()
    if not crm_path.exists():
        generate_crm(GeneratorConfig(n_contacts=args.contacts, seed=args.seed), crm_path)
    crm = open_crm(crm_path)
    try:
        end = data_end_of(crm)
        if not table_path.exists():
            # every other month: enough cutoffs for an out-of-time split, few rows to build
            cutoffs = [date(y, m, 1) for y in (2024, 2025) for m in range(1, 13, 2)]
            schedule = CutoffSchedule.of([c for c in cutoffs if c >= date(2024, 3, 1)])
            build_training_table(crm, load_definition(), schedule, 30, table_path)
        if not features_path.exists():
            build_features(crm, load_definition(), cutoffs=[end]).to_parquet(features_path)
    finally:
        crm.close()
    print(f"data ready in {time.perf_counter() - t0:.1f} s (cached under {out})", flush=True)

    table = load_training_table(table_path)
    split = time_split(table.frame, horizon=None)
    frame = table.frame
    train, valid = frame[split.mask("train")], frame[split.mask("valid")]
    target = label_column("sql")
    y_train = train[target].fillna(False).to_numpy(dtype=np.int64)
    y_valid = valid[target].fillna(False).to_numpy(dtype=np.int64)
    t0 = time.perf_counter()
    if args.trees is None:
        params = LightGBMParams(**({"num_leaves": args.leaves} if args.leaves else {}))
        head = LightGBMModel(list(table.features), params)
        head.fit_booster(head.prepare(train, y_train, valid, y_valid))
        kind = f"leadscore head (LightGBMParams, early stopping), {params.num_leaves} leaves"
    else:  # fixed size, e.g. the DESIGN.md reference of 500 trees x 31 leaves
        params = LightGBMParams(
            num_leaves=args.leaves or 31, max_rounds=args.trees, early_stopping_rounds=args.trees
        )
        head = LightGBMModel(list(table.features), params)
        data = head.prepare(train, y_train, valid, y_valid)
        head.encoder_ = data.encoder
        head.booster_ = lgb.train(
            head.booster_params(data.train.num_data()), data.train, num_boost_round=args.trees
        )
        head.best_iteration_ = args.trees
        kind = f"fixed {args.trees} rounds, {params.num_leaves} leaves (leadscore params)"
    # the served trees only, so both paths see the same model whatever their num_iteration
    booster = lgb.Booster(
        model_str=head.booster_.model_to_string(num_iteration=head.best_iteration_)
    )
    print(f"trained on {len(train):,} rows in {time.perf_counter() - t0:.1f} s: {kind}")
    current = pd.read_parquet(features_path)
    X = head.encoder_.transform(current)  # exactly what Scorer.explain hands to SHAP
    if args.rows:
        X = X[: args.rows]
    description = (
        f"synthetic CRM, {args.contacts:,} contacts (seed {args.seed}), current features of "
        f"{len(X):,} eligible contacts at {end:%Y-%m-%d}; {booster.num_trees()} trees, "
        f"{X.shape[1]} features ({len(head.encoder_.categorical_indices)} categorical)"
    )
    return CrmCase(booster, X, description)


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>12,.0f} rows/s  ({seconds:8.2f} s for {rows:,} rows)"


def _shap_values(booster: Any, X: Floats) -> tuple[Floats, float]:
    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(booster)
        values = explainer.shap_values(X)
    if isinstance(values, list):  # older shap: one array per class
        values = values[-1]
    expected = np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))[-1]
    return np.asarray(values, dtype=np.float64), float(expected)


def _simulated(args: argparse.Namespace, threads: int) -> tuple[Any, Floats, str]:
    import lightgbm as lgb

    rows, trees, leaves = args.rows or 200_000, args.trees or 500, args.leaves or 31
    data = simulate_leads(rows, args.features, args.seed)
    start = time.perf_counter()
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "learning_rate": 0.05,
        "max_bin": args.max_bin,
        "verbose": -1,
        "num_threads": threads,
        "seed": args.seed,
    }
    train_set = lgb.Dataset(data.X, data.y, categorical_feature=data.categorical)
    booster = lgb.train(params, train_set, num_boost_round=trees)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    description = (
        f"simulated lead-scoring features (counts, continuous, categoricals, NaN): {rows:,} "
        f"rows, {trees} trees, {leaves} leaves, {args.features} features, max_bin={args.max_bin}"
    )
    return booster, data.X, description


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", choices=("crm", "simulated"), default="crm")
    parser.add_argument("--contacts", type=int, default=100_000, help="synthetic CRM size")
    parser.add_argument("--out", type=Path, default=Path("data/bench-scoring"), help="cache")
    parser.add_argument(
        "--rows", type=int, default=None, help="rows to explain (crm: all eligible contacts)"
    )
    parser.add_argument("--trees", type=int, default=None, help="crm: fixed rounds, no early stop")
    parser.add_argument("--leaves", type=int, default=None)
    parser.add_argument("--features", type=int, default=40, help="simulated only")
    parser.add_argument("--max-bin", type=int, default=255, help="simulated only")
    parser.add_argument(
        "--naive-rows",
        type=int,
        default=20_000,
        help="time shap.TreeExplainer on at most this many rows (rows/s is comparable)",
    )
    parser.add_argument("--n-jobs", type=int, default=-1, help="threads for both paths")
    parser.add_argument("--seed", type=int, default=None, help="default: 42 (crm), 0 (simulated)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = 42 if args.data == "crm" else 0
    if args.smoke:
        if args.data == "crm":
            args.contacts, args.naive_rows = 3_000, 2_000
        else:
            args.rows, args.trees, args.leaves, args.naive_rows = 5_000, 40, 15, 5_000

    threads = 0 if args.n_jobs == -1 else args.n_jobs
    print(
        f"exact SHAP benchmark: threads={args.n_jobs} ({os.cpu_count()} cores), "
        f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    if args.data == "crm":
        case = prepare_crm(args)
        booster, X, description = case.booster, case.X, case.description
    else:
        booster, X, description = _simulated(args, threads)
    print(f"data: {description}")
    n_rows = X.shape[0]
    n_naive = min(args.naive_rows, n_rows)
    X_naive = X[:n_naive]

    start = time.perf_counter()
    booster.predict(X, raw_score=True, num_threads=threads)
    t_predict = time.perf_counter() - start

    start = time.perf_counter()
    naive, expected = _shap_values(booster, X_naive)
    t_naive = time.perf_counter() - start

    start = time.perf_counter()
    binner = ThresholdBinner.from_booster(booster)
    t_binner = time.perf_counter() - start
    start = time.perf_counter()
    ours_sub = exact_contributions(booster, X_naive, binner=binner, n_jobs=args.n_jobs)
    t_ours_sub = time.perf_counter() - start
    # first call on the full batch includes planning the blocks for this batch size (cached
    # in the binner, as the scorer keeps its binner): it is the number compared below
    start = time.perf_counter()
    ours = exact_contributions(booster, X, binner=binner, n_jobs=args.n_jobs)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    exact_contributions(booster, X, binner=binner, n_jobs=args.n_jobs)
    t_warm = time.perf_counter() - start
    start = time.perf_counter()
    serial = exact_contributions(booster, X, binner=binner, n_jobs=1)
    t_serial = time.perf_counter() - start

    n_features = X.shape[1]
    diff_sub = float(np.abs(ours_sub[:, :n_features] - naive).max())
    diff = float(np.abs(ours[:n_naive, :n_features] - naive).max())
    diff_serial = float(np.abs(serial - ours).max())
    diff_base = float(np.abs(ours[:, n_features] - expected).max())
    raw = booster.predict(X, raw_score=True, num_threads=threads)
    additivity = float(np.abs(ours.sum(axis=1) - raw).max())

    codes = binner.transform(X)
    n_iter = booster.num_trees()
    blocks = binner.plan(n_iter, None, n_rows)
    distinct_all = binner.count_distinct(codes)
    distinct = np.array([binner.count_distinct(codes, b.start, b.stop) for b in blocks])
    sizes = np.array([b.stop - b.start for b in blocks])

    print()
    print(f"plain predict             {_rate(n_rows, t_predict)}")
    note = "" if n_naive == n_rows else f"   [naive on a subsample of {n_naive:,} rows]"
    print(f"naive TreeExplainer       {_rate(n_naive, t_naive)}{note}")
    print(f"leadscore, same rows      {_rate(n_naive, t_ours_sub)}   (cold: plans blocks)")
    print(f"leadscore, all rows       {_rate(n_rows, t_ours)}   (+{t_binner:.2f} s binner)")
    print(f"leadscore, all rows again {_rate(n_rows, t_warm)}   (warm binner)")
    print(f"leadscore, n_jobs=1       {_rate(n_rows, t_serial)}   (warm; the scorer's call)")
    naive_rate = n_naive / t_naive
    ours_rate = n_rows / (t_ours + t_binner)
    print()
    print(f"speed-up, all rows        {ours_rate / naive_rate:6.1f}x  (binner build + planning)")
    print(f"speed-up, all rows, warm  {n_rows / t_warm / naive_rate:6.1f}x")
    print(f"speed-up, n_jobs=1, warm  {n_rows / t_serial / naive_rate:6.1f}x")
    print(f"speed-up, same rows       {(n_naive / t_ours_sub) / naive_rate:6.1f}x  (cold)")
    print(
        f"distinct rows, whole model     {distinct_all:,} of {n_rows:,} "
        f"({distinct_all / n_rows:.1%})"
    )
    print(
        f"blocks                         {len(blocks)} for {n_iter} trees "
        f"({sizes.mean():.1f} trees/block, max {sizes.max()})"
    )
    print(
        f"distinct rows per block        mean {distinct.mean():,.0f} "
        f"({distinct.mean() / n_rows:.2%}), max {distinct.max():,} "
        f"({distinct.max() / n_rows:.1%}); LightGBM explains "
        f"{(distinct * sizes).sum() / n_iter / n_rows:.2%} of row x tree pairs"
    )
    print(f"max |diff| vs shap             {max(diff, diff_sub):.2e} (base value {diff_base:.2e})")
    print(f"max |diff| n_jobs=1 vs threads {diff_serial:.2e}")
    print(f"max |sum - raw score|          {additivity:.2e}")
    print(
        f"1M contacts with reasons: naive {1e6 / naive_rate / 60:,.1f} min, leadscore "
        f"{1e6 / ours_rate:,.1f} s ({1e6 / (n_rows / t_serial):,.1f} s with n_jobs=1), at "
        f"{n_rows:,}-row batches; plain predict {1e6 / (n_rows / t_predict):,.1f} s"
    )
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    worst = max(diff, diff_sub, diff_serial, diff_base, additivity)
    if worst > 1e-9:
        raise SystemExit(f"FAILED: max abs difference {worst:.3e} > 1e-9")


if __name__ == "__main__":
    main()
