"""The HTML report of a flat-mode training: split, warnings, leakage table, dropped columns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadscore.model.heads import AnyHead
from leadscore.training.choice import choice_table
from leadscore.training.report import ReportContext, write_report

if TYPE_CHECKING:
    from leadscore.training.flat import FlatResult

__all__ = ["write_flat_report"]


def write_flat_report(
    result: FlatResult,
    csv_path: Path,
    keep_columns: Sequence[str],
    head: AnyHead,
    test: pd.DataFrame,
) -> Path:
    """Write the report of ``result`` to ``result.report_path``; returns the path."""
    leaks = result.leakage
    flagged = set(leaks.loc[leaks["flag"] != "", "column"])
    notes = list(result.notes)
    excluded = sorted(flagged - set(keep_columns))
    if excluded:
        notes.append(f"Excluded as likely leakage: {', '.join(excluded)} (keep one with --keep).")
    kept_leaky = sorted(flagged & set(keep_columns))
    if kept_leaky:
        notes.append(f"Flagged but kept at the user's request: {', '.join(kept_leaky)}.")
    notes += [f"WARNING: {w}" for w in result.warnings]
    sample = test.head(2000)
    split = result.split
    windows = dict(split.windows) if split is not None else {}
    periods = {"train": 0, "valid": 0, "test": 0}
    if split is not None:
        periods = {p: int(split.mask(p).sum()) for p in periods}
    context = ReportContext(
        title=f"leadscore flat-table mode: {csv_path.name}",
        data_fingerprint="flat:" + csv_path.name,
        definition_hash="flat",
        split_description={**{p: str(n) for p, n in periods.items()}, **windows},
        split_mode=result.split_mode,
        notes=notes,
        shap={
            str(result.evaluation.metrics["target"].iloc[0]): (
                head.contributions(sample),
                sample[head.feature_names],
            )
        },
        shipped=result.chosen,
        extra_tables={
            **(
                {
                    "Model choice (validation window)": choice_table(
                        {result.choice.target: result.choice}
                    )
                }
                if result.choice is not None
                else {}
            ),
            "Leakage detector (computed on the training rows)": leaks,
            "Dropped columns": pd.DataFrame(
                {"column": list(result.dropped), "reason": list(result.dropped.values())}
            ),
        },
    )
    return write_report(result.evaluation, context, result.report_path)
