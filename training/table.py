"""The training table as training sees it: rows ``(contact_id, cutoff)``, labels, features.

The one :class:`~leadscore.features.table.TrainingTable` class (and its typed metadata) lives
with the feature stage that writes it; this module names the targets and reads a table.
"""

from __future__ import annotations

from pathlib import Path

from leadscore.features.labels import TARGET_LABELS, Target
from leadscore.features.table import (
    CONTACT_COLUMN,
    CUTOFF_COLUMN,
    FeatureKind,
    FeatureSpec,
    TrainingTable,
    read_training_table,
)

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

TARGETS: tuple[Target, ...] = ("sql", "meeting")


def label_column(target: Target) -> str:
    """The label column of a target: ``became_sql`` or ``booked_meeting``."""
    return TARGET_LABELS[target]


def load_training_table(path: Path) -> TrainingTable:
    """Read a training table written by the feature stage.

    Raises :class:`~leadscore.errors.ArtifactError` when a file is missing or malformed, the
    metadata is of another version, or the Parquet file is not the one the metadata describes.
    """
    return read_training_table(path)
