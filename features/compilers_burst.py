"""SQL compiler of the ``burst`` feature kind (:mod:`leadscore.features.burst`).

Point in time by construction: a contact's events are joined to each of its cutoffs with
``occurred_at < cutoff`` and ``occurred_at >= cutoff - window``, then counted per calendar hour
and day of that cutoff; an hour cut by the cutoff counts only its events before the cutoff.
One query per (event types, window, burst threshold) serves all three measures.
"""

from __future__ import annotations

from leadscore.features.burst import BurstFeature
from leadscore.features.compilers import Compiled, Parts, _types, compiles

__all__: list[str] = []

_COLUMN = {"max_per_hour": "max_hour", "max_per_day": "max_day"}


def _burst_query(types: str | None, window: int, threshold: int) -> str:
    hours = (
        "SELECT lt.contact_id, lt.cutoff, date_trunc('hour', e.occurred_at) AS h,"
        " count(*) AS n\n"
        "      FROM lt JOIN events e ON e.contact_id = lt.contact_id\n"
        "      WHERE e.occurred_at < lt.cutoff"
        f" AND e.occurred_at >= lt.cutoff - INTERVAL {window} DAY"
        + (f" AND {types}" if types else "")
        + "\n      GROUP BY lt.contact_id, lt.cutoff, date_trunc('hour', e.occurred_at)"
    )
    days = (
        "SELECT contact_id, cutoff, sum(n) AS day_n, max(n) AS hour_max,"
        f" sum(CASE WHEN n >= {threshold} THEN n ELSE 0 END) AS day_burst\n"
        f"    FROM ({hours}) hr\n"
        "    GROUP BY contact_id, cutoff, date_trunc('day', h)"
    )
    return (
        "SELECT contact_id, cutoff, max(hour_max) AS max_hour, max(day_n) AS max_day,"
        " sum(day_burst) AS burst_events, sum(day_n) AS events\n"
        f"  FROM ({days}) dy\n"
        "  GROUP BY contact_id, cutoff"
    )


@compiles("burst")
def _burst(f: BurstFeature, parts: Parts) -> Compiled:
    window = f.window or parts.lookback
    types = _types(f.event_types)
    threshold = f.burst_hour_events  # all three measures of one threshold share one query

    def make() -> str:
        return _burst_query(types, window, threshold)

    alias = parts.cte(f"burst|{types}|{window}|{threshold}", make)
    if f.measure == "burst_share":
        return Compiled(
            f"CASE WHEN coalesce({alias}.events, 0) = 0 THEN 0.0 ELSE "
            f"CAST({alias}.burst_events AS DOUBLE) / CAST({alias}.events AS DOUBLE) END",
            double=True,
        )
    return Compiled(f"coalesce({alias}.{_COLUMN[f.measure]}, 0)")
