"""The training table: one row per (contact, cutoff), labels, features and their metadata.

The feature stage writes a Parquet file and a metadata JSON next to it. This module reads both
into a :class:`TrainingTable`; the rest of ``leadscore.training`` only sees that object, never the
feature stage's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadscore.errors import DataContractError
from leadscore.features.definition import FeatureDefinition
from leadscore.features.labels import FromStage
from leadscore.features.meta import TrainingTableMeta
from leadscore.model.inputs import TARGETS, FeatureKind, FeatureSpec, Target

__all__ = [
    "CONTACT_COLUMN",
    "CUTOFF_COLUMN",
    "TARGETS",
    "FeatureKind",
    "FeatureSpec",
    "Target",
    "TrainingTable",
    "label_column",
    "load_training_table",
]

CONTACT_COLUMN = "contact_id"
CUTOFF_COLUMN = "cutoff"
_LABELS: dict[str, str] = {"sql": "became_sql", "meeting": "booked_meeting"}


def label_column(target: Target) -> str:
    """The label column of a target: ``became_sql`` or ``booked_meeting``."""
    return _LABELS[target]


@dataclass
class TrainingTable:
    """Rows ``(contact_id, cutoff)`` with labels and features, plus provenance.

    ``horizon_days`` is the label horizon when known (used to purge overlapping label windows
    between split periods); ``meta`` is the feature stage's typed metadata when the table came
    from it (``None`` for flat exports and simulated tables).
    """

    frame: pd.DataFrame
    features: list[FeatureSpec]
    data_fingerprint: str = "unknown"
    definition_hash: str = "unknown"
    horizon_days: int | None = None
    meta: TrainingTableMeta | None = None

    def __post_init__(self) -> None:
        required = [CONTACT_COLUMN, CUTOFF_COLUMN, *_LABELS.values()]
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
        return [f.name for f in self.features]

    @property
    def definition(self) -> FeatureDefinition | None:
        """The feature definition the table was built from (``None``: not a feature-stage table)."""
        return self.meta.definition if self.meta is not None else None

    @property
    def from_stage(self) -> FromStage:
        """The population the table covers (``any`` when unknown)."""
        return self.meta.from_stage if self.meta is not None else "any"

    def labels(self, target: Target) -> pd.Series:
        """The 0/1 label of ``target`` as int."""
        return self.frame[label_column(target)].astype("int64")


def load_training_table(path: Path) -> TrainingTable:
    """Read a training table written by the feature stage (through its own reader, which
    refuses foreign, incompatible or mismatched tables: the Parquet file must be the one its
    metadata describes).

    Raises :class:`~leadscore.errors.ArtifactError` when a file is missing or malformed.
    """
    from leadscore.features.meta import read_training_table

    frame, meta = read_training_table(path)
    return TrainingTable(
        frame=frame,
        features=[FeatureSpec(f.name, f.type.value, f.concept.value) for f in meta.features],
        data_fingerprint=meta.data_fingerprint,
        definition_hash=meta.definition_hash,
        horizon_days=meta.horizon_days,
        meta=meta,
    )
