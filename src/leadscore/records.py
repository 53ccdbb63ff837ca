"""Versioned JSON records (model heads, scorer specs): read them and refuse incompatible ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leadscore import __version__
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError

__all__ = ["read_versioned_record"]


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def read_versioned_record(path: Path, *, what: str, expected_format: str) -> dict[str, Any]:
    """The record at ``path``, checked for its format, data-contract schema and package major
    version; :class:`ArtifactError` names what differs and how to fix it."""
    if not path.is_file():
        raise ArtifactError(f"{what} {path} does not exist.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != expected_format:
        raise ArtifactError(
            f"{path} is not a leadscore {what.lower()} (expected format {expected_format!r})."
        )
    schema = str(record.get("schema_version"))
    if schema != SCHEMA_VERSION:
        raise ArtifactError(
            f"{what} {path} was built for data contract schema {schema}; this leadscore uses "
            f"schema {SCHEMA_VERSION}. Retrain and register the model with this version."
        )
    package = str(record.get("package_version"))
    if _major(package) != _major(__version__):
        raise ArtifactError(
            f"{what} {path} was built by leadscore {package}; this is leadscore {__version__} "
            "(major versions differ). Retrain and register the model with this version."
        )
    return record
