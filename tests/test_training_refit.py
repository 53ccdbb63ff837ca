"""The shipped heads refitted on train + validation: what is registered is what is evaluated."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from leadscore.model.heads import read_heads
from leadscore.training.api import evaluate, train
from leadscore.training.choice import ChoiceConfig
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.models import LightGBMParams
from leadscore.training.pipeline import TrainingConfig, fit_and_evaluate
from leadscore.training.refit import refit_rounds, refit_rows
from leadscore.training.sampling import sample_negatives
from leadscore.training.split import time_split
from leadscore.training.table import TARGETS
from leadscore.training.tracking import download_heads
from leadscore.training.tuning import TuningConfig
from tests.simulate import simulate_training_table

# every row in every tree (no bagging), so a tree's root counts the rows the head was fitted on
UNBAGGED = LightGBMParams(negative_fraction=1.0, bagging_fraction=1.0, bagging_freq=0)
CONFIG = TrainingConfig(
    evaluation=EvaluationConfig(n_bootstrap=0),
    shap_rows=0,
    fit_logistic=False,
    lightgbm=UNBAGGED,
    tuning=TuningConfig(enabled=False),
    choice=ChoiceConfig(candidates=("lightgbm",)),
    targets=("sql",),
)


def _root_count(head: object) -> int:
    booster = head.booster  # type: ignore[attr-defined]
    return int(booster.dump_model()["tree_info"][0]["tree_structure"]["internal_count"])


def test_the_registered_head_is_fitted_on_train_and_validation_and_its_metrics_logged(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    table, _ = simulate_training_table(3000, 12, seed=1)
    config = CONFIG.model_copy(update={"report_dir": tmp_path / "reports"})
    result = train(table, tracking_uri=uri, config=config)
    outcome = result.outcome
    refit = outcome.refit
    assert refit is not None
    train_rows, valid_rows = (int(outcome.fit_mask(p).sum()) for p in ("train", "valid"))
    assert refit.rows_by_period["train"] == train_rows
    assert refit.rows_by_period["valid"] == valid_rows > 0
    assert refit.rows == train_rows + valid_rows + refit.rows_by_period["purged"]
    assert refit.mask[outcome.fit_mask("valid")].all()
    assert not refit.mask[outcome.split.mask("test")].any()

    with tempfile.TemporaryDirectory() as tmp:
        folder, _ = download_heads(
            "leadscore", result.model_version or "", Path(tmp), tracking_uri=uri
        )
        loaded = read_heads(folder)
    head = loaded.heads["sql"]
    # the registered booster's trees saw the train + validation rows, the validated one train's
    assert _root_count(head) == refit.rows
    assert _root_count(outcome.validated["sql"].head_) == train_rows
    validated, shipped = outcome.refit_rounds["sql"]
    assert head.best_iteration == shipped == refit_rounds(validated, train_rows, refit.rows)
    assert loaded.records["sql"].params["refit"]["rows_valid"] == valid_rows

    # the run's test metrics are the registered model's on the test window
    again = evaluate(table, ref=result.model_version or "", tracking_uri=uri, config=config)
    for key in ("test_roc_auc_lightgbm_sql", "test_brier_lightgbm_sql", "test_pr_auc_shipped_sql"):
        assert again[key] == pytest.approx(result.metrics[key], abs=1e-12)
    test = table.frame[outcome.split.mask("test")]
    assert not np.allclose(
        outcome.validated["sql"].predict_raw(test), head.predict_raw(test)
    )  # not the training-period model

    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=uri).get_run(result.run_id or "")
    assert run.data.params["refit.train_valid"] == "True"
    assert run.data.params["refit.rows"] == str(refit.rows)
    assert run.data.params["refit.rows_valid"] == str(valid_rows)
    assert run.data.params["refit.calibration"] == "validation"
    assert run.data.tags["shipped.fitted_on"] == "train+valid"
    assert any(n.startswith("Shipped heads refitted on train + validation") for n in outcome.info)
    assert not any(n.startswith("Shipped heads refitted") for n in outcome.notes)  # not a warning
    page = result.report_path.read_text(encoding="utf-8")
    assert "<p class='info'>Shipped heads refitted on train + validation" in page


def test_without_refit_the_training_period_model_ships() -> None:
    table, _ = simulate_training_table(2000, 12, seed=2)
    outcome = fit_and_evaluate(table, CONFIG.model_copy(update={"refit": False}))
    assert outcome.refit is None and outcome.lightgbm["sql"] is outcome.validated["sql"]
    assert _root_count(outcome.lightgbm["sql"].head_) == int(outcome.fit_mask("train").sum())
    test = table.frame[outcome.split.mask("test")]
    np.testing.assert_array_equal(
        outcome.evaluation.methods[-1].score["sql"], outcome.lightgbm["sql"].predict_raw(test)
    )


def test_refit_rows_extend_the_training_sample_with_the_same_draw() -> None:
    table, _ = simulate_training_table(2000, 12, seed=3)
    frame = table.frame
    split = time_split(frame)
    positive = np.zeros(len(frame), dtype=bool)
    for t in TARGETS:
        positive |= table.labels(t).to_numpy().astype(bool)
    none = np.zeros(len(frame), dtype=bool)
    rows = refit_rows(frame, split, none, positive, fraction=0.3, seed=7)
    train = split.mask("train")
    sample = sample_negatives(frame[train], [table.labels(t)[train] for t in TARGETS], 0.3, 7)
    np.testing.assert_array_equal(rows.mask[train], sample.keep)
    assert rows.weight is not None
    kept_train = rows.mask[rows.mask] & train[rows.mask]
    np.testing.assert_array_equal(rows.weight[kept_train], sample.weight[sample.keep])
    valid = split.mask("valid")
    assert rows.mask[valid & positive].all() and not rows.mask[valid & ~positive].all()
    assert not rows.mask[split.mask("test")].any()
    assert refit_rounds(100, 1000, 1500) == 100  # kept: measured in training/refit.py
