"""The one SQL generator: a :class:`FeatureDefinition` becomes a set-based query.

The query is written in the DuckDB dialect with portable constructs only (``CASE`` inside
aggregates, ``INTERVAL n DAY``, ``date_diff('microsecond', ...)``, ``regexp_matches``) so that
:mod:`sqlglot` transpiles it to Spark SQL unchanged in meaning. It reads the canonical CRM views
(``contacts``, ``accounts``, ``events``, ``stage_changes``) and a one-column table of cutoffs
(``cutoff TIMESTAMP``), and returns one row per eligible ``(contact_id, cutoff)``.

Point in time: an event, stage change or contact counts as known at a cutoff only when its time
is strictly before the cutoff; a window of N days is ``[cutoff - N days, cutoff)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadscore.features.definition import (
    AccountFeature,
    ActiveDaysFeature,
    AnyEventFeature,
    AttributeFeature,
    DaysSinceFeature,
    EventCountFeature,
    FeatureDefinition,
    FeatureType,
    Rules,
    TitleRule,
    TrendFeature,
)
from leadscore.features.labels import FromStage
from leadscore.sql import quote_literal as _lit

__all__ = ["CUTOFFS_TABLE", "eligible_counts_query", "feature_query"]

CUTOFFS_TABLE = "_ls_cutoffs"
"""Name of the table of cutoffs the engine registers before running a query."""

_SQL_OR_LATER = ("sql", "meeting", "customer")
_MEETING_OR_LATER = ("meeting", "customer")
_ACTIVE = ("lead", "mql")
_US_PER_DAY = 86_400_000_000
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")
_NOT_WORD = "[^a-z0-9à-ÿ]"


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _days_between(earlier: str, later: str) -> str:
    """Whole days elapsed from ``earlier`` to ``later`` (exact, microsecond based)."""
    return f"CAST(floor(date_diff('microsecond', {earlier}, {later}) / {_US_PER_DAY}) AS BIGINT)"


def _escape_regex(word: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in word)


def _title_case(rules: tuple[TitleRule, ...], column: str) -> str:
    """First matching rule wins; whole words only (portable RE2 / Java regex subset)."""
    text = f"lower(trim({column}))"
    branches = [f"WHEN {column} IS NULL OR trim({column}) = '' THEN 'unknown'"]
    for rule in rules:
        words = "|".join(_escape_regex(w) for w in rule.words)
        pattern = f"(^|{_NOT_WORD})({words})($|{_NOT_WORD})"
        branches.append(f"WHEN regexp_matches({text}, {_lit(pattern)}) THEN {_lit(rule.value)}")
    return "CASE " + " ".join(branches) + " ELSE 'other' END"


def _label_map(mapping: dict[str, tuple[str, ...]], column: str) -> str:
    text = f"lower(trim({column}))"
    branches = [f"WHEN {column} IS NULL OR trim({column}) = '' THEN 'unknown'"]
    for canonical, labels in mapping.items():
        values = sorted({canonical.lower(), *(label.strip().lower() for label in labels)})
        branches.append(f"WHEN {text} IN {_in_list(values)} THEN {_lit(canonical)}")
    return "CASE " + " ".join(branches) + " ELSE 'other' END"


def _human(number: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            return f"{number / size:g}{suffix}"
    return f"{number:g}"


def _bands(bounds: tuple[float, ...], column: str, *, money: bool) -> str:
    fmt = _human if money else (lambda n: f"{n:g}")
    branches = [f"WHEN {column} IS NULL THEN 'unknown'"]
    lower: float | None = None
    for bound in bounds:
        if lower is None:
            label = f"<{fmt(bound)}"
        else:
            label = f"{fmt(lower)}-{fmt(bound)}" if money else f"{fmt(lower)}-{fmt(bound - 1)}"
        branches.append(f"WHEN {column} < {bound!r} THEN {_lit(label)}")
        lower = bound
    last = f"{fmt(lower)}+" if lower is not None else "any"
    return "CASE " + " ".join(branches) + f" ELSE {_lit(last)} END"


_DYNAMIC_ATTRIBUTES = ("contact_age_days", "is_mql", "days_since_mql")


def _base_profile(rules: Rules) -> str:
    """Per-contact base columns (one row per contact): normalised industry and country."""
    industry = _label_map(rules.industries, "a.industry")
    country = "coalesce(upper(trim(a.country)), upper(trim(c.country)))"
    return (
        f"SELECT c.contact_id, {industry} AS industry, {country} AS country,"
        " a.employee_count, a.annual_revenue, c.job_title, c.email_domain, c.lead_source\n"
        "  FROM contacts c LEFT JOIN accounts a ON a.account_id = c.account_id"
    )


def _static_attribute_sql(name: str, rules: Rules) -> str:
    """A static attribute over the base profile columns (see :func:`_base_profile`)."""
    target = rules.target
    if name == "industry":
        return "industry"
    if name == "employee_band":
        return _bands(tuple(float(b) for b in rules.employee_bands), "employee_count", money=False)
    if name == "revenue_band":
        return _bands(rules.revenue_bands, "annual_revenue", money=True)
    if name == "country":
        return "coalesce(country, 'unknown')"
    if name == "region":
        branches = ["WHEN country IS NULL THEN 'unknown'"]
        branches += [
            f"WHEN country IN {_in_list(list(codes))} THEN {_lit(region)}"
            for region, codes in rules.regions.items()
            if codes
        ]
        return "CASE " + " ".join(branches) + " ELSE 'other' END"
    if name == "is_target_industry":
        return f"industry IN {_in_list(list(target.industries) or [''])}"
    if name == "is_out_of_target_industry":
        return f"industry IN {_in_list(list(target.out_of_target_industries) or [''])}"
    if name == "is_target_size":
        low = target.min_employees if target.min_employees is not None else 0
        high = f" AND employee_count <= {target.max_employees}" if target.max_employees else ""
        return f"coalesce(employee_count >= {low}{high}, false)"
    if name == "is_target_country":
        return f"coalesce(country IN {_in_list(list(target.countries) or [''])}, false)"
    if name == "seniority":
        return _title_case(rules.seniority, "job_title")
    if name == "department":
        return _title_case(rules.department, "job_title")
    if name == "email_domain_kind":
        domain = "lower(trim(email_domain))"
        webmail = _in_list(list(rules.email_domains.webmail) or [""])
        disposable = _in_list(list(rules.email_domains.disposable) or [""])
        return (
            "CASE WHEN email_domain IS NULL OR trim(email_domain) = '' THEN 'missing' "
            f"WHEN {domain} IN {disposable} THEN 'disposable' "
            f"WHEN {domain} IN {webmail} THEN 'webmail' ELSE 'corporate' END"
        )
    if name == "lead_source":
        return _label_map(rules.lead_sources, "lead_source")
    raise AssertionError(name)  # unreachable: attributes are validated by the definition


def _dynamic_attribute_sql(name: str, lookback: int) -> str:
    """An attribute that depends on the cutoff (contact age, MQL status)."""
    if name == "contact_age_days":
        return _days_between("c.created_at", "lt.cutoff")
    if name == "is_mql":
        return "lt.last_mql IS NOT NULL"
    if name == "days_since_mql":
        days = _days_between("lt.last_mql", "lt.cutoff")
        return f"CASE WHEN lt.last_mql IS NULL THEN {lookback} ELSE least({days}, {lookback}) END"
    raise AssertionError(name)  # unreachable: attributes are validated by the definition


@dataclass
class _Aggregates:
    """Named aggregate expressions, deduplicated by their SQL text."""

    prefix: str
    exprs: dict[str, str] = field(default_factory=dict)

    def add(self, sql: str) -> str:
        if sql not in self.exprs:
            self.exprs[sql] = f"{self.prefix}{len(self.exprs)}"
        return self.exprs[sql]

    def select_list(self) -> str:
        return "".join(f",\n    {sql} AS {alias}" for sql, alias in self.exprs.items())


def _types(event_types: tuple[Any, ...], column: str = "e.event_type") -> str | None:
    """The condition on ``column`` selecting ``event_types`` (``None``: every event)."""
    if not event_types:
        return None
    return f"{column} IN {_in_list(sorted({str(t.value) for t in event_types}))}"


def _filtered(aggregate: str, condition: str | None) -> str:
    return f"{aggregate} FILTER (WHERE {condition})" if condition else aggregate


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


def _label_times_sql(horizon_days: int | None, from_stage: FromStage) -> str:
    before = "s.changed_at < k.cutoff"
    labels = ""
    if horizon_days is not None:
        future = (
            f"s.changed_at >= k.cutoff AND s.changed_at < k.cutoff + INTERVAL {horizon_days} DAY"
        )
        labels = (
            f",\n    max(CASE WHEN {future} AND s.stage IN {_in_list(_SQL_OR_LATER)} "
            "THEN 1 ELSE 0 END) AS became_sql"
            f",\n    max(CASE WHEN {future} AND s.stage IN {_in_list(_MEETING_OR_LATER)} "
            "THEN 1 ELSE 0 END) AS booked_meeting"
        )
    mql_only = "\n  AND st.last_mql IS NOT NULL" if from_stage == "mql" else ""
    label_cols = (
        ",\n    coalesce(st.became_sql, 0) = 1 AS became_sql"
        ",\n    coalesce(st.booked_meeting, 0) = 1 AS booked_meeting"
        if horizon_days is not None
        else ""
    )
    return f"""cand AS (
  SELECT c.contact_id, c.account_id, k.cutoff
  FROM contacts c CROSS JOIN cutoffs k
  WHERE c.created_at < k.cutoff
),
st AS (
  SELECT k.contact_id, k.cutoff,
    max(CASE WHEN {before} AND s.stage IN {_in_list(_SQL_OR_LATER)} THEN 1 ELSE 0 END) AS was_sql,
    max(CASE WHEN {before} AND s.stage = 'disqualified' THEN s.changed_at END) AS last_dq,
    max(CASE WHEN {before} AND s.stage IN {_in_list(_ACTIVE)} THEN s.changed_at END) AS last_active,
    max(CASE WHEN {before} AND s.stage = 'mql' THEN s.changed_at END) AS last_mql{labels}
  FROM cand k JOIN stage_changes s ON s.contact_id = k.contact_id
  GROUP BY k.contact_id, k.cutoff
),
lt AS (
  SELECT k.contact_id, k.account_id, k.cutoff, st.last_mql{label_cols}
  FROM cand k LEFT JOIN st ON st.contact_id = k.contact_id AND st.cutoff = k.cutoff
  WHERE coalesce(st.was_sql, 0) = 0
  AND NOT coalesce(st.last_dq IS NOT NULL AND (st.last_active IS NULL OR st.last_dq >= st.last_active), false){mql_only}
)"""


def _cutoffs_cte() -> str:
    return f"cutoffs AS (SELECT CAST(cutoff AS TIMESTAMP) AS cutoff FROM {CUTOFFS_TABLE})"


def eligible_counts_query(from_stage: FromStage = "any") -> str:
    """Number of eligible contacts per cutoff (used to report censored rows)."""
    return (
        f"WITH {_cutoffs_cte()},\n{_label_times_sql(None, from_stage)}\n"
        "SELECT cutoff, count(*) AS n FROM lt GROUP BY cutoff ORDER BY cutoff"
    )


def feature_query(
    definition: FeatureDefinition,
    *,
    horizon_days: int | None = None,
    from_stage: FromStage = "any",
) -> str:
    """The full query: label times (with labels when ``horizon_days`` is set) and features.

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
      set (``rec_int``), then the latest over the intervals before each cutoff (``rec``).
    """
    lookback = definition.lookback_days
    # Windowed measures, in two steps: per (contact, cutoff, event type), event counts per
    # day range (``band``), then per (contact, cutoff), sums over the event types of each
    # feature (``win``). Few aggregates per scattered event, the wide pivot on few rows.
    band = _Aggregates("_b")
    win = _Aggregates("_w")
    # Recency: latest event time per (contact, interval, event type), then per type set.
    rec = _Aggregates("_r")
    previous: dict[str, str] = {}  # type-set condition -> column of the previous event time
    windows: set[int] = set()
    account_windows: set[int] = set()
    columns: list[str] = []
    profile: list[str] = []
    uses_contact = False

    def count_in(event_types: tuple[Any, ...], days: int, until: int = 0) -> str:
        """Events of ``event_types`` in ``[cutoff - days, cutoff - until)``."""
        windows.add(days)
        upper = f" AND e.d < m.dc - {until}" if until else ""
        counts = band.add(f"count(*) FILTER (WHERE e.d >= m.dc - {days}{upper})")
        return win.add(_filtered(f"sum(s.{counts})", _types(event_types, "s.event_type")))

    def distinct_days(event_types: tuple[Any, ...], days: int) -> str:
        """Calendar days with an event of ``event_types`` in ``[cutoff - days, cutoff)``.

        An event counts when it is the first of its calendar day in the window: the
        previous event of the same types (in time order, ties in any order) is on an earlier
        day or before the window. Exactly one event per active day, whatever the cutoff's
        time of day, without a DISTINCT aggregate.
        """
        windows.add(days)
        condition = _types(event_types) or "TRUE"
        if condition not in previous:
            previous[condition] = f"_prev{len(previous)}"
        prev = f"e.{previous[condition]}"
        counts = band.add(
            f"count(*) FILTER (WHERE e.d >= m.dc - {days} AND ({prev} IS NULL"
            f" OR CAST({prev} AS DATE) < CAST(e.occurred_at AS DATE)"
            f" OR {prev} < m.cutoff - INTERVAL {days} DAY))"
        )
        return win.add(_filtered(f"sum(s.{counts})", _types(event_types, "s.event_type")))

    def latest(event_types: tuple[Any, ...]) -> str:
        """The latest event time of ``event_types`` before the cutoff (NULL when none)."""
        return rec.add(_filtered("max(r.latest)", _types(event_types, "r.event_type")))

    for f in definition.features:
        expr: str
        double = False
        if isinstance(f, AttributeFeature) and f.attribute in _DYNAMIC_ATTRIBUTES:
            expr = _dynamic_attribute_sql(f.attribute, lookback)
            uses_contact = uses_contact or f.attribute == "contact_age_days"
        elif isinstance(f, AttributeFeature):
            alias = f"_p{len(profile)}"
            profile.append(f"{_static_attribute_sql(f.attribute, definition.rules)} AS {alias}")
            expr = f"p.{alias}"
        elif isinstance(f, EventCountFeature):
            expr = f"coalesce(cw.{count_in(f.event_types, f.window or lookback)}, 0)"
        elif isinstance(f, DaysSinceFeature):
            alias = latest(f.event_types)
            days = _days_between(f"rec.{alias}", "lt.cutoff")
            expr = (
                f"CASE WHEN rec.{alias} IS NULL THEN {lookback} ELSE least({days}, {lookback}) END"
            )
        elif isinstance(f, ActiveDaysFeature):
            expr = f"coalesce(cw.{distinct_days(f.event_types, f.window or lookback)}, 0)"
        elif isinstance(f, TrendFeature):
            recent, base = f.recent_days, f.baseline_days
            r = count_in(f.event_types, recent)
            b = count_in(f.event_types, recent + base, until=recent)
            expr = (
                f"CAST(coalesce(cw.{r}, 0) AS DOUBLE) - CAST(coalesce(cw.{b}, 0) AS DOUBLE) "
                f"* CAST({recent} AS DOUBLE) / CAST({base} AS DOUBLE)"
            )
            double = True
        elif isinstance(f, AnyEventFeature):
            # any event in [cutoff - lookback, cutoff) iff the latest one before the cutoff
            # is at or after cutoff - lookback
            alias = latest(f.event_types)
            expr = f"coalesce(rec.{alias} >= lt.cutoff - INTERVAL {lookback} DAY, false)"
        elif isinstance(f, AccountFeature):
            if f.measure == "known_contacts":
                expr = "coalesce(acct.n_members, 1) - 1"
            elif f.measure == "has_other_sql":
                expr = "coalesce(acct_sql.n_sql, 0) > 0"
            else:
                w = f.window or lookback
                account_windows.add(w)
                if f.measure == "events":
                    expr = f"coalesce(acct.events_{w}, 0)"
                else:
                    own = count_in((), w)
                    expr = (
                        f"coalesce(acct.engaged_{w}, 0) - "
                        f"CASE WHEN coalesce(cw.{own}, 0) > 0 THEN 1 ELSE 0 END"
                    )
        else:  # pragma: no cover - the discriminated union is exhaustive
            raise AssertionError(type(f))
        columns.append(f"{_cast(expr, f.type, double=double)} AS {f.name}")
    member_windows = sorted(account_windows)
    member_counts = {w: count_in((), w) for w in member_windows}
    account = any(isinstance(f, AccountFeature) for f in definition.features)

    ctes = [_cutoffs_cte(), _label_times_sql(horizon_days, from_stage)]
    joins = "\nJOIN contacts c ON c.contact_id = lt.contact_id" if uses_contact else ""
    if profile:
        ctes.append(
            f"prof0 AS (\n  {_base_profile(definition.rules)}\n),\n"
            "prof AS (\n  SELECT contact_id, " + ", ".join(profile) + " FROM prof0\n)"
        )
        joins += "\nLEFT JOIN prof p ON p.contact_id = lt.contact_id"
    if win.exprs or rec.exprs:
        ctes.append(_grid_ctes(max(windows, default=0), lookback, recency=bool(rec.exprs)))
    if win.exprs:
        prev_cols = "".join(
            f",\n      max(CASE WHEN {condition} THEN e.occurred_at END) OVER (PARTITION BY"
            " e.contact_id ORDER BY e.occurred_at ROWS BETWEEN UNBOUNDED PRECEDING AND"
            f" 1 PRECEDING) AS {alias}"
            for condition, alias in previous.items()
        )
        ctes.append(
            "cw_type AS (\n  SELECT e.contact_id, m.cutoff, e.event_type"
            + band.select_list()
            + f"\n  FROM ({_events_on_grid(max(windows), prev_cols)}) e\n"
            "  JOIN win_map m ON m.o = e.o AND m.d = e.d\n"
            "  GROUP BY e.contact_id, m.cutoff, e.event_type\n),\n"
            f"cw AS (\n  SELECT s.contact_id, s.cutoff{win.select_list()}\n"
            "  FROM cw_type s GROUP BY s.contact_id, s.cutoff\n)"
        )
        joins += "\nLEFT JOIN cw ON cw.contact_id = lt.contact_id AND cw.cutoff = lt.cutoff"
    if rec.exprs:
        ctes.append(
            "rec_type AS (\n  SELECT e.contact_id, e.o, dk.k, e.event_type,"
            " max(e.occurred_at) AS latest\n"
            f"  FROM ({_events_on_grid(lookback)}) e\n"
            "  JOIN day_k dk ON dk.o = e.o AND dk.d = e.d\n"
            "  GROUP BY e.contact_id, e.o, dk.k, e.event_type\n),\n"
            f"rec_int AS (\n  SELECT r.contact_id, r.o, r.k{rec.select_list()}\n"
            "  FROM rec_type r GROUP BY r.contact_id, r.o, r.k\n),\n"
            "rec AS (\n  SELECT r.contact_id, km.cutoff"
            + "".join(f",\n    max(r.{alias}) AS {alias}" for alias in rec.exprs.values())
            + "\n  FROM rec_int r JOIN k_map km ON km.o = r.o AND km.k = r.k"
            "\n  GROUP BY r.contact_id, km.cutoff\n)"
        )
        joins += "\nLEFT JOIN rec ON rec.contact_id = lt.contact_id AND rec.cutoff = lt.cutoff"
    if account:
        ctes.append(
            "members AS (\n  SELECT k.account_id, k.cutoff, m.contact_id\n"
            "  FROM (SELECT DISTINCT account_id, cutoff FROM lt) k\n"
            "  JOIN contacts m ON m.account_id = k.account_id AND m.created_at < k.cutoff\n)"
        )
        account_cols = "".join(
            f",\n    sum(coalesce(mw.{member_counts[w]}, 0)) AS events_{w}"
            f",\n    sum(CASE WHEN coalesce(mw.{member_counts[w]}, 0) > 0 THEN 1 ELSE 0 END)"
            f" AS engaged_{w}"
            for w in member_windows
        )
        member_join = (
            "\n  LEFT JOIN cw mw ON mw.contact_id = mem.contact_id AND mw.cutoff = mem.cutoff"
            if member_windows
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
            f"  AND s.changed_at < mem.cutoff AND s.stage IN {_in_list(_SQL_OR_LATER)}\n"
            "  GROUP BY mem.account_id, mem.cutoff\n)"
        )
        joins += (
            "\nLEFT JOIN acct ON acct.account_id = lt.account_id AND acct.cutoff = lt.cutoff"
            "\nLEFT JOIN acct_sql ON acct_sql.account_id = lt.account_id"
            " AND acct_sql.cutoff = lt.cutoff"
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


MAX_DAY_SPAN = 100_000
"""Length of the generated day sequence (``nums``): one query's cutoffs may span at most this
many days minus the lookback (checked by :mod:`leadscore.features.build`)."""


def _grid_ctes(max_window: int, lookback: int, *, recency: bool) -> str:
    """The cutoff grids and the small maps from grid days to cutoffs.

    ``anchor``: midnight of the first cutoff's day. ``cut``: every distinct cutoff with ``o``,
    its time of day (microseconds after midnight), ``dc``, its day number on the grid of days
    starting at that time of day (counted from the anchor), and ``pos``, its rank among the
    cutoffs of that grid. ``win_map``: for each cutoff, the ``max_window`` grid days before
    it. ``day_k``: every grid day of the lookback of some cutoff, with ``k``, how many cutoffs
    of the grid are on or before it (its events are known at the cutoffs ranked after ``k``);
    ``k_map``: each cutoff with the ``k`` it sees.
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
        "nums AS (\n  SELECT "
        + " + ".join(f"{10**p} * n{p}.i" if p else "n0.i" for p in range(5))
        + " AS i\n  FROM "
        + " CROSS JOIN ".join(places)
        + "\n)",
    ]
    if max_window:
        ctes.append(
            "win_map AS (\n  SELECT c.o, c.dc - 1 - n.i AS d, c.cutoff, c.dc"
            f" FROM cut c JOIN nums n ON n.i < {max_window}\n)"
        )
    if recency:
        ctes.append(
            "span AS (\n  SELECT o, min(dc) - "
            f"{lookback} AS lo, max(dc) AS hi FROM cut GROUP BY o\n),\n"
            "day_k AS (\n  SELECT s.o, s.lo + n.i AS d, count(c.cutoff) AS k\n"
            "  FROM span s JOIN nums n ON n.i < s.hi - s.lo\n"
            "  LEFT JOIN cut c ON c.o = s.o AND c.dc <= s.lo + n.i\n"
            "  GROUP BY s.o, s.lo + n.i\n),\n"
            "k_map AS (\n  SELECT b.o, a.pos - 1 AS k, b.cutoff FROM cut a"
            " JOIN cut b ON b.o = a.o AND a.pos <= b.pos\n)"
        )
    return ",\n".join(ctes)


def _events_on_grid(days: int, extra: str = "") -> str:
    """Events of the ``days`` before any cutoff, with their grid ``o`` and grid day ``d``
    (``extra``: more columns computed on the events, before the grids)."""
    d = _floor_days(f"{_micros_since_anchor('e.occurred_at', 'g.t0')} - g.o")
    return (
        f"SELECT e.*, g.o, {d} AS d\n"
        f"    FROM (\n      SELECT e.contact_id, e.occurred_at, e.event_type{extra}\n"
        "      FROM events e\n"
        "      WHERE e.occurred_at < (SELECT max(cutoff) FROM cutoffs)\n"
        f"      AND e.occurred_at >= (SELECT min(cutoff) FROM cutoffs) - INTERVAL {days} DAY\n"
        "    ) e CROSS JOIN grid g"
    )
