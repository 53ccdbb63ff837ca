"""Grades A-D from the calibrated SQL probability, with thresholds fixed on the validation period.

Grade A is the sales capacity: the share of leads sales can work, by default the share the
rules baseline makes MQLs on the validation period (what reps already receive). B covers up to
three times that share, C up to the top half, D the rest. Thresholds are probabilities, so a
grade means the same thing from one scoring run to the next (the share of A leads moves with the
base, the bar does not).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["GRADES", "GradeThresholds", "assign_grades", "fit_grades"]

GRADES: tuple[str, ...] = ("A", "B", "C", "D")


class GradeThresholds(BaseModel):
    """Minimum ``p_sql`` of grades A, B and C (D: below C), and the shares they were set at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: float = Field(ge=0, le=1)
    b: float = Field(ge=0, le=1)
    c: float = Field(ge=0, le=1)
    shares: tuple[float, float, float]
    fitted_on: str = "validation period"
    rows: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> GradeThresholds:
        if not self.a >= self.b >= self.c:
            raise ValueError(
                f"grade thresholds must satisfy A >= B >= C, got {self.a}, {self.b}, {self.c}"
            )
        return self


def _cumulative_shares(capacity: float) -> tuple[float, float, float]:
    a = float(np.clip(capacity, 0.005, 0.5))
    b = min(3 * a, 0.75)
    c = max(0.5, b + (1 - b) / 3) if b >= 0.5 else 0.5
    return a, b, c


def fit_grades(
    p_sql: np.ndarray[Any, Any], capacity_share: float, *, fitted_on: str = "validation period"
) -> GradeThresholds:
    """Thresholds putting the top ``capacity_share`` of ``p_sql`` in A (see the module doc).

    When tied probabilities (isotonic calibration) straddle the capacity, A excludes the tied
    group rather than grow past the capacity share.
    """
    values = np.asarray(p_sql, dtype=np.float64)
    values = values[np.isfinite(values)]
    shares = _cumulative_shares(capacity_share)
    if values.size == 0:
        raise ValueError("cannot fit grade thresholds on an empty set of probabilities")
    a, b, c = (float(np.quantile(values, 1.0 - s, method="higher")) for s in shares)
    if (
        np.count_nonzero(values == a) > 1
        and np.count_nonzero(values >= a) > shares[0] * values.size
    ):
        # calibration ties straddle the capacity: A stops above the tie, never larger than it
        above = values[values > a]
        a = float(above.min()) if above.size else min(1.0, float(np.nextafter(a, np.inf)))
    return GradeThresholds(a=a, b=b, c=c, shares=shares, fitted_on=fitted_on, rows=values.size)


def assign_grades(p_sql: np.ndarray[Any, Any], thresholds: GradeThresholds) -> np.ndarray[Any, Any]:
    """Grade letter per probability (``object`` array of ``"A"``..``"D"``)."""
    p = np.asarray(p_sql, dtype=np.float64)
    out = np.full(p.shape, "D", dtype=object)
    out[p >= thresholds.c] = "C"
    out[p >= thresholds.b] = "B"
    out[p >= thresholds.a] = "A"
    return out
