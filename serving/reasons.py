"""Reasons in words: exact SHAP contributions grouped by reason and rendered from the templates of
the feature definition.

Features saying the same thing form one reason group: every window of a behaviour and its
recency (``pricing_visits_7d``, ``pricing_visits_30d``, ``days_since_last_pricing_visit``,
``has_visited_pricing``), the firmographics (industry, size, revenue and their target flags),
the location, the MQL status. A group's effect is the sum of its members' contributions
(log-odds of the SQL head); its sentence is the template of its strongest member in the
direction of the effect, filled with the lead's value, plus at most one supporting member
("company of 200-499 employees, target industry"). Booleans that are false, zero counts and
recency read as absence ("no activity for 45 days") use a negated wording; a false boolean
reads as its feature's own ``negation`` template ("never asked for a demo"), or "not: ..." when
the feature has none.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import pandas as pd

from leadscore.features.definition import Concept, FeatureDefinition, load_definition
from leadscore.serving.reasons_facts import day_fact, pick_distinct

__all__ = [
    "SUBSCORES",
    "Reason",
    "ReasonGroup",
    "ReasonRows",
    "RowReasons",
    "explain_rows",
    "flat_sentences",
    "reason_groups",
    "reasons_as_text",
    "subscores",
]

FloatArray = np.ndarray[Any, Any]

SUBSCORES: dict[str, tuple[Concept, ...]] = {
    "fit": (Concept.PROFILE_FIT,),
    "engagement": (Concept.ENGAGEMENT, Concept.INTENT, Concept.RECENCY, Concept.ACCOUNT_ACTIVITY),
}
"""Sub-scores and the concepts whose contributions they add up (lifecycle counts in neither)."""

_ATTRIBUTE_GROUPS = {
    "industry": "firmographics",
    "is_target_industry": "firmographics",
    "is_out_of_target_industry": "firmographics",
    "employee_band": "firmographics",
    "is_target_size": "firmographics",
    "revenue_band": "firmographics",
    "country": "location",
    "region": "location",
    "is_target_country": "location",
    "is_mql": "mql",
    "days_since_mql": "mql",
}

_EVENT_WORDS = {
    "web_visit": "website visit besides the pricing page",  # pricing visits are their own
    "pricing_page_visit": "pricing-page visit",
    "content_download": "content download",
    "webinar_registration": "webinar activity",
    "webinar_attendance": "webinar activity",
    "email_open": "email open",
    "email_click": "email click",
    "form_fill": "form filled",
    "demo_request": "demo request",
    "chat": "chat",
    "unsubscribe": "unsubscribe",
}

_LABELS = {
    "vp": "VP",
    "c_level": "C",
    "it": "IT",
    "hr": "HR",
    "individual_contributor": "individual-contributor",
    "corporate": "company",
}

_COMBINED_GROUPS = frozenset({"firmographics"})
"""Groups whose sentence may add a supporting member (different facts about the company)."""
_SINGULAR = re.compile(r"s( in the last| at the company| from the company| this week| besides the)")
_ZERO = re.compile(r"(^|\s)0 ")
_MIN_EFFECT = 0.01  # log-odds: smaller group effects are noise, never reported
_SUPPORT_RATIO = 0.25
_RENDER_CACHE = 100_000  # sentences a renderer keeps (distinct feature, value, direction)
_SPARE = 4  # candidates beyond ``top`` per side, to replace reasons repeating a fact


@dataclass(frozen=True)
class ReasonGroup:
    """Features forming one reason: their column indices in the model's input order."""

    key: str
    features: tuple[str, ...]
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Reason:
    """One reason: its sentence, its effect in log-odds (signed) and its group."""

    text: str
    effect: float
    group: str


@dataclass(frozen=True)
class RowReasons:
    """Top positive (descending effect) and negative (most negative first) reasons of a row."""

    positive: tuple[Reason, ...]
    negative: tuple[Reason, ...]


class ReasonRows(Sequence[RowReasons]):
    """Reasons of many rows built on demand: a subclass gives ``__len__`` and ``_row(i)``;
    indexing (ints, negative ints, slices) and iteration come from here."""

    def _row(self, row: int) -> RowReasons:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> RowReasons: ...

    @overload
    def __getitem__(self, index: slice) -> list[RowReasons]: ...

    def __getitem__(self, index: int | slice) -> RowReasons | list[RowReasons]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        return self._row(range(len(self))[index])

    def __iter__(self) -> Iterator[RowReasons]:
        return (self._row(i) for i in range(len(self)))


