"""A rules head: the points rules served as a model, with points-based reasons.

The rules baseline is calibrated like a model: its points map into (0, 1) by
``sigmoid((points - mql_threshold) / POINTS_PER_LOGIT)`` and a calibrator fitted on validation
turns that into a probability. That map is linear in log-odds, so the rules decompose exactly:
a feature's contribution is ``(its points - its mean points on training) / POINTS_PER_LOGIT``
and the bias is the logit at the mean points; bias plus contributions is the row's logit.
Reasons therefore say what each rule gave (or did not give), in the same log-odds unit as
the model heads' SHAP values.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import SMALL_ROWS, FeatureEncoder, numpy_number_block
from leadscore.model.head_base import HeadBase
from leadscore.model.rules import RuleSet

__all__ = ["POINTS_PER_LOGIT", "RulesHead", "rules_unit"]

FloatArray = np.ndarray[Any, Any]
POINTS_PER_LOGIT = 20.0


def rules_unit(points: FloatArray, threshold: float) -> FloatArray:
    """A monotone map of points into (0, 1) so the rules can be calibrated like a model."""
    z = (np.asarray(points, dtype=np.float64) - threshold) / POINTS_PER_LOGIT
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


class RulesHead(HeadBase):
    """Calibrated probabilities and exact points-based contributions of the rules."""

    kind = "rules"

    def __init__(
        self,
        rules: RuleSet,
        mean_points: dict[str, float],
        encoder: FeatureEncoder,
        calibrator: Calibrator,
    ) -> None:
        self._rules = rules
        self._names = encoder.feature_names
        self._mean = np.asarray([mean_points.get(n, 0.0) for n in self._names], dtype=np.float64)
        payload = {"rules": rules.model_dump(mode="json", by_alias=True, exclude_none=True)}
        payload["mean_points"] = dict(zip(self._names, self._mean.tolist(), strict=True))
        super().__init__(json.dumps(payload, sort_keys=True), encoder, calibrator)

    @classmethod
    def from_text(cls, text: str, encoder: FeatureEncoder, calibrator: Calibrator) -> RulesHead:
        """The head of a stored text (:attr:`model_text`)."""
        raw = json.loads(text)
        rules = RuleSet.model_validate(raw["rules"])
        return cls(rules, {k: float(v) for k, v in raw["mean_points"].items()}, encoder, calibrator)

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """Points per feature (rows x features): the sum of the points of its rules."""
        out = np.zeros((len(frame), len(self._names)))
        index = {n: j for j, n in enumerate(self._names)}
        rules = self._rules.rules
        numbers = np.empty((len(frame), len(rules)), dtype=np.float64)
        plain = (  # small frames: plain number columns in one conversion (same values)
            numpy_number_block(frame, [r.feature for r in rules], numbers)
            if len(frame) <= SMALL_ROWS
            else ()
        )
        for k, rule in enumerate(rules):
            points = rule.points_for_numbers(numbers[:, k]) if k in plain else None
            if points is None:
                points = rule.points_for(frame[rule.feature])
            out[:, index[rule.feature]] += points
        return out

    def raw_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """The points' position in (0, 1), before calibration (:func:`rules_unit`)."""
        return rules_unit(matrix.sum(axis=1), self._rules.mql_threshold)

    def contributions_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Exact contributions in log-odds (rows x (features + 1), last column = bias)."""
        out = np.empty((len(matrix), len(self._names) + 1))
        out[:, :-1] = (matrix - self._mean) / POINTS_PER_LOGIT
        out[:, -1] = (float(self._mean.sum()) - self._rules.mql_threshold) / POINTS_PER_LOGIT
        return out
