"""Turn feature columns into the numeric matrix a model reads, with levels fixed at fit time.

Categorical levels are learned on the training period and stored in the model record, so the
same string always maps to the same code at serving time; unseen or missing values become NaN
(LightGBM's missing value), never an error.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from leadscore.errors import ArtifactError
from leadscore.training.table import FeatureKind, FeatureSpec

__all__ = ["FeatureEncoder", "as_float", "as_text"]


def as_text(values: pd.Series) -> pd.Series:
    """Values as strings (missing stays missing); booleans and numbers get a stable spelling."""
    return values.astype("string")


def as_float(values: pd.Series, kind: FeatureKind) -> np.ndarray[Any, Any]:
    """A numeric or boolean column as float64 with NaN for missing."""
    if kind == "boolean" and not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string").str.lower()
        mapped = text.map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "yes": 1.0, "no": 0.0})
        return mapped.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class FeatureEncoder:
    """Encodes features as a float matrix; categorical columns become level codes.

    ``max_levels`` keeps the most frequent levels of each categorical (ties broken by name);
    rarer levels share the missing code.
    """

    def __init__(self, features: list[FeatureSpec], *, max_levels: int = 50) -> None:
        self.features = features
        self.max_levels = max_levels

    def fit(self, frame: pd.DataFrame) -> Self:
        """Learn the categorical levels from ``frame``; returns ``self``."""
        levels: dict[str, list[str]] = {}
        for spec in self.features:
            if spec.kind == "categorical":
                counts = as_text(frame[spec.name]).dropna().value_counts()
                ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                levels[spec.name] = [str(k) for k, _ in ordered[: self.max_levels]]
        self.levels_ = levels
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def transform(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        """The float matrix (rows x features) in feature order."""
        missing = [f.name for f in self.features if f.name not in frame.columns]
        if missing:
            raise ArtifactError(
                f"The data lacks feature(s) the model needs: {', '.join(missing)}. "
                "Recompute the features with the model's feature definition."
            )
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, spec in enumerate(self.features):
            if spec.kind == "categorical":
                codes = pd.Categorical(
                    as_text(frame[spec.name]), categories=self.levels_[spec.name]
                ).codes
                out[:, j] = np.where(codes < 0, np.nan, codes.astype(np.float64))
            else:
                out[:, j] = as_float(frame[spec.name], spec.kind)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: features, kinds and categorical levels."""
        return {
            "features": [
                {"name": f.name, "kind": f.kind, "concept": f.concept} for f in self.features
            ],
            "categorical_levels": self.levels_,
            "max_levels": self.max_levels,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Rebuild a fitted encoder from :meth:`to_dict` output."""
        specs = [FeatureSpec(f["name"], f["kind"], f.get("concept", "")) for f in data["features"]]
        encoder = cls(specs, max_levels=int(data.get("max_levels", 50)))
        encoder.levels_ = {k: list(v) for k, v in data["categorical_levels"].items()}
        return encoder
