"""What a model head reads and predicts: its input features (name, kind, concept) and targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FEATURE_KINDS", "TARGETS", "FeatureKind", "FeatureSpec", "Target"]

Target = Literal["sql", "meeting"]
FeatureKind = Literal["numeric", "categorical", "boolean"]

TARGETS: tuple[Target, ...] = ("sql", "meeting")
FEATURE_KINDS: tuple[FeatureKind, ...] = ("numeric", "categorical", "boolean")


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its column name, kind and business concept (for reports)."""

    name: str
    kind: FeatureKind
    concept: str = ""
