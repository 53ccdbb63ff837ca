"""Reasons for many rows at once: the choice of :func:`leadscore.serving.reasons.explain_rows`
made with NumPy over all rows, each distinct sentence rendered once.

Same sentences, effects and groups as the row loop of :func:`explain_rows` (the reference,
kept for the tests and the benchmark): the groups are ranked by effect for every row with one
sort; each group's members are ordered by strength in the direction of its effect with one
stable sort per group; the "one fact, one reason" rule of :mod:`reasons_facts` runs as
``2 * (top + 4)`` vectorised steps (one per candidate rank) instead of a loop per row; and a
sentence is rendered once per distinct (feature, value, direction), then looked up.
:class:`ReasonTable` builds a row's :class:`Reason` objects only when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.definition import FeatureDefinition
from leadscore.serving.reasons import (
    _COMBINED_GROUPS,
    _MIN_EFFECT,
    _SPARE,
    _SUPPORT_RATIO,
    FlatSide,
    Reason,
    ReasonGroup,
    ReasonRows,
    RowReasons,
    _Renderer,
    choosing_effects,
)
from leadscore.serving.reasons_facts import _SAME_DAY, day_fact

__all__ = ["ReasonTable", "explain_table"]

FloatArray = np.ndarray[Any, Any]
IntArray = np.ndarray[Any, Any]


class ReasonTable(ReasonRows):
    """Reasons of many rows, column-wise: per side, ``(rows, top)`` arrays of the chosen groups
    (``-1``: no reason), their effects and sentences (ids in ``words``, ``-1``: none), and
    ``counts`` per row. Indexing gives the row's :class:`RowReasons`, equal to what
    :func:`explain_rows` returns for it."""

    def __init__(
        self,
        groups: Sequence[ReasonGroup],
        chosen: tuple[IntArray, IntArray],
        effects: tuple[FloatArray, FloatArray],
        ids: tuple[IntArray, IntArray],
        words: Sequence[str],
        counts: tuple[IntArray, IntArray],
    ) -> None:
        self._keys = [g.key for g in groups]
        self.chosen, self.effects, self.ids, self.counts = chosen, effects, ids, counts
        self.words = list(words)
        self._texts: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None

    @property
    def texts(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Per side, the ``(rows, top)`` sentences (``None``: no reason)."""
        if self._texts is None:
            lookup = np.array([*self.words, None], dtype=object)  # id -1: the trailing None
            self._texts = (lookup[self.ids[0]], lookup[self.ids[1]])
        return self._texts

    def __len__(self) -> int:
        return len(self.counts[0])

    def _row(self, row: int) -> RowReasons:
        return RowReasons(self._side(0, row), self._side(1, row))

    def _side(self, side: int, row: int) -> tuple[Reason, ...]:
        count = int(self.counts[side][row])
        return tuple(
            Reason(
                text=self.words[int(self.ids[side][row, k])],
                effect=round(float(self.effects[side][row, k]), 4),
                group=self._keys[int(self.chosen[side][row, k])],
            )
            for k in range(count)
        )

    def _filled(self, side: int) -> np.ndarray[Any, Any]:
        """A row's first ``count`` slots of ``side``."""
        return np.arange(self.ids[side].shape[1]) < self.counts[side][:, None]

    def flat_sentences(self) -> tuple[FlatSide, FlatSide]:
        """Each side's sentences row after row, and the counts (see ``flat_sentences``)."""
        out = []
        for side in (0, 1):
            out.append((self.texts[side][self._filled(side)], self.counts[side].astype(np.int64)))
        return out[0], out[1]

    def arrow_sentences(self) -> tuple[tuple[pa.Array, IntArray], tuple[pa.Array, IntArray]]:
        """:meth:`flat_sentences` with each side's sentences as an Arrow string array, taken
        from the distinct sentences by id (no Python string per reason)."""
        words = pa.array(self.words, type=pa.string())
        out = []
        for side in (0, 1):
            ids = self.ids[side][self._filled(side)]
            out.append((words.take(pa.array(ids)), self.counts[side].astype(np.int64)))
        return out[0], out[1]

    def sentences(self) -> tuple[list[list[str]], list[list[str]]]:
        """Positive and negative sentences per row (what :func:`reasons_as_text` gives)."""
        out = []
        for side in (0, 1):
            counts = self.counts[side].tolist()
            out.append([row[:c] for row, c in zip(self.texts[side].tolist(), counts, strict=True)])
        return out[0], out[1]


