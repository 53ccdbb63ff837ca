"""SQL compiler of the ``burst`` feature kind (:mod:`leadscore.features.burst`).

Point in time by construction: a cutoff's window is ``[cutoff - N days, cutoff)`` and only its
events count, per calendar hour and day (an hour cut by the cutoff counts only its events
before it). With one or few cutoffs per query, a contact's events are joined to each of its
cutoffs and counted per hour and day of that cutoff (:func:`_burst_per_cutoff`). With many
(``Parts.many_cutoffs``), each event is read once per query, not once per cutoff
(:func:`_burst_per_day`): the calendar days lying wholly inside a window are summarised once per (contact, day)
(events, busiest hour, events in burst hours) and sent to the cutoffs whose window covers them
(a small equi-join on the day number); only a cutoff that is not at midnight has partial days,
the day it cuts and the day its window starts, which are counted from their own events
(clipped to the window, so an hour cut by the cutoff counts only its events before it). Days
are numbered on the query's grid (:mod:`leadscore.features.sql`: ``anchor`` is a midnight,
``cut`` gives each cutoff's day ``dc`` and time of day ``o``). One query per (event types,
window, burst threshold) serves all three measures.
"""

from __future__ import annotations

from leadscore.features.burst import BurstFeature
from leadscore.features.compilers import US_PER_DAY, Compiled, Parts, _types, compiles

__all__: list[str] = []

_COLUMN = {"max_per_hour": "max_hour", "max_per_day": "max_day"}


def _numbers(below: int) -> str:
    """The integers ``0 .. below - 1`` and a few more (portable: cross joined digits)."""
    digits = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"
    places = max(1, len(str(max(below - 1, 0))))
    terms = " + ".join(f"{10**p} * n{p}.i" if p else "n0.i" for p in range(places))
    tables = " CROSS JOIN ".join(f"{digits} AS n{p}(i)" for p in range(places))
    return f"SELECT {terms} AS i FROM {tables}"


def _day(column: str) -> str:
    """Calendar day number of ``column`` counted from the grid's anchor (a midnight)."""
    return f"CAST(floor(date_diff('microsecond', a.t0, {column}) / {US_PER_DAY}) AS BIGINT)"


def _day_stats(hours: str, keys: str, threshold: int) -> str:
    """Per ``keys`` and calendar day of the hourly counts ``hours``: events, busiest hour and
    events in burst hours."""
    return (
        f"SELECT {keys}, dd, sum(n) AS day_n, max(n) AS hour_max,"
        f" sum(CASE WHEN n >= {threshold} THEN n ELSE 0 END) AS day_burst\n"
        f"      FROM ({hours}) hr GROUP BY {keys}, dd"
    )


def _burst_per_cutoff(types: str | None, window: int, threshold: int) -> str:
    """Each (contact, cutoff) of ``lt`` joined to its events of the window."""
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


def _burst_per_day(types: str | None, window: int, threshold: int) -> str:
    """Per-(contact, day) summaries sent to the cutoffs whose window holds the whole day, plus
    the partial days of the cutoffs not at midnight (see the module doc)."""
    typed = f" AND {types}" if types else ""
    source = "FROM events e CROSS JOIN anchor a"
    where = (
        "e.contact_id IN (SELECT contact_id FROM lt)\n"
        "        AND e.occurred_at < (SELECT max(cutoff) FROM cutoffs)\n"
        f"        AND e.occurred_at >= (SELECT min(cutoff) FROM cutoffs) - INTERVAL {window} DAY"
        + typed
    )
    hour = "date_trunc('hour', e.occurred_at)"
    whole_hours = (
        f"SELECT e.contact_id, {hour} AS h, {_day('e.occurred_at')} AS dd, count(*) AS n\n"
        f"        {source}\n        WHERE {where}\n"
        f"        GROUP BY e.contact_id, {hour}, {_day('e.occurred_at')}"
    )
    # the days wholly inside a cutoff's window: from its start (the next midnight when it is
    # not one) to the day before the cutoff's day
    inside = (
        f"SELECT c.cutoff, c.dc - 1 - n.i AS dd FROM cut c\n"
        f"        JOIN ({_numbers(window)}) n ON n.i < {window} - CASE WHEN c.o > 0 THEN 1 ELSE 0 END"
    )
    # the partial days of a cutoff not at midnight: its own day and its window's first day
    edges = (
        "SELECT cutoff, dc AS dd FROM cut WHERE o > 0\n"
        f"        UNION ALL SELECT cutoff, dc - {window} AS dd FROM cut WHERE o > 0"
    )
    clipped_hours = (
        f"SELECT e.contact_id, g.cutoff, {hour} AS h, g.dd, count(*) AS n\n"
        f"        {source}\n"
        f"        JOIN ({edges}) g ON g.dd = {_day('e.occurred_at')}\n"
        f"        WHERE {where}\n"
        f"        AND e.occurred_at < g.cutoff AND e.occurred_at >= g.cutoff - INTERVAL {window} DAY\n"
        f"        GROUP BY e.contact_id, g.cutoff, {hour}, g.dd"
    )
    days = (
        "SELECT d.contact_id, m.cutoff, d.day_n, d.hour_max, d.day_burst\n"
        f"      FROM ({_day_stats(whole_hours, 'contact_id', threshold)}) d\n"
        f"      JOIN ({inside}) m ON m.dd = d.dd\n"
        "    UNION ALL\n"
        "    SELECT contact_id, cutoff, day_n, hour_max, day_burst\n"
        f"      FROM ({_day_stats(clipped_hours, 'contact_id, cutoff', threshold)}) p"
    )
    return (
        "SELECT contact_id, cutoff, max(hour_max) AS max_hour, max(day_n) AS max_day,"
        " sum(day_burst) AS burst_events, sum(day_n) AS events\n"
        f"  FROM (\n    {days}\n  ) dy\n"
        "  GROUP BY contact_id, cutoff"
    )


@compiles("burst")
def _burst(f: BurstFeature, parts: Parts) -> Compiled:
    window = f.window or parts.lookback
    types = _types(f.event_types)
    threshold = f.burst_hour_events  # all three measures of one threshold share one query
    parts.grid = parts.grid or parts.many_cutoffs

    def make() -> str:
        query = _burst_per_day if parts.many_cutoffs else _burst_per_cutoff
        return query(types, window, threshold)

    alias = parts.cte(f"burst|{types}|{window}|{threshold}", make)
    if f.measure == "burst_share":
        return Compiled(
            f"CASE WHEN coalesce({alias}.events, 0) = 0 THEN 0.0 ELSE "
            f"CAST({alias}.burst_events AS DOUBLE) / CAST({alias}.events AS DOUBLE) END",
            double=True,
        )
    return Compiled(f"coalesce({alias}.{_COLUMN[f.measure]}, 0)")
