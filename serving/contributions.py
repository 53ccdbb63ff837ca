"""Exact SHAP contributions for LightGBM, fast for batch scoring.

LightGBM's ``Booster.predict(X, pred_contrib=True)`` (which ``shap.TreeExplainer`` calls for
LightGBM models) runs path-dependent TreeSHAP: per row and tree it costs about
``leaves x depth^2``, so a batch costs ``rows x trees x leaves x depth^2``. A 500-tree,
31-leaf model explains about 760 rows/s on 2 cores, against about 90k rows/s for the
prediction itself.

TreeSHAP sees a row only through the side of every split it falls on (with LightGBM's
missing-value routing). Two rows with the same sides everywhere get bit-identical values. So:

1. `ThresholdBinner` maps every value to a bin code, per feature, from the model's own split
   thresholds and category sets (replicating LightGBM's handling of NaN, zero-as-missing,
   ``-0.0``, tiny values LightGBM flushes to zero, ``inf``, and truncation of categorical values).
2. `exact_contributions` groups rows with equal codes, asks LightGBM for ``pred_contrib`` on one
   representative row per group, and scatters the result back. LightGBM stays the only SHAP
   engine: nothing is approximated.

Blocks of trees. Contributions add up over trees, and a block of few trees has few thresholds,
hence far fewer distinct rows. With continuous features in the model (hundreds of thresholds
each) almost every row is distinct for the whole model, while one tree typically sees a few
percent to a few tens of percent of distinct rows. ``trees_per_block`` picks the trade-off
(one LightGBM call and one scatter per block); the default measures the distinct-row ratio of
the first block for a few candidate sizes and takes the cheapest. With one block the output is
bit-identical to ``pred_contrib``; with several blocks it differs only by the order of
floating-point additions (about 1e-15).

Sizing guidance:

- cost without this module: ``rows x trees x leaves x depth^2`` (depth: mean leaf depth,
  ``num_leaves=31`` leaf-wise trees are often 8 to 12 deep);
- cost with it: ``sum over blocks of distinct_rows(block) x trees_in_block x leaves x depth^2``
  plus about ``rows x features_in_block`` of NumPy work per block;
- distinct rows grow with the number of thresholds per feature: count features with small
  integers, categoricals and NaN-heavy features dedupe very well (a model on those alone sees
  a few percent of distinct rows); a handful of continuous features (days, tenure, account
  size) makes nearly every row distinct for the whole model, and one tree then sees roughly
  15-40% distinct rows, which caps the gain near 3-6x (``max_bin=31`` did not help in our
  measurement). Fewer, shallower trees cut both paths alike;
- grouping needs the whole batch in memory; dedupe improves with larger chunks, so explain
  chunks of 100k rows or more when scoring a contact base in chunks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from leadscore.serving._model_splits import (
    MISSING_NONE,
    MISSING_ZERO,
    ModelSplits,
    Split,
    read_splits,
)

__all__ = ["ThresholdBinner", "exact_contributions"]

Codes = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

# LightGBM's kZeroThreshold is the float literal 1e-35f stored in a double; dense rows drop
# every value with |x| <= kZeroThreshold before prediction, so those are exactly 0.0.
_ZERO_THRESHOLD = float(np.float32(1e-35))
_INT_LIMIT = 2.0**31
# Cost of one NumPy pass over one row (bin lookup, grouping, scatter) in units of one tree's
# TreeSHAP on one row; measured on a 31-leaf model, used only to pick the block size.
_PASS_COST = 0.04
_KEY_LIMIT = 2**62


def _as_lightgbm_values(X: npt.NDArray[Any]) -> Floats:
    """The doubles LightGBM sees for a dense array (non-float dtypes go through float32)."""
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    return np.asarray(X, dtype=np.float64)


def _factorize_rows(matrix: npt.NDArray[Any]) -> tuple[Codes, int]:
    _, inverse = np.unique(matrix, axis=0, return_inverse=True)
    codes = inverse.reshape(-1).astype(np.int32)
    return codes, int(codes.max()) + 1 if codes.size else 0


@dataclass(frozen=True, slots=True)
class _FeatureBins:
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
        fine_to_block, n_block = _factorize_rows(signature)
        table = np.zeros(self.n_codes, dtype=np.int32)
        table[self.fine_to_code] = fine_to_block
        return table, n_block


def _numerical_bins(splits: Sequence[Split]) -> _FeatureBins:
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
    fine_to_code, n_codes = _factorize_rows(sides)
    return _FeatureBins(
        categorical=False,
        thresholds=thresholds,
        categories=np.zeros(0, dtype=np.int64),
        sides=sides,
        isolate=np.zeros(n + 3, dtype=np.int32),
        split_trees=np.array([s.tree for s in splits], dtype=np.int64),
        fine_to_code=fine_to_code,
        n_codes=n_codes,
    )


def _categorical_bins(splits: Sequence[Split]) -> _FeatureBins:
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
    fine_to_code, n_codes = _factorize_rows(np.column_stack([sides, isolate]))
    return _FeatureBins(
        categorical=True,
        thresholds=np.zeros(0, dtype=np.float64),
        categories=categories,
        sides=sides,
        isolate=isolate,
        split_trees=np.array([s.tree for s in splits], dtype=np.int64),
        fine_to_code=fine_to_code,
        n_codes=n_codes,
    )


class ThresholdBinner:
    """Per-feature bin codes such that equal codes mean equal routing in every tree.

    Build it with `ThresholdBinner.from_booster`; reuse it across batches of the same model.
    """

    def __init__(self, model: ModelSplits) -> None:
        self.n_features = model.n_features
        self.n_trees = model.n_trees
        self.trees_per_iteration = model.trees_per_iteration
        by_feature: list[list[Split]] = [[] for _ in range(model.n_features)]
        for split in model.splits:
            by_feature[split.feature].append(split)
        self._bins: list[_FeatureBins | None] = []
        for feature, splits in enumerate(by_feature):
            kinds = {s.categories is not None for s in splits}
            if len(kinds) > 1:
                raise ValueError(
                    f"feature {feature} has both numerical and categorical splits; "
                    "LightGBM models never do this: is the model text valid?"
                )
            if not splits:
                self._bins.append(None)
            elif kinds == {True}:
                self._bins.append(_categorical_bins(splits))
            else:
                self._bins.append(_numerical_bins(splits))
        self._tables: dict[tuple[int, int], list[tuple[int, Codes, int]]] = {}

    @classmethod
    def from_booster(cls, booster: Any) -> ThresholdBinner:
        """Read the split thresholds and category sets of a `lightgbm.Booster`."""
        return cls(read_splits(booster.model_to_string()))

    @property
    def n_bins(self) -> tuple[int, ...]:
        """Number of distinct codes per feature (1 for features no tree splits on)."""
        return tuple(1 if b is None else b.n_codes for b in self._bins)

    def transform(self, X: npt.NDArray[Any]) -> Codes:
        """Bin codes, shape ``(n_rows, n_features)``, Fortran order, dtype int32."""
        X = _check_matrix(X, self.n_features)
        values = _as_lightgbm_values(X)
        codes = np.zeros(X.shape, dtype=np.int32, order="F")
        for j, bins in enumerate(self._bins):
            if bins is not None:
                codes[:, j] = bins.fine_to_code[bins.fine(values[:, j])]
        return codes

    def count_distinct(self, codes: Codes, start: int = 0, stop: int | None = None) -> int:
        """Distinct rows of `transform` output as seen by trees ``start <= tree < stop``."""
        stop = self.n_trees if stop is None else stop
        if start == 0 and stop >= self.n_trees:
            columns = [(codes[:, j], n) for j, n in enumerate(self.n_bins)]
        else:
            columns = _block_columns(codes, self.block_tables(start, stop))
        return len(_group_rows(columns, codes.shape[0])[0])

    def block_tables(self, lo: int, hi: int) -> list[tuple[int, Codes, int]]:
        """For trees ``lo <= tree < hi``: (feature, global code -> block code, n block codes)."""
        key = (lo, hi)
        if key not in self._tables:
            tables: list[tuple[int, Codes, int]] = []
            for j, bins in enumerate(self._bins):
                table = None if bins is None else bins.block_table(lo, hi)
                if table is not None:
                    tables.append((j, table[0], table[1]))
            self._tables[key] = tables
        return self._tables[key]


def _check_matrix(X: Any, n_features: int) -> npt.NDArray[Any]:
    if not isinstance(X, np.ndarray):
        raise TypeError(
            f"X must be a 2-D numpy array, got {type(X).__name__}; convert a DataFrame with "
            "the same encoding LightGBM saw at training (categoricals as integer codes)"
        )
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must have shape (n_rows, {n_features}) for this model, got {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise TypeError(f"X must hold numbers, got dtype {X.dtype}")
    return X


def _group_rows(columns: Sequence[tuple[Codes, int]], n_rows: int) -> tuple[Index, Index]:
    """Group equal rows of the code columns: (representative row per group, group per row)."""
    key = np.zeros(n_rows, dtype=np.int64)
    size = 1
    for column, cardinality in columns:
        if cardinality <= 1:
            continue
        if size > _KEY_LIMIT // cardinality:
            dense, uniques = pd.factorize(key, sort=False)
            key, size = dense.astype(np.int64), len(uniques)
        key = key * cardinality + column
        size *= cardinality
    inverse, uniques = pd.factorize(key, sort=False)
    groups = np.asarray(inverse, dtype=np.intp)
    representatives = np.empty(len(uniques), dtype=np.intp)
    representatives[groups] = np.arange(n_rows, dtype=np.intp)  # any member will do
    return representatives, groups


def _block_columns(codes: Codes, tables: list[tuple[int, Codes, int]]) -> list[tuple[Codes, int]]:
    return [(table[codes[:, j]], n) for j, table, n in tables]


def _choose_block(binner: ThresholdBinner, codes: Codes, n_iterations: int) -> int:
    """Iterations per block minimising the estimated cost, from the first block of each size."""
    n_rows = codes.shape[0]
    per = binner.trees_per_iteration
    best, best_cost = n_iterations, math.inf
    for size in sorted({n_iterations, 64, 16, 4, 1}, reverse=True):
        if size > n_iterations:
            continue
        tables = binner.block_tables(0, size * per)
        distinct = binner.count_distinct(codes, 0, size * per)
        n_blocks = math.ceil(n_iterations / size)
        cost = n_blocks * (distinct * size * per + _PASS_COST * n_rows * (len(tables) + 1))
        if cost < best_cost:
            best, best_cost = size, cost
    return best


def exact_contributions(
    booster: Any,
    X: npt.NDArray[Any],
    *,
    binner: ThresholdBinner | None = None,
    n_jobs: int = 1,
    trees_per_block: int | None = None,
    num_iteration: int | None = None,
) -> Floats:
    """Exact SHAP contributions, as ``booster.predict(X, pred_contrib=True)``, computed once per
    distinct binned row.

    Returns shape ``(n_rows, n_features + 1)``, the last column the base value. ``n_jobs`` is
    LightGBM's thread count (-1: all cores). ``trees_per_block`` (iterations per block) fixes
    the block size instead of choosing it; ``num_iteration`` is as in ``Booster.predict``
    (default: the best iteration if there is one, else all).
    """
    if binner is None:
        binner = ThresholdBinner.from_booster(booster)
    if binner.trees_per_iteration != 1:
        raise NotImplementedError(
            f"the model has {binner.trees_per_iteration} trees per iteration (multiclass); "
            "only single-output models (binary, regression) are supported"
        )
    X = _check_matrix(X, binner.n_features)
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive number of threads or -1, got {n_jobs}")
    if trees_per_block is not None and trees_per_block < 1:
        raise ValueError(f"trees_per_block must be at least 1, got {trees_per_block}")
    total = binner.n_trees // binner.trees_per_iteration
    if num_iteration is None:
        best = int(getattr(booster, "best_iteration", 0) or 0)
        num_iteration = best if best > 0 else total
    n_iterations = min(num_iteration, total) if num_iteration > 0 else total
    threads = 0 if n_jobs == -1 else n_jobs
    n_rows, n_features = X.shape
    if n_rows == 0:
        return np.zeros((0, n_features + 1), dtype=np.float64)

    codes = binner.transform(X)
    size = trees_per_block or _choose_block(binner, codes, n_iterations)
    size = min(size, n_iterations)

    def contrib(rows: Index, start: int, count: int) -> Floats:
        values = booster.predict(
            X[rows],
            start_iteration=start,
            num_iteration=count,
            pred_contrib=True,
            num_threads=threads,
        )
        return np.asarray(values, dtype=np.float64)

    if size == n_iterations:
        columns = [(codes[:, j], n) for j, n in enumerate(binner.n_bins)]
        representatives, groups = _group_rows(columns, n_rows)
        return contrib(representatives, 0, n_iterations)[groups]

    out = np.zeros((n_rows, n_features + 1), dtype=np.float64, order="F")
    for start in range(0, n_iterations, size):
        count = min(size, n_iterations - start)
        tables = binner.block_tables(start, start + count)
        representatives, groups = _group_rows(_block_columns(codes, tables), n_rows)
        block = contrib(representatives, start, count)
        for j in [j for j, _, _ in tables] + [n_features]:
            out[:, j] += block[:, j][groups]
    return np.ascontiguousarray(out)
