"""A flat export's own lead-score column as the rules baseline: compared at the same MQL
volume, never a feature, a bad column or a threshold without a column refused clearly."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest

from leadscore.errors import ConfigError, DataContractError
from leadscore.pipeline import FlatTrainSpec, train_flat_step
from leadscore.synthetic.flat_export import generate_flat_export
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.flat import train_flat_table
from leadscore.training.flat_rules import FlatRules
from leadscore.training.report_format import method_label


def _export_with_score(tmp_path: Path) -> tuple[Path, str, str]:
    export = generate_flat_export(3000, seed=5)
    frame = export.frame
    # a marketing-automation score from activity only, the way such tools add points
    frame["hubspot_score"] = np.minimum(
        100, frame["page_views"].fillna(0) * 4 + frame["time_on_website"].fillna(0) / 60
    ).round()
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    return path, export.target, export.time_column


def test_the_score_column_is_the_rules_baseline_not_a_feature(tmp_path: Path) -> None:
    path, target, time_column = _export_with_score(tmp_path)
    result = train_flat_table(
        path,
        target,
        time_column,
        report_path=tmp_path / "r.html",
        evaluation=EvaluationConfig(n_bootstrap=30),
        rules=FlatRules("hubspot_score", 30),
    )
    assert "hubspot_score" not in [f.name for f in result.features]
    assert "rules" in set(result.evaluation.metrics["method"])
    headline = result.evaluation.headline
    assert set(headline["method"]) == {"logistic", "lightgbm"}
    test_scores = result.frame.loc[result.split.mask("test"), "hubspot_score"]  # type: ignore[union-attr, index]
    assert headline["leads"].iloc[0] == int((test_scores >= 30).sum()) > 0
    assert any("MQL at 30 points" in n for n in result.notes)
    assert html.escape(method_label("rules")) in result.report_path.read_text(encoding="utf-8")


def test_bad_score_column_and_lonely_threshold_are_refused(tmp_path: Path) -> None:
    path, target, time_column = _export_with_score(tmp_path)
    with pytest.raises(DataContractError, match=r"job_title: .* not numbers"):
        train_flat_table(path, target, time_column, rules=FlatRules("job_title"))
    with pytest.raises(ConfigError, match="--rules-column"):
        train_flat_step(FlatTrainSpec(table=path, target=target, mql_threshold=40.0, track=False))