def _strongest(
    contributions: FloatArray, negate: FloatArray, group: ReasonGroup, *, second: bool
) -> tuple[IntArray, IntArray | None]:
    """Per row, the group's strongest feature in the direction of the effect and (``second``)
    the next one: the first two of the row loop's ``sorted(indices, key=-sign *
    contribution)`` (a stable sort: among equal keys the lower index first, as ``argmin``
    picks), without sorting. ``None`` when not asked or the group has one feature."""
    indices = np.asarray(group.indices, dtype=np.intp)
    n = contributions.shape[0]
    if indices.size == 1:
        return np.full(n, indices[0], dtype=np.intp), None
    keys = negate[:, None] * contributions[:, indices]
    first = np.argmin(keys, axis=1)
    if not second:
        return indices[first], None
    keys[np.arange(n), first] = np.inf  # the next strongest: the first of the others
    return indices[first], indices[np.argmin(keys, axis=1)]


class _Values:
    """A frame's raw values per feature as codes of distinct values, with the first object of
    each (the object :func:`explain_rows` renders: a column's ``to_numpy(dtype=object)``)."""

    def __init__(self, frame: pd.DataFrame, features: Sequence[str]) -> None:
        self.frame, self.features = frame, features
        self._codes: dict[int, tuple[IntArray, list[Any], Any]] = {}

    def get(self, j: int) -> tuple[IntArray, list[Any], Any]:
        """Codes (``-1``: missing), distinct objects, and the column's first missing object."""
        if j not in self._codes:
            column = self.frame[self.features[j]]
            small = _small_integers(column)
            if small is not None:
                self._codes[j] = small
                return small
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            codes = np.asarray(codes, dtype=np.intp)
            if isinstance(uniques, np.ndarray):
                objects = uniques.astype(object).tolist()
            else:
                objects = uniques.to_numpy(dtype=object).tolist()
            lost = codes < 0
            missing = column[lost].to_numpy(dtype=object)[0] if lost.any() else None
            self._codes[j] = (codes, objects, missing)
        return self._codes[j]


_RANGE_CODES = 4096
"""An integer column spanning at most this many values is coded by its offset from its
minimum (no hashing: most model inputs are counts and day numbers)."""


def _small_integers(column: pd.Series) -> tuple[IntArray, list[Any], Any] | None:
    """:meth:`_Values.get` of a NumPy integer or boolean column spanning at most
    :data:`_RANGE_CODES` values: codes ``value - minimum`` (a value absent from the column
    has a code no row holds); the objects are what ``to_numpy(dtype=object)`` gives (Python
    ints, NumPy bools). ``None`` for other columns."""
    if not isinstance(column.dtype, np.dtype) or column.dtype.kind not in "biu":
        return None
    data = column.to_numpy()
    if data.dtype == np.bool_:
        return data.astype(np.intp), [False, True], None
    wide_unsigned = data.dtype.kind == "u" and data.dtype.itemsize >= 8
    if data.dtype.kind not in "iu" or wide_unsigned or data.size == 0:
        return None
    low, high = int(data.min()), int(data.max())
    if high - low >= _RANGE_CODES:
        return None
    codes = data.astype(np.intp) - low if low else data.astype(np.intp)
    objects = np.arange(low, high + 1, dtype=data.dtype).astype(object).tolist()
    return codes, objects, None


def _day_facts(values: _Values, renderer: _Renderer) -> dict[int, FloatArray]:
    """Per feature stating a number of days, that number per row (NaN: no day fact)."""
    out: dict[int, FloatArray] = {}
    for j, spec in enumerate(renderer.specs):
        if day_fact(spec, 0.0, 1) is None:
            continue  # not an age or recency: never a day fact
        codes, objects, _ = values.get(j)
        facts = [day_fact(spec, obj, renderer.lookback) for obj in objects]
        table = np.array([np.nan if f is None else f for f in facts] + [np.nan], dtype=float)
        out[j] = table[codes]  # code -1 picks the trailing NaN: a missing value is no fact
    return out