def _group_key(definition: FeatureDefinition, name: str) -> str:
    try:
        feature = definition.feature(name)
    except Exception:  # a model input the definition does not know: its own group
        return f"feature:{name}"
    if feature.kind == "attribute":
        return _ATTRIBUTE_GROUPS.get(feature.attribute, feature.attribute)
    if feature.kind == "account":
        return f"account:{feature.measure}"
    if feature.kind == "column":
        return f"column:{feature.table}.{feature.column}"
    if feature.kind == "event_property" and feature.measure in ("count", "days_since"):
        return f"property:{feature.property}={(feature.values or ('',))[0]}"
    if feature.kind == "event_property":
        return f"property:{feature.property}:{feature.measure}"
    types = sorted({str(t.value) for t in feature.event_types})
    return "events:" + (",".join(types) if types else "all")


def reason_groups(definition: FeatureDefinition, features: Sequence[str]) -> list[ReasonGroup]:
    """Reason groups of the model inputs ``features`` (in first-appearance order)."""
    members: dict[str, list[tuple[str, int]]] = {}
    for index, name in enumerate(features):
        members.setdefault(_group_key(definition, name), []).append((name, index))
    return [
        ReasonGroup(key, tuple(n for n, _ in items), tuple(i for _, i in items))
        for key, items in members.items()
    ]


def subscores(contributions: FloatArray, concepts: Sequence[str]) -> dict[str, FloatArray]:
    """``fit`` and ``engagement`` sub-scores, 0-100: ``100 * sigmoid(sum of the concept group's
    contributions)``; 50 means the group moves the lead neither up nor down versus the average
    lead, above 50 it pushes the score up."""
    out: dict[str, FloatArray] = {}
    for name, group in SUBSCORES.items():
        wanted = {str(c.value) for c in group}
        columns = [j for j, concept in enumerate(concepts) if concept in wanted]
        total = contributions[:, columns].sum(axis=1) if columns else np.zeros(len(contributions))
        out[name] = np.round(100.0 / (1.0 + np.exp(-total)), 1)
    return out


_HUMAN_DAYS = (
    (re.compile(r"\b0 days ago\b"), "today"),
    (re.compile(r"\b1 days ago\b"), "yesterday"),
    (re.compile(r"\bfor 0 days\b"), "since today"),
    (re.compile(r"\b1 days\b"), "1 day"),
)
_DURATION = re.compile(r"\b\d+ days (ago|\b)|\bfor \d+ days\b")


def humanize_days(text: str) -> str:
    """``0 days ago`` -> ``today``, ``1 days ago`` -> ``yesterday``, ``1 days`` -> ``1 day``."""
    if "days" not in text:  # every pattern says "days"
        return text
    for pattern, words in _HUMAN_DAYS:
        text = pattern.sub(words, text)
    return text


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _label(value: Any) -> str:
    text = str(value)
    return _LABELS.get(text, text.replace("_", " "))


@functools.cache
def _catalog_negations() -> dict[tuple[str, str], str]:
    """Negations of the built-in catalog by (name, explanation): models saved before features
    carried their negation keep their wording."""
    return {
        (f.name, f.explanation): f.negation
        for f in load_definition().features
        if f.negation is not None
    }


def _negated(spec: Any, value: Any) -> str:
    """The sentence of a false boolean: the feature's ``negation`` template, else "not: ..."."""
    template = spec.negation or _catalog_negations().get((spec.name, spec.explanation))
    if template is None:
        return f"not: {spec.explain(value)}"
    return str(template.format(value=value, window=spec.window, label=value))


def _events_phrase(feature: Any) -> str:
    words = list(
        dict.fromkeys(_EVENT_WORDS.get(str(t.value), str(t.value)) for t in feature.event_types)
    )
    return " or ".join(words) if words else "activity"


