"""Scores of posted leads (``POST /score?record=true``) added to the score history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pandas as pd

from leadscore.clock import utc_now
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore

__all__ = ["record_posted_scores"]


class _Reason(Protocol):
    @property
    def text(self) -> str: ...


class _Scored(Protocol):
    @property
    def contact_id(self) -> str: ...
    @property
    def p_sql(self) -> float: ...
    @property
    def p_meeting(self) -> float: ...
    @property
    def grade(self) -> str: ...
    @property
    def fit_score(self) -> float: ...
    @property
    def engagement_score(self) -> float: ...
    @property
    def reasons_positive(self) -> Sequence[_Reason]: ...
    @property
    def reasons_negative(self) -> Sequence[_Reason]: ...


def record_posted_scores(
    store: ScoreStore, scores: Sequence[_Scored], *, model_version: str
) -> int:
    """Append ``scores`` to ``store``'s history, scored now by ``model_version``; returns the
    rows added (the same columns as batch scoring's history)."""
    now = utc_now().replace(tzinfo=None)
    rows = pd.DataFrame(
        [
            {
                "contact_id": s.contact_id,
                "scored_at": now,
                "model_version": model_version,
                "p_sql": s.p_sql,
                "p_meeting": s.p_meeting,
                "grade": s.grade,
                "fit_score": s.fit_score,
                "engagement_score": s.engagement_score,
                "reasons_positive": [r.text for r in s.reasons_positive],
                "reasons_negative": [r.text for r in s.reasons_negative],
            }
            for s in scores
        ],
        columns=list(HISTORY_COLUMNS),
    )
    return store.record_scores(rows)
