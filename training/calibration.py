"""Fitting probability calibrators on a held-out period: Platt scaling or isotonic regression.

The fitted :class:`~leadscore.model.calibration.Calibrator` (parameters and prediction) belongs
to the model artifact; this module only fits it. :func:`choose_calibrator` picks the method with
the lower out-of-fold log loss, folds grouped by contact so one contact's rows never sit on both
sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

from leadscore.model.calibration import EPS, CalibrationMethod, Calibrator, logit

__all__ = ["CalibrationMethod", "Calibrator", "choose_calibrator", "fit_calibrator"]

FloatArray = np.ndarray[Any, Any]


def fit_calibrator(
    method: CalibrationMethod, raw: FloatArray, y: np.ndarray[Any, Any]
) -> Calibrator:
    """A ``method`` calibrator fitted on raw probabilities ``raw`` and 0/1 labels ``y``."""
    y = np.asarray(y, dtype=np.int64)
    if method == "platt":
        model = LogisticRegression(C=1e6, max_iter=1000)
        model.fit(logit(raw).reshape(-1, 1), y)
        return Calibrator("platt", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(raw, y)
        return Calibrator(
            "isotonic",
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )
    return Calibrator("none")


def choose_calibrator(
    raw: FloatArray,
    y: np.ndarray[Any, Any],
    groups: np.ndarray[Any, Any],
    *,
    methods: tuple[CalibrationMethod, ...] = ("platt", "isotonic"),
    n_folds: int = 5,
) -> tuple[Calibrator, dict[str, float]]:
    """Fit every method, score it by grouped out-of-fold log loss, refit the best on all rows.

    Returns the fitted best calibrator and the log loss of each method.
    """
    y = np.asarray(y, dtype=np.int64)
    n_folds = max(2, min(n_folds, len(np.unique(groups)), int(y.sum()) or 2))
    losses: dict[CalibrationMethod, float] = {}
    for method in methods:
        oof = np.empty(len(y), dtype=np.float64)
        for fit_idx, eval_idx in GroupKFold(n_splits=n_folds).split(raw, y, groups):
            if y[fit_idx].min() == y[fit_idx].max():
                oof[eval_idx] = raw[eval_idx]
                continue
            fitted = fit_calibrator(method, raw[fit_idx], y[fit_idx])
            oof[eval_idx] = fitted.predict(raw[eval_idx])
        losses[method] = float(log_loss(y, np.clip(oof, EPS, 1 - EPS), labels=[0, 1]))
    best = min(losses, key=lambda m: losses[m])
    return fit_calibrator(best, raw, y), {str(m): v for m, v in losses.items()}
