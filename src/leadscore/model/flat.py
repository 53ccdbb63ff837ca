"""What a flat-mode model needs to score raw export rows and word its reasons.

A flat model (trained with ``leadscore train --table``) reads the columns of a one-row-per-lead
export, not a feature definition. :class:`FlatSpec` sits in ``scorer.json``
(:attr:`leadscore.model.spec.ScorerSpec.flat`): the outcome column, the row id column, the
placeholders read as missing, and per model column its kind and, for numbers, the training
percentiles that say "higher than 90 % of leads". The head itself is stored in the primary (``sql``) slot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from leadscore.model.inputs import FeatureKind

__all__ = ["FlatColumn", "FlatSpec", "percentiles_of"]

_PERCENTILES = np.linspace(0, 100, 101)


class FlatColumn(BaseModel):
    """One model column of the export: kind and, for numbers, the training percentiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: FeatureKind
    percentiles: tuple[float, ...] = ()

    def shares(self, value: float) -> tuple[float, float] | None:
        """``(share of training rows below value, share at or below)`` from the percentiles
        (``None``: no percentiles or not a number)."""
        if not self.percentiles or not np.isfinite(value):
            return None
        grid = np.asarray(self.percentiles)
        last = len(grid) - 1
        below = float(np.searchsorted(grid, value, side="left")) / last
        at_or_below = float(np.searchsorted(grid, value, side="right") - 1) / last
        return min(below, 1.0), max(at_or_below, 0.0)


class FlatSpec(BaseModel):
    """The export a flat model reads (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    id_column: str | None = None
    time_column: str | None = None
    na_values: tuple[str, ...] = ()
    columns: tuple[FlatColumn, ...] = Field(default_factory=tuple)
    split_mode: str = ""
    base_rate: float | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> FlatColumn:
        return next(c for c in self.columns if c.name == name)


def percentiles_of(values: np.ndarray[Any, Any]) -> tuple[float, ...]:
    """Percentiles 0..100 of the finite values (empty when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ()
    return tuple(float(v) for v in np.percentile(finite, _PERCENTILES))
