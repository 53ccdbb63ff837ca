"""A real-shaped funnel (MQLs with a landing page, won deals, no other events, a drifting win
rate) from validate to explain: one target, the landing page as a feature, leads scored at
MQL time, no constant model, no probability for the target the data does not have."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from leadscore.pipeline import (
    ExplainSpec,
    FeaturesSpec,
    PromoteSpec,
    ScoreSpec,
    TrainSpec,
    ValidateSpec,
    build_features_step,
    explain_step,
    promote_step,
    score_step,
    train_step,
    validate_step,
)
from leadscore.training import TrainingConfig
from tests.funnel_crm import funnel_crm_folder, landing_page_yaml


def test_a_small_funnel_is_scored_once_per_lead_at_mql_with_its_landing_page(
    tmp_path: Path,
) -> None:
    """The fast variant: features only, on a few hundred leads."""
    crm = funnel_crm_folder(tmp_path / "crm", leads=150, seed=1)
    table = tmp_path / "training.parquet"
    definition = landing_page_yaml(tmp_path / "f.yaml")
    built = build_features_step(
        FeaturesSpec(source=crm, out=table, definition=definition, at="mql")
    )
    frame = pd.read_parquet(table)
    assert frame.groupby("contact_id").size().max() == 1 and frame["is_mql"].all()
    assert (
        frame["landing_page"].isin(["/pricing", "/demo", "/blog/seo", "/blog/crm", "/home"]).all()
    )
    assert built.table.label_rates["booked_meeting"] == 0.0
    assert built.table.meta.label_times_file == "stage entry (mql entry)"


@pytest.mark.slow
def test_a_real_funnel_runs_from_validate_to_explain(tmp_path: Path) -> None:
    crm = funnel_crm_folder(tmp_path / "crm", leads=2500)
    report = validate_step(ValidateSpec(source=crm))
    assert report.funnel.conversion["mql→sql"] > 0.05

    table = tmp_path / "training.parquet"
    built = build_features_step(
        FeaturesSpec(
            source=crm, out=table, definition=landing_page_yaml(tmp_path / "f.yaml"), at="mql"
        )
    )
    frame = pd.read_parquet(table)
    assert frame.groupby("contact_id").size().max() == 1  # each lead once, at its MQL entry
    assert frame["is_mql"].all() and (frame["contact_age_days"] == 0).all()
    assert set(frame["landing_page"]) == {"/pricing", "/demo", "/blog/seo", "/blog/crm", "/home"}
    assert built.table.label_rates["booked_meeting"] == 0.0

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    config = TrainingConfig.model_validate({"evaluation": {"n_bootstrap": 20}, "shap_rows": 0})
    trained = train_step(TrainSpec(training_table=table, config=config, tracking_uri=uri))
    outcome = trained.result.outcome
    assert list(outcome.lightgbm) == ["sql"]
    assert any("'meeting' skipped" in note for note in outcome.notes)
    metrics = trained.result.metrics
    assert metrics["test_roc_auc_lightgbm_sql"] > 0.65  # the landing page is learned
    assert not any(key.endswith("_meeting") for key in metrics)
    assert promote_step(PromoteSpec(force=True, tracking_uri=uri)).promoted

    as_of = datetime(2025, 6, 25)
    scored = score_step(
        ScoreSpec(source=crm, out=tmp_path / "s.parquet", store=tmp_path / "h.duckdb",
                  as_of=as_of, tracking_uri=uri)
    )  # fmt: skip
    scores = pd.read_parquet(scored.batch.path)
    assert scores["p_sql"].between(0, 1).all() and scores["p_meeting"].isna().all()
    assert scores["p_sql"].nunique() > 3
    best = scores.sort_values("p_sql").iloc[-1]
    explained = explain_step(
        ExplainSpec(contact_id=str(best["contact_id"]), source=crm, as_of=as_of, tracking_uri=uri)
    )
    assert math.isnan(explained.p_meeting)
    assert any("landed on" in reason.text for reason in explained.positive)
