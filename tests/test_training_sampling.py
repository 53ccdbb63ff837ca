"""Negative sampling of the training period: every positive kept, a seeded fraction of the
negatives weighted 1/fraction, so probabilities stay calibrated on the full population; the
validation and test periods are never sampled."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.models import LightGBMModel, LightGBMParams
from leadscore.training.pipeline import TrainingConfig, TrainingOutcome, fit_and_evaluate
from leadscore.training.sampling import sample_negatives
from leadscore.training.split import time_split
from leadscore.training.table import TrainingTable
from leadscore.training.tuning import TuningConfig
from tests.simulate import simulate_training_table

FRACTION = 0.2
FAST = TrainingConfig(
    evaluation=EvaluationConfig(n_bootstrap=50), shap_rows=0, tuning=TuningConfig(enabled=False)
)


@pytest.fixture(scope="module")
def simulated() -> tuple[TrainingTable, pd.DataFrame]:
    return simulate_training_table(8000, 12, seed=3)


def _labels(table: TrainingTable, rows: pd.Index) -> list[np.ndarray[Any, Any]]:
    return [table.labels(t)[rows].to_numpy() for t in ("sql", "meeting")]


def test_every_positive_is_kept_and_the_draw_is_seeded_per_row(
    simulated: tuple[TrainingTable, pd.DataFrame],
) -> None:
    table = simulated[0]
    frame = table.frame
    sample = sample_negatives(frame, _labels(table, frame.index), FRACTION, seed=7)
    positive = (table.labels("sql") | table.labels("meeting")).to_numpy().astype(bool)
    assert sample.keep[positive].all()
    assert (sample.weight[positive] == 1.0).all()
    kept_negatives = sample.keep & ~positive
    assert (sample.weight[kept_negatives] == 1 / FRACTION).all()
    assert (sample.weight[~sample.keep] == 0).all()
    n_neg = int((~positive).sum())
    share = kept_negatives.sum() / n_neg
    assert abs(share - FRACTION) < 4 * np.sqrt(FRACTION * (1 - FRACTION) / n_neg)
    # the weighted sample stands for every negative (in expectation; here within 4 sd)
    assert abs(sample.weight[~positive].sum() / n_neg - 1) < 0.03
    # a row's draw depends on the seed and its (contact, cutoff), not on the table's order
    shuffled = frame.sample(frac=1.0, random_state=0)
    again = sample_negatives(shuffled, _labels(table, shuffled.index), FRACTION, seed=7)
    assert set(shuffled.index[again.keep]) == set(frame.index[sample.keep])
    other = sample_negatives(frame, _labels(table, frame.index), FRACTION, seed=8)
    assert not np.array_equal(other.keep, sample.keep)
    whole = sample_negatives(frame, _labels(table, frame.index), 1.0)
    assert whole.keep.all() and (whole.weight == 1).all() and not whole.sampled


def _raw_fit(
    train: pd.DataFrame,
    table: TrainingTable,
    valid: pd.DataFrame,
    weight: np.ndarray[Any, Any] | None,
) -> LightGBMModel:
    # no per-tree negative bagging: its implicit positive weight would move the raw scale too
    params = LightGBMParams(negative_fraction=1.0, bagging_fraction=1.0, bagging_freq=0)
    return LightGBMModel(list(table.features), params).fit(
        train,
        table.labels("sql")[train.index].to_numpy(),
        valid,
        table.labels("sql")[valid.index].to_numpy(),
        sample_weight=weight,
    )


def test_weights_keep_the_models_probabilities_on_the_full_populations_scale(
    simulated: tuple[TrainingTable, pd.DataFrame],
) -> None:
    """The raw (uncalibrated) trees: fitted on the sample with weights they predict the unsampled
    test period's rate as the unsampled model does; without the weights they are far off."""
    table = simulated[0]
    split = time_split(table.frame, horizon=pd.Timedelta(days=0))
    train, valid, test = (table.frame[split.mask(p)] for p in ("train", "valid", "test"))
    sample = sample_negatives(train, _labels(table, train.index), FRACTION, seed=0)
    sampled = train[sample.keep]
    y_test = table.labels("sql")[test.index].to_numpy()
    rate = y_test.mean()

    full = _raw_fit(train, table, valid, None)
    weighted = _raw_fit(sampled, table, valid, sample.weight[sample.keep])
    unweighted = _raw_fit(sampled, table, valid, None)
    mean = {
        name: float(m.predict_raw(test).mean())
        for name, m in (("full", full), ("weighted", weighted), ("unweighted", unweighted))
    }
    auc = {
        name: roc_auc_score(y_test, m.predict_raw(test))
        for name, m in (("full", full), ("weighted", weighted))
    }
    # Both models see the same drift between training and test, so the sampled model's mean is
    # held to the unsampled one's (10 %: the sample's noise on ~600 kept-negative-equivalents
    # per positive is a few %); both to the realised rate within 25 % (its binomial noise on
    # the test period's positives, ~7 %, plus the drift).
    assert mean["weighted"] == pytest.approx(mean["full"], rel=0.10)
    assert mean["full"] == pytest.approx(rate, rel=0.25)
    assert mean["weighted"] == pytest.approx(rate, rel=0.25)
    # Without the weights the model learns the sample's rate: about rate / (rate + f (1 - rate)),
    # several times the population's. The test fails if the weights are dropped.
    assert mean["unweighted"] > 2.5 * mean["full"]
    # Ranking: the paired AUC difference on the same test rows; 0.015 is about one standard
    # error of either AUC here (a few hundred test positives).
    assert abs(auc["weighted"] - auc["full"]) < 0.015


