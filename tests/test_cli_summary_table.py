"""The training summary on the terminal: scores with fixed decimals, counts whole."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console

from leadscore.cli import output


def test_scores_keep_four_decimals_and_counts_are_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(record=True, width=120)
    monkeypatch.setattr(output, "console", console)
    summary = pd.DataFrame(
        {
            "method": ["lightgbm", "rules"],
            "target": ["meeting", "meeting"],
            "roc_auc": [0.784, 0.69214],
            "roc_auc_95ci": ["0.751-0.814", "0.650-0.731"],
            "pr_auc": [0.0066, float("nan")],
            "brier": [0.00151, 0.0016],
            "found_at_mql_volume": [71.0, 52.5],
        }
    )
    output.print_summary(summary, "Out-of-time test")
    text = console.export_text()
    assert "0.7840" in text and "0.6921" in text and "0.0066" in text
    assert "0.00151" in text and "0.00160" in text
    assert " 71 " in f"{text} " and "52.5" in text and "71.0" not in text
    assert "nan" not in text
    assert "found@MQL: positives among as many top-scored leads as the rules make MQLs" in (
        " ".join(text.split())
    )  # the shorthand is explained under the table


def test_the_top_leads_fit_an_80_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each lead's numbers on one line and its reasons in a column wide enough to read (the
    reasons wrapped to 20 characters, 5-10 lines per lead, at 80 columns)."""
    from leadscore.pipeline.demo import TopLeads

    console = Console(record=True, width=80)
    monkeypatch.setattr(output, "console", console)
    leads = pd.DataFrame(
        {
            "contact_id": ["C0001430", "C0009265"],
            "grade": ["A", "A"],
            "p_sql": [0.0803, 0.0741],
            "p_meeting": [0.027, 0.021],
            "fit_score": [79.0, 69.0],
            "engagement_score": [76.0, 85.0],
            "reasons_positive": [
                ["11 interactions in the last 7 days", "based in GB"],
                ["3 pricing-page visits in the last 7 days", "industry: software"],
            ],
        }
    )
    output.print_top_leads(TopLeads(leads))
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    first = next(line for line in lines if "C0001430" in line)
    assert "8.0%" in first and "2.7%" in first and "79/76" in first
    assert "11 interactions in the last 7 days" in first  # the reason column is wide enough
    assert any("out of 100" in line for line in lines)


def test_models_show_each_shipped_figure_with_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An AUC or a gain without its interval reads as settled; the listing gives both (and
    falls back to the value alone for a run that logged none)."""
    from leadscore.training.tracking import ModelVersionInfo

    console = Console(record=True, width=80)
    monkeypatch.setattr(output, "console", console)
    metrics = {
        "test_roc_auc_shipped_sql": 0.7073,
        "test_roc_auc_low_shipped_sql": 0.682,
        "test_roc_auc_high_shipped_sql": 0.729,
        "gain_at_mql_shipped_sql": 0.51,
        "gain_at_mql_logistic_sql_low": 0.228,
        "gain_at_mql_logistic_sql_high": 0.881,
        "test_roc_auc_shipped_meeting": 0.7372,
    }
    info = ModelVersionInfo(
        "leadscore", "2", ["champion"], "a" * 32, 0, metrics, {"shipped.sql": "logistic"}
    )
    output.print_models("leadscore", [info])
    text = console.export_text()
    assert "0.707" in text and "0.682-0.729" in text
    assert "+51.0%" in text and "+23% to +88%" in text
    assert "0.737" in text  # no interval logged: the value alone
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80


def test_flat_versions_are_listed_under_their_own_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flat model of 'Converted' has no sql or meeting: its column is named after its target."""
    from leadscore.training.tracking import ModelVersionInfo

    console = Console(record=True, width=80)
    monkeypatch.setattr(output, "console", console)
    tags = {"model_kind": "flat", "flat_target": "Converted"}
    info = ModelVersionInfo(
        "leadscore", "4", ["champion"], "b" * 32, 0, {"test_roc_auc_shipped_sql": 0.61}, tags
    )
    output.print_models("leadscore", [info])
    text = console.export_text()
    assert "AUC Converted" in text and "0.610" in text
    assert "meeting" not in text and "AUC sql" not in text
