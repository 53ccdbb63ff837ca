"""Fitting for flat exports: LightGBM settings that adapt to the data, never a constant model
where a split exists, and refits on more data once validation has chosen.

The settings of CRM mode (``min_child_samples=200`` with a tenth of the negatives per tree) can
leave no split at all on a few thousand rows: the model is a constant with AUC 0.500. Here a
small grid sized from the data is tried on validation; a constant winner is refitted with the
loosest settings, and the caller is told when even those find no split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadscore.model.head import ModelHead
from leadscore.model.inputs import FeatureSpec
from leadscore.model.lgb_threads import predict
from leadscore.training.evaluate import weighted_auc
from leadscore.training.models import LightGBMModel, LightGBMParams, LogisticModel

__all__ = [
    "FittedCandidates",
    "adaptive_grid",
    "fit_candidates",
    "is_constant",
    "refit_lightgbm",
    "refit_logistic",
]

FloatArray = np.ndarray[Any, Any]


def adaptive_grid(n_rows: int, n_positives: int, seed: int = 0) -> list[LightGBMParams]:
    """LightGBM settings sized from the training rows: leaves small enough to split."""
    small = int(np.clip(n_rows // 400, 5, 50))
    large = int(np.clip(n_rows // 100, 10, 200))
    negative_fraction = (
        1.0 if n_rows < 50_000 else float(np.clip(20 * n_positives / n_rows, 0.1, 1))
    )
    base = {
        "learning_rate": 0.05,
        "max_rounds": 2000,
        "early_stopping_rounds": 100,
        "negative_fraction": negative_fraction,
        "lambda_l2": 1.0,
        "max_bin": 255,
        "min_data_per_group": int(np.clip(n_rows // 500, 5, 50)),
        "min_sum_hessian_in_leaf": 1e-3,
        "feature_fraction": 0.8,
        "seed": seed,
    }
    grid = [(7, large), (15, small), (31, small), (63, large)]
    if n_rows < 5_000:
        grid = [(4, small), (7, small), (15, small)]
    return [
        LightGBMParams.model_validate(base | {"num_leaves": leaves, "min_child_samples": child})
        for leaves, child in grid
    ]


LOOSEST = {"min_child_samples": 2, "min_data_per_group": 2, "min_sum_hessian_in_leaf": 0.0}


def is_constant(raw: FloatArray) -> bool:
    """Whether a model gives every row the same score (no split was found)."""
    return bool(len(raw) == 0 or np.ptp(np.asarray(raw, dtype=np.float64)) < 1e-12)


@dataclass
class FittedCandidates:
    """The fitted candidates with their validation AUCs, and what happened on the way."""

    lightgbm: LightGBMModel
    logistic: LogisticModel
    valid_auc: dict[str, float]
    notes: list[str]
    constant: bool


def fit_candidates(
    features: list[FeatureSpec],
    train: pd.DataFrame,
    y_train: FloatArray,
    valid: pd.DataFrame,
    y_valid: FloatArray,
    *,
    seed: int = 0,
    grid: list[LightGBMParams] | None = None,
    progress: Callable[[int], None] | None = None,
) -> FittedCandidates:
    """LightGBM (best of the adaptive grid on validation AUC) and logistic regression;
    ``progress(done)`` after each fit (the grid's settings, then logistic)."""
    notes: list[str] = []
    best: tuple[float, LightGBMModel] | None = None
    data = best_data = None
    done = progress or (lambda _n: None)
    settings = grid or adaptive_grid(len(train), int(np.sum(y_train)), seed)
    for i, params in enumerate(settings):
        model = LightGBMModel(features, params)
        if data is None or data.dataset_key != params.dataset_key:
            data = model.prepare(train, y_train, valid, y_valid)  # binned once, shared
        model.fit_booster(data)
        raw = predict(model.booster_, data.x_valid, num_iteration=model.best_iteration_)
        auc = 0.5 if is_constant(raw) else weighted_auc(raw, y_valid)
        if best is None or auc > best[0]:
            best, best_data = (auc, model), data
        done(i + 1)
    assert best is not None and best_data is not None  # the grid is never empty
    auc, gbm = best[0], best[1].calibrate(best_data)  # only the winner is calibrated
    constant = is_constant(gbm.predict_raw(valid))
    if constant:
        loose = gbm.params.model_copy(update=LOOSEST | {"negative_fraction": 1.0})
        gbm = LightGBMModel(features, loose).fit(train, y_train, valid, y_valid)
        raw = gbm.predict_raw(valid)
        constant = is_constant(raw)
        auc = 0.5 if constant else weighted_auc(raw, y_valid)
        notes.append(
            "WARNING: LightGBM found no split with the sized settings; refitted with the loosest "
            f"({'still constant' if constant else f'validation AUC {auc:.3f}'})."
        )
    logistic = LogisticModel(features).fit(train, y_train, valid, y_valid)
    lr_auc = weighted_auc(logistic.predict_raw(valid), y_valid)
    done(len(settings) + 1)
    return FittedCandidates(gbm, logistic, {"lightgbm": auc, "logistic": lr_auc}, notes, constant)


def refit_lightgbm(
    fitted: LightGBMModel, frame: pd.DataFrame, y: FloatArray, *, fitted_rows: int
) -> ModelHead:
    """The chosen settings refitted on ``frame`` (train + validation, or everything) for the
    validated number of rounds (up to a quarter more with the rows added: ``fitted_rows`` is
    what it was fitted on), with the validation-fitted calibrator: no data are left to stop
    early or calibrate on."""
    params = fitted.params
    model = LightGBMModel(fitted.features, params)
    encoder = type(fitted.encoder_)(fitted.features, max_levels=fitted.encoder_.max_levels)
    encoder.fit(frame)
    growth = min(1.25, len(frame) / max(1, fitted_rows))
    rounds = max(1, round(fitted.best_iteration_ * growth))
    y = np.asarray(y)
    weight = np.where(y == 1, fitted.positive_weight_, 1.0)
    data = lgb.Dataset(
        encoder.transform(frame),
        label=y,
        weight=weight,
        feature_name=encoder.feature_names,
        categorical_feature=encoder.categorical_indices,
        params={"max_bin": params.max_bin, "feature_pre_filter": False, "verbosity": -1},
    )
    positives = float(np.sum(y == 1))
    seen = positives + params.negative_fraction * (len(y) - positives)  # as in fit_booster
    booster = lgb.train(
        model.booster_params(len(frame), rows_per_tree=seen), data, num_boost_round=rounds
    )
    return ModelHead.from_booster(booster, encoder, fitted.calibrator_, best_iteration=rounds)


def refit_logistic(fitted: LogisticModel, frame: pd.DataFrame, y: FloatArray) -> LogisticModel:
    """The logistic regression refitted on ``frame`` (every row, unweighted), keeping its
    validation calibrator."""
    return fitted.refit(frame, y)
