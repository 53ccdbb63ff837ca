"""Out-of-time evaluation: ranking and probability metrics, lift, the sales-capacity view, and
cluster-bootstrap confidence intervals (contacts are resampled, not rows).

Every method is given as a :class:`MethodScores`: a ranking ``score`` and calibrated
probabilities ``proba`` per target. Capacity is *per cutoff*: a sales team works K leads per
period, so every cutoff contributes its own top K.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN

__all__ = [
    "Evaluation",
    "EvaluationConfig",
    "MethodScores",
    "calibration_table",
    "evaluate_methods",
    "found_at_k",
    "weighted_auc",
]

FloatArray = np.ndarray[Any, Any]
IntArray = np.ndarray[Any, Any]
Progress = Callable[[str, int, int], None]
_EPS = 1e-6


@dataclass(frozen=True)
class MethodScores:
    """One method's outputs on the test rows: ranking scores and probabilities per target."""

    name: str
    score: Mapping[str, FloatArray]
    proba: Mapping[str, FloatArray]


class EvaluationConfig(BaseModel):
    """Top fractions for lift, extra capacities (leads per cutoff; default: 0.5x and 2x the
    rules' MQL volume), cluster-bootstrap settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_fractions: tuple[float, ...] = (0.01, 0.05, 0.10)
    capacities: tuple[int, ...] = ()
    n_bootstrap: int = Field(500, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = 0
    calibration_bins: int = Field(10, ge=2)


@dataclass
class Evaluation:
    """Everything the report shows. Tables are tidy DataFrames; ``scores`` keep the arrays
    for plots."""

    metrics: pd.DataFrame
    lift: pd.DataFrame
    capacity: pd.DataFrame
    headline: pd.DataFrame
    calibration: pd.DataFrame
    labels: dict[str, IntArray]
    methods: list[MethodScores]
    mql_volume: int
    n_rows: int
    n_contacts: int
    n_cutoffs: int
    targets: list[str]
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.95


# --- kernels ----------------------------------------------------------------------------------


class _AucKernel:
    """Weighted ROC-AUC of fixed scores under many weight vectors (ties count one half).

    Only the negatives' weight below (and tied with) each positive's score matters, so the
    negatives are summed into buckets between consecutive distinct positive scores: one pass
    over the rows into an array of twice the positive scores' count per weight vector (the
    bootstrap calls it hundreds of times)."""

    def __init__(self, score: FloatArray, y: IntArray) -> None:
        score = np.asarray(score, dtype=np.float64)
        positive = np.asarray(y).astype(bool)
        self.pos_rows = np.flatnonzero(positive)
        self.neg_rows = np.flatnonzero(~positive)
        levels, self.pos_level = np.unique(score[self.pos_rows], return_inverse=True)
        neg_score = score[self.neg_rows]
        # a negative below the i-th positive score level (and above the previous) goes to
        # bucket 2 i, one tied with it to 2 i + 1
        left = np.searchsorted(levels, neg_score, side="left")
        tied = np.zeros(len(neg_score), dtype=bool)
        inside = left < len(levels)
        tied[inside] = levels[left[inside]] == neg_score[inside]
        self.neg_bucket = 2 * left + tied
        self.n_levels = len(levels)

    def __call__(self, w: FloatArray) -> float:
        pos = np.bincount(self.pos_level, w[self.pos_rows], minlength=self.n_levels)
        neg = np.bincount(self.neg_bucket, w[self.neg_rows], minlength=2 * self.n_levels + 1)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return float("nan")
        below = np.cumsum(neg)[0:-1:2]  # buckets up to 2 i: strictly below level i
        tie = neg[1::2]
        return float(np.sum(pos * (below + 0.5 * tie)) / (total_pos * total_neg))


def weighted_auc(score: FloatArray, y: IntArray, weights: FloatArray | None = None) -> float:
    """ROC-AUC with optional row weights (equal to sklearn's without weights)."""
    w = np.ones(len(y)) if weights is None else weights
    return _AucKernel(np.asarray(score, dtype=np.float64), np.asarray(y))(w)


class _TopKKernel:
    """Positives found among each cutoff's top-K rows by score, under row weights.

    A row of weight w counts as w leads; the boundary row counts fractionally. Rows tied on
    score count at their group's (weighted) positive rate: the expected value under random
    tie-breaking, not the row order (the rules' points tie a lot).
    """

    def __init__(self, score: FloatArray, y: IntArray, cutoff_codes: IntArray) -> None:
        order = np.lexsort((-score, cutoff_codes))
        self.order = order
        self.y = y[order].astype(np.float64)
        codes = cutoff_codes[order]
        self.starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        self.ends = np.r_[self.starts[1:], len(codes)]
        ordered = score[order]
        new_group = np.r_[True, (codes[1:] != codes[:-1]) | (ordered[1:] != ordered[:-1])]
        starts = np.flatnonzero(new_group)
        group = np.cumsum(new_group) - 1
        self.tie_start = starts[group]
        self.tie_end = np.r_[starts[1:], len(codes)][group]

    def __call__(self, w: FloatArray, k: FloatArray) -> float:
        ws = w[self.order]
        cw = np.cumsum(ws)
        cp = np.cumsum(ws * self.y)
        found = 0.0
        for g, (a, b) in enumerate(zip(self.starts, self.ends, strict=True)):
            base_w = cw[a - 1] if a > 0 else 0.0
            base_p = cp[a - 1] if a > 0 else 0.0
            target = base_w + k[g]
            i = a + int(np.searchsorted(cw[a:b], target, side="left"))
            if i >= b:
                found += cp[b - 1] - base_p
                continue
            # the boundary falls in the tie group [s, e): its rows count at the group's rate
            s, e = self.tie_start[i], self.tie_end[i]
            prev_w = cw[s - 1] if s > 0 else 0.0
            prev_p = cp[s - 1] if s > 0 else 0.0
            found += prev_p - base_p
            if target > prev_w:  # then the group has weight (a zero K may meet an empty one)
                found += (target - prev_w) * (cp[e - 1] - prev_p) / (cw[e - 1] - prev_w)
        return found


def found_at_k(
    score: FloatArray, y: IntArray, cutoffs: pd.Series, k_per_cutoff: Sequence[float]
) -> float:
    """Positives among the top ``k`` rows by ``score`` of each cutoff (cutoffs sorted)."""
    codes = pd.factorize(cutoffs, sort=True)[0].astype(np.int64)
    kernel = _TopKKernel(np.asarray(score, dtype=np.float64), np.asarray(y), codes)
    return kernel(np.ones(len(y)), np.asarray(k_per_cutoff, dtype=np.float64))


def calibration_table(y: IntArray, proba: FloatArray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in quantile bins of the prediction."""
    frame = pd.DataFrame({"y": y, "p": proba})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=bins, labels=False)
    out = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    return out.reset_index(drop=True)


def _interval(values: FloatArray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


# --- the evaluation ---------------------------------------------------------------------------


def evaluate_methods(
    rows: pd.DataFrame,
    labels: Mapping[str, IntArray],
    methods: Sequence[MethodScores],
    *,
    mql: np.ndarray[Any, Any] | None,
    baseline: str = "rules",
    oracle: str | None = None,
    config: EvaluationConfig | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate every method on the test rows (``rows`` holds contact_id and cutoff).

    ``mql`` flags the rows the rules make MQLs: their count per cutoff is the "same volume"
    capacity (``None``: no rules; capacities are then 5% and 10% of each cutoff). ``baseline`` names the rules method, ``oracle`` the true-probability method if any.
    """
    config = config or EvaluationConfig()
    targets = list(labels)
    cutoff_codes = pd.factorize(rows[CUTOFF_COLUMN], sort=True)[0].astype(np.int64)
    contact_codes, contacts = pd.factorize(rows[CONTACT_COLUMN])
    n_cutoffs = int(cutoff_codes.max()) + 1
    per_cutoff_n = np.bincount(cutoff_codes, minlength=n_cutoffs).astype(np.float64)
    has_rules = mql is not None
    mql = np.zeros(len(rows), dtype=bool) if mql is None else np.asarray(mql, dtype=bool)
    mql_k = np.bincount(cutoff_codes, mql.astype(np.float64), minlength=n_cutoffs)
    names = [m.name for m in methods]

    # point estimates ---------------------------------------------------------------------------
    metric_rows: list[dict[str, Any]] = []
    calib_rows: list[pd.DataFrame] = []
    for m in methods:
        for t in targets:
            y, p = labels[t], np.clip(m.proba[t], _EPS, 1 - _EPS)
            metric_rows.append(
                {
                    "method": m.name,
                    "target": t,
                    "roc_auc": float(roc_auc_score(y, m.score[t])),
                    "pr_auc": float(average_precision_score(y, m.score[t])),
                    "brier": float(brier_score_loss(y, p)),
                    "log_loss": float(log_loss(y, p, labels=[0, 1])),
                }
            )
            table = calibration_table(y, p, config.calibration_bins)
            calib_rows.append(table.assign(method=m.name, target=t))
    metrics = pd.DataFrame(metric_rows)

    top_kernels = {
        (m.name, t): _TopKKernel(np.asarray(m.score[t], dtype=np.float64), labels[t], cutoff_codes)
        for m in methods
        for t in targets
    }
    ones = np.ones(len(rows))
    lift_rows = []
    for (name, t), kernel in top_kernels.items():
        total = float(labels[t].sum())
        base_rate = total / len(rows)
        for frac in config.top_fractions:
            k = np.ceil(per_cutoff_n * frac)
            found = kernel(ones, k)
            precision = found / k.sum()
            lift_rows.append(
                {
                    "method": name,
                    "target": t,
                    "top": f"{frac:.0%}",
                    "leads": int(k.sum()),
                    "found": found,
                    "precision": precision,
                    "lift": precision / base_rate if base_rate else float("nan"),
                    "capture": found / total if total else float("nan"),
                }
            )
    lift = pd.DataFrame(lift_rows)

    capacities: list[tuple[str, FloatArray]] = [("rules' MQL volume", mql_k)] if has_rules else []
    if config.capacities:
        capacities += [(f"K={k}", np.minimum(float(k), per_cutoff_n)) for k in config.capacities]
    elif not has_rules:
        capacities += [(f"{f:.0%} of leads", np.ceil(per_cutoff_n * f)) for f in (0.05, 0.10)]
    else:
        capacities += [
            ("0.5x MQL volume", np.round(mql_k * 0.5)),
            ("2x MQL volume", np.minimum(mql_k * 2, per_cutoff_n)),
        ]
    capacity_rows = []
    for label, k in capacities:
        for name in names:
            row: dict[str, Any] = {
                "capacity": label,
                "leads_per_cutoff": float(k.mean()),
                "method": name,
            }
            for t in targets:
                if name == baseline and label == "rules' MQL volume":
                    found = float(labels[t][mql].sum())
                else:
                    found = top_kernels[(name, t)](ones, k)
                row[f"{t}_found"] = found
                row[f"{t}_per_cutoff"] = found / n_cutoffs
            capacity_rows.append(row)
    capacity = pd.DataFrame(capacity_rows)

    # cluster bootstrap ---------------------------------------------------------------------------
    auc_kernels = {
        (m.name, t): _AucKernel(np.asarray(m.score[t], dtype=np.float64), labels[t])
        for m in methods
        for t in targets
    }
    models = [n for n in names if n not in (baseline, oracle)] if has_rules else []
    rng = np.random.default_rng(config.seed)
    n_contacts = len(contacts)
    boot_auc = {key: np.empty(config.n_bootstrap) for key in auc_kernels}
    boot_gain = {(n, t): np.empty(config.n_bootstrap) for n in models for t in targets}
    mql_f = mql.astype(np.float64)
    for b in range(config.n_bootstrap):
        counts = np.bincount(rng.integers(0, n_contacts, n_contacts), minlength=n_contacts)
        w = counts[contact_codes].astype(np.float64)
        for key, auc_kernel in auc_kernels.items():
            boot_auc[key][b] = auc_kernel(w)
        k = np.bincount(cutoff_codes, w * mql_f, minlength=n_cutoffs)
        for t in targets:
            rules_found = float(np.sum(w * mql_f * labels[t]))
            for n in models:
                found = top_kernels[(n, t)](w, k)
                boot_gain[(n, t)][b] = found / rules_found - 1 if rules_found else np.nan
        if progress is not None and (b + 1) % 50 == 0:
            progress("bootstrap", b + 1, config.n_bootstrap)

    lows, highs = [], []
    for _, r in metrics.iterrows():
        lo, hi = _interval(boot_auc[(r["method"], r["target"])], config.confidence)
        lows.append(lo)
        highs.append(hi)
    metrics["roc_auc_low"], metrics["roc_auc_high"] = lows, highs
    if oracle is not None:
        norm, norm_lo, norm_hi = [], [], []
        for _, r in metrics.iterrows():
            t = r["target"]
            o = metrics.loc[(metrics["method"] == oracle) & (metrics["target"] == t), "roc_auc"]
            norm.append((r["roc_auc"] - 0.5) / (float(o.iloc[0]) - 0.5))
            ratio = (boot_auc[(r["method"], t)] - 0.5) / (boot_auc[(oracle, t)] - 0.5)
            lo, hi = _interval(ratio, config.confidence)
            norm_lo.append(lo)
            norm_hi.append(hi)
        metrics["normalized_auc"] = norm
        metrics["normalized_auc_low"], metrics["normalized_auc_high"] = norm_lo, norm_hi

    headline_rows: list[dict[str, Any]] = []
    at_mql = capacity[capacity["capacity"] == "rules' MQL volume"].set_index("method")
    for n in models:
        for t in targets:
            found_by = at_mql[f"{t}_found"].astype(float).to_dict()
            rules_found, found = found_by[baseline], found_by[n]
            lo, hi = _interval(boot_gain[(n, t)], config.confidence)
            headline_rows.append(
                {
                    "method": n,
                    "target": t,
                    "leads": int(mql_k.sum()),
                    "rules_found": rules_found,
                    "model_found": found,
                    "relative_gain": found / rules_found - 1 if rules_found else float("nan"),
                    "gain_low": lo,
                    "gain_high": hi,
                }
            )
    headline = pd.DataFrame(
        headline_rows,
        columns=[
            "method",
            "target",
            "leads",
            "rules_found",
            "model_found",
            "relative_gain",
            "gain_low",
            "gain_high",
        ],
    )
    return Evaluation(
        metrics=metrics,
        lift=lift,
        capacity=capacity,
        headline=headline,
        calibration=pd.concat(calib_rows, ignore_index=True),
        labels={t: np.asarray(labels[t]) for t in targets},
        targets=targets,
        methods=list(methods),
        mql_volume=int(mql_k.sum()),
        n_rows=len(rows),
        n_contacts=n_contacts,
        n_cutoffs=n_cutoffs,
        confidence=config.confidence,
    )
