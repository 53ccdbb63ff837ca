"""The feature query: label times plus one compiled expression per feature, set-based.

The query is written in the DuckDB dialect with portable constructs only (``CASE`` inside
aggregates, ``INTERVAL n DAY``, ``date_diff('microsecond', ...)``, ``regexp_matches``) so that
:mod:`sqlglot` transpiles it to Spark SQL unchanged in meaning. It reads the canonical CRM views
(``contacts``, ``accounts``, ``events``, ``stage_changes``) and the label times
(:mod:`leadscore.features.label_times`: the ``lt`` relation of eligible pairs, from a table of
cutoffs or of given pairs), and returns one row per ``lt`` row. Each feature's expression comes
from the compiler of its kind (:mod:`leadscore.features.compilers`).

Point in time: an event, stage change or contact counts as known at a cutoff only when its time
is strictly before the cutoff; a window of N days is ``[cutoff - N days, cutoff)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import leadscore.features.compilers_burst
import leadscore.features.compilers_custom  # noqa: F401  (registers the custom kinds)
from leadscore.features.compilers import (
    COMPILERS,
    US_PER_DAY,
    Parts,
    base_profile,
    in_list,
    industries,
    timestamp,
)
from leadscore.features.definition import FeatureDefinition, FeatureType
from leadscore.features.label_times import (
    CUTOFFS_TABLE,
    LABEL_TIMES_TABLE,
    SQL_OR_LATER,
    eligible_counts_query,
    label_times_ctes,
)
from leadscore.features.labels import FromStage

__all__ = [
    "CUTOFFS_TABLE",
    "LABEL_TIMES_TABLE",
    "MAX_DAY_SPAN",
    "eligible_counts_query",
    "feature_query",
    "uses_account_features",
]

_US_PER_DAY = US_PER_DAY


def _micros_since_anchor(column: str, anchor: str = "a.t0") -> str:
    """Microseconds from the anchor (midnight of the first cutoff's day) to ``column``."""
    return f"date_diff('microsecond', {anchor}, {column})"


def _floor_days(micros: str) -> str:
    """Whole days in ``micros`` rounded down (exact: quotients far below 2**53)."""
    return f"CAST(floor(({micros}) / {_US_PER_DAY}) AS BIGINT)"


def _cast(expr: str, kind: FeatureType, *, double: bool = False) -> str:
    if kind is FeatureType.BOOLEAN:
        return f"CAST({expr} AS BOOLEAN)"
    if kind is FeatureType.CATEGORICAL:
        return f"CAST({expr} AS VARCHAR)"
    return f"CAST({expr} AS {'DOUBLE' if double else 'BIGINT'})"


def uses_account_features(definition: FeatureDefinition) -> bool:
    """Whether ``definition`` reads the events of a lead's account members (then, with given
    label times, each member's events are placed on the grid of every member's cutoff)."""
    parts = Parts(lookback=definition.lookback_days, rules=definition.rules)
    for f in definition.features:
        COMPILERS[f.kind](f, parts)
    return parts.uses_account


def feature_query(
    definition: FeatureDefinition,
    *,
    horizon_days: int | None = None,
    from_stage: FromStage = "any",
    given: bool = False,
    duckdb_days: bool = False,
    max_age_days: int | None = None,
    many_cutoffs: bool = False,
    one_cutoff: bool = False,
    at: datetime | None = None,
) -> str:
    """The full query: label times (with labels when ``horizon_days`` is set) and features.

    ``duckdb_days``: generate the grid days with DuckDB's ``range`` (only the days needed)
    instead of the portable 100,000-number sequence; same rows, for DuckDB only (the HTTP
    API's small posted CRMs, where that sequence is a fixed cost of every request).

    Label times are every eligible contact at each cutoff of the registered cutoffs table, or
    (``given``) the eligible pairs of the registered label-times table (``max_age_days``: see
    :func:`~leadscore.features.label_times.label_times_ctes`). ``many_cutoffs``: the query
    will take several cutoffs at once (a training table): recency as a running maximum (see
    below) rather than one row per (contact, interval, later cutoff), bursts from per-day
    summaries (:mod:`leadscore.features.compilers_burst`); same rows and values.
    Output columns: ``contact_id``, ``cutoff``, then ``became_sql``, ``booked_meeting`` when
    labelled, then every feature of ``definition`` in order; rows ordered by cutoff, contact.

    Behaviour features never join a contact to its events once per cutoff of the lookback.
    Each event gets a day number ``d`` on a grid of days aligned with the cutoffs' time of
    day (one grid per distinct time of day, usually one), so that an event is before a cutoff
    iff ``d < dc`` (the cutoff's day) and within N days before it iff ``d >= dc - N``:

    * windowed measures (counts, active days, trends, account activity): each event within
      the longest window of some cutoff is sent to the few cutoffs whose longest window
      covers its day (``win_map``, a small equi-join on the day), then summed per
      (contact, cutoff, event type) (``cw_type``), then per feature (``cw``);
    * recency and "any event in the lookback": the latest event time per (contact, interval
      between consecutive cutoffs, event type) (``rec_type``, each event read once), per type
      set (``rec_int``), then the latest over the intervals before each cutoff (``rec``):
      with ``many_cutoffs`` a running maximum over the intervals (``rec_run``), each row
      serving the cutoffs up to the next interval with an event (no aggregation over the
      cutoffs), else each interval sent to the cutoffs after it (``k_map``) and regrouped.

    With ``given`` pairs, events are read for the contacts of the pairs (and their accounts'
    members) only.

    ``one_cutoff``: the cutoffs table holds exactly one cutoff (batch scoring); then every
    event read is before it and within the longest window (or the lookback): windowed counts
    take the one cutoff without the day map, active days are a mask of calendar-day bits per
    contact (no window function sorting the events: see
    :meth:`~leadscore.features.compilers.Parts.distinct_days`), and recency is the latest
    event per (contact, event type), then per type set (no intervals); same rows and values.
    ``at`` (with ``one_cutoff``): that cutoff itself, naive UTC, which must be the registered
    table's one cutoff: the events' time bounds are then written as constants, which DuckDB
    applies while scanning the events, instead of comparing every event with a one-row
    subquery.
    """
    if one_cutoff and (given or many_cutoffs):
        raise ValueError("one_cutoff excludes given pairs and many cutoffs")
    if at is not None and (not one_cutoff or at.tzinfo is not None):
        raise ValueError("at is a naive UTC time, for the one_cutoff form only")
    lookback = definition.lookback_days
    parts = Parts(
        lookback=lookback,
        rules=definition.rules,
        many_cutoffs=many_cutoffs,
        one_cutoff=one_cutoff,
        at=at,
    )
    columns: list[str] = []
    for f in definition.features:
        compiled = COMPILERS[f.kind](f, parts)
        columns.append(f"{_cast(compiled.expr, f.type, double=compiled.double)} AS {f.name}")
    member_counts = {w: parts.count_in((), w) for w in sorted(parts.account_windows)}
    ctes = [label_times_ctes(horizon_days, from_stage, given=given, max_age_days=max_age_days)]
    if given and (parts.win.exprs or parts.rec.exprs):
        members = (
            "\n    UNION SELECT m.contact_id, l.cutoff FROM lt l"
            " JOIN contacts m ON m.account_id = l.account_id"
            if parts.uses_account
            else ""
        )
        scope_pairs = f"SELECT contact_id, cutoff FROM lt{members}"
    else:
        scope_pairs = ""
    joins = _joins_and_ctes(
        parts,
        member_counts,
        ctes,
        scoped=given,
        duckdb_days=duckdb_days,
        many_cutoffs=many_cutoffs,
        scope_pairs=scope_pairs,
        one_cutoff=one_cutoff,
        at=at,
    )
    labels = ", lt.became_sql, lt.booked_meeting" if horizon_days is not None else ""
    select = ",\n  ".join(["lt.contact_id", f"lt.cutoff{labels}", *columns])
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT\n  {select}\nFROM lt"
        + joins
        + "\nORDER BY lt.cutoff, lt.contact_id"
    )


