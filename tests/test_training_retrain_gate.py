"""The paired gate against a real MLflow sqlite registry: promotes only when the paired CI
excludes zero, records why as tags, refuses mismatched definitions (a fast variant of the
drift acceptance in test_monitor_retrain_drift.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient

from leadscore.training.api import promote, train
from leadscore.training.choice import ChoiceConfig
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.models import LightGBMParams
from leadscore.training.pipeline import TrainingConfig
from leadscore.training.retrain import GateSettings, paired_gate
from leadscore.training.tuning import TuningConfig
from tests.simulate import simulate_training_table


@pytest.mark.slow  # three trainings (~30-100 s on a loaded machine); test_training_gate.py is fast
def test_paired_gate_on_a_real_registry(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    table, _ = simulate_training_table(1500, 12, seed=1)
    config = TrainingConfig(
        evaluation=EvaluationConfig(n_bootstrap=0),
        tuning=TuningConfig(enabled=False),
        shap_rows=0,
        report_dir=tmp_path / "reports",
        fit_logistic=False,
        targets=("sql",),
        lightgbm=LightGBMParams(max_rounds=150),
    )
    # The gate compares the heads that ship. A one-stump LightGBM alone would lose the choice on
    # validation to the rules (which then ship, as strong as the challenger on this table), so
    # the weak champion may ship only LightGBM.
    weak = config.model_copy(
        update={
            "lightgbm": LightGBMParams(max_rounds=1, num_leaves=2),
            "choice": ChoiceConfig(candidates=("lightgbm",)),
        }
    )
    train(table, tracking_uri=uri, config=weak)
    assert promote(tracking_uri=uri, force=True).promoted  # a weak champion: version 1
    settings = GateSettings(n_bootstrap=200)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion_run = client.get_run(client.get_model_version("leadscore", "1").run_id).data
    assert champion_run.tags["shipped.sql"] == "lightgbm"

    train(table, tracking_uri=uri, config=config)  # version 2, clearly better
    better = paired_gate(table, settings=settings, config=config, tracking_uri=uri)
    assert better.comparison is not None and better.comparison.low > 0, better.reasons
    assert better.promoted and better.champion_version == "1"
    assert "existing gate" in better.reasons[-1]
    assert "beats the champion's" in better.reasons[-1] and "by the margin" in better.reasons[-1]
    tags = client.get_model_version("leadscore", "2").tags
    assert tags["gate_decision"] == "promoted" and float(tags["gate_ci_low"]) > 0
    run_tags = client.get_run(client.get_model_version("leadscore", "2").run_id).data.tags
    assert run_tags["gate_decision"] == "promoted"
    assert str(client.get_model_version_by_alias("leadscore", "champion").version) == "2"

    train(table, tracking_uri=uri, config=config)  # version 3: the same model again
    same = paired_gate(table, settings=settings, config=config, tracking_uri=uri)
    assert same.comparison is not None and same.comparison.difference == 0
    assert not same.promoted and "does not exclude zero" in same.reasons[-1]
    assert client.get_model_version("leadscore", "3").tags["gate_decision"] == "kept champion"
    assert str(client.get_model_version_by_alias("leadscore", "champion").version) == "2"

    other = replace(table, definition_hash="another-definition")
    refused = paired_gate(other, settings=settings, config=config, tracking_uri=uri)
    assert not refused.promoted and refused.comparison is None
    assert "hashes differ" in refused.reasons[0]


def test_the_first_champion_is_gated_on_the_retrain_target(tmp_path: Path) -> None:
    """With no champion yet, the gate's existing check faces the rules on the target the
    retrain compares (here meeting, where the model loses to the rules), not on sql."""
    from leadscore.training.tracking import log_training_run

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    table, _ = simulate_training_table(300, 6, seed=1)
    (tmp_path / "heads").mkdir()
    (tmp_path / "heads" / "head.txt").write_text("model")
    (tmp_path / "report.html").write_text("<html></html>")
    metrics = {
        "test_roc_auc_shipped_sql": 0.80,
        "test_roc_auc_rules_sql": 0.60,
        "test_roc_auc_shipped_meeting": 0.55,
        "test_roc_auc_rules_meeting": 0.62,
    }
    log_training_run(
        tracking_uri=uri, model_name="leadscore", params={}, metrics=metrics, tags={},
        heads=tmp_path / "heads", report=tmp_path / "report.html", features=[],
        targets=["sql", "meeting"],
    )  # fmt: skip
    decision = paired_gate(table, settings=GateSettings(target="meeting"), tracking_uri=uri)
    assert not decision.promoted, decision.reasons
    assert decision.reasons == [
        "existing gate: no champion yet; test AUC of meeting 0.5500 does not beat the rules' "
        "0.6200 by the margin 0.005"
    ]
