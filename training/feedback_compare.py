"""Does learning from reps' verdicts help? The model trained with feedback against the one
without, on the same out-of-time test rows, with paired bootstrap CIs.

One time split for both (:func:`~leadscore.training.split.time_split` on the whole table, so the
periods are the ones ``leadscore train`` uses). The feedback policy
(:mod:`leadscore.training.feedback`) changes the *training and validation* rows only: rows of
leads rejected before their cutoff are dropped or relabelled 0, exactly as ``leadscore feedback
apply`` does. The test rows keep their observed outcomes, and both LightGBM heads (same
parameters and validation search) score the same rows; each paired bootstrap draw resamples
contacts (:func:`~leadscore.training.gate.paired_bootstrap`), so the interval is the one of the
difference.

Two test populations: every test row, and the rows still open to reps (the leads the policy
does not exclude, given the verdicts known at each cutoff): the leads a rep would actually be
asked to rank. Metrics: ROC AUC, and the positives found among the top leads at the rules' MQL
volume of each cutoff (the sales capacity of the headline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from leadscore.training.bots import training_bot_flags
from leadscore.training.feedback import FeedbackMasks, FeedbackPolicy, feedback_masks
from leadscore.training.gate import GateMetric, PairedComparison, paired_bootstrap
from leadscore.training.pipeline import TrainingConfig
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.split import time_split
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN, Target, TrainingTable
from leadscore.training.targets import choose_targets
from leadscore.training.tuning import fit_lightgbm

__all__ = ["POPULATIONS", "FeedbackComparison", "compare_feedback"]

POPULATIONS = {
    "all": "every test row",
    "open": "test rows of leads not excluded by a verdict known at the cutoff",
}
_METRICS: tuple[GateMetric, ...] = ("roc_auc", "found_at_capacity")


@dataclass(frozen=True)
class FeedbackComparison:
    """With feedback (challenger) minus without (champion), per target, population and metric."""

    policy: FeedbackPolicy
    masks: FeedbackMasks
    """The policy's effect on the whole table (the comparison applies it to train and valid)."""
    fitted_rows: tuple[int, int]
    """Training + validation rows fitted on, without and with feedback."""
    relabelled_rows: int
    """Training + validation rows whose labels the policy set to 0."""
    capacity_share: float
    """The rules' MQL share of the test rows: the capacity of ``found_at_capacity``."""
    split: dict[str, str]
    comparisons: dict[tuple[str, str, str], PairedComparison]
    """``(target, population, metric)`` -> the paired comparison."""
    notes: list[str]

    def table(self) -> pd.DataFrame:
        """One row per (target, population, metric): without, with, difference and its CI."""
        rows = []
        for (target, population, metric), c in self.comparisons.items():
            rows.append(
                {
                    "target": target,
                    "test rows": population,
                    "metric": metric,
                    "without feedback": c.champion,
                    "with feedback": c.challenger,
                    "difference": c.difference,
                    "ci_low": c.low,
                    "ci_high": c.high,
                    "rows": c.n_rows,
                    "positives": c.n_positives,
                }
            )
        return pd.DataFrame(rows)

    def verdict(self, target: str) -> str:
        """One sentence on the effect for ``target`` on every test row (ROC AUC)."""
        c = self.comparisons.get((target, "all", "roc_auc"))
        if c is None:
            return f"{target}: not compared."
        ci = f"[{c.low:+.4f}, {c.high:+.4f}]"
        if c.low > 0:
            return f"{target}: ROC AUC higher with feedback ({c.difference:+.4f}, {c.confidence:.0%} CI {ci})."
        if c.high < 0:
            return f"{target}: ROC AUC lower with feedback ({c.difference:+.4f}, {c.confidence:.0%} CI {ci})."
        return (
            f"{target}: no measurable effect (ROC AUC {c.difference:+.4f}, "
            f"{c.confidence:.0%} CI {ci} includes 0)."
        )


