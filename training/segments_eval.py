"""The per-segment evaluation table: on each segment's out-of-time test rows, the rules, the global
model and the segment's own model (when it has one), so a user sees whether it helps.

Per segment and target: test rows and positives, ROC-AUC with its cluster-bootstrap CI (contacts
resampled) for the global and the segment model, their paired AUC difference with its CI (the
same resamples for both), and the positives found at the rules' MQL volume of the segment (each
cutoff's top K, K = the segment's MQLs at that cutoff) by the rules, the global and the segment
model. A segment that falls back to the global model keeps its row, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.segments import segment_folder, segment_keys
from leadscore.training.evaluate import found_at_k, weighted_auc
from leadscore.training.pipeline import TrainingConfig, TrainingOutcome
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.segments import SegmentFit, fit_segment_models
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN, TrainingTable

__all__ = ["SegmentsOutcome", "evaluate_segments", "train_segments"]

FloatArray = np.ndarray[Any, Any]
Progress = Callable[[str, int, int], None]


@dataclass
class SegmentsOutcome:
    """Models per segment of one training run and their evaluation."""

    column: str
    fits: list[SegmentFit]
    evaluation: pd.DataFrame

    def notes(self, *, own_models: bool = True) -> list[str]:
        """One sentence per segment: its own model (unless ``own_models`` is false), or the
        global one and why."""
        out = []
        for f in self.fits:
            if f.own_model and own_models:
                out.append(f"Segment {self.column}={f.value}: own model ({_counts_text(f)}).")
            elif not f.own_model:
                out.append(
                    f"Segment {self.column}={f.value}: scored by the global model, {f.reason}."
                )
        return out

    def metrics(self) -> dict[str, float]:
        """MLflow metrics ``segment.<slug>.<target>.<name>`` (finite values only)."""
        out: dict[str, float] = {}
        names: tuple[str, ...] = ("test_roc_auc_global", "test_roc_auc_segment", "auc_gain")
        names += ("found_rules", "found_global", "found_segment")
        for r in self.evaluation.to_dict("records"):
            slug = segment_folder(str(r["segment"])).removeprefix("segments/")
            for name in names:
                value = r.get(name)
                if isinstance(value, float | int) and np.isfinite(value):
                    out[f"segment.{slug}.{r['target']}.{name}"] = float(value)
        return out

    def tags(self) -> dict[str, str]:
        """MLflow tags: the column and, per segment, ``own model`` or ``global: <why>``."""
        out = {"segments.column": self.column}
        for f in self.fits:
            slug = segment_folder(f.value).removeprefix("segments/")
            out[f"segment.{slug}"] = "own model" if f.own_model else f"global: {f.reason}"[:4900]
        return out


def _counts_text(fit: SegmentFit) -> str:
    c = fit.counts
    positives = ", ".join(
        f"{k.split('_')[1]} {c[k]}/{c[k.replace('train', 'valid')]}"
        for k in c
        if k.startswith("train_") and k.endswith("_positives")
    )
    refit = f"; refitted on {fit.refit['rows']:,} train + validation rows" if fit.refit else ""
    return (
        f"{c['train_rows']} training / {c['valid_rows']} validation rows; "
        f"positives train/validation: {positives}{refit}"
    )


def _paired(
    a: FloatArray, b: FloatArray, y: FloatArray, contacts: FloatArray, n: int, seed: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bootstrap AUCs of ``a`` and ``b`` and their difference ``b - a`` on the same resamples
    of contacts (rows of one contact stay together)."""
    codes, uniques = pd.factorize(pd.Series(contacts))
    rng = np.random.default_rng(seed)
    auc_a, auc_b = np.empty(n), np.empty(n)
    for i in range(n):
        counts = np.bincount(rng.integers(0, len(uniques), len(uniques)), minlength=len(uniques))
        w = counts[codes].astype(np.float64)
        auc_a[i], auc_b[i] = weighted_auc(a, y, w), weighted_auc(b, y, w)
    return auc_a, auc_b, auc_b - auc_a


