"""The one declarative feature definition: typed models, the built-in catalog, user overrides.

A :class:`FeatureDefinition` names every feature (its kind and parameters, concept, type and
explanation template) and holds the rules derived features use (title words, email domains,
industry labels, bands, regions, target segment). It is data: :mod:`leadscore.features.sql`
turns it into SQL and the engines execute that SQL. Users subset or extend the built-in
catalog with a YAML file parsed into :class:`FeatureConfig`, never by editing code.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadscore.config import format_validation_error, read_yaml_mapping
from leadscore.contract import EventType
from leadscore.errors import FeatureDefinitionError
from leadscore.features.burst import BurstFeature
from leadscore.features.custom_kinds import (
    ColumnFeature,
    EventPropertyFeature,
    expand_values,
    needs_window,
)
from leadscore.features.feature_base import Concept, FeatureType
from leadscore.features.feature_base import FeatureBase as _FeatureBase

__all__ = [
    "ACCOUNT_MEASURES",
    "ATTRIBUTES",
    "AccountFeature",
    "ActiveDaysFeature",
    "AnyEventFeature",
    "AttributeFeature",
    "ColumnFeature",
    "Concept",
    "DaysSinceFeature",
    "EventCountFeature",
    "EventPropertyFeature",
    "Feature",
    "FeatureConfig",
    "FeatureDefinition",
    "FeatureType",
    "Rules",
    "TitleRule",
    "TrendFeature",
    "load_definition",
]

MAX_LOOKBACK_DAYS = 3650

ATTRIBUTES: tuple[str, ...] = (
    "industry",
    "employee_band",
    "revenue_band",
    "country",
    "region",
    "is_target_industry",
    "is_out_of_target_industry",
    "is_target_size",
    "is_target_country",
    "seniority",
    "department",
    "email_domain_kind",
    "lead_source",
    "contact_age_days",
    "is_mql",
    "days_since_mql",
)
"""Profile and lifecycle attributes an ``attribute`` feature can expose."""

ACCOUNT_MEASURES: tuple[str, ...] = (
    "engaged_other_contacts",
    "events",
    "known_contacts",
    "has_other_sql",
)
"""Account-level (buying committee) measures an ``account`` feature can expose."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeFeature(_FeatureBase):
    """A profile or lifecycle attribute (see :data:`ATTRIBUTES`)."""

    kind: Literal["attribute"]
    attribute: str

    @field_validator("attribute")
    @classmethod
    def _check_attribute(cls, value: str) -> str:
        if value not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {value!r}; allowed: {', '.join(ATTRIBUTES)}")
        return value


class EventCountFeature(_FeatureBase):
    """Number of events of ``event_types`` (all types when empty) in the window."""

    kind: Literal["event_count"]
    event_types: tuple[EventType, ...] = ()


class DaysSinceFeature(_FeatureBase):
    """Whole days since the last event of ``event_types``, capped at ``lookback_days``."""

    kind: Literal["days_since"]
    event_types: tuple[EventType, ...] = ()


class ActiveDaysFeature(_FeatureBase):
    """Distinct calendar days (UTC) with at least one event in the window."""

    kind: Literal["active_days"]
    event_types: tuple[EventType, ...] = ()


class TrendFeature(_FeatureBase):
    """Events in the last ``recent_days`` minus the expected number from the ``baseline_days``
    before them (baseline count x recent_days / baseline_days)."""

    kind: Literal["trend"]
    event_types: tuple[EventType, ...] = ()
    recent_days: int = Field(7, ge=1)
    baseline_days: int = Field(30, ge=1)


class AnyEventFeature(_FeatureBase):
    """Whether at least one event of ``event_types`` happened in the lookback."""

    kind: Literal["any_event"]
    event_types: tuple[EventType, ...] = ()


class AccountFeature(_FeatureBase):
    """A buying-committee measure of the contact's account as of the cutoff."""

    kind: Literal["account"]
    measure: str

    @field_validator("measure")
    @classmethod
    def _check_measure(cls, value: str) -> str:
        if value not in ACCOUNT_MEASURES:
            raise ValueError(
                f"unknown account measure {value!r}; allowed: {', '.join(ACCOUNT_MEASURES)}"
            )
        return value


Feature = Annotated[
    AttributeFeature
    | EventCountFeature
    | DaysSinceFeature
    | ActiveDaysFeature
    | TrendFeature
    | AnyEventFeature
    | AccountFeature
    | EventPropertyFeature
    | ColumnFeature
    | BurstFeature,
    Field(discriminator="kind"),
]
"""One feature (or a family of features, one per window, before expansion)."""

_WINDOWED = (EventCountFeature, ActiveDaysFeature, BurstFeature)
_ACCOUNT_WINDOWED = ("engaged_other_contacts", "events")


class TitleRule(_Strict):
    """Titles holding one of ``words`` (whole words or phrases, lower case) get ``value``."""

    value: str
    words: tuple[str, ...] = Field(min_length=1)

    @field_validator("words")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(word.strip().lower() for word in value)