def _pick(
    effects: FloatArray,
    lead: IntArray,
    facts: dict[int, FloatArray],
    n_features: int,
    top: int,
    min_effect: float,
) -> tuple[tuple[IntArray, IntArray], tuple[IntArray, IntArray]]:
    """:func:`reasons_facts.pick_distinct` for every row at once: ``(rows, top)`` groups per
    side (``-1`` none) and the counts."""
    n, n_groups = effects.shape
    rows = np.arange(n)
    order = np.argsort(-effects, axis=1, kind="stable")
    reach = min(top + _SPARE, n_groups)
    candidates = np.concatenate([order[:, :reach], order[:, ::-1][:, :reach]], axis=1)
    side = np.repeat(np.array([0, 1]), reach)
    chosen_effect = np.take_along_axis(effects, candidates, axis=1)
    valid = np.concatenate(
        [chosen_effect[:, :reach] > min_effect, chosen_effect[:, reach:] < -min_effect], axis=1
    )
    keys = np.where(valid, -np.abs(chosen_effect), np.inf)
    merged = np.argsort(keys, axis=1, kind="stable")
    column = np.full(n_features + 1, len(facts), dtype=np.intp)  # no fact: the NaN column
    column[list(facts)] = np.arange(len(facts))
    stacked = np.column_stack([*facts.values(), np.full(n, np.nan)])
    # the candidates in merged order, one row per rank (contiguous), gathered once; the day
    # fact of each candidate's lead member (only the candidates': not every group's)
    group_at = np.take_along_axis(candidates, merged, axis=1)
    lead_at = np.take_along_axis(lead, group_at, axis=1)
    days_at = stacked[rows[:, None], column[lead_at]].T.copy()
    negative_at = (side[merged] == 1).T.copy()
    valid_at = np.take_along_axis(valid, merged, axis=1).T.copy()
    groups_at = group_at.T.copy()
    seen = np.full((2 * reach, n), np.nan)
    counts = (np.zeros(n, dtype=np.intp), np.zeros(n, dtype=np.intp))
    # each side's kept candidates in merged order, into its next free slot
    chosen = (np.full((n, top), -1, dtype=np.intp), np.full((n, top), -1, dtype=np.intp))
    for k in range(2 * reach):
        negative = negative_at[k]
        count = np.where(negative, counts[1], counts[0])
        days = days_at[k]
        keep = valid_at[k] & (count < top)
        with np.errstate(invalid="ignore"):
            for j in range(k):  # a stronger kept reason within a day: the same fact
                keep &= ~(np.abs(days - seen[j]) <= _SAME_DAY)
        seen[k] = np.where(keep, days, np.nan)
        for side_index, mine in ((0, keep & ~negative), (1, keep & negative)):
            at = np.flatnonzero(mine)
            if at.size:
                slots = counts[side_index]
                chosen[side_index][at, slots[at]] = groups_at[k, at]
                slots[at] += 1
    return chosen, counts


def explain_table(
    contributions: FloatArray,
    frame: pd.DataFrame,
    features: Sequence[str],
    groups: Sequence[ReasonGroup],
    definition: FeatureDefinition,
    *,
    top: int = 3,
    min_effect: float = _MIN_EFFECT,
    renderer: _Renderer | None = None,
) -> ReasonTable:
    """Top ``top`` positive and negative reasons of every row, as :func:`explain_rows` chooses
    and words them (same arguments), computed column-wise. ``renderer``: one of
    ``definition`` and ``features`` kept across batches (its sentences are rendered once per
    run, not once per chunk)."""
    n, n_features = contributions.shape[0], len(features)
    matrix = np.zeros((n_features, len(groups)))
    for g, group in enumerate(groups):
        matrix[list(group.indices), g] = 1.0
    own = contributions[:, :n_features]
    effects = choosing_effects(own @ matrix, definition, groups)
    negate = np.where(effects > 0, -1.0, 1.0)  # -sign of each group's effect
    lead = np.zeros((n, len(groups)), dtype=np.intp)  # each group's strongest member
    second = np.full((n, len(groups)), -1, dtype=np.intp)  # combined groups' next one
    for g, group in enumerate(groups):
        first, other = _strongest(own, negate[:, g], group, second=group.key in _COMBINED_GROUPS)
        lead[:, g] = first
        if other is not None:
            second[:, g] = other
    renderer = renderer or _Renderer(definition, features)
    values = _Values(frame, features)
    facts = _day_facts(values, renderer)
    chosen, counts = _pick(effects, lead, facts, n_features, top, min_effect)
    ids = []
    chosen_effects = []
    words: list[str] = []  # the chunk's distinct sentences, both sides'
    index: dict[str, int] = {}
    for side in (0, 1):
        picked = chosen[side]
        has = picked >= 0
        safe = np.where(has, picked, 0)
        chosen_effects.append(np.take_along_axis(effects, safe, axis=1))
        ids.append(_texts(own, effects, safe, has, lead, second, renderer, values, words, index))
    return ReasonTable(
        groups,
        chosen,
        (chosen_effects[0], chosen_effects[1]),
        (ids[0], ids[1]),
        words,
        counts,
    )


