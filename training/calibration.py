"""Probability calibration on a held-out period: Platt scaling or isotonic regression.

Both are stored as plain numbers (Platt: ``a``, ``b`` on the logit of the raw score; isotonic:
the x/y thresholds), so a calibrator round-trips through JSON with identical outputs.
:func:`choose_calibrator` picks the method with the lower out-of-fold log loss, folds grouped
by contact so one contact's rows never sit on both sides.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

__all__ = ["CalibrationMethod", "Calibrator", "choose_calibrator"]

CalibrationMethod = Literal["platt", "isotonic", "none"]
_EPS = 1e-6
FloatArray = np.ndarray[Any, Any]


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


class Calibrator:
    """Maps raw model probabilities to calibrated ones."""

    def __init__(self, method: CalibrationMethod = "platt") -> None:
        self.method = method

    def fit(self, raw: FloatArray, y: np.ndarray[Any, Any]) -> Self:
        """Fit on raw probabilities ``raw`` and 0/1 labels ``y``; returns ``self``."""
        y = np.asarray(y, dtype=np.int64)
        self.a_, self.b_ = 1.0, 0.0
        self.x_: list[float] = []
        self.y_: list[float] = []
        if self.method == "platt":
            model = LogisticRegression(C=1e6, max_iter=1000)
            model.fit(_logit(raw).reshape(-1, 1), y)
            self.a_, self.b_ = float(model.coef_[0, 0]), float(model.intercept_[0])
        elif self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            iso.fit(raw, y)
            self.x_ = [float(v) for v in iso.X_thresholds_]
            self.y_ = [float(v) for v in iso.y_thresholds_]
        return self

    def predict(self, raw: FloatArray) -> FloatArray:
        """Calibrated probabilities, clipped away from exactly 0 and 1."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "platt":
            out = 1.0 / (1.0 + np.exp(-(self.a_ * _logit(raw) + self.b_)))
        elif self.method == "isotonic":
            out = np.interp(raw, np.asarray(self.x_), np.asarray(self.y_))
        else:
            out = raw
        return np.asarray(np.clip(out, _EPS, 1 - _EPS), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        if self.method == "platt":
            return {"method": "platt", "a": self.a_, "b": self.b_}
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.x_, "y": self.y_}
        return {"method": "none"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild a fitted calibrator from :meth:`to_dict` output."""
        calibrator = cls(data["method"])
        calibrator.a_ = float(data.get("a", 1.0))
        calibrator.b_ = float(data.get("b", 0.0))
        calibrator.x_ = [float(v) for v in data.get("x", [])]
        calibrator.y_ = [float(v) for v in data.get("y", [])]
        return calibrator


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
    losses: dict[str, float] = {}
    for method in methods:
        oof = np.empty(len(y), dtype=np.float64)
        for fit_idx, eval_idx in GroupKFold(n_splits=n_folds).split(raw, y, groups):
            if y[fit_idx].min() == y[fit_idx].max():
                oof[eval_idx] = raw[eval_idx]
                continue
            oof[eval_idx] = Calibrator(method).fit(raw[fit_idx], y[fit_idx]).predict(raw[eval_idx])
        losses[method] = float(log_loss(y, np.clip(oof, _EPS, 1 - _EPS), labels=[0, 1]))
    best = min(losses, key=lambda m: losses[m])
    return Calibrator(best).fit(raw, y), losses  # type: ignore[arg-type]