def compare_feedback(
    table: TrainingTable,
    feedback: pd.DataFrame,
    *,
    policy: FeedbackPolicy | None = None,
    config: TrainingConfig | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> FeedbackComparison:
    """Fit LightGBM per target without and with the verdicts ``feedback`` (the contract's
    feedback columns) applied by ``policy`` to the training and validation rows, and compare
    both on the same test rows (paired contact bootstrap, ``config.evaluation``'s level)."""
    config = config or TrainingConfig()
    rules_policy = policy or FeedbackPolicy()
    step = progress or (lambda _s, _d, _t: None)
    frame = table.frame
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(frame, config.split, horizon=horizon)
    masks = feedback_masks(frame[[CONTACT_COLUMN, CUTOFF_COLUMN]], feedback, rules_policy)
    flags, _ = training_bot_flags(frame, config.bots)
    excluded = flags & config.bots.exclude_from_training
    base = {p: split.mask(p) & ~excluded for p in ("train", "valid")}
    fed = {p: base[p] & ~masks.drop for p in base}
    test_mask = split.mask("test")
    test = frame[test_mask]
    parts = {"train": frame[base["train"]], "valid": frame[base["valid"]], "test": test}
    targets, notes = choose_targets(table, parts, config.targets)
    rules = config.load_rules(table.feature_names)
    mql = mql_flags(score_rules(test, rules), rules).to_numpy()
    capacity = float(mql.mean()) if mql.any() else 0.1
    if not mql.any():
        notes.append("The rules make no MQL in the test period: capacity set to 10 % of rows.")
    populations = {"all": np.ones(len(test), dtype=bool), "open": ~masks.drop[test_mask]}
    confidence = config.evaluation.confidence
    comparisons: dict[tuple[str, str, str], PairedComparison] = {}
    for i, target in enumerate(targets):
        scores: dict[str, np.ndarray[Any, Any]] = {}
        for name, rows in (("without", base), ("with", fed)):
            step(f"LightGBM {name} feedback ({target})", 2 * i + (name == "with"), 2 * len(targets))
            scores[name] = _fit_and_score(table, target, rows, masks, name == "with", test, config)
        y = table.labels(target)[test.index].to_numpy().astype(np.int64)
        for population, keep in populations.items():
            part = test[keep]
            for metric in _METRICS:
                comparisons[(target, population, metric)] = paired_bootstrap(
                    y[keep],
                    scores["with"][keep],
                    scores["without"][keep],
                    part[CONTACT_COLUMN],
                    part[CUTOFF_COLUMN],
                    metric=metric,
                    capacity_share=capacity,
                    n_bootstrap=n_bootstrap,
                    confidence=confidence,
                    seed=seed,
                )
    step("models", 2 * len(targets), 2 * len(targets))
    both = {p: (int(base[p].sum()), int(fed[p].sum())) for p in base}
    fitted = (both["train"][0] + both["valid"][0], both["train"][1] + both["valid"][1])
    relabelled = int((masks.relabel & (fed["train"] | fed["valid"])).sum())
    return FeedbackComparison(
        policy=rules_policy,
        masks=masks,
        fitted_rows=fitted,
        relabelled_rows=relabelled,
        capacity_share=capacity,
        split=split.describe(),
        comparisons=comparisons,
        notes=notes,
    )


def _fit_and_score(
    table: TrainingTable,
    target: Target,
    rows: dict[str, np.ndarray[Any, Any]],
    masks: FeedbackMasks,
    with_feedback: bool,
    test: pd.DataFrame,
    config: TrainingConfig,
) -> np.ndarray[Any, Any]:
    """Raw LightGBM scores of ``test`` from a head fitted on ``rows`` (labels relabelled by the
    policy when ``with_feedback``)."""
    frame = table.frame
    labels = table.labels(target).to_numpy().astype(np.int64)
    if with_feedback:
        labels = np.where(masks.relabel, 0, labels)
    train, valid = frame[rows["train"]], frame[rows["valid"]]
    model = fit_lightgbm(
        list(table.features),
        train,
        labels[rows["train"]],
        valid,
        labels[rows["valid"]],
        params=config.lightgbm,
        tuning=config.tuning,
        valid_groups=pd.factorize(valid[CONTACT_COLUMN])[0],
    )
    return np.asarray(model.predict_raw(test), dtype=np.float64)
