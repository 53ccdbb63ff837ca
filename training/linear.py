"""The logistic model's servable head: scikit-learn's fitted pipeline read into plain numbers
(:class:`leadscore.model.linear_head.LogisticParts`), replayed by NumPy at serving."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.linear_head import LogisticHead, LogisticParts

__all__ = ["logistic_head"]


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def logistic_head(
    pipeline: Pipeline,
    train_inputs: pd.DataFrame,
    encoder: FeatureEncoder,
    calibrator: Calibrator,
    weights: np.ndarray[Any, Any] | None = None,
) -> LogisticHead:
    """The head replaying ``pipeline`` (fitted on ``train_inputs``, the model's input frame,
    whose rows weigh ``weights``: the reasons' reference is their weighted mean)."""
    columns = pipeline.named_steps["columns"]
    classifier = pipeline.named_steps["classifier"]
    numeric: list[str] = []
    categorical: list[str] = []
    medians: list[float] = []
    indicators: list[int] = []
    scale_mean: list[float] = []
    scale_std: list[float] = []
    levels: list[list[str]] = []
    infrequent: list[list[str] | None] = []
    for name, transformer, names in columns.transformers_:
        if name == "numeric" and len(names):
            numeric = list(names)
            imputer, scaler = transformer.steps[0][1], transformer.steps[2][1]
            medians = [0.0 if np.isnan(v) else float(v) for v in imputer.statistics_]
            if imputer.indicator_ is not None:
                indicators = [int(i) for i in imputer.indicator_.features_]
            scale_mean, scale_std = _floats(scaler.mean_), _floats(scaler.scale_)
        elif name == "categorical" and len(names):
            categorical = list(names)
            rare_sets = getattr(transformer, "infrequent_categories_", [None] * len(names))
            for cats, rare in zip(transformer.categories_, rare_sets, strict=True):
                rare_list = None if rare is None else [str(c) for c in rare]
                levels.append([str(c) for c in cats if rare_list is None or c not in rare_list])
                infrequent.append(rare_list)
    design = columns.transform(train_inputs)
    parts = LogisticParts(
        numeric=numeric,
        medians=medians,
        indicators=indicators,
        scale_mean=scale_mean,
        scale_std=scale_std,
        categorical=categorical,
        levels=levels,
        infrequent=infrequent,
        coef=_floats(classifier.coef_[0]),
        intercept=float(classifier.intercept_[0]),
        column_means=_floats(
            np.average(np.asarray(design, dtype=np.float64), axis=0, weights=weights)
        ),
    )
    return LogisticHead(parts, encoder, calibrator)
