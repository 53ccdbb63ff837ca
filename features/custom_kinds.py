"""Feature kinds over the data users have beyond the built-in catalog: event properties
(``page_url``, ``page_category``, ``campaign``, ``asset_name``) and extra (or contract) columns
of the contacts and accounts tables.

Values are kept small and stable: a categorical reads its ``values`` (the top ``top_k`` values
learned when the training table is built, see :mod:`leadscore.features.learned`) and maps every
other value to ``other``; a per-value family (name with ``{value}``) becomes one numeric feature
per learned value. The learned values are stored in the definition, so serving computes exactly
the columns the model was trained on.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from leadscore.contract import EventType
from leadscore.features.feature_base import FeatureBase, FeatureType

__all__ = [
    "EVENT_PROPERTIES",
    "ColumnFeature",
    "EventPropertyFeature",
    "needs_learning",
    "needs_window",
    "slug",
]

EVENT_PROPERTIES: tuple[str, ...] = ("page_url", "page_category", "campaign", "asset_name")
"""Event columns an ``event_property`` feature can read."""

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PER_VALUE = ("count", "days_since")


def slug(value: str, taken: set[str] | None = None) -> str:
    """A column-name-safe form of ``value`` (lower case, ``_`` separated, at most 40
    characters; a number is appended when ``taken`` already holds it)."""
    text = re.sub(r"^[a-z]+://", "", value.strip().lower())
    base = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:40].strip("_") or "blank"
    out, n = base, 2
    while taken is not None and out in taken:
        out, n = f"{base}_{n}", n + 1
    return out


class EventPropertyFeature(FeatureBase):
    """A measure of the events (of ``event_types``; all when empty) by their ``property``.

    ``first``/``last`` (categorical): the property value of the first/last such event in the
    lookback, among ``values`` (else ``other``; ``none`` without an event). ``count`` (needs a
    window) and ``days_since``: per value, in a family named with ``{value}`` that expands to one
    feature per value; ``{which}`` in the explanation is the value. ``values`` left empty are
    learned when the training table is built (the ``top_k`` most frequent values).
    """

    kind: Literal["event_property"]
    property: str
    measure: Literal["first", "last", "count", "days_since"] = "first"
    event_types: tuple[EventType, ...] = ()
    values: tuple[str, ...] | None = None
    top_k: int = Field(10, ge=1, le=100)

    @field_validator("property")
    @classmethod
    def _check_property(cls, value: str) -> str:
        if value not in EVENT_PROPERTIES:
            raise ValueError(
                f"unknown event property {value!r}; allowed: {', '.join(EVENT_PROPERTIES)}"
            )
        return value

    @field_validator("values")
    @classmethod
    def _normalise(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(dict.fromkeys(v.strip().lower() for v in value))

    @model_validator(mode="after")
    def _check_shape(self) -> EventPropertyFeature:
        per_value = self.measure in _PER_VALUE
        if per_value and self.type is not FeatureType.NUMERIC:
            raise ValueError(f"feature {self.name!r}: measure {self.measure} is numeric")
        if not per_value and self.type is not FeatureType.CATEGORICAL:
            raise ValueError(f"feature {self.name!r}: measure {self.measure} is categorical")
        if "{value}" in self.name and not per_value:
            raise ValueError(f"feature {self.name!r}: only count and days_since take '{{value}}'")
        if (
            per_value
            and "{value}" not in self.name
            and (self.values is None or len(self.values) != 1)
        ):
            raise ValueError(
                f"feature {self.name!r}: put '{{value}}' in the name (one feature per value) "
                "or give exactly one value in `values`"
            )
        return self


class ColumnFeature(FeatureBase):
    """A column of the contacts or accounts table passed through as a feature (any column,
    extra ones included). Numeric: the value as a number (missing when not a number);
    categorical: one of ``values`` (lower case; learned as the ``top_k`` most frequent when
    empty), else ``other``, ``unknown`` when empty; boolean: true/false/yes/no/1/0."""

    kind: Literal["column"]
    table: Literal["contacts", "accounts"]
    column: str
    values: tuple[str, ...] | None = None
    top_k: int = Field(20, ge=1, le=200)

    @field_validator("column")
    @classmethod
    def _check_column(cls, value: str) -> str:
        if not _COLUMN.match(value):
            raise ValueError(
                f"column name {value!r} must be letters, digits and underscores, not starting "
                "with a digit (rename the column in the export)"
            )
        return value

    @field_validator("values")
    @classmethod
    def _normalise(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(dict.fromkeys(v.strip().lower() for v in value))


def needs_window(feature: object) -> bool:
    """Whether a custom ``feature`` needs a window (event-property counts do)."""
    return isinstance(feature, EventPropertyFeature) and feature.measure == "count"


def needs_learning(feature: object) -> bool:
    """Whether ``feature`` still waits for values learned from the data."""
    if isinstance(feature, EventPropertyFeature):
        return feature.values is None
    if isinstance(feature, ColumnFeature):
        return feature.type is FeatureType.CATEGORICAL and feature.values is None
    return False


def expand_values(feature: EventPropertyFeature) -> list[EventPropertyFeature]:
    """A per-value family with known values as one feature per value (others unchanged)."""
    if "{value}" not in feature.name or feature.values is None:
        return [feature]
    out: list[EventPropertyFeature] = []
    taken: set[str] = set()
    for value in feature.values:
        name = slug(value, taken)
        taken.add(name)
        which = value.replace("{", "{{").replace("}", "}}")
        out.append(
            feature.model_copy(
                update={
                    "name": feature.name.replace("{value}", name),
                    "values": (value,),
                    "explanation": feature.explanation.replace("{which}", which),
                    "negation": (
                        feature.negation.replace("{which}", which) if feature.negation else None
                    ),
                }
            )
        )
    return out
