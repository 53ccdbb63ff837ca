"""Steps on the raw CRM: generate a synthetic one, validate a real one and summarise its funnel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.config import load_config
from leadscore.pipeline.defaults import DEFAULT_DEMO_CRM
from leadscore.pipeline.progress import ProgressFn, no_progress, per_task, waiting

if TYPE_CHECKING:
    from leadscore.crm import CrmData
    from leadscore.funnel import FunnelSummary
    from leadscore.synthetic import GenerationSummary
    from leadscore.synthetic.config import OutputFormat
    from leadscore.validation import Problem

__all__ = [
    "GenerateSpec",
    "ValidateSpec",
    "ValidationReport",
    "generate_step",
    "open_mapped_crm",
    "validate_step",
]


@dataclass(frozen=True, kw_only=True)
class GenerateSpec:
    """A synthetic CRM: where, how many contacts, which seed, which format (default: from
    ``out``'s suffix, ``.duckdb`` or a folder of Parquet files)."""

    out: Path = DEFAULT_DEMO_CRM
    contacts: int = 20_000
    seed: int = 42
    fmt: OutputFormat | None = None
    drift_at: datetime | None = None
    """A planted drift from this moment on (``leadscore.synthetic.drift``); off by default."""
    drift_strength: float = 1.0


def generate_step(spec: GenerateSpec, *, progress: ProgressFn = no_progress) -> GenerationSummary:
    """Generate a synthetic CRM with its true-probability oracle kept apart (same seed, same
    data); progress is reported per contact under ``"Generating contacts"``."""
    from leadscore.synthetic import GeneratorConfig, generate_crm

    config = GeneratorConfig(
        n_contacts=spec.contacts,
        seed=spec.seed,
        drift_at=spec.drift_at,
        drift_strength=spec.drift_strength,
    )
    return generate_crm(
        config, spec.out, fmt=spec.fmt, progress=per_task(progress, "Generating contacts")
    )


@dataclass(frozen=True, kw_only=True)
class ValidateSpec:
    """A CRM to check against the data contract, with the label-mapping config (YAML) and the
    moment after which timestamps count as in the future (default: now)."""

    source: str | Path = DEFAULT_DEMO_CRM
    config: Path | None = None
    as_of: datetime | None = None


@dataclass(frozen=True)
class ValidationReport:
    """A valid CRM: what it is, rows per table, its content fingerprint, warnings, funnel."""

    description: str
    row_counts: dict[str, int]
    fingerprint: str
    warnings: list[Problem]
    funnel: FunnelSummary


def validate_step(spec: ValidateSpec, *, progress: ProgressFn = no_progress) -> ValidationReport:
    """Validate a CRM and summarise its funnel. Raises
    :class:`~leadscore.errors.DataContractError` listing every problem found."""
    from leadscore.crm import open_crm
    from leadscore.funnel import funnel_summary

    mapping = load_config(spec.config).mapping
    with waiting(progress, f"Validating {spec.source}..."):
        crm = open_crm(spec.source, mapping, as_of=spec.as_of)
    try:
        return ValidationReport(
            description=crm.description,
            row_counts=crm.row_counts(),
            fingerprint=crm.fingerprint(),
            warnings=list(crm.problems),
            funnel=funnel_summary(crm),
        )
    finally:
        crm.close()


@contextmanager
def open_mapped_crm(source: str | Path | CrmData, config: Path | None = None) -> Iterator[CrmData]:
    """The CRM validated once, with the config's label mapping (an open :class:`CrmData` is
    used as is and left open)."""
    from leadscore.crm import CrmData, open_crm

    if isinstance(source, CrmData):
        yield source
        return
    crm = open_crm(source, load_config(config).mapping)
    try:
        yield crm
    finally:
        crm.close()
