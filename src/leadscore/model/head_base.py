"""What every kind of head shares: its stored text, encoder, calibrator and the frame-level
methods built on the three matrix-level ones each kind defines.

A head kind (LightGBM trees, a logistic regression, the rules) says how a frame becomes its
matrix (:meth:`HeadBase.matrix`), how a matrix becomes uncalibrated probabilities
(:meth:`HeadBase.raw_from_matrix`) and exact log-odds contributions
(:meth:`HeadBase.contributions_from_matrix`); the rest is here, once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.inputs import FeatureSpec

__all__ = ["HeadBase"]

FloatArray = np.ndarray[Any, Any]


class HeadBase:
    """A fitted head: text model, feature encoder, calibrator (immutable once built)."""

    kind = ""

    def __init__(self, text: str, encoder: FeatureEncoder, calibrator: Calibrator) -> None:
        self._text = text
        self._encoder = encoder
        self._calibrator = calibrator

    @property
    def model_text(self) -> str:
        """The head's model as text (what the heads folder stores)."""
        return self._text

    @property
    def model_sha256(self) -> str:
        """The hash a model record stores so it never pairs with another model."""
        return hashlib.sha256(self._text.encode()).hexdigest()

    @property
    def best_iteration(self) -> int:
        return 1

    @property
    def encoder(self) -> FeatureEncoder:
        """The inputs (names, kinds, concepts)."""
        return self._encoder

    @property
    def calibrator(self) -> Calibrator:
        return self._calibrator

    @property
    def features(self) -> list[FeatureSpec]:
        """The model inputs in column order."""
        return list(self._encoder.features)

    @property
    def feature_names(self) -> list[str]:
        return list(self._encoder.feature_names)

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """The matrix of ``frame`` this head reads."""
        raise NotImplementedError

    def raw_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Uncalibrated probabilities of a matrix."""
        raise NotImplementedError

    def contributions_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Exact contributions in log-odds (rows x (features + 1), last column = bias)."""
        raise NotImplementedError

    def predict_raw(self, frame: pd.DataFrame) -> FloatArray:
        """Uncalibrated probabilities."""
        return self.raw_from_matrix(self.matrix(frame))

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probabilities of the positive class."""
        return self._calibrator.predict(self.predict_raw(frame))

    def contributions(self, frame: pd.DataFrame) -> FloatArray:
        """Exact contributions in log-odds of the rows of ``frame``."""
        return self.contributions_from_matrix(self.matrix(frame))
