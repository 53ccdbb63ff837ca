"""Training and honest evaluation: rules, time split, models, artifacts, flat-table mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ArtifactError, ConfigError, FeatureDefinitionError
from leadscore.model.heads import HeadToWrite, read_head, write_heads
from leadscore.training.evaluate import EvaluationConfig, found_at_k, weighted_auc
from leadscore.training.flat import train_flat_table
from leadscore.training.pipeline import (
    TrainingConfig,
    TrainingOutcome,
    fit_and_evaluate,
    rules_probability,
)
from leadscore.training.registered_eval import _rules_probabilities
from leadscore.training.rules import default_rules, load_rules, mql_flags, score_rules
from leadscore.training.split import time_split
from leadscore.training.table import TARGETS, TrainingTable
from tests.simulate import simulate_flat_export, simulate_training_table

FAST = TrainingConfig(evaluation=EvaluationConfig(n_bootstrap=50), shap_rows=200)


@pytest.fixture(scope="module")
def simulated() -> tuple[TrainingTable, pd.DataFrame]:
    return simulate_training_table(5000, 12, seed=1)


@pytest.fixture(scope="module")
def outcome(simulated: tuple[TrainingTable, pd.DataFrame]) -> TrainingOutcome:
    table, oracle = simulated
    return fit_and_evaluate(table, FAST, oracle=oracle)


def test_lightgbm_beats_the_rules_out_of_time(outcome: TrainingOutcome) -> None:
    m = outcome.evaluation.metrics.set_index(["method", "target"])
    for target in ("sql", "meeting"):
        assert m.loc[("lightgbm", target), "roc_auc"] > m.loc[("rules", target), "roc_auc"]
        assert m.loc[("oracle", target), "normalized_auc"] == pytest.approx(1.0)
        assert m.loc[("lightgbm", target), "roc_auc_low"] < m.loc[("lightgbm", target), "roc_auc"]
    headline = outcome.evaluation.headline
    assert set(headline["method"]) == {"logistic", "lightgbm"}
    assert (headline["gain_low"] <= headline["gain_high"]).all()


def test_evaluate_calibrates_the_rules_as_train_does(outcome: TrainingOutcome) -> None:
    """``evaluate`` on a registered model fits the rules' calibrator again on the same rows as
    ``train`` (one ``fit_rules_calibrator``): the same test probabilities, to the bit."""
    table, rules = outcome.table, outcome.rules
    points = score_rules(table.frame[outcome.split.mask("test")], rules).to_numpy()
    again = _rules_probabilities(table, outcome.fit_mask("valid"), rules, points, list(TARGETS))
    assert set(outcome.rules_calibrators) == set(TARGETS)
    for target, calibrator in outcome.rules_calibrators.items():
        trained = rules_probability(points, rules.mql_threshold, calibrator)
        np.testing.assert_array_equal(again[target], trained)
        assert 0 < trained.min() < trained.max() < 1


def test_split_is_by_time_never_random(
    simulated: tuple[TrainingTable, pd.DataFrame], outcome: TrainingOutcome
) -> None:
    split = outcome.split
    assert max(split.train_cutoffs) < min(split.valid_cutoffs) < min(split.test_cutoffs)
    cutoffs = simulated[0].frame["cutoff"]
    assert cutoffs[split.mask("test")].min() > cutoffs[split.mask("train")].max()
    assert cutoffs[split.mask("test")].max() == cutoffs.max()
    # with a 60-day label horizon, no fitted row's label window reaches the test period
    purged = time_split(simulated[0].frame, horizon=pd.Timedelta(days=60))
    fitted = cutoffs[purged.mask("train") | purged.mask("valid")]
    assert (fitted + pd.Timedelta(days=60)).max() <= min(purged.test_cutoffs)
    assert purged.mask("purged").any()


def test_model_round_trip_and_incompatible_record(outcome: TrainingOutcome, tmp_path: Path) -> None:
    model = outcome.lightgbm["sql"]
    heads = {"sql": HeadToWrite(model.head_)}
    write_heads(tmp_path, heads, data_fingerprint="fp", definition_hash="dh")
    frame = outcome.table.frame.head(500)
    loaded, record = read_head(tmp_path, "sql", available_features=frame.columns)
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert record.data_fingerprint == "fp"
    assert not list(tmp_path.glob("*.pkl"))

    with pytest.raises(ArtifactError, match="needs feature"):
        read_head(tmp_path, "sql", available_features=["seniority"])
    record_path = tmp_path / "sql.json"
    for key, value, message in (
        ("schema_version", "999", "schema 999"),
        ("package_version", "99.0.0", "major versions differ"),
    ):
        broken = json.loads(record_path.read_text()) | {key: value}
        (tmp_path / "broken").mkdir(exist_ok=True)
        (tmp_path / "broken" / "sql.json").write_text(json.dumps(broken))
        (tmp_path / "broken" / "sql.lgb.txt").write_text((tmp_path / "sql.lgb.txt").read_text())
        with pytest.raises(ArtifactError, match=message):
            read_head(tmp_path / "broken", "sql")


def test_rules_score_and_unknown_feature(
    tmp_path: Path, simulated: tuple[TrainingTable, pd.DataFrame]
) -> None:
    table = simulated[0]
    rules = default_rules(features=table.feature_names)
    points = score_rules(table.frame, rules)
    assert points.min() < 0 < points.max()
    assert mql_flags(points, rules).sum() == (points >= 50).sum()

    path = tmp_path / "rules.yaml"
    path.write_text(
        "mql_threshold: 50\nrules:\n  - {name: x, feature: pricing_visits_typo, points: 5, per_unit: true}\n"
    )
    with pytest.raises(FeatureDefinitionError, match="pricing_visits_typo") as info:
        load_rules(path, features=table.feature_names)
    assert "pricing_visits_30d" in str(info.value)
    path.write_text("rules:\n  - {name: x, feature: seniority, points: 5, wehn: {in: [vp]}}\n")
    with pytest.raises(ConfigError, match="wehn"):
        load_rules(path)


def test_weighted_auc_and_capacity_kernels() -> None:
    rng = np.random.default_rng(0)
    score, y = rng.random(300), (rng.random(300) < 0.3).astype(np.int64)
    from sklearn.metrics import roc_auc_score

    assert weighted_auc(score, y) == pytest.approx(roc_auc_score(y, score))
    cutoffs = pd.Series(np.repeat(pd.to_datetime(["2024-01-01", "2024-02-01"]), 150))
    top = [
        int(y[:150][np.argsort(-score[:150])][:10].sum()),
        int(y[150:][np.argsort(-score[150:])][:20].sum()),
    ]
    assert found_at_k(score, y, cutoffs, [10, 20]) == sum(top)


def test_flat_table_flags_and_excludes_a_leaky_column(tmp_path: Path) -> None:
    export = simulate_flat_export(3000, seed=2)
    path = tmp_path / "leads.csv"
    export.to_csv(path, index=False)
    fast = EvaluationConfig(n_bootstrap=20)
    result = train_flat_table(
        path, "converted", "created_date", report_path=tmp_path / "r.html", evaluation=fast
    )
    flagged = result.leakage.set_index("column")["flag"]
    assert flagged["sales_call_notes_length"] != ""
    assert (flagged.drop("sales_call_notes_length") == "").all()
    assert "sales_call_notes_length" not in [f.name for f in result.features]
    assert {"lead_id", "email_hash"} <= set(result.dropped)
    assert "by time" in result.split_mode
    html = result.report_path.read_text()
    assert "sales_call_notes_length" in html and "data:image/png;base64," in html

    kept = train_flat_table(
        path,
        "converted",
        keep_columns=["sales_call_notes_length"],
        report_path=tmp_path / "k.html",
        evaluation=fast,
    )
    assert "stratified" in kept.split_mode
    assert "sales_call_notes_length" in [f.name for f in kept.features]


def test_a_headline_whose_interval_includes_no_change_says_so() -> None:
    """ "+38.5% (95% CI -6.5% to +106.1%)" read as a gain; the sentence says the interval
    includes no change (and says nothing when it does not)."""
    import pandas as pd

    from leadscore.training.report import _headline_sentence

    row = {"leads": 52, "model_found": 72, "rules_found": 52, "target": "meeting"}
    unsure = pd.Series(row | {"relative_gain": 0.385, "gain_low": -0.065, "gain_high": 1.061})
    sure = pd.Series(row | {"relative_gain": 0.51, "gain_low": 0.228, "gain_high": 0.881})
    text = _headline_sentence(unsure, 22, "lightgbm", "95%")
    assert "+38.5% (95% CI -6.5% to +106.1%; the interval includes no change)" in text
    assert "includes no change" not in _headline_sentence(sure, 22, "lightgbm", "95%")
    flat = _headline_sentence(sure, 1, "lightgbm", "95%", flat=True)  # one export, no cutoffs
    assert flat.startswith("At the rules' MQL volume (52 leads of the test period), lightgbm")
    assert "cutoff" not in flat and "horizon" not in flat
