"""Evaluation fixes from review (issue 14, item 6): ties at capacity, the train/validation purge
gap, grade A under calibration ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.model.grades import assign_grades, fit_grades
from leadscore.training.evaluate import (
    EvaluationConfig,
    MethodScores,
    evaluate_methods,
    found_at_k,
)
from leadscore.training.split import SplitConfig, time_split


def test_found_at_k_counts_ties_at_their_expected_value_not_row_order() -> None:
    # one cutoff: a clear top lead, then four tied leads of which the first row is the positive
    score = np.array([3.0, 2.0, 2.0, 2.0, 2.0, 1.0])
    y = np.array([0, 1, 0, 0, 0, 1])
    cutoffs = pd.Series(pd.to_datetime(["2024-01-01"] * 6))
    # K=2: the top lead (negative) and one of four tied leads, a quarter of a positive expected
    assert found_at_k(score, y, cutoffs, [2]) == pytest.approx(0.25)
    # and the answer does not depend on where the positive sits among the tied rows
    reordered = [0, 4, 3, 2, 1, 5]
    assert found_at_k(score[reordered], y[reordered], cutoffs, [2]) == pytest.approx(0.25)
    # whole tie groups and distinct scores count exactly as before
    assert found_at_k(score, y, cutoffs, [5]) == pytest.approx(1.0)
    assert found_at_k(score, y, cutoffs, [6]) == pytest.approx(2.0)


def test_rules_at_half_and_twice_the_mql_volume_use_random_tie_breaking() -> None:
    n, days = 40, ("2024-01-01", "2024-02-01")
    rows = pd.DataFrame(
        {
            "contact_id": np.arange(2 * n),
            "cutoff": pd.to_datetime(np.repeat(days, n)),
        }
    )
    # per cutoff: 4 MQLs tied at 60 points (the first listed is the only positive), 8 leads
    # tied at 30 points (the first listed is positive), the rest at 0
    points = np.tile(np.r_[[60.0] * 4, [30.0] * 8, [0.0] * (n - 12)], 2)
    y = np.tile(np.r_[[1, 0, 0, 0], [1] + [0] * 7, [0] * (n - 12)], 2).astype(np.int64)
    rng = np.random.default_rng(0)
    other = rng.random(2 * n)
    methods = [
        MethodScores("rules", {"sql": points}, {"sql": np.clip(points / 100, 0.01, 0.99)}),
        MethodScores("lightgbm", {"sql": other}, {"sql": np.clip(other, 0.01, 0.99)}),
    ]
    evaluation = evaluate_methods(
        rows,
        {"sql": y},
        methods,
        mql=points >= 60,
        config=EvaluationConfig(n_bootstrap=5),
    )
    capacity = evaluation.capacity.set_index(["capacity", "method"])["sql_found"]
    assert capacity[("rules' MQL volume", "rules")] == pytest.approx(2.0)
    # 0.5x: 2 of the 4 tied MQLs per cutoff, 1/4 positive each -> 0.5 per cutoff
    assert capacity[("0.5x MQL volume", "rules")] == pytest.approx(1.0)
    # 2x: the 4 MQLs and 4 of the 8 tied 30-point leads -> 1 + 4/8 per cutoff
    assert capacity[("2x MQL volume", "rules")] == pytest.approx(3.0)


def test_purge_gap_between_train_and_validation() -> None:
    cutoffs = pd.date_range("2024-01-01", periods=20, freq="7D")
    frame = pd.DataFrame({"cutoff": np.repeat(cutoffs, 3)})
    horizon = pd.Timedelta(days=21)
    split = time_split(frame, SplitConfig(), horizon=horizon)
    assert max(split.train_cutoffs) + horizon <= min(split.valid_cutoffs)
    assert max(split.valid_cutoffs) + horizon <= min(split.test_cutoffs)
    times = pd.to_datetime(frame["cutoff"])
    gap = (times > max(split.train_cutoffs)) & (times < min(split.valid_cutoffs))
    assert gap.any()
    assert (split.period[gap] == "purged").all()
    # without a horizon or with purge off, nothing is purged (unchanged)
    assert not time_split(frame).mask("purged").any()
    off = time_split(frame, SplitConfig(purge=False), horizon=horizon)
    assert not off.mask("purged").any()


def test_grade_a_is_never_larger_than_the_capacity_share_under_ties() -> None:
    rng = np.random.default_rng(0)
    # isotonic-like output: a handful of distinct values, a big tie at the capacity boundary
    p = np.r_[[0.9] * 5, [0.5] * 30, rng.uniform(0.0, 0.4, 65)]
    thresholds = fit_grades(p, 0.1)
    share_a = float(np.mean(assign_grades(p, thresholds) == "A"))
    assert share_a <= 0.1
    assert share_a == pytest.approx(0.05)  # the leads above the tie stay in A
    assert thresholds.a >= thresholds.b >= thresholds.c
    # every lead tied: no lead can be A without exceeding the capacity
    flat = fit_grades(np.full(50, 0.3), 0.1)
    assert not (assign_grades(np.full(50, 0.3), flat) == "A").any()
    # distinct probabilities: thresholds unchanged
    distinct = rng.permutation(1000) / 1000.0
    old_a = float(np.quantile(distinct, 0.9, method="higher"))
    assert fit_grades(distinct, 0.1).a == old_a


def test_found_at_k_with_zero_capacity_and_zero_weights_is_zero() -> None:
    from leadscore.training.evaluate import _TopKKernel

    score = np.array([2.0, 2.0, 1.0, 1.0])
    kernel = _TopKKernel(score, np.array([1, 0, 1, 0]), np.zeros(4, dtype=np.int64))
    # a bootstrap draw that leaves out the top tie group, at a capacity of zero leads
    assert kernel(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0])) == 0.0
    assert kernel(np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0])) == pytest.approx(0.5)
