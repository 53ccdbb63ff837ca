"""The heads folder: LightGBM's native text format plus JSON records, never a pickle.

For each target the folder holds its model file (``<target>.lgb.txt``, LightGBM's text model;
or ``<target>.logistic.json`` / ``<target>.rules.json`` when the logistic model or the rules
were the better candidate on validation, :mod:`leadscore.model.linear_head`,
:mod:`leadscore.model.rules_head`) and
``<target>.json`` (format ``leadscore-model/1``): the feature list and kinds, categorical levels,
calibration parameters, schema and package versions, data fingerprint and feature definition
hash, and a hash of the model text so a record never pairs with another booster. ``scorer.json``
(:mod:`leadscore.model.spec`) sits beside them. Training writes a folder with one call to
:func:`write_heads`; serving and evaluation read it with :func:`read_heads`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadscore import __version__
from leadscore.atomic import atomic_write_text
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError
from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.head import ModelHead
from leadscore.model.inputs import TARGETS, Target
from leadscore.model.linear_head import LogisticHead
from leadscore.model.rules_head import RulesHead
from leadscore.model.segments import SegmentsRecord, read_segments_record
from leadscore.model.spec import SPEC_FILE, ScorerSpec, read_spec, write_spec
from leadscore.records import read_versioned_record

__all__ = [
    "HEAD_KINDS",
    "RECORD_FORMAT",
    "AnyHead",
    "HeadRecord",
    "HeadToWrite",
    "HeadsFolder",
    "read_head",
    "read_heads",
    "write_heads",
]

RECORD_FORMAT = "leadscore-model/1"

AnyHead = ModelHead | LogisticHead | RulesHead
"""A served head of any kind: LightGBM trees, a logistic regression or the points rules."""

HeadKind = Literal["lightgbm", "logistic", "rules"]
HEAD_KINDS: dict[str, str] = {
    "lightgbm": "lgb.txt",
    "logistic": "logistic.json",
    "rules": "rules.json",
}
"""Head kind -> the suffix of its model file (``<target>.<suffix>``)."""


class HeadRecord(BaseModel):
    """The JSON record of one head (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["leadscore-model/1"] = "leadscore-model/1"
    target: Target
    kind: HeadKind = "lightgbm"
    """What the model file holds (records from before head kinds are LightGBM)."""
    schema_version: str = SCHEMA_VERSION
    package_version: str = __version__
    created_at: str
    data_fingerprint: str
    definition_hash: str
    model_file: str
    model_sha256: str
    best_iteration: int = Field(ge=1)
    encoding: dict[str, Any]
    calibration: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    """The settings the head was fitted with (training's, recorded for people)."""
    metrics: dict[str, float] = Field(default_factory=dict)
    choice: dict[str, Any] = Field(default_factory=dict)
    """Why this head ships: the candidates' validation metrics and the one chosen by."""


@dataclass(frozen=True)
class HeadToWrite:
    """A head with what its record tells besides the model: fit settings and test metrics."""

    head: AnyHead
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    choice: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadsFolder:
    """A read heads folder: every head with its record, and the scorer spec (``None`` for a
    folder from before the serving stage: a probabilities-only scorer)."""

    folder: Path
    heads: dict[Target, AnyHead]
    records: dict[Target, HeadRecord]
    spec: ScorerSpec | None
    segments: SegmentsRecord | None = None
    """Models per segment (``segments.json``); ``None`` for a global-only model."""
    segment_heads: dict[str, HeadsFolder] = field(default_factory=dict)
    """Segment value -> its own heads (the segments with enough data)."""


def write_heads(
    folder: Path,
    heads: Mapping[Target, HeadToWrite],
    *,
    data_fingerprint: str,
    definition_hash: str,
    spec: ScorerSpec | None = None,
) -> list[Path]:
    """Write every head (``<target>.lgb.txt`` + ``<target>.json``) and, when given, the scorer
    spec into ``folder``, each file atomically; returns the paths written."""
    if not heads:
        raise ArtifactError("A heads folder needs at least one head.")
    created = datetime.now(UTC).isoformat(timespec="seconds")
    paths: list[Path] = []
    for target, item in heads.items():
        head = item.head
        kind: HeadKind = "lightgbm"
        if isinstance(head, LogisticHead | RulesHead):
            kind = "logistic" if isinstance(head, LogisticHead) else "rules"
        record = HeadRecord(
            target=target,
            kind=kind,
            created_at=created,
            data_fingerprint=data_fingerprint,
            definition_hash=definition_hash,
            model_file=f"{target}.{HEAD_KINDS[kind]}",
            model_sha256=head.model_sha256,
            best_iteration=head.best_iteration,
            encoding=head.encoder.to_dict(),
            calibration=head.calibrator.to_dict(),
            params=dict(item.params),
            metrics=dict(item.metrics),
            choice=dict(item.choice),
        )
        model_path, record_path = folder / record.model_file, folder / f"{target}.json"
        atomic_write_text(model_path, head.model_text)
        text = json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True)
        atomic_write_text(record_path, text)
        paths += [model_path, record_path]
    if spec is not None:
        paths.append(write_spec(folder, spec))
    return paths


