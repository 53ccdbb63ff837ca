"""Guards against silent failure: enough data per period, and warnings about the models.

Each message gives the numbers and what to do. The minimum-data check refuses to train when a
period lacks positives or negatives; the model checks warn (they never hide a result) when a
model is constant, when the test AUC is near or below chance, and when the simpler model beats
the shipped one (the candidate chosen on validation) beyond the confidence interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from leadscore.errors import DataContractError
from leadscore.training.evaluate import Evaluation

if TYPE_CHECKING:
    from leadscore.training.choice import HeadChoice
    from leadscore.training.flat_fit import FittedCandidates
    from leadscore.training.flat_split import FlatSplit

__all__ = [
    "LOW_AUC",
    "MIN_PER_CLASS",
    "MIN_PER_PERIOD",
    "check_periods",
    "model_warnings",
    "require_enough_rows",
]

MIN_PER_CLASS = 10
"""Positives and negatives needed in the whole export."""
MIN_PER_PERIOD = 5
"""Positives and negatives needed in each of train, validation and test."""
LOW_AUC = 0.55
"""A test AUC below this is near chance: the model ranks leads barely better than a coin."""


def require_enough_rows(y: np.ndarray[Any, Any], target: str, name: str) -> None:
    """Refuse an export with fewer than :data:`MIN_PER_CLASS` positives or negatives."""
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if min(positives, negatives) < MIN_PER_CLASS:
        raise DataContractError(
            [
                f"{name}: {len(y):,} row(s), {positives:,} with {target} = 1 and "
                f"{negatives:,} with {target} = 0; expected at least {MIN_PER_CLASS} of each "
                "to train, validate and test: export more history"
            ],
            header="The flat table is too small to train and evaluate honestly:",
        )


def check_periods(y: np.ndarray[Any, Any], split: FlatSplit, target: str, name: str) -> None:
    """Refuse a split whose train, validation or test period has fewer than
    :data:`MIN_PER_PERIOD` positives or negatives; the message gives every count."""
    counts = {}
    for p in ("train", "valid", "test"):
        part = y[split.mask(p)]
        counts[p] = (int(part.sum()), int(len(part) - part.sum()))
    short = [p for p, (pos, neg) in counts.items() if min(pos, neg) < MIN_PER_PERIOD]
    if short:
        shown = "; ".join(
            f"{p}: {pos:,} positive, {neg:,} negative" for p, (pos, neg) in counts.items()
        )
        raise DataContractError(
            [
                f"{name}: {target} per period ({shown}); the {', '.join(short)} period(s) need "
                f"at least {MIN_PER_PERIOD} of each. Export more rows, move --test-from, raise "
                "--test-fraction, or leave --time-column out for a random split"
            ],
            header="The flat table's split leaves too few examples to evaluate honestly:",
        )


def _auc_row(evaluation: Evaluation, method: str) -> dict[str, float] | None:
    m = evaluation.metrics
    rows = m[m["method"] == method]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {k: float(row[k]) for k in ("roc_auc", "roc_auc_low", "roc_auc_high")}


_NAMES = {"lightgbm": "LightGBM", "logistic": "logistic regression", "rules": "the rules"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def model_warnings(
    evaluation: Evaluation, fitted: FittedCandidates, choice: HeadChoice, constant: bool
) -> tuple[list[str], list[str]]:
    """``(warnings, notes)`` about the fitted models and the head that ships (``choice``)."""
    warnings: list[str] = []
    valid = fitted.valid_auc
    shown = ", ".join(f"{k} {v:.3f}" for k, v in valid.items())
    notes = [f"Validation AUC ({choice.target}): {shown}.", f"Shipped: {choice.why}."]
    shipped = choice.shipped
    if constant:
        warnings.append(
            "LightGBM is a constant model: it found no split, every lead gets the same score"
            + (" (and it ships)" if shipped == "lightgbm" else "")
            + ". Check that the columns carry signal (see the leakage table: were the useful "
            "ones excluded?), or export more rows."
        )
    for method in ("lightgbm", "logistic"):
        row = _auc_row(evaluation, method)
        if row is not None and row["roc_auc"] < LOW_AUC:
            warnings.append(
                f"{_cap(_NAMES[method])}'s test AUC is {row['roc_auc']:.3f} (below "
                f"{LOW_AUC}: near or below chance). The test period differs from the training "
                "one (see the base rates) or the columns carry no signal: do not use these "
                "scores as they are; check the split (--test-from, --test-fraction) and the "
                "excluded columns."
            )
    mine = _auc_row(evaluation, shipped)
    if shipped == "rules" and mine is not None and mine["roc_auc"] < LOW_AUC:
        warnings.append(
            f"The rules ship, and their test AUC is {mine['roc_auc']:.3f} (below {LOW_AUC}): "
            "no candidate ranks these leads reliably; check the split and the rules."
        )
    if mine is None:
        return warnings, notes
    for other in ("rules", "logistic", "lightgbm"):
        theirs = _auc_row(evaluation, other)
        if other == shipped or theirs is None or theirs["roc_auc"] <= mine["roc_auc_high"]:
            continue
        warnings.append(
            f"{_cap(_NAMES[other])} (test AUC {theirs['roc_auc']:.3f}) beats the shipped "
            f"{_NAMES[shipped]} beyond its 95% CI ({mine['roc_auc_low']:.3f}-"
            f"{mine['roc_auc_high']:.3f}): the choice on validation did not hold on the test "
            "period. Check for drift between the periods (--test-from), try fewer columns or "
            "more history before relying on the shipped model."
        )
    return warnings, notes
