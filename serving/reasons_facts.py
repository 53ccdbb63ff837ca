"""One fact, one reason: ages and recencies that name the same day are one reason.

A lead that arrived 50 days ago and did nothing since has three features saying so ("became an
MQL 50 days ago", "no form filled for 50 days", "no activity for 50 days"). Among the reasons
of a row, those whose sentence is a number of days (contact age, days since MQL, days since an
event) within a day of a stronger such reason are dropped; the next reasons take their place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["day_fact", "pick_distinct"]

_AGE_ATTRIBUTES = ("contact_age_days", "days_since_mql")
_SAME_DAY = 1


def day_fact(spec: Any, value: Any, lookback: int) -> float | None:
    """The number of days a member's sentence states (``None``: not an age or recency, or at
    the lookback cap, where it reads as absence over the whole lookback)."""
    if spec is None or value is None:
        return None
    kind = getattr(spec, "kind", None)
    is_days = (
        kind == "days_since"
        or (kind == "attribute" and getattr(spec, "attribute", None) in _AGE_ATTRIBUTES)
        or (kind == "event_property" and getattr(spec, "measure", None) == "days_since")
    )
    if not is_days:
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        return None
    return None if days != days or days >= lookback else days


def pick_distinct(
    positive: Iterable[int],
    negative: Iterable[int],
    strength: Callable[[int], float],
    fact: Callable[[int], float | None],
    top: int,
) -> tuple[list[int], list[int]]:
    """Up to ``top`` groups per side, strongest first (``strength``: absolute effect), leaving
    out a group whose day ``fact`` is within a day of a stronger kept group's, on either side."""
    sides: tuple[Sequence[int], Sequence[int]] = (list(positive), list(negative))
    merged = sorted(
        ((g, side) for side, groups in enumerate(sides) for g in groups),
        key=lambda item: -strength(item[0]),
    )
    kept: tuple[list[int], list[int]] = ([], [])
    seen: list[float] = []
    for g, side in merged:
        if len(kept[side]) >= top:
            continue
        days = fact(g)
        if days is not None:
            if any(abs(days - other) <= _SAME_DAY for other in seen):
                continue
            seen.append(days)
        kept[side].append(g)
    return kept[0], kept[1]
