"""The bot rule at scoring: cap the grade of bot-like rows and say why (:mod:`leadscore.model.bots`).

Every scoring path (batch, ``explain``, HTTP) runs :meth:`leadscore.serving.scorer.Scorer.explain`,
which calls :func:`cap_bot_rows`: they agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.bots import BotRule, bot_flags, bot_sentence
from leadscore.model.grades import GRADES, GradeThresholds
from leadscore.serving.reasons import (
    FlatSide,
    Reason,
    ReasonRows,
    RowReasons,
    flat_sentences,
    reasons_as_text,
)

__all__ = ["BOT_REASON_GROUP", "CappedReasons", "cap_bot_rows", "capped_probability"]

BOT_REASON_GROUP = "bot_rule"

_OWN_ACTIVITY = ("events:", "property:")
"""Reason groups of the contact's own events: a capped row's activity looks automated, so it is
no reason *for* the lead ("+ 278 interactions" beside "grade capped: ... looks automated");
its fit and its company's activity stay."""


def capped_probability(thresholds: GradeThresholds, cap: str) -> float:
    """The highest probability graded ``cap`` or worse: just under the next better grade."""
    better = GRADES[GRADES.index(cap) - 1]
    bar = {"A": thresholds.a, "B": thresholds.b, "C": thresholds.c}[better]
    return float(np.nextafter(bar, -np.inf)) if bar > 0 else 0.0


def _logit(p: float) -> float:
    q = min(max(p, 1e-12), 1 - 1e-12)
    return float(np.log(q / (1 - q)))


def cap_bot_rows(
    frame: pd.DataFrame,
    columns: dict[str, Any],
    reasons: Sequence[RowReasons],
    *,
    rule: BotRule | None,
    thresholds: GradeThresholds,
    target: str,
) -> tuple[Sequence[RowReasons], np.ndarray[Any, Any]]:
    """Cap ``columns['grade']`` and ``columns['p_<target>']`` of the bot-like rows of ``frame``
    in place; their first negative reason says why, and their own activity is no positive
    reason. Returns the reasons and the flags."""
    flags = bot_flags(frame, rule)
    if rule is None or not flags.any():
        return reasons, flags
    ceiling = capped_probability(thresholds, rule.cap_grade)
    key = f"p_{target}"
    p = np.array(columns[key], dtype=np.float64, copy=True)
    grades = np.array(columns["grade"], dtype=object, copy=True)
    worst = GRADES.index(rule.cap_grade)
    capped: dict[int, RowReasons] = {}
    for i in np.flatnonzero(flags):
        before = float(p[i])
        if before <= ceiling and GRADES.index(str(grades[i])) >= worst:
            continue  # already at or under the cap: nothing is capped, nothing to say
        p[i] = min(before, ceiling)
        grades[i] = rule.cap_grade if GRADES.index(str(grades[i])) < worst else grades[i]
        effect = min(_logit(float(p[i])) - _logit(before), -1e-12)
        sentence = Reason(bot_sentence(frame.iloc[i], rule), effect, BOT_REASON_GROUP)
        row = reasons[int(i)]
        positive = tuple(r for r in row.positive if not r.group.startswith(_OWN_ACTIVITY))
        capped[int(i)] = RowReasons(positive, (sentence, *row.negative))
    columns[key] = p
    columns["grade"] = grades
    return (CappedReasons(reasons, capped) if capped else reasons), flags


class CappedReasons(ReasonRows):
    """``base`` reasons with the capped rows' replaced, without materialising the other rows
    (a column-wise :class:`~leadscore.serving.reasons_table.ReasonTable` stays column-wise)."""

    def __init__(self, base: Sequence[RowReasons], capped: dict[int, RowReasons]) -> None:
        self._base, self._capped = base, capped

    def __len__(self) -> int:
        return len(self._base)

    def _row(self, row: int) -> RowReasons:
        return self._capped.get(row) or self._base[row]

    def sentences(self) -> tuple[list[list[str]], list[list[str]]]:
        """Positive and negative sentences per row (see ``reasons_as_text``)."""
        positive, negative = reasons_as_text(self._base)
        for row, reasons in self._capped.items():
            positive[row] = [r.text for r in reasons.positive]
            negative[row] = [r.text for r in reasons.negative]
        return positive, negative

    def flat_sentences(self) -> tuple[FlatSide, FlatSide]:
        """Each side's sentences row after row, and the counts (see ``flat_sentences``): the
        base's, with the capped rows' spliced in."""
        base = flat_sentences(self._base)
        rows = np.array(sorted(self._capped), dtype=np.int64)
        out = []
        for side, (values, counts) in zip(("positive", "negative"), base, strict=True):
            mine = [getattr(self._capped[int(r)], side) for r in rows]
            new_counts = np.array([len(r) for r in mine], dtype=np.int64)
            owner = np.repeat(np.arange(len(counts)), counts)
            keep = ~np.isin(owner, rows)
            spliced = np.empty(int(new_counts.sum()), dtype=object)
            spliced[:] = [r.text for reasons in mine for r in reasons]
            order = np.argsort(
                np.concatenate([owner[keep], np.repeat(rows, new_counts)]), kind="stable"
            )
            merged = np.concatenate([values[keep], spliced])[order]
            total = counts.copy()
            total[rows] = new_counts
            out.append((merged, total))
        return out[0], out[1]
