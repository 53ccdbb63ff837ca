"""A registered model re-scored on a training table's out-of-time test window, beside the rules."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.heads import read_heads
from leadscore.model.inputs import Target
from leadscore.training.bots import training_bot_flags
from leadscore.training.evaluate import Evaluation, MethodScores, evaluate_methods
from leadscore.training.pipeline import TrainingConfig, fit_rules_calibrator, rules_probability
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.split import time_split
from leadscore.training.table import (
    CONTACT_COLUMN,
    CUTOFF_COLUMN,
    TARGETS,
    TrainingTable,
    load_training_table,
)
from leadscore.training.tracking import download_heads

__all__ = ["RegisteredEvaluation", "evaluate_registered"]


@dataclass(frozen=True)
class RegisteredEvaluation:
    """The evaluation of one registered version and of the rules. The version is the method
    named after its heads' kind (``lightgbm``, ``logistic``), or ``shipped`` when its targets
    ship different kinds or the rules (a name the rules baseline already holds)."""

    evaluation: Evaluation
    test_rows: int
    method: str = "lightgbm"


def evaluate_registered(
    training_table: Path | TrainingTable,
    *,
    model_name: str = "leadscore",
    ref: str = "champion",
    tracking_uri: str | None = None,
    config: TrainingConfig | None = None,
    bootstrap: bool = True,
) -> RegisteredEvaluation:
    """Score the table's test window with version or alias ``ref`` of ``model_name`` and with
    the configured rules; with ``bootstrap``, metrics carry the configured confidence intervals."""
    config = config or TrainingConfig()
    table = (
        training_table
        if isinstance(training_table, TrainingTable)
        else load_training_table(training_table)
    )
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, config.split, horizon=horizon)
    test = table.frame[split.mask("test")]
    with tempfile.TemporaryDirectory() as tmp:
        heads_dir, _ = download_heads(model_name, ref, Path(tmp), tracking_uri=tracking_uri)
        heads = read_heads(heads_dir).heads
        rules = config.load_rules(table.feature_names)
        points = score_rules(test, rules).to_numpy()
        targets = [t for t in TARGETS if t in heads]
        labels: dict[str, np.ndarray[Any, Any]] = {
            t: table.labels(t)[test.index].to_numpy() for t in targets
        }
        raw: dict[str, np.ndarray[Any, Any]] = {t: heads[t].predict_raw(test) for t in targets}
        proba: dict[str, np.ndarray[Any, Any]] = {t: heads[t].predict_proba(test) for t in targets}
    flags, _ = training_bot_flags(table.frame, config.bots)
    valid_mask = split.mask("valid") & ~(flags & config.bots.exclude_from_training)
    rules_p = _rules_probabilities(table, valid_mask, rules, points, targets)
    kinds = {str(getattr(heads[t], "kind", "lightgbm")) for t in targets}
    method = kinds.pop() if len(kinds) == 1 and "rules" not in kinds else "shipped"
    methods = [
        MethodScores("rules", dict.fromkeys(targets, points), rules_p),
        MethodScores(method, raw, proba),
    ]
    evaluation_config = config.evaluation
    if not bootstrap:
        evaluation_config = evaluation_config.model_copy(update={"n_bootstrap": 0})
    evaluation = evaluate_methods(
        test[[CONTACT_COLUMN, CUTOFF_COLUMN]],
        labels,
        methods,
        mql=mql_flags(pd.Series(points), rules).to_numpy(),
        config=evaluation_config,
    )
    return RegisteredEvaluation(evaluation=evaluation, test_rows=len(test), method=method)


def _rules_probabilities(
    table: TrainingTable,
    valid_mask: np.ndarray[Any, Any],
    rules: Any,
    test_points: np.ndarray[Any, Any],
    targets: Sequence[Target],
) -> dict[str, np.ndarray[Any, Any]]:
    """The rules' points as probabilities, calibrated as ``train`` does (so both print one Brier
    for the rules on the same rows); without a validation window holding both classes, the
    points over 100 (ranking metrics unaffected)."""
    valid = table.frame[valid_mask]
    valid_points = score_rules(valid, rules).to_numpy()
    groups = pd.factorize(valid[CONTACT_COLUMN])[0]
    out: dict[str, np.ndarray[Any, Any]] = {}
    for t in targets:
        y = table.labels(t)[valid.index].to_numpy()
        if len(y) and 0 < int(y.sum()) < len(y):
            calibrator = fit_rules_calibrator(valid_points, y, groups, rules.mql_threshold)
            out[t] = rules_probability(test_points, rules.mql_threshold, calibrator)
        else:
            out[t] = np.clip(test_points / 100, 0.0, 1.0)
    return out