def _joins_and_ctes(
    parts: Parts,
    member_counts: dict[int, str],
    ctes: list[str],
    *,
    scoped: bool,
    duckdb_days: bool = False,
    many_cutoffs: bool = False,
    scope_pairs: str = "",
    one_cutoff: bool = False,
    at: datetime | None = None,
) -> str:
    """Append the CTEs the compiled features use to ``ctes``; return the joins onto ``lt``."""
    joins = "\nJOIN contacts c ON c.contact_id = lt.contact_id" if parts.uses_contact else ""
    if parts.profile:
        # expressions of one column alone: once per distinct value, joined on the value
        values = "".join(
            f",\nv_{column} AS (\n  SELECT {column} AS value_key, "
            + ", ".join(exprs)
            + f"\n  FROM (SELECT DISTINCT {column} FROM prof0 WHERE {column} IS NOT NULL) x\n)"
            for column, exprs in parts.values.items()
        )
        by_value = "".join(
            f" LEFT JOIN v_{column} ON v_{column}.value_key = prof0.{column}"
            for column in parts.values
        )
        ctes.append(
            f"industries AS (\n  {industries(parts.rules)}\n),\n"
            f"prof0 AS (\n  {base_profile(parts.rules, parts.raw_profile)}\n){values},\n"
            "prof AS (\n  SELECT prof0.contact_id, "
            + ", ".join(parts.profile)
            + f" FROM prof0{by_value}\n)"
        )
        joins += "\nLEFT JOIN prof p ON p.contact_id = lt.contact_id"
    win, rec = parts.win, parts.rec
    cols = "".join(f", e.{column}" for column in sorted(parts.event_columns))
    constant = one_cutoff and at is not None  # windows as time bounds, no grid (Parts.since)
    if (win.exprs and not constant) or (rec.exprs and not one_cutoff) or parts.grid:
        ctes.append(
            _grid_ctes(
                max(parts.windows, default=0),
                parts.lookback,
                recency=bool(rec.exprs) and not one_cutoff,
                duckdb_days=duckdb_days,
            )
        )
        if scoped and scope_pairs:
            ctes.append(
                "scope_o AS (\n  SELECT DISTINCT x.contact_id, c.o, a.t0\n"
                f"  FROM ({scope_pairs}) x\n"
                "  JOIN cut c ON c.cutoff = x.cutoff CROSS JOIN anchor a\n)"
            )
    if win.exprs:
        prev_cols = "".join(
            f",\n      {_previous_time(condition)} AS {alias}"
            for condition, alias in parts.previous.items()
        )
        if constant:
            assert at is not None
            cw_type = (
                f"cw_type AS (\n  SELECT e.contact_id, {_timestamp(at)} AS cutoff, e.event_type"
                + parts.band.select_list()
                + f"\n  FROM ({_events_before(max(parts.windows), cols, at)}) e\n"
                "  GROUP BY e.contact_id, e.event_type\n)"
            )
        else:
            events = _events_on_grid(max(parts.windows), prev_cols + cols, scoped=scoped, at=at)
            cw_type = (
                "cw_type AS (\n  SELECT e.contact_id, m.cutoff, e.event_type"
                + parts.band.select_list()
                + f"\n  FROM ({events}) e\n"
                + (
                    "  CROSS JOIN cut m\n"
                    if one_cutoff
                    else "  JOIN win_map m ON m.o = e.o AND m.d = e.d\n"
                )
                + "  GROUP BY e.contact_id, m.cutoff, e.event_type\n)"
            )
        ctes.append(
            f"{cw_type},\n"
            f"cw AS (\n  SELECT s.contact_id, s.cutoff{win.select_list()}\n"
            "  FROM cw_type s GROUP BY s.contact_id, s.cutoff\n)"
        )
        joins += "\nLEFT JOIN cw ON cw.contact_id = lt.contact_id AND cw.cutoff = lt.cutoff"
    if rec.exprs and one_cutoff:
        ctes.append(_one_cutoff_latest(parts, cols, at))
        joins += "\nLEFT JOIN rec ON rec.contact_id = lt.contact_id AND rec.cutoff = lt.cutoff"
    elif rec.exprs:
        ctes.append(
            "rec_type AS (\n  SELECT e.contact_id, e.o, dk.k, e.event_type,"
            f" max(e.occurred_at) AS latest{parts.latest_by.select_list()}\n"
            f"  FROM ({_events_on_grid(parts.lookback, cols, scoped=scoped)}) e\n"
            "  JOIN day_k dk ON dk.o = e.o AND dk.d = e.d\n"
            "  GROUP BY e.contact_id, e.o, dk.k, e.event_type\n),\n"
            f"rec_int AS (\n  SELECT r.contact_id, r.o, r.k{rec.select_list()}\n"
            "  FROM rec_type r GROUP BY r.contact_id, r.o, r.k\n),\n"
            + (
                _running_latest(rec.exprs.values())
                if many_cutoffs
                else _regrouped_latest(rec.exprs.values())
            )
        )
        joins += "\nLEFT JOIN rec ON rec.contact_id = lt.contact_id AND rec.cutoff = lt.cutoff"
    if parts.uses_account:
        joins += _account_ctes(member_counts, ctes)
    for alias, body in parts.ctes.values():
        ctes.append(f"{alias} AS (\n  {body}\n)")
        joins += f"\nLEFT JOIN {alias} ON {alias}.contact_id = lt.contact_id AND {alias}.cutoff = lt.cutoff"
    return joins


