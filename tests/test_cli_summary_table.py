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