class EmailDomains(_Strict):
    webmail: tuple[str, ...] = ()
    disposable: tuple[str, ...] = ()


class TargetSegment(_Strict):
    industries: tuple[str, ...] = ()
    out_of_target_industries: tuple[str, ...] = ()
    min_employees: int | None = None
    max_employees: int | None = None
    countries: tuple[str, ...] = ()


class Rules(_Strict):
    """The data rules derived attributes are computed from (all executed as SQL)."""

    seniority: tuple[TitleRule, ...] = ()
    department: tuple[TitleRule, ...] = ()
    email_domains: EmailDomains = EmailDomains()
    industries: dict[str, tuple[str, ...]] = {}
    lead_sources: dict[str, tuple[str, ...]] = {}
    employee_bands: tuple[int, ...] = ()
    revenue_bands: tuple[float, ...] = ()
    regions: dict[str, tuple[str, ...]] = {}
    target: TargetSegment = TargetSegment()

    @field_validator("employee_bands", "revenue_bands")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError(f"band bounds must be strictly increasing, got {list(value)}")
        return value


class FeatureDefinition(_Strict):
    """The resolved definition: concrete features (windows expanded) and the rules they use."""

    lookback_days: int = Field(365, ge=1, le=MAX_LOOKBACK_DAYS)
    rules: Rules = Rules()
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Feature column names, in output order."""
        return tuple(feature.name for feature in self.features)

    def feature(self, name: str) -> Feature:
        """The feature called ``name``."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise FeatureDefinitionError(
            f"Unknown feature {name!r}. Known features: {', '.join(self.names)}."
        )

    def digest(self) -> str:
        """A stable hash of the whole definition (features and rules)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def describe(self) -> list[dict[str, Any]]:
        """Name, kind, type, concept, window and explanation of every feature (for metadata)."""
        return [
            {
                "name": f.name,
                "kind": f.kind,
                "type": f.type.value,
                "concept": f.concept.value,
                "window_days": f.window,
                "explanation": f.explanation,
            }
            for f in self.features
        ]


class FeatureConfig(_Strict):
    """A user's YAML overriding the built-in catalog (every key optional).

    ``include``/``exclude`` take feature names, family names (``pricing_visits_{window}d``) or
    glob patterns (``email_*``); ``windows`` replaces the windows of a family; ``add`` appends
    new features; ``rules`` replaces whole rule sections; ``lookback_days`` replaces the cap.
    """

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    windows: dict[str, tuple[int, ...]] = {}
    add: tuple[Feature, ...] = ()
    rules: dict[str, Any] = {}
    lookback_days: int | None = None


def _format_validation(error: ValidationError, where: str) -> str:
    return format_validation_error(
        error,
        f"Invalid feature definition ({where}):",
        f"Allowed event types: {', '.join(e.value for e in EventType)}. "
        f"Allowed concepts: {', '.join(c.value for c in Concept)}. "
        f"Allowed types: {', '.join(t.value for t in FeatureType)}.",
    )


def _read_yaml(source: Path | str | Mapping[str, Any], what: str) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    return read_yaml_mapping(Path(source), what, error=FeatureDefinitionError)


def _builtin_catalog() -> dict[str, Any]:
    text = files("leadscore.features").joinpath("catalog.yaml").read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return raw


def _check_windows(spec: Any, lookback: int) -> None:
    has_placeholder = "{window}" in spec.name
    windowed = (
        isinstance(spec, _WINDOWED)
        or (isinstance(spec, AccountFeature) and spec.measure in _ACCOUNT_WINDOWED)
        or needs_window(spec)
    )
    if windowed and not spec.windows:
        raise FeatureDefinitionError(
            f"Feature {spec.name!r} ({spec.kind}) needs a window: set `windows: [30]`."
        )
    if not windowed and spec.windows:
        raise FeatureDefinitionError(
            f"Feature {spec.name!r} ({spec.kind}) takes no window; remove `windows`."
        )
    if len(spec.windows) > 1 and not has_placeholder:
        raise FeatureDefinitionError(
            f"Feature {spec.name!r} has several windows: put '{{window}}' in its name."
        )
    if len(set(spec.windows)) != len(spec.windows):
        raise FeatureDefinitionError(f"Feature {spec.name!r} repeats a window: {spec.windows}.")
    windows = list(spec.windows)
    if isinstance(spec, TrendFeature):
        windows.append(spec.recent_days + spec.baseline_days)
    for window in windows:
        if not 1 <= window <= lookback:
            raise FeatureDefinitionError(
                f"Feature {spec.name!r}: window {window} days is not allowed; windows are whole "
                f"days from 1 to lookback_days={lookback}."
            )


def _expand(specs: list[Any], lookback: int) -> list[Any]:
    concrete: list[Any] = []
    for spec in specs:
        _check_windows(spec, lookback)
        if "{window}" in spec.name:
            for window in spec.windows:
                concrete.append(
                    spec.model_copy(
                        update={
                            "name": spec.name.replace("{window}", str(window)),
                            "windows": (window,),
                        }
                    )
                )
        else:
            concrete.append(spec)
    concrete = [
        one
        for spec in concrete
        for one in (expand_values(spec) if isinstance(spec, EventPropertyFeature) else [spec])
    ]
    names = [f.name for f in concrete]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FeatureDefinitionError(f"Duplicate feature names: {', '.join(duplicates)}.")
    return concrete


def _matches(pattern: str, spec: Any, concrete_names: list[str]) -> list[str]:
    if pattern == spec.name:
        return concrete_names
    return [n for n in concrete_names if fnmatch.fnmatchcase(n, pattern)]


def _select(
    specs: list[Any], include: tuple[str, ...] | None, exclude: tuple[str, ...], lookback: int
) -> list[Any]:
    expanded = {spec.name: [f.name for f in _expand([spec], lookback)] for spec in specs}
    allowed = [n for names in expanded.values() for n in names]

    def resolve(patterns: tuple[str, ...], key: str) -> set[str]:
        chosen: set[str] = set()
        for pattern in patterns:
            hits = [n for spec in specs for n in _matches(pattern, spec, expanded[spec.name])]
            if not hits:
                raise FeatureDefinitionError(
                    f"Unknown feature {pattern!r} in `{key}`. Known features: {', '.join(allowed)}."
                )
            chosen.update(hits)
        return chosen

    keep = resolve(include, "include") if include is not None else set(allowed)
    keep -= resolve(exclude, "exclude")
    concrete = _expand(specs, lookback)
    return [f for f in concrete if f.name in keep]


def _check_added_are_included(config: FeatureConfig, lookback: int) -> None:
    """Refuse an ``add:`` feature that ``include:`` would silently leave out."""
    if config.include is None:
        return
    for spec in config.add:
        names = [f.name for f in _expand([spec], lookback)]
        if not any(_matches(pattern, spec, names) for pattern in config.include):
            raise FeatureDefinitionError(
                f"Feature {spec.name!r} is declared under `add:` but `include:` does not list "
                f"it, so the table would leave it out. Add {spec.name!r} to `include:` (it "
                "lists every feature kept, added ones too), or remove it from `add:`."
            )


def load_definition(
    config: Path | str | Mapping[str, Any] | FeatureConfig | None = None,
    *,
    catalog: Path | str | Mapping[str, Any] | None = None,
) -> FeatureDefinition:
    """The built-in catalog (or ``catalog``), subset and extended by the user ``config``.

    Raises :class:`~leadscore.errors.FeatureDefinitionError` naming any unknown feature, window,
    event type, attribute or key, with the allowed values.
    """
    raw_catalog = _builtin_catalog() if catalog is None else _read_yaml(catalog, "Feature catalog")
    if isinstance(config, FeatureConfig):
        overrides = config
    else:
        raw_config = {} if config is None else _read_yaml(config, "Feature config")
        try:
            overrides = FeatureConfig.model_validate(raw_config)
        except ValidationError as exc:
            raise FeatureDefinitionError(_format_validation(exc, "feature config")) from None
    try:
        base = _CatalogFile.model_validate(raw_catalog)
        rules = base.rules
        if overrides.rules:
            rules = Rules.model_validate({**rules.model_dump(), **overrides.rules})
    except ValidationError as exc:
        raise FeatureDefinitionError(_format_validation(exc, "catalog")) from None
    lookback = overrides.lookback_days or base.lookback_days
    if not 1 <= lookback <= MAX_LOOKBACK_DAYS:
        raise FeatureDefinitionError(
            f"lookback_days={lookback} is not allowed; use 1 to {MAX_LOOKBACK_DAYS} days."
        )
    specs: list[Any] = list(base.features)
    by_name = {spec.name: i for i, spec in enumerate(specs)}
    for family, windows in overrides.windows.items():
        if family not in by_name:
            families = [s.name for s in specs if s.windows]
            raise FeatureDefinitionError(
                f"Unknown feature family {family!r} in `windows`. Families with windows: "
                f"{', '.join(families)}."
            )
        specs[by_name[family]] = specs[by_name[family]].model_copy(
            update={"windows": tuple(windows)}
        )
    specs.extend(overrides.add)
    _check_added_are_included(overrides, lookback)
    features = _select(specs, overrides.include, overrides.exclude, lookback)
    if not features:
        raise FeatureDefinitionError("The feature definition selects no feature at all.")
    return FeatureDefinition(lookback_days=lookback, rules=rules, features=tuple(features))


class _CatalogFile(_Strict):
    lookback_days: int = Field(365, ge=1, le=MAX_LOOKBACK_DAYS)
    rules: Rules = Rules()
    features: tuple[Feature, ...]