class _Renderer:
    """Renders one member's sentence, cached by (feature, value, direction)."""

    def __init__(self, definition: FeatureDefinition, features: Sequence[str]) -> None:
        self.lookback = definition.lookback_days
        self.specs: list[Any] = []
        for name in features:
            try:
                self.specs.append(definition.feature(name))
            except Exception:
                self.specs.append(None)
        self.names = list(features)
        self.cache: dict[tuple[int, type, Any, bool], str] = {}

    def render(self, index: int, value: Any, positive: bool) -> str:
        # keyed by the value's type too: 1, 1.0 and True are one dict key but may read
        # differently (a kept renderer sees a column's values across frames of other dtypes)
        known = None if _is_missing(value) else value
        key = (index, type(known), known, positive)
        text = self.cache.get(key)
        if text is None:
            text = humanize_days(self._render(index, value, positive))
            if len(self.cache) >= _RENDER_CACHE:  # a renderer kept across batches stays small
                self.cache.clear()
            self.cache[key] = text
        return text

    def _render(self, index: int, value: Any, positive: bool) -> str:
        spec, name = self.specs[index], self.names[index]
        if spec is None:
            return f"{name.replace('_', ' ')}: {value}"
        if _is_missing(value):
            return f"{name.replace('_', ' ')} unknown"
        if spec.type == "boolean":
            truth = bool(value) if not isinstance(value, str) else value.lower() in ("true", "1")
            return spec.explain(value) if truth else _negated(spec, value)
        if spec.type == "categorical":
            if str(value) in ("unknown", "missing"):
                return f"{name.replace('_', ' ')} unknown"
            return str(spec.explain(value, _label(value)))
        number = float(value)
        if spec.kind == "days_since":
            if number >= self.lookback:
                return f"no {_events_phrase(spec)} in the last {self.lookback} days"
            if not positive:
                return f"no {_events_phrase(spec)} for {number:.0f} days"
        mql_days = spec.kind == "attribute" and spec.attribute == "days_since_mql"
        if mql_days and number >= self.lookback:
            return f"not an MQL in the last {self.lookback} days"
        if spec.kind == "trend":  # a rate difference: a rep counts whole interactions
            number = float(round(number))
            if number == 0:
                return "activity steady this week versus the previous 30 days"
        text = str(spec.explain(number))
        if spec.kind == "trend":
            text = _WHOLE.sub(r"\1", text)
        if _DURATION.search(text):  # "3 days ago", "for 12 days": say it as people do
            return humanize_days(text)
        if number == 0:
            text = _ZERO.sub(r"\1no ", text, count=1)
        elif abs(number) == 1:
            text = _SINGULAR.sub(r"\1", text, count=1)
        return text.replace("up by -", "down by ").replace(" 0 days ago", " today")


_WHOLE = re.compile(r"(\d+)\.0+\b")
"""A whole number printed with decimals ("8.0")."""

_NEVER_AGAINST = frozenset({"events", "engaged_other_contacts"})
"""Account measures (the company's interactions, colleagues active) never given as a reason
against a lead: a colleague's activity helps a lead, and the company's interactions hold the
lead's own ("+ 16 interactions in the last 7 days" beside "- 16 interactions from the company
in the last 30 days" is one fact read both ways). When a model learnt a negative effect, it is
left out of the reasons (the score keeps it)."""


def never_against(definition: FeatureDefinition, groups: Sequence[ReasonGroup]) -> np.ndarray:
    """Per group: whether all its features are account measures of :data:`_NEVER_AGAINST`."""

    def quiet(name: str) -> bool:
        try:
            spec = definition.feature(name)
        except Exception:
            return False
        kind, measure = getattr(spec, "kind", None), getattr(spec, "measure", None)
        return kind == "account" and measure in _NEVER_AGAINST

    return np.array([all(quiet(n) for n in g.features) for g in groups], dtype=bool)


def choosing_effects(
    effects: FloatArray, definition: FeatureDefinition, groups: Sequence[ReasonGroup]
) -> FloatArray:
    """The group effects reasons are chosen from: those of :func:`never_against` groups never
    below zero (so never a negative reason)."""
    mask = never_against(definition, groups)
    if not mask.any():
        return effects
    return np.where(mask[None, :] & (effects < 0), 0.0, effects)


def explain_rows(
    contributions: FloatArray,
    frame: pd.DataFrame,
    features: Sequence[str],
    groups: Sequence[ReasonGroup],
    definition: FeatureDefinition,
    *,
    top: int = 3,
    min_effect: float = _MIN_EFFECT,
    renderer: _Renderer | None = None,
    by_row: bool = False,
) -> list[RowReasons]:
    """Top ``top`` positive and negative reasons per row.

    ``contributions`` is ``(rows, features + 1)`` (last column the base value) in the order of
    ``features``; ``frame`` holds the raw feature values (same rows, same order). ``renderer``:
    one kept across calls (of the same definition and features), whose sentences are cached.
    ``by_row``: the group effects of each row computed alone (bit for bit those of a one-row
    call: a matrix product of many rows may sum in another order).
    """
    n = contributions.shape[0]
    matrix = np.zeros((len(features), len(groups)))
    for g, group in enumerate(groups):
        matrix[list(group.indices), g] = 1.0
    own = contributions[:, : len(features)]
    grouped = (
        np.concatenate([own[i : i + 1] @ matrix for i in range(n)])
        if by_row and n > 1
        else own @ matrix
    )
    effects = choosing_effects(grouped, definition, groups)
    order = np.argsort(-effects, axis=1, kind="stable")
    renderer = renderer or _Renderer(definition, features)
    values = _Columns(frame, features)
    out: list[RowReasons] = []
    reach = top + _SPARE
    for row in range(n):
        ranked = order[row]
        positive, negative = pick_distinct(
            (g for g in ranked[:reach] if effects[row, g] > min_effect),
            (g for g in ranked[::-1][:reach] if effects[row, g] < -min_effect),
            lambda g, row=row: abs(float(effects[row, g])),  # type: ignore[misc]
            lambda g, row=row: _day_fact(row, g, contributions, effects, groups, values, renderer),  # type: ignore[misc]
            top,
        )
        out.append(
            RowReasons(
                tuple(
                    _reason(row, g, contributions, effects, groups, values, renderer)
                    for g in positive
                ),
                tuple(
                    _reason(row, g, contributions, effects, groups, values, renderer)
                    for g in negative
                ),
            )
        )
    return out


