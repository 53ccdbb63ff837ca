"""The logistic model's servable head: its fitted design and regression read into plain
numbers (:class:`leadscore.model.linear_head.LogisticParts`), replayed by NumPy at serving."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.linear_head import LogisticHead, LogisticParts
from leadscore.training.logistic_design import LogisticDesign

__all__ = ["logistic_head"]


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def logistic_head(
    design: LogisticDesign,
    classifier: LogisticRegression,
    column_means: np.ndarray[Any, Any],
    encoder: FeatureEncoder,
    calibrator: Calibrator,
) -> LogisticHead:
    """The head replaying ``design`` and ``classifier`` (``column_means``: the design columns'
    weighted means on the fitting rows, the reasons' reference)."""
    scaler = design.scaler_
    parts = LogisticParts(
        numeric=[f.name for f in design.numeric],
        medians=list(design.medians_) if scaler is not None else [],
        indicators=list(design.indicators_) if scaler is not None else [],
        scale_mean=_floats(scaler.mean_) if scaler is not None else [],
        scale_std=_floats(scaler.scale_) if scaler is not None else [],
        categorical=[c.name for c in design.categorical_],
        levels=[list(c.levels) for c in design.categorical_],
        infrequent=[
            None if c.infrequent is None else list(c.infrequent) for c in design.categorical_
        ],
        coef=_floats(classifier.coef_[0]),
        intercept=float(classifier.intercept_[0]),
        column_means=_floats(column_means),
    )
    return LogisticHead(parts, encoder, calibrator)
