"""CRM mode's guards against silent failure: the flat-mode checks, run on a training table.

Profile fields of a CRM are export-time snapshots and can leak into a point-in-time table; a
LightGBM head can be constant; a test AUC can sit near chance. Each is a warning with what to
do, shown on the terminal and in the report. Nothing is excluded here: CRM features come from a
feature definition the user chose (drop a flagged one from it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leadscore.training.flat_fit import is_constant
from leadscore.training.flat_guards import LOW_AUC
from leadscore.training.flat_leakage import detect_leakage
from leadscore.training.pipeline import TrainingOutcome

__all__ = ["LEAKAGE_ROWS", "training_warnings"]

LEAKAGE_ROWS = 50_000
"""The leakage detector reads at most this many training rows (a seeded sample)."""


def training_warnings(outcome: TrainingOutcome) -> list[str]:
    """Warnings about a CRM-mode training: leaking columns, constant heads, chance-level AUC."""
    table = outcome.table
    warnings: list[str] = []
    train = table.frame[outcome.split.mask("train")]
    if len(train) > LEAKAGE_ROWS:
        train = train.sample(LEAKAGE_ROWS, random_state=0)
    valid = table.frame[outcome.split.mask("valid")]
    metrics = outcome.evaluation.metrics
    for target, model in outcome.lightgbm.items():
        y: np.ndarray[Any, Any] = table.labels(target)[train.index].to_numpy(dtype=np.int64)
        if 0 < y.sum() < len(y):
            leaks = detect_leakage(train, y, table.features)
            flagged = leaks[leaks["flag"] != ""]
            for column, flag in zip(flagged["column"], flagged["flag"], strict=True):
                warnings.append(
                    f"{target}: column {column} may leak the outcome ({flag}); if it is "
                    "a profile field filled after the lead converted, drop it from the feature "
                    "definition."
                )
        if len(valid) and is_constant(model.predict_raw(valid)):
            warnings.append(
                f"{target}: the LightGBM head is a constant model (no split found): every lead "
                "gets the same score. Lower min_child_samples or raise negative_fraction in "
                "the training config, or build a longer history."
            )
        aucs = metrics.loc[
            (metrics["method"] == "lightgbm") & (metrics["target"] == target), "roc_auc"
        ]
        if len(aucs) and float(aucs.iloc[0]) < LOW_AUC:
            warnings.append(
                f"{target}: LightGBM's test AUC is {float(aucs.iloc[0]):.3f} (below "
                f"{LOW_AUC}: near chance). Do not promote it; check the label horizon and the "
                "test window."
            )
    return warnings
