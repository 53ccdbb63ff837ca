"""The sentence saying why a head ships names the metric that decided, tie-breaks included."""

from __future__ import annotations

from leadscore.training.choice import HeadChoice


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


def test_why_says_when_only_the_candidates_order_decided() -> None:
    same = _values((5, 5), (0.1, 0.1))
    why = HeadChoice("sql", "lightgbm", "found_at_mql", same, 100, 5).why
    assert "tied with logistic on every metric" in why and "candidates' order" in why
    alone = HeadChoice("sql", "lightgbm", "pr_auc", {"lightgbm": same["lightgbm"]}, 100, 5).why
    assert alone.startswith("lightgbm ships for sql: the only candidate (PR AUC 0.1000")
