"""Acceptance on a planted drift: `monitor` flags it, `retrain` trains, the paired gate promotes
only when its CI excludes zero, and the scores recover. Real DuckDB CRM, real MLflow sqlite
store, real score store; everything in tmp_path."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient

from leadscore.pipeline import FeaturesSpec, GenerateSpec, build_features_step, generate_step
from leadscore.pipeline.monitor import MonitorSpec, monitor_step
from leadscore.pipeline.retrain import RetrainSpec, retrain_step
from leadscore.pipeline.score import ScoreSpec, score_step
from leadscore.pipeline.train import PromoteSpec, TrainSpec, promote_step, train_step
from leadscore.training import TrainingConfig
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.monitor import MonitorThresholds
from leadscore.training.retrain import GateSettings, paired_gate
from leadscore.training.table import load_training_table
from leadscore.training.tuning import TuningConfig

DRIFT = datetime(2025, 5, 1)


@dataclass
class World:
    root: Path
    crm: Path
    uri: str
    config: TrainingConfig
    store: Path


def _world(tmp: Path, contacts: int) -> World:
    crm = tmp / "crm.duckdb"
    generate_step(GenerateSpec(out=crm, contacts=contacts, seed=7, drift_at=DRIFT))
    config = TrainingConfig(
        tuning=TuningConfig(enabled=False),
        evaluation=EvaluationConfig(n_bootstrap=20),
        fit_logistic=False,
        shap_rows=100,
        report_dir=tmp / "reports",
        targets=("sql",),
    )
    return World(tmp, crm, f"sqlite:///{tmp}/mlruns/mlflow.db", config, tmp / "scores.duckdb")


def _champion_before_drift(w: World) -> None:
    before = build_features_step(
        FeaturesSpec(
            source=w.crm, out=w.root / "before.parquet", every="week", end=datetime(2025, 4, 1)
        )
    )
    train_step(TrainSpec(training_table=before.path, config=w.config, tracking_uri=w.uri))
    assert promote_step(PromoteSpec(tracking_uri=w.uri)).promoted
    score_step(
        ScoreSpec(
            source=w.crm,
            model="champion",
            out=w.root / "scores.parquet",
            store=w.store,
            as_of=datetime(2025, 9, 1),
            tracking_uri=w.uri,
        )
    )


@pytest.mark.slow
def test_planted_drift_is_flagged_retrained_and_gated(tmp_path: Path) -> None:
    started = time.perf_counter()
    w = _world(tmp_path, 6_000)
    _champion_before_drift(w)

    seen = monitor_step(
        MonitorSpec(
            source=w.crm,
            store=w.store,
            out=tmp_path / "monitor.html",
            tracking_uri=w.uri,
            thresholds=MonitorThresholds(stale_after_days=400),
        )
    )
    assert seen.verdict.status == "retrain recommended", seen.verdict
    assert seen.exit_code == 7
    assert any("email_opens" in r for r in seen.verdict.reasons), seen.verdict.reasons
    assert "email_opens" in " ".join(seen.features.head(5)["feature"])
    assert not seen.calibration.empty  # the 2025-09-01 cohort has matured
    page = (tmp_path / "monitor.html").read_text()
    assert "retrain recommended" in page and page.count("data:image/png;base64,") >= 3

    result = retrain_step(
        RetrainSpec(
            source=w.crm,
            table=tmp_path / "retrain.parquet",
            training_config=w.config,
            start=DRIFT,
            n_bootstrap=500,
            tracking_uri=w.uri,
        )
    )
    d = result.decision
    c = d.comparison
    assert c is not None, d.reasons
    print(c.describe(), d.reasons)
    assert d.promoted and c.low > 0, d.reasons
    # scores recover: the drift cost the old champion ranking power (its own pre-drift test
    # AUC vs the post-drift window); the new champion is back at least to the old level
    client = MlflowClient(tracking_uri=w.uri, registry_uri=w.uri)
    before = client.get_run(client.get_model_version("leadscore", "1").run_id)
    pre_drift_auc = before.data.metrics["test_roc_auc_lightgbm_sql"]
    print(f"champion before the drift {pre_drift_auc:.3f}, on the drifted window {c.champion:.3f}")
    assert c.champion < pre_drift_auc - 0.02
    assert c.challenger - c.champion > 0.05 and c.challenger > pre_drift_auc - 0.02
    version = client.get_model_version("leadscore", d.challenger_version)
    assert version.tags["gate_decision"] == "promoted"
    assert float(version.tags["gate_ci_low"]) > 0
    assert (
        str(client.get_model_version_by_alias("leadscore", "champion").version)
        == d.challenger_version
    )

    # the old, pre-drift model as a challenger of the new one: its CI does not exclude zero in
    # its favour, so the gate keeps the champion and says why
    table = load_training_table(result.features.path)
    back = paired_gate(
        table, challenger="1", settings=GateSettings(n_bootstrap=300), tracking_uri=w.uri
    )
    assert not back.promoted and back.comparison is not None and back.comparison.high < 0
    assert any("does not exclude zero" in r for r in back.reasons)
    assert client.get_model_version("leadscore", "1").tags["gate_decision"] == "kept champion"
    print(f"acceptance took {time.perf_counter() - started:.0f} s")
