"""Label times: the cutoff schedule, who is eligible at a cutoff, labels and censoring.

Definitions (one row per eligible ``(contact_id, cutoff)``):

* known at the cutoff means strictly before it (``< cutoff``); the future is
  ``[cutoff, cutoff + horizon)``, so every instant is either known or future, never both nor
  neither;
* eligible: created before the cutoff, never reached ``sql`` (or a later funnel stage:
  ``meeting``, ``customer``) before the cutoff, and not disqualified at the cutoff (the latest
  ``disqualified`` stage change is not followed by a ``lead``/``mql`` one). With
  ``from_stage="mql"`` the contact must also have reached ``mql`` before the cutoff. Eligibility
  is defined once, for the SQL target; ``booked_meeting`` is labelled on the same rows (a
  contact not yet SQL has not booked a meeting either);
* ``became_sql``: reached ``sql``, ``meeting`` or ``customer`` within the horizon;
  ``booked_meeting``: reached ``meeting`` or ``customer`` within the horizon;
* censored: ``cutoff + horizon > data_end``: the horizon is not fully observed, so the rows are
  excluded from training and counted, never labelled negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from leadscore.errors import ConfigError

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "LABELS",
    "CutoffSchedule",
    "FromStage",
    "is_censored",
    "resolve_cutoffs",
]

DEFAULT_HORIZON_DAYS = 30
LABELS: tuple[str, ...] = ("became_sql", "booked_meeting")
"""Label columns of the training table, one per target."""

FromStage = Literal["any", "mql"]
"""Which contacts are eligible: every lead not yet SQL (``any``) or MQLs only (``mql``)."""


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ConfigError(
                f"Cutoff {value.isoformat()} carries a time zone; CRM times are naive UTC: pass "
                "a naive datetime in UTC."
            )
        return value
    return datetime(value.year, value.month, value.day)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    if moment.day > 28:
        raise ConfigError("Monthly cutoff schedules must start on day 1 to 28 of a month.")
    return moment.replace(year=year, month=month)


@dataclass(frozen=True)
class CutoffSchedule:
    """Cutoffs from ``start`` to ``end`` (both included when on the grid), every week or month.

    ``CutoffSchedule.of([...])`` builds an explicit schedule instead.
    """

    start: date | datetime
    end: date | datetime
    every: Literal["week", "month"] = "month"
    explicit: tuple[datetime, ...] | None = None

    @classmethod
    def of(cls, cutoffs: Iterable[date | datetime]) -> CutoffSchedule:
        """An explicit list of cutoffs (sorted, duplicates removed)."""
        moments = tuple(sorted({_as_datetime(c) for c in cutoffs}))
        if not moments:
            raise ConfigError("A cutoff schedule needs at least one cutoff.")
        return cls(start=moments[0], end=moments[-1], explicit=moments)

    def cutoffs(self) -> list[datetime]:
        """The cutoff times, ascending."""
        if self.explicit is not None:
            return list(self.explicit)
        start, end = _as_datetime(self.start), _as_datetime(self.end)
        if end < start:
            raise ConfigError(
                f"Cutoff schedule ends ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d})."
            )
        if self.every not in ("week", "month"):
            raise ConfigError(f"Unknown schedule step {self.every!r}; allowed: week, month.")
        moments: list[datetime] = []
        step = 0
        while True:
            moment = (
                start + timedelta(weeks=step) if self.every == "week" else _add_months(start, step)
            )
            if moment > end:
                return moments
            moments.append(moment)
            step += 1


def resolve_cutoffs(
    cutoffs: CutoffSchedule | Sequence[date | datetime] | None, now: datetime
) -> list[datetime]:
    """Cutoffs from a schedule, an explicit list, or ``[now]`` when ``None``."""
    if cutoffs is None:
        return [now]
    if isinstance(cutoffs, CutoffSchedule):
        return cutoffs.cutoffs()
    return CutoffSchedule.of(cutoffs).cutoffs()


def is_censored(cutoff: datetime, horizon_days: int, data_end: datetime) -> bool:
    """Whether the horizon after ``cutoff`` runs past the end of the observed data."""
    return cutoff + timedelta(days=horizon_days) > data_end