def _texts(
    own: FloatArray,
    effects: FloatArray,
    picked: IntArray,
    has: np.ndarray[Any, Any],
    lead: IntArray,
    second: IntArray,
    renderer: _Renderer,
    values: _Values,
    words: list[str],
    index: dict[str, int],
) -> IntArray:
    """The sentence of each chosen ``(row, slot)`` (its id in ``words``, ``-1``: none): its
    group's strongest member (``lead``, per row and group) worded once per distinct value and
    direction, plus the supporting member (``second``, ``-1`` for groups without one) of
    combined groups, each distinct pair joined once. New sentences are appended to
    ``words`` (``index``: their ids)."""
    out = np.full(picked.shape, -1, dtype=np.intp)
    rows, slots = np.nonzero(has)
    if rows.size == 0:
        return out
    group = picked[rows, slots]
    positive = effects[rows, group] > 0
    sign = np.where(positive, 1.0, -1.0)
    first, other = lead[rows, group], second[rows, group]
    ids = _render(first, rows, positive, renderer, values, words, index)
    support = other >= 0
    if support.any():
        both = np.nonzero(support)[0]
        strength = sign[both] * own[rows[both], other[both]]
        bar = (_SUPPORT_RATIO * sign[both]) * own[rows[both], first[both]]
        both = both[(strength > 0) & (strength >= bar)]
        extra = _render(other[both], rows[both], positive[both], renderer, values, words, index)
        joined = extra != ids[both]  # the same sentence twice reads once
        both, extra = both[joined], extra[joined]
        width = len(words)  # distinct (sentence, supporting sentence) pairs
        pairs, inverse = np.unique(ids[both] * width + extra, return_inverse=True)
        combined = np.empty(pairs.size, dtype=np.intp)
        for i, pair in enumerate(pairs.tolist()):
            text, more = divmod(pair, width)
            combined[i] = _word_id(f"{words[text]}, {words[more]}", words, index)
        ids[both] = combined[inverse.reshape(-1)]
    out[rows, slots] = ids
    return out


def _word_id(text: str, words: list[str], index: dict[str, int]) -> int:
    """The id of ``text`` in ``words`` (appended when new)."""
    found = index.get(text)
    if found is None:
        found = index[text] = len(words)
        words.append(text)
    return found


_DENSE_KEYS = 1 << 22
"""Distinct (feature, value, direction) keys up to which :func:`_render` looks sentences up
in a dense table (else through a sort)."""


def _render(
    features: IntArray,
    rows: IntArray,
    positive: np.ndarray[Any, Any],
    renderer: _Renderer,
    values: _Values,
    words: list[str],
    index: dict[str, int],
) -> IntArray:
    """Ids in ``words`` of the sentences of ``(feature, row, direction)`` triples, each
    distinct one rendered once (new sentences appended to ``words``): one integer key per
    triple (the feature's offset, its value's code, the direction), the distinct keys
    rendered, then looked up (no grouping by feature)."""
    if features.size == 0:
        return np.empty(0, dtype=np.intp)
    used = np.flatnonzero(np.bincount(features))
    taken = [values.get(int(j)) for j in used]
    sizes = np.array([2 * (len(objects) + 1) for _, objects, _ in taken], dtype=np.int64)
    base = np.zeros(int(used[-1]) + 1, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    base[used] = offsets[:-1]
    slot = np.zeros(int(used[-1]) + 1, dtype=np.intp)
    slot[used] = np.arange(used.size)
    codes = np.column_stack([c for c, _, _ in taken])  # (rows, features used)
    key = base[features] + (codes[rows, slot[features]] + 1) * 2 + positive
    space = int(offsets[-1])
    if space <= _DENSE_KEYS:
        present = np.zeros(space, dtype=bool)
        present[key] = True
        distinct = np.flatnonzero(present)
    else:
        distinct, inverse = np.unique(key, return_inverse=True)
    owner = np.searchsorted(offsets, distinct, side="right") - 1  # into ``used``
    local = np.empty(distinct.size, dtype=np.intp)
    for i, (k, o) in enumerate(zip(distinct.tolist(), owner.tolist(), strict=True)):
        code, direction = divmod(k - int(offsets[o]), 2)
        _, objects, missing = taken[o]
        value = missing if code == 0 else objects[code - 1]
        local[i] = _word_id(renderer.render(int(used[o]), value, bool(direction)), words, index)
    if space <= _DENSE_KEYS:
        lookup = np.empty(space, dtype=np.intp)
        lookup[distinct] = local
        found: IntArray = lookup[key]
        return found
    return local[inverse.reshape(-1)]