def _read_record(path: Path) -> HeadRecord:
    raw = read_versioned_record(path, what="Model record", expected_format=RECORD_FORMAT)
    if raw.get("target") not in TARGETS:
        raise ArtifactError(f"Model {path} has unknown target {raw.get('target')!r}.")
    try:
        return HeadRecord.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(f"Model record {path} is malformed: {exc}") from None


def read_head(
    folder: Path, target: Target, *, available_features: Iterable[str] | None = None
) -> tuple[AnyHead, HeadRecord]:
    """One target's head and record from ``folder``.

    ``available_features`` (the columns the caller can provide) are checked against the head's
    features. Raises :class:`ArtifactError` on any incompatibility.
    """
    record = _read_record(folder / f"{target}.json")
    model_path = folder / record.model_file
    if not model_path.is_file():
        raise ArtifactError(f"Model file {model_path} named by its record does not exist.")
    text = model_path.read_text(encoding="utf-8")
    if hashlib.sha256(text.encode()).hexdigest() != record.model_sha256:
        raise ArtifactError(f"Model file {model_path} does not match its record (hash differs).")
    encoder = FeatureEncoder.from_dict(record.encoding)
    if available_features is not None:
        missing = sorted(set(encoder.feature_names) - set(available_features))
        if missing:
            raise ArtifactError(
                f"Model {folder} needs feature(s) the data lacks: {', '.join(missing)}. "
                "Recompute the features with the model's feature definition "
                f"(definition hash {record.definition_hash})."
            )
    calibrator = Calibrator.from_dict(record.calibration)
    if record.kind == "logistic":
        return LogisticHead.from_text(text, encoder, calibrator), record
    if record.kind == "rules":
        return RulesHead.from_text(text, encoder, calibrator), record
    return ModelHead(text, encoder, calibrator, best_iteration=record.best_iteration), record


def read_heads(folder: Path) -> HeadsFolder:
    """Every head of ``folder`` and its ``scorer.json`` when present.

    Raises :class:`ArtifactError` when the folder holds no head, a file is missing or
    incompatible, or the scorer's feature definition is not the one the heads were trained on.
    """
    heads: dict[Target, AnyHead] = {}
    records: dict[Target, HeadRecord] = {}
    for target in TARGETS:
        if (folder / f"{target}.json").is_file():
            heads[target], records[target] = read_head(folder, target)
    if not heads:
        raise ArtifactError(f"{folder} holds no model record ({', '.join(TARGETS)}).")
    spec_path = folder / SPEC_FILE
    spec = read_spec(spec_path) if spec_path.is_file() else None
    definition = spec.feature_definition() if spec is not None else None
    hashes = {r.definition_hash for r in records.values()}
    if definition is not None and hashes != {definition.digest()}:
        raise ArtifactError(
            f"The scorer's feature definition (hash {definition.digest()}) is not the one "
            f"its heads were trained with ({', '.join(sorted(hashes))})."
        )
    segments = read_segments_record(folder)
    if (segments is None) != (spec is None or spec.segment_column is None) or (
        segments is not None and spec is not None and segments.column != spec.segment_column
    ):
        raise ArtifactError(
            f"{folder}: the scorer record and segments.json disagree on the segment column; "
            "the folder is incomplete or mixed. Retrain and register the model."
        )
    segment_heads: dict[str, HeadsFolder] = {}
    for value, sub in (segments.own_models if segments is not None else {}).items():
        part = read_heads(folder / sub)
        if (
            part.segments is not None
            or {r.definition_hash for r in part.records.values()} != hashes
        ):
            raise ArtifactError(
                f"{folder / sub}: the heads of segment {value!r} do not belong to this model "
                "(another feature definition, or nested segments). Retrain the model."
            )
        segment_heads[value] = part
    return HeadsFolder(folder, heads, records, spec, segments, segment_heads)