class _Columns:
    """A frame's columns as object arrays (``to_numpy(dtype=object)``), each taken on first use:
    a row's reasons read the values of a few features only (taking all of them cost about half
    of a single lead's ``explain_rows``)."""

    def __init__(self, frame: pd.DataFrame, features: Sequence[str]) -> None:
        self.frame, self.features = frame, features
        self._taken: dict[int, np.ndarray[Any, Any]] = {}

    def __getitem__(self, j: int) -> np.ndarray[Any, Any]:
        column = self._taken.get(j)
        if column is None:
            column = self.frame[self.features[j]].to_numpy(dtype=object)
            self._taken[j] = column
        return column


def _day_fact(
    row: int,
    g: int,
    contributions: FloatArray,
    effects: FloatArray,
    groups: Sequence[ReasonGroup],
    values: _Columns,
    renderer: _Renderer,
) -> float | None:
    """The day count the reason of group ``g`` would state (see :mod:`reasons_facts`)."""
    lead = _members(row, g, contributions, effects, groups)[1][0]
    return day_fact(renderer.specs[lead], values[lead][row], renderer.lookback)


def _members(
    row: int, g: int, contributions: FloatArray, effects: FloatArray, groups: Sequence[ReasonGroup]
) -> tuple[float, list[int]]:
    """The sign of group ``g``'s effect and its features, strongest in that direction first
    (the first is the one the reason is worded from)."""
    sign = 1.0 if effects[row, g] > 0 else -1.0
    return sign, sorted(groups[g].indices, key=lambda j: -sign * contributions[row, j])


def _reason(
    row: int,
    g: int,
    contributions: FloatArray,
    effects: FloatArray,
    groups: Sequence[ReasonGroup],
    values: _Columns,
    renderer: _Renderer,
) -> Reason:
    group = groups[g]
    effect = float(effects[row, g])
    sign, members = _members(row, g, contributions, effects, groups)
    lead = members[0]
    text = renderer.render(lead, values[lead][row], sign > 0)
    if len(members) > 1 and group.key in _COMBINED_GROUPS:
        second = members[1]
        strength = sign * contributions[row, second]
        if strength > 0 and strength >= _SUPPORT_RATIO * sign * contributions[row, lead]:
            extra = renderer.render(second, values[second][row], sign > 0)
            if extra != text:
                text = f"{text}, {extra}"
    return Reason(text=text, effect=round(effect, 4), group=group.key)


def reasons_as_text(reasons: Sequence[RowReasons]) -> tuple[list[list[str]], list[list[str]]]:
    """Positive and negative sentences per row (for tables and the pyfunc output)."""
    sentences = getattr(reasons, "sentences", None)  # a ReasonTable has them column-wise
    if callable(sentences):
        positive, negative = sentences()
        return list(positive), list(negative)
    return (
        [[r.text for r in row.positive] for row in reasons],
        [[r.text for r in row.negative] for row in reasons],
    )


FlatSide = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]
"""One side's sentences of every row back to back (an object array) and the count per row."""


def flat_sentences(reasons: Sequence[RowReasons]) -> tuple[FlatSide, FlatSide]:
    """Positive and negative sentences of all rows, each side flat with its counts per row
    (what :func:`reasons_as_text` gives, without a list per row: Arrow list columns are built
    from it directly)."""
    flat = getattr(reasons, "flat_sentences", None)  # column-wise reasons have them as arrays
    if callable(flat):
        out: tuple[FlatSide, FlatSide] = flat()
        return out
    sides = []
    for side in ("positive", "negative"):
        per_row = [getattr(row, side) for row in reasons]
        counts = np.fromiter((len(r) for r in per_row), dtype=np.int64, count=len(per_row))
        values = np.empty(int(counts.sum()), dtype=object)
        values[:] = [r.text for row in per_row for r in row]
        sides.append((values, counts))
    return sides[0], sides[1]
