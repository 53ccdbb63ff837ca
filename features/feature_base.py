"""What every feature kind shares: its name, concept, type and explanation template."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

__all__ = ["Concept", "FeatureBase", "FeatureType", "Strict"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\{(window|value)\}[a-z0-9_]*)*$")


class Concept(StrEnum):
    """What a feature says about a lead; used to group reasons and reports."""

    PROFILE_FIT = "profile_fit"
    ENGAGEMENT = "engagement"
    INTENT = "intent"
    RECENCY = "recency"
    ACCOUNT_ACTIVITY = "account_activity"
    LIFECYCLE = "lifecycle"


class FeatureType(StrEnum):
    """The value type of a feature column."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureBase(Strict):
    """Fields shared by every feature kind."""

    name: str
    concept: Concept
    type: FeatureType
    explanation: str
    description: str = ""
    windows: tuple[int, ...] = ()
    negation: str | None = None
    """A boolean's sentence when it is false ("never asked for a demo"), a template like
    ``explanation``; without it, reasons say "not: <explanation>"."""

    @model_serializer(mode="wrap")
    def _omit_absent_negation(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a definition without negations dumps (and hashes) exactly as before the field existed
        data = handler(self)
        if self.negation is None and isinstance(data, dict):
            data.pop("negation", None)
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value) or value.count("{window}") > 1 or value.count("{value}") > 1:
            raise ValueError(
                f"feature name {value!r} must be lower-case letters, digits and underscores, "
                "starting with a letter, with at most one '{window}' and one '{value}' placeholder"
            )
        return value

    @property
    def window(self) -> int | None:
        """The window in days of an expanded feature, ``None`` when it has none."""
        return self.windows[0] if len(self.windows) == 1 else None

    def explain(self, value: object, label: str | None = None) -> str:
        """The explanation template filled with ``value`` (and ``label`` for categories)."""
        return self.explanation.format(
            value=value, window=self.window, label=label if label is not None else value
        )
