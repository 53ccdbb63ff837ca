"""Guards against silent failure: enough data per period, and warnings about the models.

Each message gives the numbers and what to do. The minimum-data check refuses to train when a
period lacks positives or negatives; the model checks warn (they never hide a result) when a
model is constant, when the test AUC is near or below chance, and when the simpler model beats
the shipped one beyond the confidence interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from leadscore.errors import DataContractError
from leadscore.training.evaluate import Evaluation

if TYPE_CHECKING:
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


def _auc_row(evaluation: Evaluation, method: str) -> dict[str, float]:
    m = evaluation.metrics
    row = m[m["method"] == method].iloc[0]
    return {k: float(row[k]) for k in ("roc_auc", "roc_auc_low", "roc_auc_high")}


def model_warnings(
    evaluation: Evaluation, fitted: FittedCandidates, target: str, constant: bool
) -> tuple[list[str], str, list[str]]:
    """``(warnings, the candidate chosen on validation, notes)`` for the fitted models."""
    warnings: list[str] = []
    notes: list[str] = []
    valid = fitted.valid_auc
    chosen = max(valid, key=lambda k: valid[k])
    shown = ", ".join(f"{k} {v:.3f}" for k, v in valid.items())
    notes.append(f"Validation AUC ({target}): {shown}; best on validation: {chosen}.")
    if chosen != "lightgbm":
        warnings.append(
            f"Logistic regression beat LightGBM on validation ({shown}). The registered model "
            "is LightGBM (the model artifact serves LightGBM heads): compare the test AUCs "
            "below, and prefer fewer, cleaner columns if the gap holds."
        )
    if constant:
        warnings.append(
            "LightGBM is a constant model: it found no split, every lead gets the same score. "
            "Check that the columns carry signal (see the leakage table: were the useful ones "
            "excluded?), or export more rows."
        )
    gbm, lr = _auc_row(evaluation, "lightgbm"), _auc_row(evaluation, "logistic")
    for name, row in (("LightGBM", gbm), ("logistic regression", lr)):
        if row["roc_auc"] < LOW_AUC:
            warnings.append(
                f"{name}'s test AUC is {row['roc_auc']:.3f} (below {LOW_AUC}: near or below "
                "chance). The test period differs from the training one (see the base rates) "
                "or the columns carry no signal: do not use these scores as they are; check "
                "the split (--test-from, --test-fraction) and the excluded columns."
            )
    if lr["roc_auc"] > gbm["roc_auc_high"]:
        warnings.append(
            f"Logistic regression (test AUC {lr['roc_auc']:.3f}) beats LightGBM beyond its 95% "
            f"CI ({gbm['roc_auc_low']:.3f}-{gbm['roc_auc_high']:.3f}): LightGBM overfits these "
            "rows; try fewer columns or more history."
        )
    return warnings, chosen, notes
