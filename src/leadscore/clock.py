"""The one clock of leadscore: "now" as the naive UTC datetime every CRM timestamp uses.

Every default "as of now" (validation, cutoffs, scoring, feedback) reads :func:`utc_now`, so a
test (or a replay) fixes the time for the whole package with :func:`frozen_clock`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

__all__ = ["as_naive_utc", "as_of_from_text", "frozen_clock", "utc_now"]

_frozen: datetime | None = None


def as_naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime (naive input is taken as UTC already)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def utc_now() -> datetime:
    """Now, as a naive UTC datetime (the frozen moment inside :func:`frozen_clock`)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def frozen_clock(moment: datetime) -> Iterator[datetime]:
    """Within the block, :func:`utc_now` returns ``moment`` (as naive UTC) in every thread."""
    global _frozen
    previous, _frozen = _frozen, as_naive_utc(moment)
    try:
        yield _frozen
    finally:
        _frozen = previous


def as_of_from_text(text: str) -> datetime:
    """An as-of moment given as text (``--as-of``, the HTTP API's ``as_of``): a date alone
    (``2025-12-30``, an export's date) is the end of that day, never after now, so the day's
    own activity counts; a time is taken as given (converted to naive UTC when it has an
    offset). Raises :class:`ValueError` for text that is neither."""
    from datetime import timedelta

    stripped = text.strip()
    moment = as_naive_utc(datetime.fromisoformat(stripped))
    if len(stripped) > 10:
        return moment
    end_of_day = moment + timedelta(days=1) - timedelta(microseconds=1)
    return min(end_of_day, max(moment, utc_now()))
