"""Bootstrap helpers shared by the funnel benchmarks (``funnel_vs_flat.py``, ``lead_age.py``):
AUCs with percentile CIs, a paired difference of two scorers on the same rows, resampling
clusters (contacts) so that a lead seen at several cutoffs counts once per draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


def _draws(groups: Array, n: int, seed: int) -> list[Array]:
    """``n`` cluster-bootstrap row indices (clusters drawn with replacement)."""
    codes, index = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(index == k) for k in range(len(codes))]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        picked = rng.integers(0, len(codes), len(codes))
        out.append(np.concatenate([members[k] for k in picked]))
    return out


def _auc(y: Array, s: Array) -> float:
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, s))


def paired_aucs(
    y: Array,
    scores: dict[str, Array],
    groups: Array | None = None,
    *,
    n: int = 500,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[dict[str, Interval], dict[tuple[str, str], Interval]]:
    """Each scorer's AUC with its CI, and every pair's difference (first minus second) with
    the CI of the difference, all on the same bootstrap draws."""
    groups = np.arange(len(y)) if groups is None else groups
    names = list(scores)
    point = {k: _auc(y, s) for k, s in scores.items()}
    boot: dict[str, list[float]] = {k: [] for k in names}
    for rows in _draws(groups, n, seed):
        for k in names:
            boot[k].append(_auc(y[rows], scores[k][rows]))
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)

    def ci(values: Array, centre: float) -> Interval:
        finite = values[np.isfinite(values)]
        if not len(finite):
            return Interval(centre, float("nan"), float("nan"))
        lo, hi = np.percentile(finite, q)
        return Interval(centre, float(lo), float(hi))

    singles = {k: ci(np.array(boot[k]), point[k]) for k in names}
    pairs = {
        (a, b): ci(np.array(boot[a]) - np.array(boot[b]), point[a] - point[b])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    return singles, pairs


def found_at_share(y: Array, score: Array, cutoffs: Array, share: float) -> float:
    """Positives among the top ``share`` of each cutoff's rows by ``score`` (at least one row
    per cutoff): what sales finds when it works that many leads per cutoff."""
    order = np.lexsort((-np.asarray(score, dtype=np.float64), cutoffs))
    c, yy = cutoffs[order], y[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, len(c)])
    rank = np.arange(len(c)) - np.repeat(starts, sizes)
    keep = rank < np.repeat(np.maximum(1, np.ceil(sizes * share)), sizes)
    return float(yy[keep].sum())


def paired_found(
    y: Array,
    scores: dict[str, Array],
    cutoffs: Array,
    groups: Array,
    share: float,
    *,
    n: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Interval]:
    """Found at ``share`` of each cutoff's leads per scorer, with cluster-bootstrap CIs."""
    point = {k: found_at_share(y, s, cutoffs, share) for k, s in scores.items()}
    boot: dict[str, list[float]] = {k: [] for k in scores}
    for rows in _draws(groups, n, seed):
        for k, s in scores.items():
            boot[k].append(found_at_share(y[rows], s[rows], cutoffs[rows], share))
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    out = {}
    for k in scores:
        lo, hi = np.percentile(np.array(boot[k]), q)
        out[k] = Interval(point[k], float(lo), float(hi))
    return out