def _previous_time(condition: str) -> str:
    """The time of a contact's previous event meeting ``condition`` (ties in any order).

    Unconditional: ``lag`` (in time order, the previous row's time is the latest of all
    earlier rows: the same value as the running maximum, without its frame)."""
    if condition == "TRUE":
        return "lag(e.occurred_at) OVER (PARTITION BY e.contact_id ORDER BY e.occurred_at)"
    return (
        f"max(CASE WHEN {condition} THEN e.occurred_at END) OVER (PARTITION BY"
        " e.contact_id ORDER BY e.occurred_at ROWS BETWEEN UNBOUNDED PRECEDING AND"
        " 1 PRECEDING)"
    )


def _one_cutoff_latest(parts: Parts, cols: str, at: datetime | None) -> str:
    """``rec`` for a single cutoff: the latest event time per (contact, event type) over the
    lookback's events (all before the cutoff), then per type set."""
    return (
        "rec_type AS (\n  SELECT e.contact_id, e.event_type,"
        f" max(e.occurred_at) AS latest{parts.latest_by.select_list()}\n"
        f"  FROM ({_events_before(parts.lookback, cols, at)}) e\n"
        "  GROUP BY e.contact_id, e.event_type\n),\n"
        "rec AS (\n  SELECT r.contact_id, (SELECT max(cutoff) FROM cutoffs) AS cutoff"
        f"{parts.rec.select_list()}\n"
        "  FROM rec_type r GROUP BY r.contact_id\n)"
    )


