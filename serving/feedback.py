"""Sales feedback: reps' verdicts on scored leads, stored as the contract's ``feedback`` table.

Verdicts land in the score store (:class:`~leadscore.serving.store.ScoreStore`); its
``feedback()`` frame has the contract's columns (``contact_id``, ``given_at``, ``verdict``,
``reason``, ``model_version``), so it can be exported into the CRM's feedback table. Using
verdicts in training (as labels or weights) and the per-score-band report are not built yet.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from leadscore.contract import Verdict
from leadscore.serving.store import ScoreStore

__all__ = ["FeedbackIn", "is_scored", "record_feedback"]


class FeedbackIn(BaseModel):
    """A rep's verdict on a scored lead."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    contact_id: str = Field(min_length=1, max_length=200)
    verdict: Verdict
    reason: str | None = Field(default=None, max_length=1000)
    model_version: str | None = Field(default=None, max_length=200)
    given_at: datetime | None = None


def is_scored(store: ScoreStore, contact_id: str) -> bool:
    """Whether ``store`` holds a score of ``contact_id`` (feedback is taken on scored leads)."""
    return not store.history(contact_id, limit=1).empty


def record_feedback(
    store: ScoreStore, feedback: FeedbackIn, *, default_model_version: str | None = None
) -> None:
    """Store ``feedback`` (``model_version`` defaults to the version being served)."""
    store.add_feedback(
        feedback.contact_id,
        feedback.verdict,
        reason=feedback.reason,
        model_version=feedback.model_version or default_model_version,
        given_at=feedback.given_at,
    )
