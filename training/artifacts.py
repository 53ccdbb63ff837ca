"""Saved models: LightGBM's native text format plus a JSON record, never a pickle.

For each target the model folder holds ``<target>.lgb.txt`` (``Booster.save_model``) and
``<target>.json``: the feature list and kinds, categorical levels, calibration parameters,
schema and package versions, data fingerprint and feature definition hash, and a hash of the
model text so a record never pairs with another booster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb

from leadscore import __version__
from leadscore.atomic import atomic_write_text
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError
from leadscore.records import read_versioned_record
from leadscore.training.calibration import Calibrator
from leadscore.training.encoding import FeatureEncoder
from leadscore.training.models import LightGBMModel, LightGBMParams
from leadscore.training.table import TARGETS

__all__ = [
    "RECORD_FORMAT",
    "load_heads",
    "load_model",
    "load_record",
    "save_model",
]

RECORD_FORMAT = "leadscore-model/1"


def save_model(
    model: LightGBMModel,
    folder: Path,
    target: str,
    *,
    data_fingerprint: str,
    definition_hash: str,
    metrics: dict[str, float] | None = None,
) -> tuple[Path, Path]:
    """Write ``<target>.lgb.txt`` and ``<target>.json`` into ``folder``; returns both paths."""
    text = model.booster_.model_to_string(num_iteration=model.best_iteration_)
    record = {
        "format": RECORD_FORMAT,
        "target": target,
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_fingerprint": data_fingerprint,
        "definition_hash": definition_hash,
        "model_file": f"{target}.lgb.txt",
        "model_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "best_iteration": model.best_iteration_,
        "encoding": model.encoder_.to_dict(),
        "calibration": model.calibrator_.to_dict(),
        "params": model.params.model_dump(mode="json"),
        "metrics": metrics or {},
    }
    model_path, record_path = folder / f"{target}.lgb.txt", folder / f"{target}.json"
    atomic_write_text(model_path, text)
    atomic_write_text(record_path, json.dumps(record, indent=2, sort_keys=True))
    return model_path, record_path


def load_record(record_path: Path) -> dict[str, Any]:
    """Read and check a model record; raises :class:`ArtifactError` when incompatible."""
    record = read_versioned_record(record_path, what="Model record", expected_format=RECORD_FORMAT)
    if record.get("target") not in TARGETS:
        raise ArtifactError(f"Model {record_path} has unknown target {record.get('target')!r}.")
    return record


def load_model(
    folder: Path, target: str, *, available_features: Iterable[str] | None = None
) -> tuple[LightGBMModel, dict[str, Any]]:
    """Load one target's model and record from ``folder``.

    ``available_features`` (the columns the caller can provide) are checked against the model's
    features. Raises :class:`ArtifactError` on any incompatibility.
    """
    record = load_record(folder / f"{target}.json")
    model_path = folder / str(record["model_file"])
    if not model_path.is_file():
        raise ArtifactError(f"Model file {model_path} named by its record does not exist.")
    text = model_path.read_text(encoding="utf-8")
    if hashlib.sha256(text.encode()).hexdigest() != record["model_sha256"]:
        raise ArtifactError(f"Model file {model_path} does not match its record (hash differs).")
    encoder = FeatureEncoder.from_dict(record["encoding"])
    if available_features is not None:
        missing = sorted(set(encoder.feature_names) - set(available_features))
        if missing:
            raise ArtifactError(
                f"Model {folder} needs feature(s) the data lacks: {', '.join(missing)}. "
                "Recompute the features with the model's feature definition "
                f"(definition hash {record['definition_hash']})."
            )
    booster = lgb.Booster(model_str=text)
    model = LightGBMModel.from_parts(
        booster,
        encoder,
        Calibrator.from_dict(record["calibration"]),
        best_iteration=int(record["best_iteration"]),
        params=LightGBMParams.model_validate(record["params"]),
    )
    return model, record


def load_heads(folder: Path) -> dict[str, LightGBMModel]:
    """Every target head saved in ``folder`` (raises :class:`ArtifactError` if none)."""
    heads: dict[str, LightGBMModel] = {}
    for target in TARGETS:
        if (folder / f"{target}.json").is_file():
            heads[target], _ = load_model(folder, target)
    if not heads:
        raise ArtifactError(f"{folder} holds no model record ({', '.join(TARGETS)}).")
    return heads
