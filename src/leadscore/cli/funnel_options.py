"""Options of the real-funnel features: label times at stage entry, stale leads, targets."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from leadscore.pipeline.defaults import DEFAULT_MAX_LEAD_AGE_DAYS

__all__ = ["AtOption", "EntryOffsetOption", "MaxLeadAgeOption", "TargetsOption"]

AtOption = Annotated[
    Literal["created", "mql"] | None,
    typer.Option(
        "--at",
        help="Score each lead once, when it was created or became an MQL (instead of a "
        "schedule of cutoffs).",
    ),
]
EntryOffsetOption = Annotated[
    int,
    typer.Option("--entry-offset-days", min=0, help="With --at: score N days after the entry."),
]
MaxLeadAgeOption = Annotated[
    int | None,
    typer.Option(
        "--max-lead-age-days",
        min=0,
        help="Leave out leads created more than N days before a cutoff and inactive since "
        f"(default: {DEFAULT_MAX_LEAD_AGE_DAYS} with a schedule, measured on two synthetic "
        "CRMs, see docs/custom-features.md; none with --at or --label-times; 0: keep every "
        "lead).",
    ),
]
TargetsOption = Annotated[
    str | None,
    typer.Option(
        "--targets",
        help="Targets to train: sql, meeting or sql,meeting (default: every target with "
        "positives).",
    ),
]
