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
from leadscore.serving.reasons import Reason, RowReasons

__all__ = ["BOT_REASON_GROUP", "cap_bot_rows", "capped_probability"]

BOT_REASON_GROUP = "bot_rule"


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
) -> tuple[list[RowReasons], np.ndarray[Any, Any]]:
    """Cap ``columns['grade']`` and ``columns['p_<target>']`` of the bot-like rows of ``frame``
    in place; their first negative reason says why. Returns the reasons and the flags."""
    flags = bot_flags(frame, rule)
    out = list(reasons)
    if rule is None or not flags.any():
        return out, flags
    ceiling = capped_probability(thresholds, rule.cap_grade)
    key = f"p_{target}"
    p = np.array(columns[key], dtype=np.float64, copy=True)
    grades = np.array(columns["grade"], dtype=object, copy=True)
    worst = GRADES.index(rule.cap_grade)
    for i in np.flatnonzero(flags):
        before = float(p[i])
        if before <= ceiling and GRADES.index(str(grades[i])) >= worst:
            continue  # already at or under the cap: nothing is capped, nothing to say
        p[i] = min(before, ceiling)
        grades[i] = rule.cap_grade if GRADES.index(str(grades[i])) < worst else grades[i]
        effect = min(_logit(float(p[i])) - _logit(before), -1e-12)
        sentence = Reason(bot_sentence(frame.iloc[i], rule), effect, BOT_REASON_GROUP)
        out[i] = RowReasons(out[i].positive, (sentence, *out[i].negative))
    columns[key] = p
    columns["grade"] = grades
    return out, flags
