"""Options of the real-funnel features: label times at stage entry, stale leads, targets."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

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
    int,
    typer.Option(
        "--max-lead-age-days",
        min=0,
        help="Leave out leads created more than N days before a cutoff and inactive since "
        "(0: keep every lead; the default was measured on the synthetic CRM, see "
        "docs/custom-features.md).",
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