@pytest.fixture(scope="module")
def outcomes(simulated: tuple[TrainingTable, pd.DataFrame]) -> dict[float, TrainingOutcome]:
    table, oracle = simulated
    return {
        f: fit_and_evaluate(table, FAST.model_copy(update={"sample_negatives": f}), oracle=oracle)
        for f in (1.0, FRACTION)
    }


def test_the_sampled_pipeline_is_calibrated_and_evaluated_on_every_test_row(
    outcomes: dict[float, TrainingOutcome],
) -> None:
    full, sampled = outcomes[1.0], outcomes[FRACTION]
    # only the training period is sampled: validation, test and the evaluation are untouched
    assert sampled.evaluation.n_rows == full.evaluation.n_rows
    assert sampled.sample is not None and sampled.sample.fraction == FRACTION
    assert sampled.sample.rows == int(full.fit_mask("train").sum())
    assert int(sampled.sample.keep.sum()) < 0.4 * sampled.sample.rows
    assert any("Training period sampled" in n for n in sampled.info)
    metrics = {f: o.evaluation.metrics.set_index(["method", "target"]) for f, o in outcomes.items()}
    for target in ("sql", "meeting"):
        y = sampled.evaluation.labels[target]
        proba = next(m for m in sampled.evaluation.methods if m.name == "lightgbm").proba[target]
        assert float(np.mean(proba)) == pytest.approx(float(np.mean(y)), rel=0.25)
        for method in ("lightgbm", "logistic"):
            a = metrics[FRACTION].loc[(method, target), "normalized_auc"]
            b = metrics[1.0].loc[(method, target), "normalized_auc"]
            assert abs(a - b) < 0.03, (method, target, a, b)
    weights = sampled.sample_weights()
    assert weights is not None and len(weights) == len(sampled.table.frame)
    assert (weights[sampled.split.mask("test")] == 1).all()
    assert full.sample_weights() is None


def test_the_sample_is_recorded_in_the_run_and_the_model(tmp_path: Any) -> None:
    from leadscore.training.api import train

    table = simulate_training_table(2000, 12, seed=3)[0]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = FAST.model_copy(
        update={"sample_negatives": 0.3, "sample_seed": 11, "report_dir": tmp_path / "reports"}
    )
    result = train(table, tracking_uri=uri, config=config)
    assert result.run_id is not None
    params = mlflow.MlflowClient(tracking_uri=uri).get_run(result.run_id).data.params
    assert params["sample.negative_fraction"] == "0.3"
    assert params["sample.seed"] == "11"
    assert int(params["sample.rows_fitted"]) < int(params["sample.rows_before"])
    record = json.loads((result.model_dir / "sql.json").read_text())
    assert record["params"]["training_sample"]["negative_fraction"] == 0.3
    assert record["params"]["training_sample"]["seed"] == 11


@pytest.mark.parametrize("ties", [True, False])
def test_the_bootstrap_auc_kernel_equals_sklearn_under_weights(ties: bool) -> None:
    """The bootstrap's AUC (negatives bucketed between positive scores) is sklearn's weighted
    AUC, ties counting one half."""
    from leadscore.training.evaluate import _AucKernel

    rng = np.random.default_rng(4)
    n = 3000
    score = rng.integers(0, 15, n).astype(float) if ties else rng.random(n)
    y = (rng.random(n) < 0.05).astype(int)
    kernel = _AucKernel(score, y)
    for _ in range(5):
        w = rng.integers(0, 3, n).astype(float)
        assert kernel(w) == pytest.approx(roc_auc_score(y, score, sample_weight=w), abs=1e-12)
