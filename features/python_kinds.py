"""Python evaluators of the built-in feature kinds, each the mirror of its SQL compiler in
:mod:`leadscore.features.compilers` (same names; read them side by side)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from leadscore.features.compilers import _human
from leadscore.features.definition import (
    AccountFeature,
    ActiveDaysFeature,
    AnyEventFeature,
    AttributeFeature,
    DaysSinceFeature,
    EventCountFeature,
    FeatureDefinition,
    Rules,
    TitleRule,
    TrendFeature,
)
from leadscore.features.python_eval import (
    _SQL,
    US_PER_DAY,
    Context,
    Lead,
    RowFunction,
    evaluates,
    type_mask,
)
from leadscore.features.python_text import duck_lower, duck_trim, duck_upper, title_pattern

__all__: list[str] = []


def norm(value: Any) -> str | None:
    """``lower(trim(value))`` of a text (``None`` stays ``None``)."""
    return None if value is None else duck_lower(duck_trim(value))


def _blank(value: Any) -> bool:
    """``value IS NULL OR trim(value) = ''``."""
    return value is None or duck_trim(value) == ""


# --- attribute: the base profile ----------------------------------------------------------


def _account_value(lead: Lead, column: str) -> Any:
    return None if lead.account is None else lead.account.get(column)


def _country(lead: Lead) -> str | None:
    """``coalesce(upper(trim(a.country)), upper(trim(c.country)))``."""
    for value in (_account_value(lead, "country"), lead.contact.get("country")):
        if value is not None:
            return duck_upper(duck_trim(value))
    return None


def _label_map(mapping: dict[str, tuple[str, ...]]) -> Callable[[Any], str]:
    lookup: dict[str, str] = {}
    for canonical, labels in mapping.items():
        for value in {canonical.lower(), *(label.strip().lower() for label in labels)}:
            lookup.setdefault(value, canonical)  # the first CASE branch wins

    def label(value: Any) -> str:
        if _blank(value):
            return "unknown"
        return lookup.get(duck_lower(duck_trim(value)), "other")

    return label


def _industry(rules: Rules) -> Callable[[Lead], str]:
    label = _label_map(rules.industries)
    return lambda lead: label(_account_value(lead, "industry"))


def _title_case(rules: tuple[TitleRule, ...]) -> Callable[[Lead], str]:
    tests = [(title_pattern(rule.words), rule.value) for rule in rules]

    def case(lead: Lead) -> str:
        title = lead.contact.get("job_title")
        if title is None or _blank(title):
            return "unknown"
        text = duck_lower(duck_trim(title))
        return next((value for pattern, value in tests if pattern.search(text)), "other")

    return case


def _bands(bounds: tuple[float, ...], column: str, *, money: bool) -> Callable[[Lead], str]:
    fmt = _human if money else (lambda n: f"{n:g}")
    labels: list[tuple[float, str]] = []
    lower: float | None = None
    for bound in bounds:
        if lower is None:
            text = f"<{fmt(bound)}"
        else:
            text = f"{fmt(lower)}-{fmt(bound)}" if money else f"{fmt(lower)}-{fmt(bound - 1)}"
        labels.append((bound, text))
        lower = bound
    last = f"{fmt(lower)}+" if lower is not None else "any"

    def band(lead: Lead) -> str:
        value = _account_value(lead, column)
        if value is None:
            return "unknown"
        return next((text for bound, text in labels if value < bound), last)

    return band


def _country_or_unknown(lead: Lead) -> str:
    """``coalesce(country, 'unknown')`` (an empty country stays empty)."""
    country = _country(lead)
    return "unknown" if country is None else country


def _region(rules: Rules) -> Callable[[Lead], str]:
    regions = [(region, set(codes)) for region, codes in rules.regions.items() if codes]

    def region(lead: Lead) -> str:
        country = _country(lead)
        if country is None:
            return "unknown"
        return next((name for name, codes in regions if country in codes), "other")

    return region


def _target_size(rules: Rules) -> Callable[[Lead], bool]:
    target = rules.target
    low = target.min_employees if target.min_employees is not None else 0
    high = target.max_employees

    def fits(lead: Lead) -> bool:
        count = _account_value(lead, "employee_count")
        if count is None:
            return False
        return bool(count >= low and (not high or count <= high))

    return fits


def _email_domain_kind(rules: Rules) -> Callable[[Lead], str]:
    webmail = set(rules.email_domains.webmail or [""])
    disposable = set(rules.email_domains.disposable or [""])

    def kind(lead: Lead) -> str:
        domain = lead.contact.get("email_domain")
        if domain is None or _blank(domain):
            return "missing"
        text = duck_lower(duck_trim(domain))
        if text in disposable:
            return "disposable"
        return "webmail" if text in webmail else "corporate"

    return kind


def _in_industries(values: tuple[str, ...], rules: Rules) -> Callable[[Lead], bool]:
    industry, wanted = _industry(rules), set(values or [""])
    return lambda lead: industry(lead) in wanted


def _target_country(rules: Rules) -> Callable[[Lead], bool]:
    wanted = set(rules.target.countries or [""])
    return lambda lead: _country(lead) in wanted


def _lead_source(rules: Rules) -> Callable[[Lead], str]:
    label = _label_map(rules.lead_sources)
    return lambda lead: label(lead.contact.get("lead_source"))


_STATIC: dict[str, Callable[[Rules], Callable[[Lead], Any]]] = {
    "industry": _industry,
    "employee_band": lambda r: _bands(
        tuple(float(b) for b in r.employee_bands), "employee_count", money=False
    ),
    "revenue_band": lambda r: _bands(r.revenue_bands, "annual_revenue", money=True),
    "country": lambda r: _country_or_unknown,
    "region": _region,
    "is_target_industry": lambda r: _in_industries(r.target.industries, r),
    "is_out_of_target_industry": lambda r: _in_industries(r.target.out_of_target_industries, r),
    "is_target_size": _target_size,
    "is_target_country": _target_country,
    "seniority": lambda r: _title_case(r.seniority),
    "department": lambda r: _title_case(r.department),
    "email_domain_kind": _email_domain_kind,
    "lead_source": _lead_source,
}


def _capped_days(ctx: Context, moment: int | None) -> int:
    """``CASE WHEN moment IS NULL THEN lookback ELSE least(days, lookback) END``."""
    if moment is None:
        return ctx.lookback
    return min(ctx.days_between(moment), ctx.lookback)


_MQL = ("mql",)
_DYNAMIC: dict[str, RowFunction] = {
    "contact_age_days": lambda ctx, lead: ctx.days_between(lead.created),
    "is_mql": lambda ctx, lead: lead.last_stage(_MQL, ctx.cutoff) is not None,
    "days_since_mql": lambda ctx, lead: _capped_days(ctx, lead.last_stage(_MQL, ctx.cutoff)),
}


@evaluates("attribute")
def _attribute(f: AttributeFeature, definition: FeatureDefinition) -> RowFunction:
    if f.attribute in _DYNAMIC:
        return _DYNAMIC[f.attribute]
    static = _STATIC[f.attribute](definition.rules)
    return lambda ctx, lead: static(lead)


# --- behaviour ------------------------------------------------------------------------------


@evaluates("event_count")
def _event_count(f: EventCountFeature, definition: FeatureDefinition) -> RowFunction:
    types, days = type_mask(f.event_types), f.window or definition.lookback_days
    return lambda ctx, lead: ctx.count(lead, types, days)


@evaluates("days_since")
def _days_since(f: DaysSinceFeature, definition: FeatureDefinition) -> RowFunction:
    types = type_mask(f.event_types)
    return lambda ctx, lead: _capped_days(ctx, ctx.latest(lead, types[lead.codes]))


@evaluates("active_days")
def _active_days(f: ActiveDaysFeature, definition: FeatureDefinition) -> RowFunction:
    types, days = type_mask(f.event_types), f.window or definition.lookback_days

    def active(ctx: Context, lead: Lead) -> int:
        chosen = lead.occurred[ctx.window(lead, days) & types[lead.codes]]
        return int(np.unique(chosen // US_PER_DAY).size)  # calendar days (UTC)

    return active


@evaluates("trend")
def _trend(f: TrendFeature, definition: FeatureDefinition) -> RowFunction:
    types, recent, base = type_mask(f.event_types), f.recent_days, f.baseline_days

    def trend(ctx: Context, lead: Lead) -> float:
        r = ctx.count(lead, types, recent)
        b = ctx.count(lead, types, recent + base, until=recent)
        return float(r) - float(b) * float(recent) / float(base)

    return trend


@evaluates("any_event")
def _any_event(f: AnyEventFeature, definition: FeatureDefinition) -> RowFunction:
    types = type_mask(f.event_types)
    return lambda ctx, lead: ctx.latest(lead, types[lead.codes]) is not None


# --- account --------------------------------------------------------------------------------

_ALL = type_mask(())


def _known(ctx: Context, lead: Lead, window: int) -> int:
    members = ctx.members(lead)
    return len(members) - 1 if members else 0


def _has_other_sql(ctx: Context, lead: Lead, window: int) -> bool:
    return any(m.last_stage(_SQL, ctx.cutoff) is not None for m in ctx.members(lead))


def _events(ctx: Context, lead: Lead, window: int) -> int:
    return sum(ctx.count(m, _ALL, window) for m in ctx.members(lead))


def _engaged_other(ctx: Context, lead: Lead, window: int) -> int:
    engaged = sum(1 for m in ctx.members(lead) if ctx.count(m, _ALL, window) > 0)
    return engaged - (1 if ctx.count(lead, _ALL, window) > 0 else 0)


_ACCOUNT: dict[str, Callable[[Context, Lead, int], Any]] = {
    "known_contacts": _known,
    "has_other_sql": _has_other_sql,
    "events": _events,
    "engaged_other_contacts": _engaged_other,
}


@evaluates("account")
def _account(f: AccountFeature, definition: FeatureDefinition) -> RowFunction:
    measure, window = _ACCOUNT[f.measure], f.window or definition.lookback_days
    return lambda ctx, lead: measure(ctx, lead, window)
