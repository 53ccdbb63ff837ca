"""Sales feedback: reps' verdicts on scored leads, stored as the contract's ``feedback`` table.

Verdicts land in the score store (:class:`~leadscore.serving.store.ScoreStore`); its
``feedback()`` frame has the contract's columns (``contact_id``, ``given_at``, ``verdict``,
``reason``, ``model_version``), so it can be exported into the CRM's feedback table. Using
verdicts in training (as labels or weights) and the per-score-band report are not built yet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadscore.clock import utc_now
from leadscore.contract import Verdict
from leadscore.errors import DataContractError
from leadscore.serving.store import ScoreStore

__all__ = ["FeedbackIn", "is_scored", "record_feedback"]


class FeedbackIn(BaseModel):
    """A rep's verdict on a scored lead."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    contact_id: str = Field(min_length=1, max_length=200)
    verdict: Verdict
    reason: str | None = Field(default=None, max_length=1000)
    """A rejection's reason: one of the server's reason codes (``spam_bot``, ``student``...:
    the ones ``feedback apply`` acts on); free text goes in ``note``."""
    note: str | None = Field(default=None, max_length=1000)
    model_version: str | None = Field(default=None, max_length=200)
    given_at: datetime | None = None

    @field_validator("given_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        """A verdict cannot be given later than now (5 minutes of clock skew allowed): a
        future time would keep it out of training until then."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if value > utc_now() + _SKEW:
            raise ValueError("given_at is in the future: send the time the rep gave the verdict")
        return value


_SKEW = timedelta(minutes=5)


def is_scored(store: ScoreStore, contact_id: str) -> bool:
    """Whether ``store`` holds a score of ``contact_id`` (feedback is taken on scored leads)."""
    return not store.history(contact_id, limit=1).empty


def record_feedback(
    store: ScoreStore, feedback: FeedbackIn, *, default_model_version: str | None = None
) -> None:
    """Store ``feedback`` (``model_version`` defaults to the version being served) with the
    grade and reasons of the latest score at ``given_at``, the one the rep could see. A
    ``given_at`` before the lead's first score is refused (:class:`DataContractError`): the
    verdict would change training rows from before the lead was scored (``feedback apply``
    acts from ``given_at`` on), a leak of what was learnt later."""
    moment = feedback.given_at or utc_now()
    shown = _score_shown(store, feedback.contact_id, moment)
    if shown is None:
        raise DataContractError(
            [
                f"feedback.given_at: {moment:%Y-%m-%d %H:%M} is before the lead's first stored "
                "score; send the time the rep gave the verdict (default: now)"
            ],
            header="The verdict cannot be stored:",
        )
    store.add_feedback(
        feedback.contact_id,
        feedback.verdict,
        reason=feedback.reason,
        note=feedback.note,
        model_version=feedback.model_version or default_model_version,
        given_at=feedback.given_at,
        grade=shown["grade"],
        reasons_shown=shown["reasons"],
    )


def _score_shown(store: ScoreStore, contact_id: str, moment: datetime) -> dict[str, Any] | None:
    """The grade and positive reasons of the contact's latest score computed at or before
    ``moment`` (``None`` when it was first scored after)."""
    history = store.history(contact_id, limit=10_000)
    history = history[pd.to_datetime(history["scored_at"]) <= pd.Timestamp(moment)]
    if history.empty:
        return None
    latest = history.iloc[0]
    reasons = latest["reasons_positive"]
    return {
        "grade": None if pd.isna(latest["grade"]) else str(latest["grade"]),
        "reasons": None if reasons is None else [str(r) for r in reasons],
    }
