"""One small SQL compiler per feature kind, registered by kind.

A compiler turns one feature of its kind into a SQL expression over the relations the query
assembles (:mod:`leadscore.features.sql`): ``lt`` (the label times), ``p`` (static profile
columns), ``c`` (the contact), ``cw`` (windowed event counts), ``rec`` (latest event times) and
``acct``/``acct_sql`` (account measures). It asks the shared :class:`Parts` for what it needs
(``parts.count_in(...)``, ``parts.latest(...)``, ...): the parts add the columns and CTEs once.

Adding a feature kind: a model in :mod:`leadscore.features.definition` and one function here
decorated with ``@compiles("kind")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadscore.features.definition import (
    AccountFeature,
    ActiveDaysFeature,
    AnyEventFeature,
    AttributeFeature,
    DaysSinceFeature,
    EventCountFeature,
    Rules,
    TitleRule,
    TrendFeature,
)
from leadscore.sql import quote_literal

__all__ = [
    "COMPILERS",
    "Compiled",
    "Parts",
    "compiles",
    "days_between",
    "in_list",
    "lit",
    "timestamp",
]

US_PER_DAY = 86_400_000_000
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")
_NOT_WORD = "[^a-z0-9à-ÿ]"


def timestamp(value: datetime) -> str:
    """``value`` (naive) as a SQL timestamp literal, to the microsecond."""
    return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}'"


def lit(value: str) -> str:
    """A SQL string literal (one quoting helper: `leadscore.sql.quote_literal`)."""
    return quote_literal(value)


def in_list(values: tuple[str, ...] | list[str]) -> str:
    """A parenthesised list of string literals."""
    return "(" + ", ".join(lit(v) for v in values) + ")"


def days_between(earlier: str, later: str) -> str:
    """Whole days elapsed from ``earlier`` to ``later`` (exact, microsecond based)."""
    return f"CAST(floor(date_diff('microsecond', {earlier}, {later}) / {US_PER_DAY}) AS BIGINT)"


def _types(event_types: tuple[Any, ...], column: str = "e.event_type") -> str | None:
    """The condition on ``column`` selecting ``event_types`` (``None``: every event)."""
    if not event_types:
        return None
    return f"{column} IN {in_list(sorted({str(t.value) for t in event_types}))}"


def _filtered(aggregate: str, condition: str | None) -> str:
    return f"{aggregate} FILTER (WHERE {condition})" if condition else aggregate


def _per_types(
    table: str, column: str, event_types: tuple[Any, ...], *, latest: bool = False
) -> str:
    """The many- and one-cutoff forms' aggregate of ``table.column`` over the rows (one per event
    type) of ``event_types``: the latest (``latest``) or the sum of counts, a ``CASE`` inside the
    aggregate rather than a ``FILTER`` (DuckDB runs a ``FILTER`` aggregate as a selection per
    aggregate and chunk: ~0.3 CPU-s of a 100k-contact, 12-cutoff query over ~45 such columns;
    ~3 % of the one-cutoff query of 164k contacts).
    For one event type, a count is the ``max`` of its group's one row of that type (a
    (contact, cutoff, event type) group of ``cw_type``). Same values: other types' rows give
    NULL, which aggregates skip; NULL without a row of the types, as with ``FILTER``."""
    condition = _types(event_types, f"{table}.event_type")
    if condition is None:
        return f"{'max' if latest else 'sum'}({table}.{column})"
    one = latest or len({str(t.value) for t in event_types}) == 1
    return f"{'max' if one else 'sum'}(CASE WHEN {condition} THEN {table}.{column} END)"


@dataclass
class Aggregates:
    """Named aggregate expressions, deduplicated by their SQL text."""

    prefix: str
    exprs: dict[str, str] = field(default_factory=dict)

    def add(self, sql: str) -> str:
        if sql not in self.exprs:
            self.exprs[sql] = f"{self.prefix}{len(self.exprs)}"
        return self.exprs[sql]

    def select_list(self) -> str:
        return "".join(f",\n    {sql} AS {alias}" for sql, alias in self.exprs.items())


_DAY_BITS = 62
"""Days per BIGINT mask word of the single-cutoff distinct-days count (shifts stay below the
sign bit)."""


@dataclass
class Parts:
    """What the compiled features need from the query; filled as features are compiled.

    Windowed measures go in two steps: per (contact, cutoff, event type), event counts per day
    range (``band``), then per (contact, cutoff), sums over the event types of each feature
    (``win``). Recency: latest event time per (contact, interval, event type), then per type
    set (``rec``).
    """

    lookback: int
    rules: Rules
    band: Aggregates = field(default_factory=lambda: Aggregates("_b"))
    win: Aggregates = field(default_factory=lambda: Aggregates("_w"))
    rec: Aggregates = field(default_factory=lambda: Aggregates("_r"))
    previous: dict[str, str] = field(default_factory=dict)
    windows: set[int] = field(default_factory=set)
    account_windows: set[int] = field(default_factory=set)
    profile: list[str] = field(default_factory=list)
    uses_contact: bool = False
    uses_account: bool = False
    grid: bool = False
    """A compiled feature reads the cutoff grid (``anchor``, ``cut``) of the query."""
    many_cutoffs: bool = False
    """The query takes several cutoffs at once: prefer plans that read each event once."""
    one_cutoff: bool = False
    """The query takes exactly one cutoff: every event read is before it (see
    :meth:`distinct_days`)."""
    at: datetime | None = None
    """With :attr:`one_cutoff`: that cutoff itself (naive UTC), written as a constant: the
    windows are bounds on the event times (see :meth:`since`), with no grid days."""
    values: dict[str, list[str]] = field(default_factory=dict)
    """Per base-profile column: expressions of that column alone, computed once per distinct
    value (see :meth:`value_column`)."""
    latest_by: Aggregates = field(default_factory=lambda: Aggregates("_l"))
    event_columns: set[str] = field(default_factory=set)
    raw_profile: dict[str, str] = field(default_factory=dict)
    ctes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def count_in(
        self, event_types: tuple[Any, ...], days: int, until: int = 0, where: str | None = None
    ) -> str:
        """Column of ``cw``: events of ``event_types`` in ``[cutoff - days, cutoff - until)``
        (``where``: a further condition on the event ``e``)."""
        self.windows.add(days)
        upper = f" AND {self.since(until, before=True)}" if until else ""
        more = f" AND {where}" if where else ""
        counts = self.band.add(f"count(*) FILTER (WHERE {self.since(days)}{upper}{more})")
        if self.many_cutoffs or self.one_cutoff:
            return self.win.add(_per_types("s", counts, event_types))
        return self.win.add(_filtered(f"sum(s.{counts})", _types(event_types, "s.event_type")))

    def since(self, days: int, *, before: bool = False) -> str:
        """The condition on an event ``e`` of ``cw_type``: at most ``days`` days before its
        cutoff (in the window ``[cutoff - days, cutoff)``, every event read being before the
        cutoff), or (``before``) earlier than that. On the grid, its day ``d`` against the
        cutoff's day ``dc`` minus ``days``; with :attr:`at`, its time against ``at`` minus
        ``days`` days: the same events (``d >= dc - days`` iff ``occurred_at >= cutoff - days
        * 24 h``, the grid's days starting at the cutoff's time of day), without day numbers."""
        op = "<" if before else ">="
        if self.at is None:
            return f"e.d {op} m.dc - {days}"
        return f"e.occurred_at {op} {timestamp(self.at)} - INTERVAL {days} DAY"

    def distinct_days(self, event_types: tuple[Any, ...], days: int) -> str:
        """Column of ``cw``: calendar days with an event of ``event_types`` in the window.

        An event counts when it is the first of its calendar day in the window: the previous
        event of the same types (in time order, ties in any order) is on an earlier day or
        before the window. Exactly one event per active day, whatever the cutoff's time of
        day, without a DISTINCT aggregate.
        """
        self.windows.add(days)
        if self.one_cutoff:
            return self._distinct_days_one_cutoff(event_types, days)
        condition = _types(event_types) or "TRUE"
        if condition not in self.previous:
            self.previous[condition] = f"_prev{len(self.previous)}"
        prev = f"e.{self.previous[condition]}"
        counts = self.band.add(
            f"count(*) FILTER (WHERE e.d >= m.dc - {days} AND ({prev} IS NULL"
            f" OR CAST({prev} AS DATE) < CAST(e.occurred_at AS DATE)"
            f" OR {prev} < m.cutoff - INTERVAL {days} DAY))"
        )
        if self.many_cutoffs:
            return self.win.add(_per_types("s", counts, event_types))
        return self.win.add(_filtered(f"sum(s.{counts})", _types(event_types, "s.event_type")))

    def _distinct_days_one_cutoff(self, event_types: tuple[Any, ...], days: int) -> str:
        """:meth:`distinct_days` at a single cutoff, without the previous event (a window
        sorting every event): the calendar days of the window's events are ``k`` = 0 (the
        cutoff's day) to ``days`` days before the cutoff's day, each a bit of a mask
        (``bit_or`` per event type, then over the feature's types), counted with
        ``bit_count``; ``_DAY_BITS`` days per BIGINT word. Exact: every event read is before
        the cutoff (``k >= 0``)."""
        day = "CAST(m.cutoff AS DATE)" if self.at is None else f"DATE '{self.at.date()}'"
        k = f"date_diff('day', CAST(e.occurred_at AS DATE), {day})"
        words = days // _DAY_BITS + 1  # k in 0..days
        counts = []
        for j in range(words):
            low = f" AND {k} >= {j * _DAY_BITS}" if j else ""
            high = f" AND {k} < {(j + 1) * _DAY_BITS}" if j < words - 1 else ""
            mask = self.band.add(
                f"bit_or(CAST(1 AS BIGINT) << ({k} % {_DAY_BITS}))"
                f" FILTER (WHERE {self.since(days)}{low}{high})"
            )
            types = _types(event_types, "s.event_type")
            merged = f"bit_or({f'CASE WHEN {types} THEN s.{mask} END' if types else f's.{mask}'})"
            counts.append(f"coalesce(CAST(bit_count({merged}) AS BIGINT), 0)")
        return self.win.add(" + ".join(counts))

    def latest(self, event_types: tuple[Any, ...], where: str | None = None) -> str:
        """Column of ``rec``: the latest event time of ``event_types`` before the cutoff
        (``where``: a further condition on the event ``e``)."""
        column = (
            "latest"
            if where is None
            else self.latest_by.add(_filtered("max(e.occurred_at)", where))
        )
        if self.many_cutoffs or self.one_cutoff:
            return self.rec.add(_per_types("r", column, event_types, latest=True))
        return self.rec.add(_filtered(f"max(r.{column})", _types(event_types, "r.event_type")))

    def raw_column(self, table: str, column: str) -> str:
        """Name, in the base profile, of ``column`` of ``table`` (contacts or accounts)."""
        source = f'{"c" if table == "contacts" else "a"}."{column}"'
        if source not in self.raw_profile:
            self.raw_profile[source] = f"_x{len(self.raw_profile)}"
        return self.raw_profile[source]

    def cte(self, key: str, make: Callable[[], str]) -> str:
        """Alias of a CTE with ``contact_id, cutoff`` left-joined onto ``lt``, made once per
        ``key`` (``make()`` returns its query)."""
        if key not in self.ctes:
            self.ctes[key] = (f"_q{len(self.ctes)}", make())
        return self.ctes[key][0]

    def value_column(self, column: str, sql: str, missing: str) -> str:
        """``sql`` over the base profile's ``column`` alone, computed once per distinct value
        (the ``v_<column>`` relation, joined on the value) rather than once per contact: for
        the regex rules and the string normalisations. ``missing``: the value of ``sql`` when
        ``column`` is NULL (a SQL literal); ``sql`` is never NULL otherwise."""
        alias = f"_v{sum(len(v) for v in self.values.values())}"
        self.values.setdefault(column, []).append(f"{sql} AS {alias}")
        return f"coalesce(v_{column}.{alias}, {missing})"

    def profile_column(self, sql: str) -> str:
        """Column of ``p``: ``sql`` over the base profile (see :func:`base_profile`)."""
        alias = f"_p{len(self.profile)}"
        self.profile.append(f"{sql} AS {alias}")
        return f"p.{alias}"


@dataclass(frozen=True)
class Compiled:
    """A feature's SQL expression; ``double``: a numeric feature computed as DOUBLE."""

    expr: str
    double: bool = False


Compiler = Callable[[Any, Parts], Compiled]
COMPILERS: dict[str, Compiler] = {}
"""Feature kind -> compiler."""


def compiles(kind: str) -> Callable[[Compiler], Compiler]:
    """Register the decorated function as the compiler of feature ``kind``."""

    def register(function: Compiler) -> Compiler:
        COMPILERS[kind] = function
        return function

    return register


# --- attribute ------------------------------------------------------------------------------


def _title_case(rules: tuple[TitleRule, ...], column: str) -> str:
    """First matching rule wins; whole words only (portable RE2 / Java regex subset)."""
    text = f"lower(trim({column}))"
    branches = [f"WHEN {column} IS NULL OR trim({column}) = '' THEN 'unknown'"]
    for rule in rules:
        words = "|".join(
            "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in w) for w in rule.words
        )
        pattern = f"(^|{_NOT_WORD})({words})($|{_NOT_WORD})"
        branches.append(f"WHEN regexp_matches({text}, {lit(pattern)}) THEN {lit(rule.value)}")
    return "CASE " + " ".join(branches) + " ELSE 'other' END"


def _label_map(mapping: dict[str, tuple[str, ...]], column: str) -> str:
    text = f"lower(trim({column}))"
    branches = [f"WHEN {column} IS NULL OR trim({column}) = '' THEN 'unknown'"]
    for canonical, labels in mapping.items():
        values = sorted({canonical.lower(), *(label.strip().lower() for label in labels)})
        branches.append(f"WHEN {text} IN {in_list(values)} THEN {lit(canonical)}")
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
        branches.append(f"WHEN {column} < {bound!r} THEN {lit(label)}")
        lower = bound
    last = f"{fmt(lower)}+" if lower is not None else "any"
    return "CASE " + " ".join(branches) + f" ELSE {lit(last)} END"


def industries(rules: Rules) -> str:
    """The normalised industry (``v``) of each distinct industry label (``k``) of the
    accounts: the base profile joins it rather than normalising every contact's label."""
    return (
        f"SELECT industry AS k, {_label_map(rules.industries, 'industry')} AS v\n"
        "  FROM (SELECT DISTINCT industry FROM accounts WHERE industry IS NOT NULL) x"
    )


def base_profile(rules: Rules, raw: dict[str, str] | None = None) -> str:
    """Per-contact base columns (one row per contact): normalised industry (from the
    ``industries`` relation, see :func:`industries`) and country, and the ``raw`` columns
    (``c."x"``/``a."x"`` -> alias) custom features read."""
    country = "coalesce(upper(trim(a.country)), upper(trim(c.country)))"
    extra = "".join(f", {source} AS {alias}" for source, alias in (raw or {}).items())
    return (
        f"SELECT c.contact_id, coalesce(i.v, 'unknown') AS industry, {country} AS country,"
        f" a.employee_count, a.annual_revenue, c.job_title, c.email_domain, c.lead_source{extra}\n"
        "  FROM contacts c LEFT JOIN accounts a ON a.account_id = c.account_id"
        " LEFT JOIN industries i ON i.k = a.industry"
    )


def _region(rules: Rules) -> str:
    branches = ["WHEN country IS NULL THEN 'unknown'"]
    branches += [
        f"WHEN country IN {in_list(list(codes))} THEN {lit(region)}"
        for region, codes in rules.regions.items()
        if codes
    ]
    return "CASE " + " ".join(branches) + " ELSE 'other' END"


def _target_size(rules: Rules) -> str:
    target = rules.target
    low = target.min_employees if target.min_employees is not None else 0
    high = f" AND employee_count <= {target.max_employees}" if target.max_employees else ""
    return f"coalesce(employee_count >= {low}{high}, false)"


def _email_domain_kind(rules: Rules) -> str:
    domain = "lower(trim(email_domain))"
    webmail = in_list(list(rules.email_domains.webmail) or [""])
    disposable = in_list(list(rules.email_domains.disposable) or [""])
    return (
        "CASE WHEN email_domain IS NULL OR trim(email_domain) = '' THEN 'missing' "
        f"WHEN {domain} IN {disposable} THEN 'disposable' "
        f"WHEN {domain} IN {webmail} THEN 'webmail' ELSE 'corporate' END"
    )


_STATIC_ATTRIBUTES: dict[str, Callable[[Rules], str]] = {
    "industry": lambda r: "industry",
    "employee_band": lambda r: _bands(
        tuple(float(b) for b in r.employee_bands), "employee_count", money=False
    ),
    "revenue_band": lambda r: _bands(r.revenue_bands, "annual_revenue", money=True),
    "country": lambda r: "coalesce(country, 'unknown')",
    "region": _region,
    "is_target_industry": lambda r: f"industry IN {in_list(list(r.target.industries) or [''])}",
    "is_out_of_target_industry": lambda r: (
        f"industry IN {in_list(list(r.target.out_of_target_industries) or [''])}"
    ),
    "is_target_size": _target_size,
    "is_target_country": lambda r: (
        f"coalesce(country IN {in_list(list(r.target.countries) or [''])}, false)"
    ),
    "seniority": lambda r: _title_case(r.seniority, "job_title"),
    "department": lambda r: _title_case(r.department, "job_title"),
    "email_domain_kind": _email_domain_kind,
    "lead_source": lambda r: _label_map(r.lead_sources, "lead_source"),
}
"""Static attributes: SQL over the base profile columns (see :func:`base_profile`)."""

_PER_VALUE: dict[str, tuple[str, str]] = {
    "seniority": ("job_title", "'unknown'"),
    "department": ("job_title", "'unknown'"),
    "email_domain_kind": ("email_domain", "'missing'"),
    "lead_source": ("lead_source", "'unknown'"),
}
"""Static attributes of one base-profile column alone -> (column, value without one):
computed per distinct value of the column."""


def _days_since_mql(parts: Parts) -> str:
    days = days_between("lt.last_mql", "lt.cutoff")
    lookback = parts.lookback
    return f"CASE WHEN lt.last_mql IS NULL THEN {lookback} ELSE least({days}, {lookback}) END"


_DYNAMIC_ATTRIBUTES: dict[str, Callable[[Parts], str]] = {
    "contact_age_days": lambda parts: days_between("c.created_at", "lt.cutoff"),
    "is_mql": lambda parts: "lt.last_mql IS NOT NULL",
    "days_since_mql": _days_since_mql,
}
"""Attributes that depend on the cutoff (contact age, MQL status from the label times)."""


@compiles("attribute")
def _attribute(f: AttributeFeature, parts: Parts) -> Compiled:
    if f.attribute in _DYNAMIC_ATTRIBUTES:
        parts.uses_contact = parts.uses_contact or f.attribute == "contact_age_days"
        return Compiled(_DYNAMIC_ATTRIBUTES[f.attribute](parts))
    sql = _STATIC_ATTRIBUTES[f.attribute](parts.rules)
    if f.attribute in _PER_VALUE:
        sql = parts.value_column(*_PER_VALUE[f.attribute][:1], sql, _PER_VALUE[f.attribute][1])
    return Compiled(parts.profile_column(sql))


# --- behaviour ------------------------------------------------------------------------------


@compiles("event_count")
def _event_count(f: EventCountFeature, parts: Parts) -> Compiled:
    return Compiled(f"coalesce(cw.{parts.count_in(f.event_types, f.window or parts.lookback)}, 0)")


@compiles("days_since")
def _days_since(f: DaysSinceFeature, parts: Parts) -> Compiled:
    alias = parts.latest(f.event_types)
    days = days_between(f"rec.{alias}", "lt.cutoff")
    lookback = parts.lookback
    return Compiled(
        f"CASE WHEN rec.{alias} IS NULL THEN {lookback} ELSE least({days}, {lookback}) END"
    )


@compiles("active_days")
def _active_days(f: ActiveDaysFeature, parts: Parts) -> Compiled:
    window = f.window or parts.lookback
    return Compiled(f"coalesce(cw.{parts.distinct_days(f.event_types, window)}, 0)")


@compiles("trend")
def _trend(f: TrendFeature, parts: Parts) -> Compiled:
    recent, base = f.recent_days, f.baseline_days
    r = parts.count_in(f.event_types, recent)
    b = parts.count_in(f.event_types, recent + base, until=recent)
    return Compiled(
        f"CAST(coalesce(cw.{r}, 0) AS DOUBLE) - CAST(coalesce(cw.{b}, 0) AS DOUBLE) "
        f"* CAST({recent} AS DOUBLE) / CAST({base} AS DOUBLE)",
        double=True,
    )


@compiles("any_event")
def _any_event(f: AnyEventFeature, parts: Parts) -> Compiled:
    # any event in [cutoff - lookback, cutoff) iff the latest one before the cutoff is at or
    # after cutoff - lookback
    alias = parts.latest(f.event_types)
    return Compiled(f"coalesce(rec.{alias} >= lt.cutoff - INTERVAL {parts.lookback} DAY, false)")


# --- account --------------------------------------------------------------------------------


def _engaged_other_contacts(window: int, parts: Parts) -> str:
    own = parts.count_in((), window)
    return (
        f"coalesce(acct.engaged_{window}, 0) - "
        f"CASE WHEN coalesce(cw.{own}, 0) > 0 THEN 1 ELSE 0 END"
    )


_ACCOUNT_MEASURES: dict[str, Callable[[int, Parts], str]] = {
    "known_contacts": lambda w, parts: "coalesce(acct.n_members, 1) - 1",
    "has_other_sql": lambda w, parts: "coalesce(acct_sql.n_sql, 0) > 0",
    "events": lambda w, parts: f"coalesce(acct.events_{w}, 0)",
    "engaged_other_contacts": _engaged_other_contacts,
}


@compiles("account")
def _account(f: AccountFeature, parts: Parts) -> Compiled:
    parts.uses_account = True
    window = f.window or parts.lookback
    if f.measure in ("events", "engaged_other_contacts"):
        parts.account_windows.add(window)
    return Compiled(_ACCOUNT_MEASURES[f.measure](window, parts))
