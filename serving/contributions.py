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

Blocks of trees. Contributions add up over trees, and a block of few trees has few
thresholds, hence far fewer distinct rows: with continuous features almost every row is
distinct for the whole model, while a block sees few split patterns. Per block, each feature's
code maps to a block code (the signature of its splits in the block); the block codes of a row
form a mixed-radix key whose range (the product of the code counts) bounds the block's
distinct rows. The default plan grows each block of consecutive trees while that key space
stays within ``rows / 16`` (at least 64), so LightGBM explains at most a sixteenth of the rows
per block; rows are then grouped by indexing the key space directly (no hashing), and the
block's values are gathered back with one pass per feature of the block. Trees whose own key
space is larger (deep trees over continuous features) form one-tree blocks grouped by
hashing. ``trees_per_block`` fixes the block size instead. With one block the output is
bit-identical to ``pred_contrib``; with several it differs only by the order of floating-point
additions (about 1e-15).

Raw scores from the same pass. :func:`contributions_and_raw` also asks LightGBM for
``pred_leaf`` of each group's representative and adds each tree's leaf output, tree after tree
from zero, as LightGBM's own prediction does: the raw scores are bit-identical to
``predict(raw_score=True)`` (and :func:`probability_from_raw` turns them into ``predict``'s
probabilities with the C library's ``exp``), for a fraction of a second prediction's cost.
``plan_rows`` plans the blocks as for a batch of that many rows: the parts of a batch explained
one by one then get the whole batch's bits.

Threads. ``n_jobs`` other than 1 splits the rows across that many threads (each at least 5,000
rows): NumPy's gathers and LightGBM release the GIL. LightGBM's ``Booster.predict`` with an
iteration range writes that range into the shared C++ model before predicting (``InitPredict``),
so two threads predicting different ranges on one booster corrupt each other's results. No
booster is ever asked for a range here: :class:`RangeBoosters` builds, once, an immutable
booster holding exactly the trees of each block (``model_to_string(start_iteration,
num_iteration)``), and every call predicts with that booster's full range. ``pred_contrib``
also recomputes every tree's ``max_depth_`` (the size of TreeSHAP's path buffer) at the start
of each call, so concurrent calls on one booster could read a partial depth and write past the
buffer (seen once as a segfault under 16 threads): :meth:`RangeBoosters.contributions`
serialises the calls per block booster, while blocks still run in parallel. And LightGBM keeps
the ``num_threads`` of the latest call process-wide, so calls asking for different counts
overrun each other's per-thread buffers: every call here asks for the same one
(:mod:`leadscore.model.lgb_threads`).

