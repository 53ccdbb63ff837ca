"""The one clock of leadscore: "now" as the naive UTC datetime every CRM timestamp uses.

Every default "as of now" (validation, cutoffs, scoring, feedback) reads :func:`utc_now`, so a
test (or a replay) fixes the time for the whole package with :func:`frozen_clock`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

__all__ = ["as_naive_utc", "frozen_clock", "utc_now"]

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
