"""Exact SHAP for batch scoring: shap.TreeExplainer on every row vs leadscore's dedupe path.

    .venv/bin/python benchmarks/scoring.py            # 200k rows, 500 trees, 31 leaves, 40 features
    .venv/bin/python benchmarks/scoring.py --smoke    # seconds, for CI

The data is simulated lead scoring data (the feature engine is not wired in yet): count
features with small integers (most contacts cold), a few continuous features (days since last
activity with NaN, account size and revenue, tenure in days, web minutes, open rate) and
categoricals (industry, country, seniority, lead source). The naive path is timed on a
subsample when the full set would take too long: its cost per row does not depend on the batch
size, while leadscore's improves with larger batches, so the ratio on the full set is the one
batch scoring sees (the ratio on the subsample is printed too).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from leadscore.serving.contributions import (
    ThresholdBinner,
    _choose_block,
    exact_contributions,
)

__all__ = ["main", "simulate_leads"]

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--leaves", type=int, default=31)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--max-bin", type=int, default=255, help="LightGBM max_bin at training")
    parser.add_argument(
        "--naive-rows",
        type=int,
        default=20_000,
        help="time shap.TreeExplainer on at most this many rows (rows/s is comparable)",
    )
    parser.add_argument("--n-jobs", type=int, default=-1, help="threads for both paths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.trees, args.leaves, args.naive_rows = 5_000, 40, 15, 5_000
    import lightgbm as lgb

    threads = 0 if args.n_jobs == -1 else args.n_jobs
    cores = os.cpu_count()
    print(
        f"exact SHAP benchmark: {args.rows:,} rows, {args.trees} trees, {args.leaves} leaves, "
        f"{args.features} features, max_bin={args.max_bin}, threads={args.n_jobs} ({cores} cores)"
    )
    print("data: simulated lead-scoring features (counts, continuous, categoricals, NaN)")
    data = simulate_leads(args.rows, args.features, args.seed)
    start = time.perf_counter()
    params = {
        "objective": "binary",
        "num_leaves": args.leaves,
        "learning_rate": 0.05,
        "max_bin": args.max_bin,
        "verbose": -1,
        "num_threads": threads,
        "seed": args.seed,
    }
    train_set = lgb.Dataset(data.X, data.y, categorical_feature=data.categorical)
    booster = lgb.train(params, train_set, num_boost_round=args.trees)
    print(f"trained in {time.perf_counter() - start:.1f} s")

    X = data.X
    n_naive = min(args.naive_rows, args.rows)
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
    start = time.perf_counter()
    ours = exact_contributions(booster, X, binner=binner, n_jobs=args.n_jobs)
    t_ours = time.perf_counter() - start

    n_features = X.shape[1]
    diff_sub = float(np.abs(ours_sub[:, :n_features] - naive).max())
    diff = float(np.abs(ours[:n_naive, :n_features] - naive).max())
    diff_base = float(np.abs(ours[:, n_features] - expected).max())
    raw = booster.predict(X, raw_score=True, num_threads=threads)
    additivity = float(np.abs(ours.sum(axis=1) - raw).max())

    codes = binner.transform(X)
    n_iter = booster.num_trees()
    block = _choose_block(binner, codes, n_iter)
    distinct_all = binner.count_distinct(codes)
    probe = range(0, n_iter, max(block, n_iter // 10))
    distinct_block = np.mean([binner.count_distinct(codes, s, s + block) for s in probe])

    print()
    print(f"plain predict          {_rate(args.rows, t_predict)}")
    note = "" if n_naive == args.rows else f"   [subsample of {n_naive:,} rows]"
    print(f"naive TreeExplainer    {_rate(n_naive, t_naive)}{note}")
    print(f"leadscore, same rows   {_rate(n_naive, t_ours_sub)}")
    print(f"leadscore, all rows    {_rate(args.rows, t_ours)}   (+{t_binner:.2f} s binner build)")
    naive_rate = n_naive / t_naive
    ours_rate = args.rows / (t_ours + t_binner)
    print()
    print(f"speed-up, all rows     {ours_rate / naive_rate:6.1f}x  (binner build included)")
    print(f"speed-up, same rows    {(n_naive / t_ours_sub) / naive_rate:6.1f}x")
    print(
        f"distinct rows, whole model  {distinct_all:,} of {args.rows:,} "
        f"({distinct_all / args.rows:.1%})"
    )
    print(
        f"distinct rows per block     {distinct_block:,.0f} ({distinct_block / args.rows:.1%}), "
        f"block = {block} tree(s), {-(-n_iter // block)} blocks"
    )
    print(f"max |diff| vs shap          {max(diff, diff_sub):.2e} (base value {diff_base:.2e})")
    print(f"max |sum - raw score|       {additivity:.2e}")
    print(
        f"1M contacts: naive {1e6 / naive_rate / 60:,.1f} min, leadscore "
        f"{1e6 / ours_rate / 60:,.1f} min (at {args.rows:,}-row batches), "
        f"plain predict {1e6 / (args.rows / t_predict):,.1f} s"
    )
    worst = max(diff, diff_sub, diff_base, additivity)
    if worst > 1e-9:
        raise SystemExit(f"FAILED: max abs difference {worst:.3e} > 1e-9")


if __name__ == "__main__":
    main()