Sizing guidance (measured, benchmarks/scoring.py on the synthetic CRM's current features):

- cost without this module: ``rows x trees x leaves x depth^2`` (depth: mean leaf depth,
  ``num_leaves=31`` leaf-wise trees are often 8 to 12 deep);
- cost with it: ``sum over blocks of distinct_rows(block) x trees_in_block x leaves x depth^2``
  plus about ``rows x 2 x features_in_block`` element passes of NumPy work per block;
- small trees (leadscore's head: 7 leaves, about 110 trees) have a few hundred to a few
  thousand split patterns per tree: LightGBM explains well under 1% of the row x tree pairs
  and the NumPy passes dominate (about 15-30x faster than ``pred_contrib``);
- deep trees over continuous features (31 leaves, several thresholds per feature and tree)
  leave about half the rows distinct even for one tree: the gain drops to about 1.5x, and
  TreeSHAP on those rows dominates. Fewer, shallower trees cut both paths alike;
- grouping needs the whole batch in memory; dedupe improves with larger chunks, so explain
  chunks of 50k rows or more when scoring a contact base in chunks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from leadscore.serving._model_splits import ModelSplits, Split, read_splits
from leadscore.serving._split_bins import (
    Codes,
    FeatureBins,
    Floats,
    as_lightgbm_values,
    categorical_bins,
    numerical_bins,
)
from leadscore.serving.range_boosters import RangeBoosters

__all__ = [
    "RangeBoosters",
    "ThresholdBinner",
    "contributions_and_raw",
    "exact_contributions",
    "prepare",
    "probability_from_raw",
]

Index = npt.NDArray[np.intp]

_KEY_LIMIT = 2**62
# Blocks whose key space is at most this many (and at most twice the rows) group rows by direct
# indexing into the key space instead of hashing.
_DENSE_LIMIT = 2**18
# Default blocks grow while their key space stays within rows / _ROWS_PER_KEY (so LightGBM
# explains a small fraction of the rows), at least _MIN_KEYS.
_ROWS_PER_KEY = 16
_MIN_KEYS = 64
# Whole numbers from 0 up to this are binned by lookup (see ThresholdBinner._whole_codes).
_WHOLE_LIMIT = 4096
# Rows per worker below which threads are not worth starting.
_MIN_ROWS_PER_JOB = 5_000


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
        self._bins: list[FeatureBins | None] = []
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
                self._bins.append(categorical_bins(splits))
            else:
                self._bins.append(numerical_bins(splits))
        self._tables: dict[tuple[int, int], list[tuple[int, Codes, int]]] = {}
        self._plans: dict[tuple[int, int | None, int], list[_Block]] = {}
        self._whole: dict[int, Codes] = {}  # per feature, the codes of 0 .. _WHOLE_LIMIT - 1
        self.leaf_values: list[Floats] = [np.array(v, dtype=np.float64) for v in model.leaf_values]
        """Per tree, its leaves' outputs (for :func:`contributions_and_raw`)."""
        self.objective = model.objective

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
        codes: Codes = self._codes(_check_matrix(X, self.n_features), np.int32)
        return codes

    def _codes(self, X: npt.NDArray[Any], dtype: Any) -> Any:
        codes = np.zeros(X.shape, dtype=dtype, order="F")
        for j, bins in enumerate(self._bins):
            if bins is not None:
                values = as_lightgbm_values(X[:, j])
                whole = self._whole_codes(j, bins, values)
                codes[:, j] = bins.fine_to_code[bins.fine(values)] if whole is None else whole
        return codes

    def _whole_codes(self, j: int, bins: FeatureBins, values: Floats) -> Codes | None:
        """Codes of a column of whole numbers in ``[0, _WHOLE_LIMIT)`` (counts, days: most
        model inputs) by lookup in the codes of those numbers (what ``fine`` gives each
        value, computed once per feature); ``None`` for other columns (NaN, fractions,
        negatives, large values, no rows)."""
        if values.size == 0:
            return None
        low, high = values.min(), values.max()  # NaN: neither comparison holds
        if not (low >= 0.0 and high < _WHOLE_LIMIT):
            return None
        whole = values.astype(np.intp)
        if not np.array_equal(whole, values):
            return None
        table = self._whole.get(j)
        if table is None:  # a race builds the same table twice: harmless
            table = bins.fine_to_code[bins.fine(np.arange(_WHOLE_LIMIT, dtype=np.float64))]
            self._whole[j] = table
        found: Codes = table[whole]
        return found

    def count_distinct(self, codes: Codes, start: int = 0, stop: int | None = None) -> int:
        """Distinct rows of `transform` output as seen by trees ``start <= tree < stop``."""
        stop = self.n_trees if stop is None else stop
        if start == 0 and stop >= self.n_trees:
            columns = [(codes[:, j], n) for j, n in enumerate(self.n_bins)]
        else:
            columns = _block_columns(codes, self.block_tables(start, stop))
        return len(_group_rows(columns, codes.shape[0])[0])

    def plan(self, n_iterations: int, trees_per_block: int | None, n_rows: int) -> list[_Block]:
        """Blocks of iterations for a batch of ``n_rows`` rows (cached per shape)."""
        limit = min(_DENSE_LIMIT, max(_MIN_KEYS, n_rows // _ROWS_PER_KEY))
        limit = 1 << (limit.bit_length() - 1)  # few distinct plans across batch sizes
        key = (n_iterations, trees_per_block, limit)
        if key not in self._plans:
            self._plans[key] = _plan(self, n_iterations, trees_per_block, limit)
        return self._plans[key]

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


@dataclass(frozen=True, slots=True)
class _Block:
    """Iterations ``start <= i < stop`` explained by one LightGBM call per distinct row."""

    start: int
    stop: int
    tables: tuple[tuple[int, Codes, int], ...]  # (feature, global code -> block code, n codes)
    size: int  # product of the block code counts: distinct rows are at most this many

    def scaled(self) -> list[tuple[int, Index]]:
        """Per feature, global code -> its share of a mixed-radix key in ``range(size)``."""
        out, stride = [], 1
        for j, table, n in self.tables:
            out.append((j, table.astype(np.intp) * stride))
            stride *= n
        return out


def _size(tables: Sequence[tuple[int, Codes, int]]) -> int:
    size = 1
    for _, _, n in tables:
        size *= n
        if size > _KEY_LIMIT:
            return _KEY_LIMIT
    return size


def _plan(
    binner: ThresholdBinner, n_iterations: int, fixed: int | None, limit: int
) -> list[_Block]:
    """Blocks of consecutive iterations. ``fixed``: that many per block. Otherwise each block
    grows while its key space (an upper bound on its distinct rows) stays within ``limit``:
    LightGBM then explains at most ``limit`` rows per block, and the NumPy work per block
    (a pass per feature of the block) is shared by as many trees as possible."""
    per = binner.trees_per_iteration

    def block(lo: int, hi: int) -> _Block:
        tables = tuple(binner.block_tables(lo * per, hi * per))
        return _Block(lo, hi, tables, _size(tables))

    blocks: list[_Block] = []
    lo = 0
    while lo < n_iterations:
        if fixed is not None:
            blocks.append(block(lo, min(lo + fixed, n_iterations)))
            lo = blocks[-1].stop
            continue
        current = block(lo, lo + 1)
        while current.stop < n_iterations and current.size <= limit:
            wider = block(lo, current.stop + 1)
            if wider.size > limit:
                break
            current = wider
        blocks.append(current)
        lo = current.stop
    return blocks


def _explain_rows(
    boosters: RangeBoosters,
    X: npt.NDArray[Any],
    codes: Index,
    blocks: Sequence[_Block],
    out: Floats | None,
    raw: Floats | None = None,
    leaf_values: Sequence[Floats] = (),
) -> None:
    """Write the contributions of the rows of ``X`` (``codes``: their global bin codes) into
    ``out`` (zeros, columns contiguous; ``None``: none), block by block; with ``raw`` (zeros),
    also the raw score LightGBM predicts: each tree's leaf output (``leaf_values``) of the
    group's representative (``pred_leaf``), added tree after tree in LightGBM's order, from
    zero (bit-identical)."""
    n_rows, n_features = X.shape
    arange = np.arange(n_rows, dtype=np.intp)
    dense_limit = min(_DENSE_LIMIT, max(4096, 2 * n_rows))
    base = 0.0
    for block in blocks:
        features = [j for j, _, _ in block.tables]
        dense = block.size <= dense_limit
        if dense:
            key = np.zeros(n_rows, dtype=np.intp)
            for j, table in block.scaled():
                key += table[codes[:, j]]
            first = np.full(block.size, -1, dtype=np.intp)
            first[key] = arange  # any member of each group will do
            present = np.flatnonzero(first >= 0)
            representatives = first[present]
        else:
            columns = [(table[codes[:, j]], n) for j, table, n in block.tables]
            representatives, key = _group_rows(columns, n_rows)
            present = np.arange(len(representatives), dtype=np.intp)
        rows = X[representatives]
        if raw is not None:
            _add_leaves(boosters, rows, block, leaf_values, present, key, raw)
        if out is None:
            continue
        values = _predict(boosters, rows, block)
        base += float(values[0, n_features])
        if not features:
            continue
        shares = np.zeros((block.size if dense else len(present), len(features)), order="F")
        shares[present] = values[:, features]
        for column, j in enumerate(features):
            out[:, j] += shares[:, column][key]
    if out is not None:
        out[:, n_features] = base


def _add_leaves(
    boosters: RangeBoosters,
    rows: npt.NDArray[Any],
    block: _Block,
    leaf_values: Sequence[Floats],
    present: Index,
    key: Index,
    raw: Floats,
) -> None:
    """Add the block's trees' leaf outputs to ``raw``, one tree at a time (``rows``: one
    representative per group; ``key``: each row's group, ``present``: the groups' slots)."""
    leaves = boosters.leaves(block.start, block.stop, rows).astype(np.intp)
    leaves = leaves.reshape(len(rows), -1)
    slots = int(present[-1]) + 1 if len(present) else 0
    for k in range(block.stop - block.start):
        output = np.zeros(slots, dtype=np.float64)
        output[present] = leaf_values[block.start + k][leaves[:, k]]
        raw += output[key]


def _predict(boosters: RangeBoosters, rows: npt.NDArray[Any], block: _Block) -> Floats:
    # the block's own booster, over its full range, one pred_contrib call at a time
    values = boosters.contributions(block.start, block.stop, rows)
    return np.asarray(values, dtype=np.float64)


def exact_contributions(
    booster: Any,
    X: npt.NDArray[Any],
    *,
    binner: ThresholdBinner | None = None,
    boosters: RangeBoosters | None = None,
    n_jobs: int = 1,
    trees_per_block: int | None = None,
    num_iteration: int | None = None,
    plan_rows: int | None = None,
) -> Floats:
    """Exact SHAP contributions, as ``booster.predict(X, pred_contrib=True)``, computed once per
    distinct binned row.

    Returns shape ``(n_rows, n_features + 1)``, the last column the base value. ``n_jobs`` is
    the number of threads the rows are split across (-1: all cores); each LightGBM call runs
    with leadscore's one thread count (:mod:`leadscore.model.lgb_threads`). ``trees_per_block`` (iterations per block) fixes
    the block size instead of choosing it; ``num_iteration`` is as in ``Booster.predict``
    (default: the best iteration if there is one, else all). ``boosters`` (built once from
    ``booster`` and reused) holds the immutable per-block boosters: pass the same object on
    every call for a model to pay their construction once. ``booster`` itself is only read
    (its best iteration, and its text when ``binner`` or ``boosters`` is not given).
    ``plan_rows``: choose the blocks as for a batch of that many rows (default: ``X``'s), so
    that the parts of a batch explained one by one get the batch's very values (a row's
    values depend on the blocks only, never on the other rows).
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
    n_rows, n_features = X.shape
    if n_rows == 0:
        return np.zeros((0, n_features + 1), dtype=np.float64)
    if boosters is None:
        boosters = RangeBoosters(booster)

    if trees_per_block is not None and trees_per_block >= n_iterations:
        # one block: one LightGBM call on one row per distinct row, bit-identical output
        codes32 = binner.transform(X)
        columns = [(codes32[:, j], n) for j, n in enumerate(binner.n_bins)]
        representatives, groups = _group_rows(columns, n_rows)
        values = boosters.contributions(0, n_iterations, X[representatives])
        return np.asarray(values, dtype=np.float64)[groups]

    blocks = binner.plan(n_iterations, trees_per_block, plan_rows or n_rows)
    out = _explain(binner, boosters, X, blocks, _workers(n_jobs, n_rows))[0]
    assert out is not None
    return out


def _explain(
    binner: ThresholdBinner,
    boosters: RangeBoosters,
    X: npt.NDArray[Any],
    blocks: Sequence[_Block],
    workers: int,
    *,
    contributions: bool = True,
    with_raw: bool = False,
) -> tuple[Floats | None, Floats | None]:
    """Contributions of ``X`` by ``blocks`` (unless not ``contributions``) and, ``with_raw``,
    LightGBM's raw scores."""
    n_rows, n_features = X.shape
    out = np.zeros((n_rows, n_features + 1), dtype=np.float64, order="F") if contributions else None
    raw = np.zeros(n_rows, dtype=np.float64) if with_raw else None
    leaves = binner.leaf_values if with_raw else ()
    if workers == 1:
        _explain_rows(boosters, X, binner._codes(X, np.intp), blocks, out, raw, leaves)
    else:
        # rows split across threads, one LightGBM thread each: NumPy's gathers and LightGBM
        # release the GIL; every worker writes its own rows of ``out`` and ``raw``
        bounds = np.linspace(0, n_rows, workers + 1).astype(int)
        range_boosters = boosters

        def run(part: int) -> None:
            lo, hi = bounds[part], bounds[part + 1]
            rows = X[lo:hi]
            codes = binner._codes(rows, np.intp)
            mine = None if out is None else out[lo:hi]
            raw_part = None if raw is None else raw[lo:hi]
            _explain_rows(range_boosters, rows, codes, blocks, mine, raw_part, leaves)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(workers)))
    return (None if out is None else np.ascontiguousarray(out)), raw


def contributions_and_raw(
    booster: Any,
    X: npt.NDArray[Any],
    *,
    binner: ThresholdBinner | None = None,
    boosters: RangeBoosters | None = None,
    n_jobs: int = 1,
    contributions: bool = True,
    plan_rows: int | None = None,
) -> tuple[Floats, Floats]:
    """:func:`exact_contributions` (default plan, best iteration) and, from the same pass, the
    raw scores ``booster.predict(X, raw_score=True)`` gives, bit for bit: the groups' leaves
    come from LightGBM (``pred_leaf`` of one representative per group) and their outputs are
    added tree after tree from zero, in LightGBM's order. About 0.05 s per 100k rows on top of
    the contributions instead of a second prediction (~0.4 s). Not ``contributions``: the raw
    scores only (an empty contributions array; ~0.2 s per 100k rows). ``plan_rows``: as in
    :func:`exact_contributions`."""
    if binner is None:
        binner = ThresholdBinner.from_booster(booster)
    if binner.trees_per_iteration != 1:
        raise NotImplementedError("only single-output models (binary, regression)")
    X = _check_matrix(X, binner.n_features)
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive number of threads or -1, got {n_jobs}")
    total = binner.n_trees
    best = int(getattr(booster, "best_iteration", 0) or 0)
    n_iterations = min(best, total) if best > 0 else total
    n_rows, n_features = X.shape
    empty = np.zeros((0, n_features + 1), dtype=np.float64)
    if n_rows == 0:
        return empty, np.zeros(0, dtype=np.float64)
    if boosters is None:
        boosters = RangeBoosters(booster)
    blocks = binner.plan(n_iterations, None, plan_rows or n_rows)
    workers = _workers(n_jobs, n_rows)
    out, raw = _explain(
        binner, boosters, X, blocks, workers, contributions=contributions, with_raw=True
    )
    assert raw is not None
    return (empty if out is None else out), raw


def prepare(
    booster: Any, *, binner: ThresholdBinner, boosters: RangeBoosters, plan_rows: int
) -> None:
    """Build, ahead of a batch of ``plan_rows`` rows, what :func:`contributions_and_raw`
    needs for it (the plan's blocks and their boosters): the same work the first call does."""
    best = int(getattr(booster, "best_iteration", 0) or 0)
    n_iterations = min(best, binner.n_trees) if best > 0 else binner.n_trees
    for block in binner.plan(n_iterations, None, plan_rows):
        boosters.get(block.start, block.stop)


def probability_from_raw(raw: Floats, objective: str) -> Floats | None:
    """What LightGBM's ``predict`` gives from raw scores, bit for bit, for ``objective``
    ``binary sigmoid:S`` (``1 / (1 + exp(-S * raw))``, with the C library's ``exp`` as
    LightGBM's: NumPy's vectorised ``exp`` may differ in the last bit); ``None`` for any
    other objective (predict with LightGBM then)."""
    words = objective.split()
    if len(words) != 2 or words[0] != "binary" or not words[1].startswith("sigmoid:"):
        return None
    sigmoid = float(words[1].removeprefix("sigmoid:"))
    scaled = (-sigmoid * raw).tolist()
    exp = np.fromiter(map(math.exp, scaled), dtype=np.float64, count=len(scaled))
    probability: Floats = 1.0 / (1.0 + exp)
    return probability


def _workers(n_jobs: int, n_rows: int) -> int:
    cores = os.cpu_count() or 1
    wanted = cores if n_jobs == -1 else n_jobs
    return max(1, min(wanted, n_rows // _MIN_ROWS_PER_JOB))