def _running_latest(aliases: Iterable[str]) -> str:
    """``rec`` from ``rec_int``: a running maximum over a contact's intervals, each row serving
    the cutoffs from its interval up to the next one with an event (one row per cutoff)."""
    return (
        "rec_run AS (\n  SELECT r.contact_id, r.o, r.k,"
        " lead(r.k) OVER (PARTITION BY r.contact_id, r.o ORDER BY r.k) AS next_k"
        + "".join(
            f",\n    max(r.{alias}) OVER (PARTITION BY r.contact_id, r.o ORDER BY r.k"
            f" ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {alias}"
            for alias in aliases
        )
        + "\n  FROM rec_int r\n),\n"
        "rec AS (\n  SELECT r.contact_id, c.cutoff"
        + "".join(f", r.{alias}" for alias in aliases)
        + "\n  FROM rec_run r JOIN cut c ON c.o = r.o AND c.pos > r.k"
        " AND (r.next_k IS NULL OR c.pos <= r.next_k)\n)"
    )


def _regrouped_latest(aliases: Iterable[str]) -> str:
    """``rec`` from ``rec_int``: each interval sent to the cutoffs after it, then the latest
    per (contact, cutoff) (cheapest with one or few cutoffs)."""
    return (
        "k_map AS (\n  SELECT b.o, a.pos - 1 AS k, b.cutoff FROM cut a"
        " JOIN cut b ON b.o = a.o AND a.pos <= b.pos\n),\n"
        "rec AS (\n  SELECT r.contact_id, km.cutoff"
        + "".join(f",\n    max(r.{alias}) AS {alias}" for alias in aliases)
        + "\n  FROM rec_int r JOIN k_map km ON km.o = r.o AND km.k = r.k"
        "\n  GROUP BY r.contact_id, km.cutoff\n)"
    )