def _ci(values: FloatArray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def _ci_text(low: float, high: float) -> str:
    return f"{low:.3f}-{high:.3f}" if np.isfinite(low) and np.isfinite(high) else "n/a"


def evaluate_segments(
    table: TrainingTable,
    outcome: TrainingOutcome,
    column: str,
    fits: list[SegmentFit],
    config: TrainingConfig,
) -> pd.DataFrame:
    """One row per (segment, target) on the test period (see the module doc)."""
    test_mask = outcome.split.mask("test")
    test = table.frame[test_mask]
    keys = segment_keys(test, column)
    points = score_rules(test, outcome.rules).to_numpy()
    mql = mql_flags(pd.Series(points), outcome.rules).to_numpy()
    n_boot, conf = config.evaluation.n_bootstrap, config.evaluation.confidence
    rows: list[dict[str, Any]] = []
    for fit in fits:
        in_seg = keys == fit.value
        rows_seg = test[in_seg]
        cutoffs = pd.Series(pd.to_datetime(rows_seg[CUTOFF_COLUMN]).to_numpy())
        per_cutoff = pd.Series(mql[in_seg]).groupby(cutoffs.to_numpy()).sum().sort_index()
        k = [float(v) for v in per_cutoff]
        for t in outcome.lightgbm:
            y = table.labels(t).to_numpy()[test_mask][in_seg]
            row: dict[str, Any] = {
                "segment": fit.value,
                "target": t,
                "model": "own model" if fit.own_model else "global (fallback)",
                "test_rows": len(rows_seg),
                "test_positives": int(y.sum()),
            }
            rows.append(row)
            fallback = f"scored by the global model: {fit.reason}"
            if len(y) == 0 or y.min() == y.max():
                one_class = "not evaluable: the segment's test rows hold one class only"
                row["verdict"] = one_class if fit.own_model else f"{fallback} ({one_class})"
                continue
            global_raw = outcome.lightgbm[t].predict_raw(rows_seg)
            own_raw = fit.models[t].predict_raw(rows_seg) if fit.own_model else None
            row["test_roc_auc_rules"] = weighted_auc(points[in_seg], y)
            row["test_roc_auc_global"] = weighted_auc(global_raw, y)
            row["found_rules"] = float(y[mql[in_seg]].sum())
            row["found_global"] = found_at_k(global_raw, y, cutoffs, k)
            contacts = rows_seg[CONTACT_COLUMN].to_numpy()
            other = own_raw if own_raw is not None else global_raw
            boot_g, boot_s, diff = _paired(
                global_raw, other, y, contacts, n_boot, config.evaluation.seed
            )
            row["test_roc_auc_global_95ci"] = _ci_text(*_ci(boot_g, conf))
            if own_raw is None:
                row["verdict"] = fallback
                continue
            row["test_roc_auc_segment"] = weighted_auc(own_raw, y)
            row["test_roc_auc_segment_95ci"] = _ci_text(*_ci(boot_s, conf))
            row["found_segment"] = found_at_k(own_raw, y, cutoffs, k)
            gain = row["test_roc_auc_segment"] - row["test_roc_auc_global"]
            low, high = _ci(diff, conf)
            row["auc_gain"] = gain
            row["auc_gain_95ci"] = _ci_text(low, high)
            row["verdict"] = (
                "segment model better"
                if low > 0
                else "segment model worse"
                if high < 0
                else "no clear difference"
                if np.isfinite(low)
                else "no CI (bootstrap off)"
            )
    columns = [
        "segment",
        "target",
        "model",
        "test_rows",
        "test_positives",
        "test_roc_auc_rules",
        "test_roc_auc_global",
        "test_roc_auc_global_95ci",
        "test_roc_auc_segment",
        "test_roc_auc_segment_95ci",
        "auc_gain",
        "auc_gain_95ci",
        "found_rules",
        "found_global",
        "found_segment",
        "verdict",
    ]
    return pd.DataFrame(rows, columns=columns)


def train_segments(
    table: TrainingTable,
    outcome: TrainingOutcome,
    config: TrainingConfig,
    *,
    progress: Progress | None = None,
) -> SegmentsOutcome:
    """Fit the configured segments' models and evaluate them against the global model."""
    column, fits = fit_segment_models(table, outcome, config, progress=progress)
    return SegmentsOutcome(column, fits, evaluate_segments(table, outcome, column, fits, config))
