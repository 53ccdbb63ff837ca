"""A fitted probability calibrator: its parameters and its prediction (fitting is training's).

Platt scaling keeps ``a``, ``b`` on the logit of the raw score; isotonic regression keeps its
x/y thresholds. Both are plain numbers, so a calibrator round-trips through JSON with identical
outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from leadscore.errors import ArtifactError

__all__ = ["CALIBRATION_METHODS", "CalibrationMethod", "Calibrator", "logit"]

CalibrationMethod = Literal["platt", "isotonic", "none"]
CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = ("platt", "isotonic", "none")
EPS = 1e-6
FloatArray = np.ndarray[Any, Any]


def logit(p: FloatArray) -> FloatArray:
    """The log-odds of probabilities clipped away from 0 and 1."""
    q = np.clip(p, EPS, 1 - EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


@dataclass(frozen=True)
class Calibrator:
    """Maps raw model probabilities to calibrated ones (immutable once fitted)."""

    method: CalibrationMethod = "none"
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def predict(self, raw: FloatArray) -> FloatArray:
        """Calibrated probabilities, clipped away from exactly 0 and 1."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "platt":
            out = 1.0 / (1.0 + np.exp(-(self.a * logit(raw) + self.b)))
        elif self.method == "isotonic":
            out = np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        else:
            out = raw
        return np.asarray(np.clip(out, EPS, 1 - EPS), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (the ``calibration`` entry of a model record)."""
        if self.method == "platt":
            return {"method": "platt", "a": self.a, "b": self.b}
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        return {"method": "none"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild a fitted calibrator from :meth:`to_dict` output."""
        method = data.get("method")
        if method not in CALIBRATION_METHODS:
            raise ArtifactError(
                f"Unknown calibration method {method!r}; expected one of "
                f"{', '.join(CALIBRATION_METHODS)}. Retrain the model with this leadscore."
            )
        return cls(
            method,
            a=float(data.get("a", 1.0)),
            b=float(data.get("b", 0.0)),
            x=tuple(float(v) for v in data.get("x", [])),
            y=tuple(float(v) for v in data.get("y", [])),
        )
