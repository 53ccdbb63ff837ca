"""The HTML report of a flat-mode training: split, warnings, leakage table, dropped columns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadscore.model.heads import AnyHead
from leadscore.training.choice import choice_table
from leadscore.training.report import ReportContext, write_report
from leadscore.training.report_format import percent

if TYPE_CHECKING:
    from leadscore.training.flat import FlatResult

__all__ = ["write_flat_report"]


WARNING = "WARNING: "
"""How a flat result's note that may mean a wrong result begins (the rest is information)."""


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
    notes = [n for n in result.notes if n.startswith(WARNING)]  # styled as warnings
    info = [n for n in result.notes if not n.startswith(WARNING)]
    excluded = sorted(flagged - set(keep_columns))
    if excluded:
        notes.append(
            f"{WARNING}excluded as likely leakage: {', '.join(excluded)} (keep one with --keep)."
        )
    kept_leaky = sorted(flagged & set(keep_columns))
    if kept_leaky:
        notes.append(f"{WARNING}flagged but kept at the user's request: {', '.join(kept_leaky)}.")
    notes += [f"{WARNING}{w}" for w in result.warnings]
    sample = test.head(2000)
    split = result.split
    windows = dict(split.windows) if split is not None else {}
    periods = {"train": 0, "valid": 0, "test": 0}
    if split is not None:
        periods = {p: int(split.mask(p).sum()) for p in periods}
    choice = choice_table({result.choice.target: result.choice}) if result.choice else None
    if choice is not None and result.rules is None:  # no rules: nothing is an MQL
        choice = choice.drop(columns="valid_found_at_mql")
    context = ReportContext(
        title=f"leadscore flat-table mode: {csv_path.name}",
        data_fingerprint="flat:" + csv_path.name,
        definition_hash="flat",
        split_description={**{p: str(n) for p, n in periods.items()}, **windows},
        split_mode=result.split_mode,
        notes=notes,
        info=info,
        shap={
            str(result.evaluation.metrics["target"].iloc[0]): (
                head.contributions(sample),
                sample[head.feature_names],
            )
        },
        shipped=result.chosen,
        flat=True,
        extra_tables={
            **({"Model choice (validation window)": choice} if choice is not None else {}),
            "Leakage detector (computed on the training rows)": _shares_in_percent(leaks),
            "Dropped columns": pd.DataFrame(
                {"column": list(result.dropped), "reason": list(result.dropped.values())}
            ),
        },
    )
    return write_report(result.evaluation, context, result.report_path)


def _shares_in_percent(leaks: pd.DataFrame) -> pd.DataFrame:
    """The leakage table with its filled shares as percentages (1.0 read as a count "1")."""
    shown = leaks.copy()
    for column in ("filled_positives", "filled_negatives"):
        if column in shown:
            shown[column] = [percent(v) for v in shown[column]]
    return shown