def _account_ctes(member_counts: dict[int, str], ctes: list[str]) -> str:
    """The account measures per (account, cutoff): members known at the cutoff, their
    windowed activity and whether one of them is already SQL."""
    ctes.append(
        "members AS (\n  SELECT k.account_id, k.cutoff, m.contact_id\n"
        "  FROM (SELECT DISTINCT account_id, cutoff FROM lt) k\n"
        "  JOIN contacts m ON m.account_id = k.account_id AND m.created_at < k.cutoff\n)"
    )
    account_cols = "".join(
        f",\n    sum(coalesce(mw.{column}, 0)) AS events_{w}"
        f",\n    sum(CASE WHEN coalesce(mw.{column}, 0) > 0 THEN 1 ELSE 0 END)"
        f" AS engaged_{w}"
        for w, column in member_counts.items()
    )
    member_join = (
        "\n  LEFT JOIN cw mw ON mw.contact_id = mem.contact_id AND mw.cutoff = mem.cutoff"
        if member_counts
        else ""
    )
    ctes.append(
        "acct AS (\n  SELECT mem.account_id, mem.cutoff, count(*) AS n_members"
        + account_cols
        + "\n  FROM members mem"
        + member_join
        + "\n  GROUP BY mem.account_id, mem.cutoff\n)"
    )
    ctes.append(
        "acct_sql AS (\n  SELECT mem.account_id, mem.cutoff,"
        " count(DISTINCT mem.contact_id) AS n_sql\n"
        "  FROM members mem JOIN stage_changes s ON s.contact_id = mem.contact_id\n"
        f"  AND s.changed_at < mem.cutoff AND s.stage IN {in_list(SQL_OR_LATER)}\n"
        "  GROUP BY mem.account_id, mem.cutoff\n)"
    )
    return (
        "\nLEFT JOIN acct ON acct.account_id = lt.account_id AND acct.cutoff = lt.cutoff"
        "\nLEFT JOIN acct_sql ON acct_sql.account_id = lt.account_id"
        " AND acct_sql.cutoff = lt.cutoff"
    )


MAX_DAY_SPAN = 100_000
"""Length of the generated day sequence (``nums``): one query's cutoffs may span at most this
many days minus the lookback (checked by :mod:`leadscore.features.build`)."""


