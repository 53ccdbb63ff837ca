"""The scorer record saved next to the heads: feature definition, grade thresholds, versions.

``scorer.json`` sits in the heads folder of a training run (beside ``sql.lgb.txt``,
``sql.json``...) and is part of the pyfunc artifact. It holds the full feature definition (so
serving computes features with the exact definition the model was trained on, and renders
reasons from its templates) and the grade thresholds fitted on the validation period. JSON only:
nothing is pickled. Training fits it and writes it with the heads through
:func:`leadscore.model.heads.write_heads`; serving only reads it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from leadscore import __version__
from leadscore.atomic import atomic_write_text
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError
from leadscore.features.definition import FeatureDefinition
from leadscore.features.labels import FromStage
from leadscore.model.bots import BotRule
from leadscore.model.flat import FlatSpec
from leadscore.model.grades import GradeThresholds
from leadscore.records import read_versioned_record

__all__ = [
    "SEGMENTED_SPEC_FORMAT",
    "SPEC_FILE",
    "SPEC_FORMAT",
    "ScorerSpec",
    "read_spec",
    "write_spec",
]

SPEC_FORMAT = "leadscore-scorer/1"
SEGMENTED_SPEC_FORMAT = "leadscore-scorer/2"
"""A scorer with models per segment (``segment_column`` set): older leadscores refuse it."""
SPEC_FILE = "scorer.json"


class ScorerSpec(BaseModel):
    """What the scorer needs besides the boosters (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["leadscore-scorer/1", "leadscore-scorer/2"] = "leadscore-scorer/1"
    schema_version: str = SCHEMA_VERSION
    package_version: str = __version__
    created_at: str = ""
    definition: dict[str, Any] | None = None
    definition_hash: str = "unknown"
    data_fingerprint: str = "unknown"
    horizon_days: int | None = None
    from_stage: FromStage = "any"
    grades: GradeThresholds | None = None
    reason_target: str = "sql"
    top_reasons: int = 3
    flat: FlatSpec | None = None
    """Set for a flat-mode model (``train --table``): the export columns it reads."""
    segment_column: str | None = None
    """Set (format ``leadscore-scorer/2``) when leads are routed to models per segment
    (:mod:`leadscore.model.segments`)."""
    bots: BotRule | None = None
    """The bot rule scoring applies (:mod:`leadscore.model.bots`); ``None``: none."""
    max_lead_age_days: int | None = None
    """The training table's maximum lead age: leads created longer ago with no event or stage
    change in that many days were not trained on, and scoring leaves them out too."""

    def feature_definition(self) -> FeatureDefinition | None:
        """The parsed feature definition (``None`` when the model was trained without one)."""
        if self.definition is None:
            return None
        try:
            return FeatureDefinition.model_validate(self.definition)
        except ValidationError as exc:
            raise ArtifactError(
                f"The scorer's feature definition does not parse with this leadscore: {exc}"
            ) from None


def write_spec(folder: Path, spec: ScorerSpec) -> Path:
    """Write ``scorer.json`` into ``folder`` atomically; returns its path."""
    if not spec.created_at:
        spec = spec.model_copy(
            update={"created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        )
    path = folder / SPEC_FILE
    atomic_write_text(path, json.dumps(spec.model_dump(mode="json"), indent=2, sort_keys=True))
    return path


def _format_of(path: Path) -> object:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # read_versioned_record says what is wrong
    return raw.get("format") if isinstance(raw, dict) else None


def read_spec(path: Path) -> ScorerSpec:
    """Read and check ``scorer.json``; :class:`ArtifactError` when missing or incompatible."""
    expected = SEGMENTED_SPEC_FORMAT if _format_of(path) == SEGMENTED_SPEC_FORMAT else SPEC_FORMAT
    raw = read_versioned_record(path, what="Scorer record", expected_format=expected)
    try:
        return ScorerSpec.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(f"Scorer record {path} is malformed: {exc}") from None
