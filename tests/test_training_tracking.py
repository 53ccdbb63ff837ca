"""MLflow tracking and the champion/challenger gate, on a real sqlite store in tmp_path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from leadscore.errors import ArtifactError
from leadscore.training.api import list_models, promote, train
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.models import LightGBMParams
from leadscore.training.pipeline import TrainingConfig
from leadscore.training.report import headline_sentences
from leadscore.training.tracking import metric_key
from tests.simulate import simulate_training_table


def test_promotion_gate_refuses_a_worse_challenger(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    table, _ = simulate_training_table(5000, 12, seed=1)  # LightGBM beats the rules here
    config = TrainingConfig(
        evaluation=EvaluationConfig(n_bootstrap=20),
        shap_rows=100,
        report_dir=tmp_path / "reports",
        fit_logistic=False,
    )
    good = train(table, tracking_uri=uri, config=config)
    assert good.report_path.is_file() and good.model_version == "1"
    assert set(good.summary["method"]) == {"rules", "lightgbm"}
    # the first champion must beat the rules: an impossible margin keeps it a challenger
    too_strict = promote(tracking_uri=uri, margin=1.0)
    assert not too_strict.promoted and "does not beat" in too_strict.reason
    first = promote(tracking_uri=uri)
    assert first.promoted and first.reason.startswith("no champion yet")
    assert "test AUC of SQL" in first.reason and "beats the rules'" in first.reason
    # the gate reads the head that ships for sql (LightGBM here), by its role
    assert first.metric == "test_roc_auc_shipped_sql"
    assert first.challenger_value == good.metrics["test_roc_auc_lightgbm_sql"]

    # the headline speaks of the head that ships per target; a target whose rules ship says so
    sentences = headline_sentences(good.outcome.evaluation, {"sql": "rules"})
    assert sentences[0].startswith("For sql the rules themselves ship")
    assert "lightgbm finds" in sentences[1] and "meeting" in sentences[1]
    assert good.headline == headline_sentences(good.outcome.evaluation, "lightgbm")
    # the report's summary too: each target's sentence speaks of the head that ships for it
    from leadscore.training.report_summary import plain_summary

    evaluation = good.outcome.evaluation
    said = plain_summary(evaluation, {}, shipped="logistic", shipped_by_target={"sql": "lightgbm"})
    gains = [s for s in said if s.startswith("Working the same number")]
    assert len(gains) == 1 and "the LightGBM model's top leads" in gains[0]
    assert "became an SQL" in gains[0] and "cutoff(s))" not in gains[0]
    # an expected count (random tie-breaking) is said in words, never as "2.6 leads"
    halved = replace(evaluation, headline=evaluation.headline.assign(model_found=2.6))
    said = plain_summary(halved, {}, shipped="lightgbm")
    assert "include about 3 that" in said[1] and "2.6" not in said[1]
    flat = plain_summary(evaluation, {}, shipped="lightgbm", flat=True)  # an export's leads
    assert not [s for s in flat if "horizon" in s or "cutoff" in s]

    with pytest.raises(ArtifactError, match="no version '99'"):
        promote(tracking_uri=uri, version="99")

    weak = config.model_copy(update={"lightgbm": LightGBMParams(max_rounds=1, num_leaves=2)})
    train(table, tracking_uri=uri, config=weak)
    refused = promote(tracking_uri=uri, margin=0.0)
    assert not refused.promoted and refused.champion_version == "1"
    versions = {v.version: v for v in list_models(tracking_uri=uri)}
    assert "champion" in versions["1"].aliases and "challenger" in versions["2"].aliases
    assert versions["1"].metrics["test_roc_auc_lightgbm_sql"] > 0.5

    forced = promote(tracking_uri=uri, force=True)
    assert forced.promoted and forced.reason.startswith("forced")
    assert "champion" in {v.version: v for v in list_models(tracking_uri=uri)}["2"].aliases

    import mlflow.pyfunc
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    source = client.get_model_version_by_alias("leadscore", "champion").source
    assert source.endswith("/model")
    local = Path(source.removeprefix("file://"))
    scorer = mlflow.pyfunc.load_model(str(local))
    out = scorer.predict(table.frame[table.feature_names].head(5))
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["p_sql", "p_meeting"]
    assert out.to_numpy().min() > 0 and out.to_numpy().max() < 1
    assert pytest.approx(1.0) != out.iloc[0, 0]


def test_gate_metric_names_fall_back_for_runs_from_before_the_model_choice() -> None:
    new = {"test_roc_auc_shipped_sql": 0.7, "test_roc_auc_lightgbm_sql": 0.71}
    old = {"test_roc_auc_lightgbm_sql": 0.69}
    assert metric_key(new, "test_roc_auc_shipped_sql") == "test_roc_auc_shipped_sql"
    assert metric_key(old, "test_roc_auc_shipped_sql") == "test_roc_auc_lightgbm_sql"
    assert metric_key(old, "test_brier_shipped_sql") == "test_brier_shipped_sql"  # unknown: as is
    assert metric_key(new, "test_roc_auc_lightgbm_sql") == "test_roc_auc_lightgbm_sql"
