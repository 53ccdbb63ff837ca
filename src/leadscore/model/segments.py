"""Models per segment in the artifact: the ``segments.json`` record and the routing key.

A segmented heads folder holds the global heads as before, plus ``segments.json`` (format
``leadscore-segments/1``: the segment column, and for each declared value either the sub-folder
of its own heads or why it falls back to the global model) and one complete heads folder per
segment with its own model under ``segments/<slug>/``. The top ``scorer.json`` of such a folder
has format ``leadscore-scorer/2`` and names the segment column, so a leadscore that does not
know segments refuses the folder instead of silently scoring every lead with the global model.
Training writes it (``leadscore.training.heads``); serving routes each lead by
:func:`segment_keys` (:mod:`leadscore.serving.segments`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from leadscore import __version__
from leadscore.atomic import atomic_write_text
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError
from leadscore.records import read_versioned_record

__all__ = [
    "GLOBAL_MODEL",
    "SEGMENTS_FILE",
    "SEGMENTS_FORMAT",
    "SegmentEntry",
    "SegmentsRecord",
    "read_segments_record",
    "scored_by",
    "segment_folder",
    "segment_keys",
    "write_segments_record",
]

SEGMENTS_FORMAT = "leadscore-segments/1"
SEGMENTS_FILE = "segments.json"
GLOBAL_MODEL = "global"
"""What the ``scored_by`` output says for a lead scored by the global model."""


class SegmentEntry(BaseModel):
    """One declared segment value: its heads sub-folder, or why it uses the global model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    folder: str | None = None
    """Sub-folder (relative) of its own heads; ``None``: scored by the global model."""
    reason: str = ""
    """Why the segment falls back to the global model (empty when it has its own)."""


class SegmentsRecord(BaseModel):
    """``segments.json`` (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["leadscore-segments/1"] = "leadscore-segments/1"
    schema_version: str = SCHEMA_VERSION
    package_version: str = __version__
    column: str
    segments: tuple[SegmentEntry, ...]

    @property
    def own_models(self) -> dict[str, str]:
        """Segment value -> sub-folder, for the segments with their own model."""
        return {s.value: s.folder for s in self.segments if s.folder is not None}


def segment_folder(value: str, taken: Sequence[str] = ()) -> str:
    """A safe relative sub-folder name for a segment value (unique among ``taken``)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", value).strip("_")[:40] or "segment"
    name, n = f"segments/{slug}", 2
    while name in taken:
        name, n = f"segments/{slug}-{n}", n + 1
    return name


def segment_keys(frame: pd.DataFrame, column: str) -> np.ndarray[Any, Any]:
    """Each row's segment value as text (``None`` when missing): the one routing rule that
    training and serving share."""
    if column not in frame.columns:
        raise ArtifactError(
            f"The model routes leads by segment column {column!r}, which the feature rows lack. "
            "Compute the features with the model's own feature definition."
        )
    text = frame[column].astype("string")
    return text.astype(object).where(text.notna(), None).to_numpy(dtype=object)


def scored_by(column: str, value: str | None) -> str:
    """The ``scored_by`` text of a lead: ``column=value`` for a segment model, else global."""
    return GLOBAL_MODEL if value is None else f"{column}={value}"


def write_segments_record(folder: Path, record: SegmentsRecord) -> Path:
    """Write ``segments.json`` into ``folder`` atomically; returns its path."""
    path = folder / SEGMENTS_FILE
    atomic_write_text(path, json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True))
    return path


def read_segments_record(folder: Path) -> SegmentsRecord | None:
    """``segments.json`` of a heads folder (``None`` when absent: a global-only model).

    Raises :class:`ArtifactError` for a record of another format or version, or one naming a
    sub-folder outside the heads folder."""
    path = folder / SEGMENTS_FILE
    if not path.is_file():
        return None
    raw = read_versioned_record(path, what="Segments record", expected_format=SEGMENTS_FORMAT)
    try:
        record = SegmentsRecord.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(f"Segments record {path} is malformed: {exc}") from None
    for sub in record.own_models.values():
        if Path(sub).is_absolute() or ".." in Path(sub).parts:
            raise ArtifactError(f"Segments record {path} names a folder outside the model: {sub}")
    return record
