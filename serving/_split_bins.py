"""Fine bins of one feature from a LightGBM model's own splits (see `contributions`).

Every value maps to a bin code such that two values with equal codes fall on the same side of
every split of the feature, replicating LightGBM's handling of NaN, zero-as-missing, ``-0.0``,
tiny values flushed to zero, ``inf`` and the truncation of categorical values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from leadscore.serving._model_splits import MISSING_NONE, MISSING_ZERO, Split

__all__ = [
    "Codes",
    "FeatureBins",
    "Floats",
    "as_lightgbm_values",
    "categorical_bins",
    "factorize_rows",
    "numerical_bins",
]

Codes = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]

# LightGBM's kZeroThreshold is the float literal 1e-35f stored in a double; dense rows drop
# every value with |x| <= kZeroThreshold before prediction, so those are exactly 0.0.
_ZERO_THRESHOLD = float(np.float32(1e-35))
_INT_LIMIT = 2.0**31


def as_lightgbm_values(X: npt.NDArray[Any]) -> Floats:
    """The doubles LightGBM sees for a dense array (non-float dtypes go through float32)."""
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    return np.asarray(X, dtype=np.float64)


def factorize_rows(matrix: npt.NDArray[Any]) -> tuple[Codes, int]:
    _, inverse = np.unique(matrix, axis=0, return_inverse=True)
    codes = inverse.reshape(-1).astype(np.int32)
    return codes, int(codes.max()) + 1 if codes.size else 0


@dataclass(frozen=True, slots=True)
class FeatureBins:
    """Fine bins of one feature and the side of every split of the feature for each bin."""

    categorical: bool
    thresholds: Floats  # numerical: sorted distinct thresholds
    categories: npt.NDArray[np.int64]  # categorical: sorted categories in any split
    sides: npt.NDArray[np.int8]  # (n_fine, n_splits): 1 left, 0 right
    isolate: npt.NDArray[np.int32]  # (n_fine,): >0 for bins that must never merge
    split_trees: npt.NDArray[np.int64]  # (n_splits,): tree of each split column
    fine_to_code: Codes
    n_codes: int

    def fine(self, values: Floats) -> Codes:
        """Fine bin of each value: equal fine bins route identically at every split."""
        values = np.where(np.abs(values) <= _ZERO_THRESHOLD, 0.0, values)
        nan = np.isnan(values)
        if not self.categorical:
            n = self.thresholds.size
            fine = np.searchsorted(self.thresholds, values, side="left").astype(np.int32)
            fine[values == 0.0] = n + 1
            fine[nan] = n + 2
            return fine
        k = self.categories.size
        fine = np.full(values.shape, k, dtype=np.int32)  # valid int not in any category set
        with np.errstate(invalid="ignore"):
            too_big = values >= _INT_LIMIT
            too_small = values <= -_INT_LIMIT - 1.0
        valid = ~(nan | too_big | too_small)
        truncated = np.trunc(values[valid]).astype(np.int64)
        pos = np.searchsorted(self.categories, truncated).clip(max=max(k - 1, 0))
        hit = self.categories[pos] == truncated if k else np.zeros(truncated.shape, bool)
        fine[valid] = np.where(hit, pos, k)
        fine[nan] = k + 1
        fine[too_big] = k + 2
        fine[too_small] = k + 3
        return fine

    def block_table(self, lo: int, hi: int) -> tuple[Codes, int] | None:
        """Map global codes to codes for the trees ``lo <= tree < hi`` (None: feature unused)."""
        columns = (self.split_trees >= lo) & (self.split_trees < hi)
        if not columns.any():
            return None
        signature = np.column_stack([self.sides[:, columns], self.isolate])
        fine_to_block, n_block = factorize_rows(signature)
        table = np.zeros(self.n_codes, dtype=np.int32)
        table[self.fine_to_code] = fine_to_block
        return table, n_block


def numerical_bins(splits: Sequence[Split]) -> FeatureBins:
    thresholds = np.unique(np.array([s.threshold for s in splits], dtype=np.float64))
    n = thresholds.size
    t = np.array([s.threshold for s in splits], dtype=np.float64)
    mtype = np.array([s.missing_type for s in splits])
    left = np.array([s.default_left for s in splits], dtype=bool)
    # interval i is (thresholds[i-1], thresholds[i]]; the last one is (thresholds[-1], inf]
    reps = np.append(thresholds, np.inf)
    sides = np.empty((n + 3, len(splits)), dtype=np.int8)
    sides[: n + 1] = reps[:, None] <= t[None, :]
    zero_compare = t >= 0.0
    # exact zero: default side where zeros are missing, else compared as 0.0
    sides[n + 1] = np.where(mtype == MISSING_ZERO, left, zero_compare)
    # NaN: default side where NaN or zero is missing; with missing type None it is 0.0
    sides[n + 2] = np.where(mtype == MISSING_NONE, zero_compare, left)
    fine_to_code, n_codes = factorize_rows(sides)
    return FeatureBins(
        categorical=False,
        thresholds=thresholds,
        categories=np.zeros(0, dtype=np.int64),
        sides=sides,
        isolate=np.zeros(n + 3, dtype=np.int32),
        split_trees=np.array([s.tree for s in splits], dtype=np.int64),
        fine_to_code=fine_to_code,
        n_codes=n_codes,
    )


def categorical_bins(splits: Sequence[Split]) -> FeatureBins:
    sets = [s.categories or frozenset() for s in splits]
    categories = np.array(sorted(set().union(*sets)), dtype=np.int64)
    k = categories.size
    sides = np.zeros((k + 4, len(splits)), dtype=np.int8)
    for j, cats in enumerate(sets):
        sides[:k, j] = np.isin(categories, np.array(sorted(cats), dtype=np.int64))
    # NaN and out-of-int-range values: LightGBM's routing is platform- and version-dependent
    # (static_cast<int> of NaN/huge doubles), so each gets a bin of its own, merged with none.
    isolate = np.zeros(k + 4, dtype=np.int32)
    isolate[k + 1 :] = np.arange(1, 4, dtype=np.int32)
    fine_to_code, n_codes = factorize_rows(np.column_stack([sides, isolate]))
    return FeatureBins(
        categorical=True,
        thresholds=np.zeros(0, dtype=np.float64),
        categories=categories,
        sides=sides,
        isolate=isolate,
        split_trees=np.array([s.tree for s in splits], dtype=np.int64),
        fine_to_code=fine_to_code,
        n_codes=n_codes,
    )
