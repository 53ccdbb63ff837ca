"""The training table's metadata: one versioned, strict record written and read by this module.

A training table is a pair: the Parquet file and ``<name>.meta.json`` beside it. The pair is
committed as one unit: the metadata records the SHA-256 of the Parquet bytes, and
:func:`read_meta` refuses a pair whose hashes differ (a crash between the two replacements, or a
file copied from another build), so ``train`` never learns from a table its metadata does not
describe.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadscore.atomic import atomic_write_text
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError
from leadscore.features.definition import Concept, FeatureDefinition, FeatureType
from leadscore.features.labels import FromStage
from leadscore.features.sampling import TableSample

__all__ = [
    "FAULT_ENV",
    "METADATA_KIND",
    "META_FORMAT",
    "CutoffStats",
    "FeatureRecord",
    "TrainingTableMeta",
    "checkpoint",
    "file_sha256",
    "metadata_path",
    "read_meta",
    "read_training_table",
    "write_meta",
]

METADATA_KIND = "leadscore.training_table"
META_FORMAT = 2
"""Version of the metadata record; a reader refuses any other (rebuild the table)."""

FAULT_ENV = "LEADSCORE_FAULT_AT"
"""Test hook: when set to a checkpoint's name, the process kills itself (SIGKILL) there."""


def checkpoint(name: str) -> None:
    """A named point of a multi-file write; fault-injection tests kill the process here."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CutoffStats(_Strict):
    """Rows and label rates of one cutoff (censored cutoffs have no labels)."""

    cutoff: datetime
    rows: int = Field(ge=0)
    censored: bool
    label_rates: dict[str, float | None]


class FeatureRecord(_Strict):
    """One feature column as the metadata lists it (for readers without the definition)."""

    name: str
    kind: str
    type: FeatureType
    concept: Concept
    window_days: int | None = None
    explanation: str = ""


class TrainingTableMeta(_Strict):
    """Everything known about a training table: provenance, population, labels, counts.

    ``label_times`` says where the (contact, cutoff) pairs came from: ``schedule`` (every
    eligible contact at each cutoff) or ``given`` (a user's label-times file, ``label_times_file``;
    ineligible pairs are counted in ``excluded_rows``, never written).
    """

    kind: Literal["leadscore.training_table"] = "leadscore.training_table"
    format: Literal[2] = 2
    schema_version: str = SCHEMA_VERSION
    package_version: str
    created_at: str
    engine: str
    data_fingerprint: str
    definition_hash: str
    definition: FeatureDefinition
    features: tuple[FeatureRecord, ...]
    labels: dict[str, str]
    eligibility: str
    from_stage: FromStage
    max_age_days: int | None = None
    """Stale leads (created and inactive longer ago) left the population; ``None``: none did."""
    horizon_days: int = Field(ge=1)
    lookback_days: int = Field(ge=1)
    data_end: datetime
    label_times: Literal["schedule", "given"] = "schedule"
    label_times_file: str | None = None
    excluded_rows: int = Field(0, ge=0)
    cutoffs: tuple[datetime, ...]
    rows: int = Field(ge=0)
    censored_rows: int = Field(ge=0)
    censored_cutoffs: tuple[datetime, ...]
    label_rates: dict[str, float | None]
    per_cutoff: tuple[CutoffStats, ...]
    parquet_sha256: str
    sample: TableSample | None = None
    """How the engine sampled the table's negatives when it was built (``None``: not sampled;
    the rows then carry their weight in ``sample_weight``)."""

    def as_dict(self) -> dict[str, object]:
        """The record as plain JSON values (what the file holds)."""
        return self.model_dump(mode="json")


def metadata_path(out_path: Path) -> Path:
    """The metadata JSON written beside a training table."""
    return out_path.with_name(out_path.name + ".meta.json")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_meta(out_path: Path, meta: TrainingTableMeta) -> Path:
    """Write ``meta`` beside ``out_path`` atomically; returns the metadata path."""
    path = metadata_path(out_path)
    atomic_write_text(path, json.dumps(meta.as_dict(), indent=2) + "\n")
    return path


def read_meta(path: Path, *, verify: bool = True) -> TrainingTableMeta:
    """Read and check the metadata of the training table at ``path``.

    Raises :class:`~leadscore.errors.ArtifactError` when either file is missing, the record is
    foreign, of another version or malformed, or (``verify``) the Parquet file is not the one
    the metadata describes.
    """
    path = Path(path)
    meta_path = metadata_path(path)
    if not path.is_file() or not meta_path.is_file():
        raise ArtifactError(
            f"Training table {path} or its metadata {meta_path.name} is missing. Build it with "
            "`leadscore features build`."
        )
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"Metadata {meta_path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("kind") != METADATA_KIND:
        raise ArtifactError(f"{meta_path} is not a leadscore training-table metadata record.")
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            f"Training table {path} was built for data-contract schema version "
            f"{raw.get('schema_version')!r}; this leadscore uses {SCHEMA_VERSION!r}. "
            "Rebuild it with `leadscore features build`."
        )
    if raw.get("format") != META_FORMAT:
        raise ArtifactError(
            f"Metadata {meta_path} has format {raw.get('format')!r}; this leadscore reads format "
            f"{META_FORMAT}. Rebuild the table with `leadscore features build`."
        )
    try:
        meta = TrainingTableMeta.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise ArtifactError(
            f"Metadata {meta_path} is malformed ({problems}). Rebuild the table with "
            "`leadscore features build`."
        ) from None
    if verify and file_sha256(path) != meta.parquet_sha256:
        raise ArtifactError(
            f"Training table {path} does not match its metadata {meta_path.name} (content hash "
            "differs: an interrupted write or a file replaced by hand). Write it again with the "
            "command that made it (`leadscore features build`, or `leadscore feedback apply` "
            "for a table with verdicts applied)."
        )
    return meta


def read_training_table(path: Path) -> tuple[pd.DataFrame, TrainingTableMeta]:
    """Read a training table and its metadata, checked as one unit (see :func:`read_meta`)."""
    meta = read_meta(Path(path))
    return pd.read_parquet(path), meta
