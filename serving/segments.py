"""Routing each lead to its segment's model (models per segment, :mod:`leadscore.model.segments`).

A segmented scorer holds the global heads and one sub-scorer per segment with its own model.
Rows are grouped by their value of the segment column; each group is scored by its segment's
scorer, or by the global one for a value without its own model (a segment that fell back at
training time, a value never declared, a missing value). The scores, reasons and contributions
come back in the rows' order, with a ``scored_by`` column naming the model that scored each lead
(``region=france`` or ``global``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadscore.model.segments import GLOBAL_MODEL, scored_by, segment_keys

if TYPE_CHECKING:
    from leadscore.serving.scorer import Explanation, Scorer

__all__ = ["SCORED_BY", "SegmentRouting", "by_segment"]

SCORED_BY = "scored_by"
"""Output column of a segmented scorer: which model scored the lead."""

IntArray = np.ndarray[Any, Any]


@dataclass(frozen=True)
class SegmentRouting:
    """The segment column and the scorers of the segments with their own model."""

    column: str
    scorers: Mapping[str, Scorer]

    def groups(self, frame: pd.DataFrame) -> list[tuple[str | None, IntArray]]:
        """``(segment value or None for the global model, row positions)`` per group."""
        keys = pd.Series(segment_keys(frame, self.column), dtype=object)
        own = keys.isin(list(self.scorers)).to_numpy()
        out: list[tuple[str | None, IntArray]] = []
        for value in [None, *self.scorers]:
            hit = ~own if value is None else own & (keys == value).to_numpy()
            positions = np.flatnonzero(hit)
            if len(positions):
                out.append((value, positions))
        return out


def _in_order(parts: list[pd.DataFrame], order: IntArray, index: pd.Index) -> pd.DataFrame:
    combined = pd.concat(parts) if parts else pd.DataFrame(index=index)
    out = combined.iloc[np.argsort(order, kind="stable")]
    out.index = index
    return out


def by_segment(
    scorer: Scorer,
    routing: SegmentRouting,
    frame: pd.DataFrame,
    score: Callable[[Scorer, pd.DataFrame], pd.DataFrame],
) -> pd.DataFrame:
    """``score(sub_scorer, rows)`` per segment group, back in ``frame``'s order, with
    :data:`SCORED_BY`."""
    parts, order = [], []
    for value, positions in routing.groups(frame):
        sub = scorer if value is None else routing.scorers[value]
        part = score(sub, frame.iloc[positions]).copy()
        part[SCORED_BY] = scored_by(routing.column, value)
        parts.append(part)
        order.append(positions)
    if not parts:
        return score(scorer, frame).assign(**{SCORED_BY: GLOBAL_MODEL})
    return _in_order(parts, np.concatenate(order), frame.index)


def explain_by_segment(
    scorer: Scorer,
    routing: SegmentRouting,
    frame: pd.DataFrame,
    top: int | None,
    *,
    by_row: bool = False,
) -> Explanation:
    """The scorer's explanation of ``frame`` with each group explained by its segment's model
    (``by_row``: see :meth:`~leadscore.serving.scorer.Scorer.explain`)."""
    from leadscore.serving.scorer import Explanation

    groups = routing.groups(frame)
    if not groups:
        whole = scorer.explain_global(frame, top=top, by_row=by_row)
        scores = whole.scores.assign(**{SCORED_BY: GLOBAL_MODEL})
        return Explanation(scores, whole.reasons, whole.contributions, whole.raw_score)
    parts: list[Explanation] = []
    tables: list[pd.DataFrame] = []
    for value, positions in groups:
        sub = scorer if value is None else routing.scorers[value]
        part = sub.explain_global(frame.iloc[positions], top=top, by_row=by_row)
        parts.append(part)
        tables.append(part.scores.assign(**{SCORED_BY: scored_by(routing.column, value)}))
    order = np.concatenate([p for _, p in groups])
    back = np.argsort(order, kind="stable")
    reasons = [r for part in parts for r in part.reasons]
    return Explanation(
        scores=_in_order(tables, order, frame.index),
        reasons=[reasons[i] for i in back],
        contributions=np.vstack([p.contributions for p in parts])[back],
        raw_score=np.concatenate([p.raw_score for p in parts])[back],
    )