def _grid_ctes(max_window: int, lookback: int, *, recency: bool, duckdb_days: bool = False) -> str:
    """The cutoff grids and the small maps from grid days to cutoffs.

    ``anchor``: midnight of the first cutoff's day. ``cut``: every distinct cutoff with ``o``,
    its time of day (microseconds after midnight), ``dc``, its day number on the grid of days
    starting at that time of day (counted from the anchor), and ``pos``, its rank among the
    cutoffs of that grid. ``win_map``: for each cutoff, the ``max_window`` grid days before
    it. ``day_k``: every grid day of the lookback of some cutoff, with ``k``, how many cutoffs
    of the grid are on or before it (its events are known at the cutoffs ranked after ``k``).
    """
    us = _micros_since_anchor("k.cutoff")
    digits = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"
    places = [f"{digits} AS n{p}(i)" for p in range(5)]
    ctes = [
        "anchor AS (\n  SELECT CAST(CAST(min(cutoff) AS DATE) AS TIMESTAMP) AS t0 FROM cutoffs\n)",
        f"cut0 AS (\n  SELECT k.cutoff, {us} AS us, {_floor_days(us)} AS dc\n"
        "  FROM (SELECT DISTINCT cutoff FROM cutoffs) k CROSS JOIN anchor a\n)",
        f"cut AS (\n  SELECT cutoff, dc, us - dc * {_US_PER_DAY} AS o,\n"
        f"    row_number() OVER (PARTITION BY us - dc * {_US_PER_DAY} ORDER BY cutoff) AS pos\n"
        "  FROM cut0\n)",
        "grid AS (SELECT DISTINCT c.o, a.t0 FROM cut c CROSS JOIN anchor a)",
    ]
    if not duckdb_days:
        ctes.append(
            "nums AS (\n  SELECT "
            + " + ".join(f"{10**p} * n{p}.i" if p else "n0.i" for p in range(5))
            + " AS i\n  FROM "
            + " CROSS JOIN ".join(places)
            + "\n)"
        )
    # the grid days before a cutoff (win_map) and of a lookback span (day_k): joins on the
    # portable sequence, or DuckDB's range of exactly the days needed (same rows)
    window_days = (
        f"(SELECT CAST(range AS INTEGER) AS i FROM range({max_window})) n"
        if duckdb_days
        else f"nums n ON n.i < {max_window}"
    )
    span_days = (
        "(SELECT o, lo, hi, CAST(unnest(range(hi - lo)) AS INTEGER) AS i FROM span) s"
        if duckdb_days
        else "span s JOIN nums n ON n.i < s.hi - s.lo"
    )
    day = "s.i" if duckdb_days else "n.i"
    if max_window:
        ctes.append(
            "win_map AS (\n  SELECT c.o, c.dc - 1 - n.i AS d, c.cutoff, c.dc"
            f" FROM cut c {'CROSS JOIN' if duckdb_days else 'JOIN'} {window_days}\n)"
        )
    if recency:
        ctes.append(
            "span AS (\n  SELECT o, min(dc) - "
            f"{lookback} AS lo, max(dc) AS hi FROM cut GROUP BY o\n),\n"
            f"day_k AS (\n  SELECT s.o, s.lo + {day} AS d, count(c.cutoff) AS k\n"
            f"  FROM {span_days}\n"
            f"  LEFT JOIN cut c ON c.o = s.o AND c.dc <= s.lo + {day}\n"
            f"  GROUP BY s.o, s.lo + {day}\n)"
        )
    return ",\n".join(ctes)


def _before_cutoffs(days: int, at: datetime | None) -> str:
    """The events of the ``days`` before any cutoff (``at``: the one cutoff, as constants)."""
    latest, earliest = (
        ("(SELECT max(cutoff) FROM cutoffs)", "(SELECT min(cutoff) FROM cutoffs)")
        if at is None
        else (_timestamp(at),) * 2
    )
    return f"e.occurred_at < {latest}\n    AND e.occurred_at >= {earliest} - INTERVAL {days} DAY"


_timestamp = timestamp


def _events_before(days: int, cols: str, at: datetime | None) -> str:
    """The events of the ``days`` before the one cutoff (``at``: as constants), with
    ``cols`` (more event columns, ``, e.x``)."""
    return (
        f"\n    SELECT e.contact_id, e.occurred_at, e.event_type{cols}\n"
        "    FROM events e\n"
        f"    WHERE {_before_cutoffs(days, at)}\n"
        "  "
    )


def _events_on_grid(
    days: int, extra: str = "", *, scoped: bool = False, at: datetime | None = None
) -> str:
    """Events of the ``days`` before any cutoff, with their grid ``o`` and grid day ``d``
    (``extra``: more columns computed on the events, before the grids; ``scoped``: only the
    contacts of the ``scope`` relation)."""
    scope = "\n      AND e.contact_id IN (SELECT contact_id FROM scope_o)" if scoped else ""
    grids = "JOIN scope_o g ON g.contact_id = e.contact_id" if scoped else "CROSS JOIN grid g"
    d = _floor_days(f"{_micros_since_anchor('e.occurred_at', 'g.t0')} - g.o")
    return (
        f"SELECT e.*, g.o, {d} AS d\n"
        f"    FROM (\n      SELECT e.contact_id, e.occurred_at, e.event_type{extra}\n"
        "      FROM events e\n"
        f"      WHERE {_before_cutoffs(days, at)}{scope}\n"
        f"    ) e {grids}"
    )
