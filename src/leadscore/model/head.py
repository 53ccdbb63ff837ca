"""One target's fitted model head: LightGBM trees, feature encoder, calibrator.

A head is immutable once built: its booster is parsed from LightGBM's native text model, cut to
the best iteration, and is only ever asked for its full iteration range. LightGBM writes a
requested iteration range into the shared C++ model before predicting, so two threads asking one
booster for different ranges corrupt each other's results; a head never asks for a range, so
threads share it for probabilities without a lock. SHAP contributions are the exception:
LightGBM recomputes every tree's ``max_depth_`` (which sizes TreeSHAP's path buffer) at the start
of each ``pred_contrib`` call, so a concurrent call can read a partial depth and write past its
buffer (a crash or wrong values): contributions of one booster are serialised by a lock. Every
call passes leadscore's one LightGBM thread count (:mod:`leadscore.model.lgb_threads`: calls
with different counts overrun each other's buffers). Training builds heads with
:meth:`ModelHead.from_booster`; serving reads them from a heads folder
(:mod:`leadscore.model.heads`). Both predict through the same methods, so the probabilities a
model was evaluated with are the ones it serves.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.head_base import HeadBase
from leadscore.model.lgb_import import lightgbm
from leadscore.model.lgb_threads import predict

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["ModelHead"]

FloatArray = np.ndarray[Any, Any]


class ModelHead(HeadBase):
    """Raw and calibrated probabilities and exact SHAP contributions of one target.

    ``model_text`` is LightGBM's text model holding exactly ``best_iteration`` iterations.
    """

    kind = "lightgbm"

    def __init__(
        self,
        model_text: str,
        encoder: FeatureEncoder,
        calibrator: Calibrator,
        *,
        best_iteration: int,
    ) -> None:
        super().__init__(model_text, encoder, calibrator)
        # a Booster needs no scikit-learn: LightGBM is imported without it (lgb_import)
        self._booster: lgb.Booster = lightgbm().Booster(model_str=model_text)
        self._contrib_lock = threading.Lock()  # pred_contrib mutates the trees (module doc)
        self._best_iteration = int(best_iteration)

    @classmethod
    def from_booster(
        cls,
        booster: lgb.Booster,
        encoder: FeatureEncoder,
        calibrator: Calibrator,
        *,
        best_iteration: int,
    ) -> ModelHead:
        """A head of the first ``best_iteration`` iterations of a trained ``booster``."""
        text = booster.model_to_string(num_iteration=best_iteration)
        return cls(text, encoder, calibrator, best_iteration=best_iteration)

    @property
    def booster(self) -> lgb.Booster:
        """The head's booster: read it, never train it or predict with an iteration range."""
        return self._booster

    @property
    def best_iteration(self) -> int:
        return self._best_iteration

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """The float matrix (rows x features) the trees read."""
        return self._encoder.transform(frame)

    def raw_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Uncalibrated probabilities of an encoded matrix."""
        return predict(self._booster, matrix)  # full range: never a range (module doc)

    def contributions_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Exact SHAP values in log-odds (rows x (features + 1), last column = bias)."""
        with self._contrib_lock:
            return predict(self._booster, matrix, pred_contrib=True)
