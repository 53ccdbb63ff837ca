"""The training table as the rest of leadscore sees it: rows, model inputs and typed metadata.

One class, :class:`TrainingTable`, for every producer: the feature stage's Parquet + metadata
pair (:func:`read_training_table`), flat exports and in-memory tables built by tests. Training
only ever sees this object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from leadscore.errors import ArtifactError, DataContractError
from leadscore.features.definition import Concept, FeatureDefinition
from leadscore.features.labels import LABELS, TARGET_LABELS, FromStage, Target
from leadscore.features.meta import TrainingTableMeta, read_meta

__all__ = [
    "CONTACT_COLUMN",
    "CUTOFF_COLUMN",
    "FeatureKind",
    "FeatureSpec",
    "TrainingTable",
    "read_training_table",
]

FeatureKind = Literal["numeric", "categorical", "boolean"]
CONTACT_COLUMN = "contact_id"
CUTOFF_COLUMN = "cutoff"
_LEGACY_CONCEPTS = frozenset({"", "flat"})
"""Concept strings of records written before concepts were typed: read as no concept."""


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its column name, kind and business concept (``None``: none known, e.g.
    a flat export's column). A concept given as a string must be a :class:`Concept` value."""

    name: str
    kind: FeatureKind
    concept: Concept | None = None

    def __post_init__(self) -> None:
        value: object = self.concept
        if value is None or isinstance(value, Concept):
            return
        if value in _LEGACY_CONCEPTS:
            object.__setattr__(self, "concept", None)
            return
        try:
            object.__setattr__(self, "concept", Concept(str(value)))
        except ValueError:
            raise ArtifactError(
                f"Feature {self.name!r} has concept {value!r}; allowed: "
                f"{', '.join(c.value for c in Concept)}."
            ) from None


@dataclass
class TrainingTable:
    """Rows ``(contact_id, cutoff)`` with labels and features, plus provenance.

    ``horizon_days`` is the label horizon when known (used to purge overlapping label windows
    between split periods); ``meta`` is the feature stage's metadata when the table came from
    it (``None`` for flat exports and simulated tables).
    """

    frame: pd.DataFrame
    features: list[FeatureSpec]
    data_fingerprint: str = "unknown"
    definition_hash: str = "unknown"
    horizon_days: int | None = None
    meta: TrainingTableMeta | None = None

    def __post_init__(self) -> None:
        required = [CONTACT_COLUMN, CUTOFF_COLUMN, *LABELS]
        missing = [c for c in required if c not in self.frame.columns]
        missing += [f.name for f in self.features if f.name not in self.frame.columns]
        if missing:
            raise DataContractError(
                [f"training table: column {name!r} is missing" for name in missing],
                header="The training table is incomplete:",
            )
        if not pd.api.types.is_datetime64_any_dtype(self.frame[CUTOFF_COLUMN]):
            self.frame = self.frame.assign(
                **{CUTOFF_COLUMN: pd.to_datetime(self.frame[CUTOFF_COLUMN])}
            )

    @property
    def feature_names(self) -> list[str]:
        """Model input column names, in order."""
        return [f.name for f in self.features]

    def labels(self, target: Target) -> pd.Series:
        """The 0/1 label of ``target`` as int."""
        return self.frame[TARGET_LABELS[target]].astype("int64")

    @property
    def definition(self) -> FeatureDefinition | None:
        """The feature definition the table was built from (``None``: not a feature-stage table)."""
        return self.meta.definition if self.meta is not None else None

    @property
    def from_stage(self) -> FromStage:
        """The population the table covers (``any`` when unknown)."""
        return self.meta.from_stage if self.meta is not None else "any"


def read_training_table(path: Path) -> TrainingTable:
    """Read a training table and its metadata written by the feature stage.

    Raises :class:`~leadscore.errors.ArtifactError` when a file is missing, the metadata is
    foreign, of another version or malformed, or the pair does not match (content hash).
    """
    meta = read_meta(Path(path))
    frame = pd.read_parquet(path)
    features = [FeatureSpec(f.name, f.type.value, f.concept) for f in meta.features]
    return TrainingTable(
        frame=frame,
        features=features,
        data_fingerprint=meta.data_fingerprint,
        definition_hash=meta.definition_hash,
        horizon_days=meta.horizon_days,
        meta=meta,
    )
