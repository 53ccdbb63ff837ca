"""LightGBM heads: negative bagging, shared binning and the validation-only search."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.model.heads import HeadToWrite, read_head, write_heads
from leadscore.training.models import LightGBMModel, LightGBMParams
from leadscore.training.split import time_split
from leadscore.training.table import TrainingTable
from leadscore.training.tuning import LightGBMSearch, TuningConfig, fit_lightgbm
from tests.simulate import simulate_training_table

Periods = tuple[TrainingTable, pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]


@pytest.fixture(scope="module")
def periods() -> Periods:
    table, _ = simulate_training_table(3000, 12, seed=3)
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, horizon=horizon)
    train, valid = table.frame[split.mask("train")], table.frame[split.mask("valid")]
    y = table.labels("sql")
    return table, train, y[train.index].to_numpy(), valid, y[valid.index].to_numpy()


def test_negative_bagging_sets_lightgbm_fractions() -> None:
    bagged = LightGBMModel([], LightGBMParams(negative_fraction=0.2)).booster_params(1000)
    assert bagged["neg_bagging_fraction"] == 0.2
    assert bagged["pos_bagging_fraction"] == 1.0
    assert "bagging_fraction" not in bagged
    plain = LightGBMModel([], LightGBMParams(negative_fraction=1.0)).booster_params(1000)
    assert plain["bagging_fraction"] == 0.8
    assert "neg_bagging_fraction" not in plain


def test_prepared_data_are_reused_and_checked(periods: Periods) -> None:
    table, train, y_train, valid, y_valid = periods
    model = LightGBMModel(table.features)
    data = model.prepare(train, y_train, valid, y_valid)
    first = model.fit_booster(data).calibrate(data)
    again = LightGBMModel(table.features).fit(train, y_train, valid, y_valid)
    np.testing.assert_allclose(first.predict_proba(valid), again.predict_proba(valid))
    p = first.predict_proba(valid)
    assert np.all((p > 0) & (p < 1))
    # calibration undoes the negative bagging: the mean probability matches the base rate
    assert abs(p.mean() - y_valid.mean()) < 0.5 * y_valid.mean()
    with pytest.raises(ValueError, match="max_bin"):
        LightGBMModel(table.features, LightGBMParams(max_bin=31)).fit_booster(data)


def test_search_selects_on_validation_and_round_trips(periods: Periods, tmp_path: Path) -> None:
    table, train, y_train, valid, y_valid = periods
    config = TuningConfig(candidates=({}, {"num_leaves": 4}, {"max_bin": 31}, {"num_leaves": 4}))
    search = LightGBMSearch(table.features, LightGBMParams(), config)
    assert len(search.candidates()) == 3  # the duplicate is dropped
    search.fit(train, y_train, valid, y_valid)
    results = search.results_
    assert len(results) == 3
    assert search.best_score_ == results["valid_roc_auc"].max()
    assert search.best_estimator_.params == search.best_params_
    best = search.best_estimator_
    saved = HeadToWrite(best.head_, params=best.params.model_dump(mode="json"))
    write_heads(tmp_path, {"sql": saved}, data_fingerprint="x", definition_hash="y")
    loaded, record = read_head(tmp_path, "sql")
    assert LightGBMParams.model_validate(record.params) == search.best_params_
    np.testing.assert_allclose(
        loaded.predict_proba(valid), search.best_estimator_.predict_proba(valid)
    )
    only_base = fit_lightgbm(
        table.features, train, y_train, valid, y_valid, tuning=TuningConfig(enabled=False)
    )
    assert only_base.params == LightGBMParams()
