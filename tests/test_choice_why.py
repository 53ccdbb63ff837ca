"""The sentence saying why a head ships names the metric that decided, tie-breaks included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadscore.training import choice
from leadscore.training.choice import BOOTSTRAP_DRAWS, HeadChoice, choose_heads


def _values(found: tuple[float, float], pr: tuple[float, float]) -> dict[str, dict[str, float]]:
    return {
        name: {"found_at_mql": f, "pr_auc": p, "roc_auc": 0.7}
        for name, f, p in zip(("lightgbm", "logistic"), found, pr, strict=True)
    }


def test_why_names_the_configured_metric_when_it_decides() -> None:
    why = HeadChoice(
        "sql", "lightgbm", "found_at_mql", _values((190, 185), (0.03, 0.04)), 1000, 50
    ).why
    assert why == (
        "lightgbm ships for sql: best positives found at the rules' MQL volume on the validation "
        "window (190 vs logistic 185; 1,000 rows, 50 positives)"
    )


def test_why_says_a_tie_break_decided_and_what_tied() -> None:
    why = HeadChoice(
        "sql", "logistic", "found_at_mql", _values((0, 0), (0.231, 0.259)), 286, 22
    ).why
    assert why == (
        "logistic ships for sql: best PR AUC on the validation window (0.2590 vs lightgbm "
        "0.2310), the tie-break: positives found at the rules' MQL volume tied at 0 with "
        "lightgbm (286 rows, 22 positives)"
    )
    # the model choice table's "chosen by" column names the same metric
    tie = HeadChoice("sql", "logistic", "found_at_mql", _values((0, 0), (0.231, 0.259)), 286, 22)
    assert tie.decided_by == "pr_auc"
    assert set(choice.choice_table({"sql": tie})["chosen_by"]) == {"pr_auc"}


def test_why_says_when_only_the_candidates_order_decided() -> None:
    same = _values((5, 5), (0.1, 0.1))
    why = HeadChoice("sql", "lightgbm", "found_at_mql", same, 100, 5).why
    assert "tied with logistic on every metric" in why and "candidates' order" in why
    assert HeadChoice("sql", "lightgbm", "found_at_mql", same, 100, 5).decided_by == (
        "candidates' order"
    )
    alone = HeadChoice("sql", "lightgbm", "pr_auc", {"lightgbm": same["lightgbm"]}, 100, 5).why
    assert alone.startswith("lightgbm ships for sql: the only candidate (PR AUC 0.1000")


def _window(n: int, noise: float, seed: int = 0) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    cutoffs = pd.Series(np.repeat(pd.date_range("2025-01-01", periods=4, freq="W"), n // 4))
    y = (rng.random(n) < 0.08).astype(int)
    scores = {
        "lightgbm": {"sql": y + rng.normal(0, noise, n)},
        "logistic": {"sql": rng.normal(0, 1, n)},
    }
    return cutoffs, {"sql": y}, scores, rng.random(n) < 0.1


def test_a_small_window_says_how_often_the_lead_survives_resampling() -> None:
    cutoffs, labels, scores, mql = _window(800, 0.3)
    groups = np.arange(800) // 2  # two rows per contact
    chosen = choose_heads(cutoffs, labels, scores, mql, groups=groups)["sql"]
    assert chosen.shipped == "lightgbm" and chosen.ahead is not None
    other, share, draws = chosen.ahead
    assert (other, draws) == ("logistic", BOOTSTRAP_DRAWS) and share >= 0.95
    assert chosen.why.endswith(f"stays ahead of logistic in {share:.0%} of {draws} draws")
    assert chosen.to_dict()["ahead_share"] == share
    # equal scores: the order decides, and a tie never counts as staying ahead
    same = {"lightgbm": scores["lightgbm"], "logistic": scores["lightgbm"]}
    tie = choose_heads(cutoffs, labels, same, mql, groups=groups)["sql"]
    assert tie.ahead is not None and tie.ahead[1] == 0.0


def test_a_large_window_is_not_resampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "MAX_BOOTSTRAP_ROWS", 799)
    chosen = choose_heads(*_window(800, 0.3))["sql"]
    assert chosen.ahead is None and "resampling" not in chosen.why
    assert "ahead_share" not in chosen.to_dict()
