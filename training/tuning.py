"""A small LightGBM search selected on the validation period only.

Each candidate overrides a few :class:`~leadscore.training.models.LightGBMParams` fields, is
boosted on the training period with early stopping on the validation period, and is scored on
that same validation period; the test period is never seen. Candidates sharing the binning
settings share one encoded dataset, so a search costs little more than its boosting rounds.
Only the chosen candidate is calibrated (on the validation period, as a single fit would be).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import average_precision_score, roc_auc_score

from leadscore.training.models import LightGBMData, LightGBMModel, LightGBMParams
from leadscore.training.table import FeatureSpec

__all__ = ["DEFAULT_CANDIDATES", "LightGBMSearch", "TuningConfig", "fit_lightgbm"]

Override = dict[str, float | int | str]

DEFAULT_CANDIDATES: tuple[Override, ...] = (
    {},
    {"num_leaves": 15, "min_child_samples": 400, "feature_fraction": 0.5},
    {"num_leaves": 31, "min_child_samples": 800, "lambda_l2": 20.0, "feature_fraction": 0.5},
    {"num_leaves": 4, "min_child_samples": 100, "learning_rate": 0.1},
    {"negative_fraction": 0.25, "min_child_samples": 400},
    {"num_leaves": 15, "min_child_samples": 300, "learning_rate": 0.1, "lambda_l2": 1.0},
)
"""Overrides of the (already regularised) defaults: tree size vs leaf size, learning rate,
negative bagging and L2. Kept to six so a search stays cheap on two cores."""


class TuningConfig(BaseModel):
    """The validation search: candidate overrides and the validation score that picks one
    (``roc_auc`` or ``average_precision`` of the raw scores). ``enabled: false`` fits the
    base parameters only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    candidates: tuple[Override, ...] = DEFAULT_CANDIDATES
    metric: Literal["roc_auc", "average_precision"] = "roc_auc"


class LightGBMSearch:
    """Fit every candidate, keep the best on the validation period (like scikit-learn's
    search estimators: ``best_estimator_``, ``best_params_``, ``results_``)."""

    def __init__(
        self,
        features: list[FeatureSpec],
        params: LightGBMParams | None = None,
        config: TuningConfig | None = None,
    ) -> None:
        self.features = features
        self.params = params or LightGBMParams()
        self.config = config or TuningConfig()

    def candidates(self) -> list[LightGBMParams]:
        """The parameter sets tried, the base parameters first (validated, no duplicates)."""
        overrides = self.config.candidates if self.config.enabled else ()
        out = [self.params]
        for update in overrides:
            merged = LightGBMParams.model_validate(self.params.model_dump() | update)
            if merged not in out:
                out.append(merged)
        return out

    def _score(self, y: np.ndarray[Any, Any], raw: np.ndarray[Any, Any]) -> float:
        if self.config.metric == "average_precision":
            return float(average_precision_score(y, raw))
        return float(roc_auc_score(y, raw))

    def fit(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray[Any, Any],
        valid: pd.DataFrame,
        y_valid: np.ndarray[Any, Any],
        *,
        valid_groups: np.ndarray[Any, Any] | None = None,
        sample_weight: np.ndarray[Any, Any] | None = None,
        on_candidate: Callable[[int, int], None] | None = None,
    ) -> Self:
        """Search on ``train`` (rows weighted by ``sample_weight``) and ``valid``, calibrate the
        winner on ``valid``; returns ``self``. ``on_candidate(i, n)`` is called as candidate
        ``i`` (from 0) of ``n`` starts."""
        data: dict[int, LightGBMData] = {}
        rows: list[dict[str, Any]] = []
        best: tuple[float, LightGBMModel] | None = None
        candidates = self.candidates()
        for i, params in enumerate(candidates):
            if on_candidate is not None:
                on_candidate(i, len(candidates))
            model = LightGBMModel(self.features, params)
            started = time.perf_counter()
            if params.dataset_key not in data:
                data[params.dataset_key] = model.prepare(
                    train, y_train, valid, y_valid, sample_weight=sample_weight
                )
            shared = data[params.dataset_key]
            model.fit_booster(shared)
            score = self._score(shared.y_valid, model._predict_matrix(shared.x_valid))
            rows.append(
                {
                    "candidate": i,
                    **{k: v for k, v in params.model_dump().items() if k != "calibration"},
                    "best_iteration": model.best_iteration_,
                    f"valid_{self.config.metric}": score,
                    "seconds": time.perf_counter() - started,
                }
            )
            if best is None or score > best[0]:
                best = (score, model)
        assert best is not None  # the base parameters are always a candidate
        winner = best[1]
        self.best_estimator_ = winner.calibrate(data[winner.params.dataset_key], valid_groups)
        self.best_params_ = winner.params
        self.best_score_ = best[0]
        self.results_ = pd.DataFrame(rows)
        return self


def fit_lightgbm(
    features: list[FeatureSpec],
    train: pd.DataFrame,
    y_train: np.ndarray[Any, Any],
    valid: pd.DataFrame,
    y_valid: np.ndarray[Any, Any],
    *,
    params: LightGBMParams | None = None,
    tuning: TuningConfig | None = None,
    valid_groups: np.ndarray[Any, Any] | None = None,
    sample_weight: np.ndarray[Any, Any] | None = None,
    on_candidate: Callable[[int, int], None] | None = None,
) -> LightGBMModel:
    """The pipeline hook: the calibrated LightGBM head chosen on the validation period
    (``sample_weight``: the training rows' weights, e.g. a negative sample's;
    ``on_candidate(i, n)``: called as each candidate of the search starts)."""
    search = LightGBMSearch(features, params, tuning)
    fitted = search.fit(
        train,
        y_train,
        valid,
        y_valid,
        valid_groups=valid_groups,
        sample_weight=sample_weight,
        on_candidate=on_candidate,
    )
    return fitted.best_estimator_
