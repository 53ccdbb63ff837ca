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
from pydantic import BaseModel, ConfigDict, ValidationError

from leadscore.contract import EventType, Stage
from leadscore.errors import ConfigError

__all__ = ["CrmMapping", "LeadscoreConfig", "load_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmMapping(_Strict):
    """Maps the CRM's own labels onto the contract's vocabularies.

    Values already in the contract vocabulary need no entry. Matching is exact (case-sensitive)
    first, then case-insensitive.
    """

    stage_labels: dict[str, Stage] = {}
    event_types: dict[str, EventType] = {}


class LeadscoreConfig(_Strict):
    """The whole configuration file."""

    mapping: CrmMapping = CrmMapping()


def _format_pydantic(error: ValidationError, path: Path) -> str:
    lines = [f"Invalid config file {path}:"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  - {where}: {item['msg']}")
    lines.append("Fix the file; unknown keys are not allowed (check the spelling).")
    return "\n".join(lines)


def load_config(path: Path | None) -> LeadscoreConfig:
    """Read and validate a YAML config file; ``None`` gives the defaults."""
    if path is None:
        return LeadscoreConfig()
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist.")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a mapping at the top level.")
    try:
        return LeadscoreConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_pydantic(exc, path)) from None
