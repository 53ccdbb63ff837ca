"""Which targets a training run fits: the ones asked for, or every target the data supports.

A target with fewer than five positives (or negatives) in the test period, or none in another
period, cannot be fitted or evaluated honestly: asked for explicitly, it is an error; chosen
automatically, it is skipped with a note saying why, with the counts of every period and a split
that would work (:mod:`leadscore.training.period_counts`). Fewer than five in training or
validation is a note: the target is trained, on thin data. A target
whose labels equal another's on every row (won deals mapped to both ``sql`` and ``customer``)
would train a copy of the other model: it is skipped too, never trained silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import DataContractError
from leadscore.model.inputs import TARGETS, Target
from leadscore.training.period_counts import period_shortfall, suggest_split
from leadscore.training.table import CUTOFF_COLUMN, TrainingTable

__all__ = ["choose_targets", "parse_targets", "refuse_constant_heads", "rules_notes"]


def parse_targets(text: str | Sequence[str] | None) -> tuple[Target, ...] | None:
    """``"sql,meeting"`` (or a list) as targets; ``None`` stays ``None`` (automatic)."""
    if text is None:
        return None
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise DataContractError(
            [f"targets: {', '.join(unknown) or 'none given'}"],
            header=f"Unknown targets; allowed: {', '.join(TARGETS)} (comma-separated):",
        )
    return tuple(t for t in TARGETS if t in names)


def _why_not(
    table: TrainingTable, target: Target, parts: Mapping[str, pd.DataFrame]
) -> tuple[str, str]:
    """Why ``target`` cannot be fitted and evaluated, and what makes it weak (``""``: none)."""
    for name, part in parts.items():
        if part.empty:
            return f"the {name} period is empty", ""
    labels = table.labels(target)
    why, weak = period_shortfall(labels, parts)
    advice = suggest_split(table.frame[CUTOFF_COLUMN], labels) if why or weak else ""
    return (f"{why}; {advice}" if why else ""), (f"{weak}; {advice}" if weak else "")


def choose_targets(
    table: TrainingTable,
    parts: Mapping[str, pd.DataFrame],
    requested: Sequence[Target] | None,
) -> tuple[list[Target], list[str]]:
    """The targets to fit and the notes on those skipped (``parts``: train, valid, test)."""
    notes: list[str] = []
    chosen: list[Target] = []
    for target in requested or TARGETS:
        why, weak = _why_not(table, target, parts)
        if why and requested:
            raise DataContractError(
                [f"target {target!r}: {why}"],
                header="The training table cannot be evaluated honestly for a requested target "
                "(build it over a longer period, or train the other target with --targets):",
            )
        if why:
            notes.append(f"Target {target!r} skipped: {why}; it has no model and no score.")
            continue
        twin = next(
            (
                t
                for t in chosen
                if table.labels(t).astype(bool).equals(table.labels(target).astype(bool))
            ),
            None,
        )
        if twin is not None and not requested:
            notes.append(
                f"Target {target!r} skipped: its labels equal those of {twin!r} on every row, so "
                "its model would be a copy. Map the stage it stands for (e.g. meetings to "
                "'meeting'), or train one target with --targets."
            )
            continue
        if weak:
            notes.append(f"Target {target!r} is trained on thin data: {weak}.")
        chosen.append(target)
    if not chosen:
        raise DataContractError(
            [note.removesuffix("; it has no model and no score.") for note in notes],
            header="No target can be trained on this table (each needs positives in the train, "
            "validation and test periods: build over a longer period, a longer --horizon, or "
            "check the stage mapping):",
        )
    return chosen, notes


def refuse_constant_heads(probabilities: Mapping[str, np.ndarray[Any, Any]]) -> None:
    """Refuse a run whose LightGBM head predicts one value for every test lead: such a model
    ranks nothing and must never be registered."""
    constant = [t for t, p in probabilities.items() if len(p) and float(np.ptp(p)) == 0.0]
    if constant:
        raise DataContractError(
            [
                f"target {t!r}: LightGBM predicts the same probability for every test lead"
                for t in constant
            ],
            header="The model came out constant (too few training positives for the signal): "
            "nothing was registered. Build over a longer period or a longer --horizon, score "
            "leads at stage entry (features build --at mql), or train one target (--targets):",
        )


def rules_notes(points: np.ndarray[Any, Any], threshold: float) -> list[str]:
    """A warning when the rules never reach their MQL threshold on this data."""
    if len(points) and float(np.max(points)) < threshold:
        return [
            f"No lead reaches the rules' MQL threshold ({threshold:g} points; the best has "
            f"{float(np.max(points)):g}): the default points do not fit this data, so gain at "
            "MQL volume cannot be estimated. Give your own points (rules_path in the training "
            "config)."
        ]
    return []
