"""Typed, strict configuration: how a user's CRM vocabulary maps onto the data contract.

A config file is YAML. Unknown keys are errors (``extra="forbid"``), so a typo never silently
falls back to a default. Example::

    mapping:
      stage_labels:          # CRM stage label -> contract stage
        Marketing Qualified Lead: mql
        Sales Accepted: sql
      event_types:           # CRM event name -> contract event type
        Visited Pricing: pricing_page_visit
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadscore.contract import EventType, Stage
from leadscore.errors import ConfigError, LeadscoreError

__all__ = [
    "CrmMapping",
    "LeadscoreConfig",
    "SegmentsConfig",
    "format_validation_error",
    "load_config",
    "read_yaml_mapping",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmMapping(_Strict):
    """Maps the CRM's own labels onto the contract's vocabularies.

    Values already in the contract vocabulary need no entry. Matching is exact (case-sensitive)
    first, then case-insensitive.
    """

    stage_labels: dict[str, Stage] = {}
    event_types: dict[str, EventType] = {}


class SegmentsConfig(_Strict):
    """Models per segment (``segments:`` in the training config).

    ``column`` is a categorical feature of the training table (``region``, ``lead_source``,
    ``industry``, or your own contact/account column declared in the feature YAML, such as a
    business unit). Each value in ``values`` (default: every value seen in the training period)
    gets its own model when it has enough data in both the training and the validation period
    for every target (the ``min_*`` counts are (contact, cutoff) rows); otherwise its leads are
    scored by the global model, and the terminal, the report and the MLflow run say why. The
    defaults follow the commercial scorers' floors (Dynamics 365: 40 qualified leads per model;
    Einstein: 120 conversions) with a validation share large enough to stop and calibrate.
    """

    column: str
    values: tuple[str, ...] | None = None
    min_rows_train: int = Field(1000, ge=1)
    min_positives_train: int = Field(50, ge=1)
    min_rows_valid: int = Field(300, ge=1)
    min_positives_valid: int = Field(15, ge=1)
    fallback_when_worse: bool = True
    """A segment model whose validation AUC (any target) is below the global model's on the
    same segment rows is not shipped: the segment falls back to the global model."""


class LeadscoreConfig(_Strict):
    """The whole configuration file."""

    mapping: CrmMapping = CrmMapping()


def format_validation_error(error: ValidationError, header: str, hint: str) -> str:
    """One line per invalid field (``where: what (got value)``), between a header and a hint."""
    lines = [header]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = item.get("input")
        suffix = f" (got {got!r})" if isinstance(got, str | int | float) else ""
        lines.append(f"  - {where}: {item['msg']}{suffix}")
    lines.append(hint)
    return "\n".join(lines)


def read_yaml_mapping(
    path: Path, what: str, *, error: type[LeadscoreError] = ConfigError
) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file: ``{}``); ``error`` names what is wrong."""
    if not path.is_file():
        raise error(f"{what} {path} does not exist.")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise error(f"{what} {path} must hold a mapping at the top level.")
    return raw


def load_config(path: Path | None) -> LeadscoreConfig:
    """Read and validate a YAML config file; ``None`` gives the defaults."""
    if path is None:
        return LeadscoreConfig()
    raw = read_yaml_mapping(path, "Config file")
    try:
        return LeadscoreConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(
                exc,
                f"Invalid config file {path}:",
                "Fix the file; unknown keys are not allowed (check the spelling).",
            )
        ) from None
