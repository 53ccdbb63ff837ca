"""The training table: one row per (contact, cutoff), labels, features and their metadata.

The feature stage writes a Parquet file and a metadata JSON next to it. This module reads both
into a :class:`TrainingTable`; the rest of ``leadscore.training`` only sees that object, never the
feature stage's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from leadscore.errors import ArtifactError, DataContractError
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
_KINDS: tuple[str, ...] = ("numeric", "categorical", "boolean")


def label_column(target: Target) -> str:
    """The label column of a target: ``became_sql`` or ``booked_meeting``."""
    return _LABELS[target]


@dataclass
class TrainingTable:
    """Rows ``(contact_id, cutoff)`` with labels and features, plus provenance.

    ``horizon_days`` is the label horizon when known (used to purge overlapping label windows
    between split periods).
    """

    frame: pd.DataFrame
    features: list[FeatureSpec]
    data_fingerprint: str = "unknown"
    definition_hash: str = "unknown"
    horizon_days: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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

    def labels(self, target: Target) -> pd.Series:
        """The 0/1 label of ``target`` as int."""
        return self.frame[label_column(target)].astype("int64")


def _parse_features(raw: Any, path: Path) -> list[FeatureSpec]:
    items: list[Any]
    if isinstance(raw, dict):  # {"name": {"type": ..., "concept": ...}}
        items = [{"name": k, **(v if isinstance(v, dict) else {"type": v})} for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        raise ArtifactError(f"{path}: 'features' must be a list of feature records.")
    specs = []
    for item in items:
        if not isinstance(item, dict) or "name" not in item:
            raise ArtifactError(f"{path}: every feature record needs a 'name'; got {item!r}.")
        kind = str(item.get("type", item.get("kind", "numeric")))
        if kind not in _KINDS:
            raise ArtifactError(
                f"{path}: feature {item['name']!r} has type {kind!r}; "
                f"expected one of {', '.join(_KINDS)}."
            )
        specs.append(FeatureSpec(str(item["name"]), kind, str(item.get("concept", ""))))  # type: ignore[arg-type]
    return specs


def load_training_table(path: Path) -> TrainingTable:
    """Read a training table written by the feature stage (through its own reader, which
    refuses foreign or incompatible tables).

    Raises :class:`~leadscore.errors.ArtifactError` when a file is missing or malformed, or the
    label horizon is not recorded (without it the time split could not purge overlapping labels).
    """
    from leadscore.features.build import metadata_path, read_training_table

    frame, meta = read_training_table(path)
    meta_path = metadata_path(path)
    if "features" not in meta:
        raise ArtifactError(f"Metadata {meta_path} has no 'features' list.")
    horizon = meta.get("horizon_days")
    if not isinstance(horizon, int | float) or horizon <= 0:
        raise ArtifactError(
            f"Metadata {meta_path} records no label horizon (horizon_days); rebuild the table "
            "with `leadscore features build`."
        )
    return TrainingTable(
        frame=frame,
        features=_parse_features(meta["features"], meta_path),
        data_fingerprint=str(meta.get("data_fingerprint", "unknown")),
        definition_hash=str(meta.get("definition_hash", "unknown")),
        horizon_days=int(horizon),
        extra={k: v for k, v in meta.items() if k != "features"},
    )
