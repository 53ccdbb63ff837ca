"""A leakage detector built on evidence: columns that give the outcome away.

Run on the training rows before any model is fitted. Each column gets its out-of-fold
single-column AUC (values binned, each bin's positive rate learned on the other folds, so a
many-level category cannot score by memorising), and is flagged, with the evidence, when:

- that AUC alone nearly gives the answer, or towers over every other column's;
- it is filled (or missing) mostly for one class: typically filled after the outcome;
- a text column has near-pure values holding many positives (outcome notes, tags);
- a number is non-zero almost only for positives (revenue, transactions);
- its name suggests an outcome (status, stage, won, quality, last activity, duration...) and it
  carries signal.

Messages quote column names and rates, never a value of the data.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from leadscore.model.encoding import as_float
from leadscore.model.inputs import FeatureSpec
from leadscore.training.evaluate import weighted_auc

__all__ = ["OUTCOME_NAME", "LeakageConfig", "detect_leakage"]

OUTCOME_NAME = re.compile(
    r"(status|stage|result|outcome|won|lost|closed|quality|tags?\b|tagged|last.?activity|"
    r"last.?notable|duration|converted|conversion|"
    r"(?<!annual)(?<!annual[ _])revenue(?![ _]?(band|range|bucket|tier|size|class))|"
    r"deal|opportunit|disposition|"
    r"lead.?profile|notes?\b|comment|remark|reason|transaction)",
    re.IGNORECASE,
)
_FOLDS = 5
_BINS = 20


class LeakageConfig(BaseModel):
    """Thresholds of the leakage detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_auc: float = 0.9
    dominance: float = 2.5
    dominance_min_auc: float = 0.8
    fill_ratio: float = 10.0
    fill_min: float = 0.1
    pure_rate: float = 0.97
    pure_share: float = 0.2
    nonzero_ratio: float = 20.0
    name_min_auc: float = 0.6
    seed: int = 0


def _codes(values: pd.Series, spec: FeatureSpec) -> np.ndarray[Any, Any]:
    """Integer bin of every row (missing: its own bin)."""
    if spec.kind == "categorical":
        codes, _ = pd.factorize(values.astype("string"), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64)
    x = as_float(values, spec.kind)
    finite = np.isfinite(x)
    out = np.full(len(x), -1, dtype=np.int64)
    if finite.any():
        edges = np.unique(np.quantile(x[finite], np.linspace(0, 1, _BINS + 1)[1:-1]))
        out[finite] = np.searchsorted(edges, x[finite], side="right")
    return out


def oof_auc(codes: np.ndarray[Any, Any], y: np.ndarray[Any, Any], seed: int = 0) -> float:
    """Out-of-fold AUC of the per-bin positive rate (smoothed towards the base rate)."""
    n = len(y)
    fold = np.random.default_rng(seed).integers(0, _FOLDS, n)
    codes = codes - codes.min()
    score = np.empty(n, dtype=np.float64)
    prior, m = float(y.mean()), 10.0
    size = int(codes.max()) + 1
    for k in range(_FOLDS):
        fit = fold != k
        pos = np.bincount(codes[fit], weights=y[fit], minlength=size)
        cnt = np.bincount(codes[fit], minlength=size)
        rate = (pos + m * prior) / (cnt + m)
        score[~fit] = rate[codes[~fit]]
    auc = weighted_auc(score, y)
    return max(auc, 1 - auc)


def _fill_evidence(filled: np.ndarray[Any, Any], y: np.ndarray[Any, Any], c: LeakageConfig) -> str:
    for what, ind in (("filled", filled), ("missing", ~filled)):
        rp, rn = float(ind[y == 1].mean()), float(ind[y == 0].mean())
        big, small = max(rp, rn), min(rp, rn)
        count = int(ind[y == (1 if rp >= rn else 0)].sum())
        if big >= c.fill_min and count >= 5 and small * c.fill_ratio <= big:
            return (
                f"{what} for {rp:.0%} of positives but {rn:.0%} of negatives "
                "(likely recorded after the outcome)"
            )
    return ""


def _purity_evidence(values: pd.Series, y: np.ndarray[Any, Any], c: LeakageConfig) -> str:
    text = values.astype("string")
    stats = pd.DataFrame({"v": text, "y": y}).dropna().groupby("v")["y"].agg(["sum", "count"])
    if len(stats) < 3 or y.sum() == 0:
        return ""
    pure = stats[(stats["count"] >= 5) & (stats["sum"] >= c.pure_rate * stats["count"])]
    share = float(pure["sum"].sum() / y.sum())
    if share < c.pure_share:
        return ""
    return (
        f"{len(pure)} value(s) are {c.pure_rate:.0%}+ positive and hold {share:.0%} of the "
        "positives (outcome notes or tags?)"
    )


def _nonzero_evidence(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], c: LeakageConfig) -> str:
    nz = np.isfinite(x) & (x != 0)
    rp, rn = float(nz[y == 1].mean()), float(nz[y == 0].mean())
    if rp >= 0.1 and rn * c.nonzero_ratio <= rp and int(nz[y == 1].sum()) >= 5:
        return f"non-zero for {rp:.0%} of positives but {rn:.1%} of negatives"
    return ""


def detect_leakage(
    frame: pd.DataFrame,
    y: np.ndarray[Any, Any],
    features: list[FeatureSpec],
    config: LeakageConfig | None = None,
) -> pd.DataFrame:
    """One row per feature: out-of-fold single-column AUC, fill rates by class, the evidence
    found and the flag (``""`` when the column looks legitimate), strongest first."""
    c = config or LeakageConfig()
    y = np.asarray(y, dtype=np.int64)
    rows = []
    for spec in features:
        values = frame[spec.name]
        filled = values.notna().to_numpy()
        evidence = [_fill_evidence(filled, y, c)]
        if spec.kind == "categorical":
            evidence.append(_purity_evidence(values, y, c))
        elif spec.kind == "numeric":
            evidence.append(_nonzero_evidence(as_float(values, "numeric"), y, c))
        rows.append(
            {
                "column": spec.name,
                "kind": spec.kind,
                "single_column_auc": oof_auc(_codes(values, spec), y, c.seed),
                "filled_positives": float(filled[y == 1].mean()) if (y == 1).any() else np.nan,
                "filled_negatives": float(filled[y == 0].mean()) if (y == 0).any() else np.nan,
                "evidence": [e for e in evidence if e],
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table.assign(flag=pd.Series(dtype=str))
    gaps = table["single_column_auc"].to_numpy() - 0.5
    flags = []
    for i, (column, auc, evidence) in enumerate(
        zip(
            table["column"],
            table["single_column_auc"].astype(float),
            table["evidence"],
            strict=True,
        )
    ):
        why: list[str] = list(evidence)
        others = np.delete(gaps, i)
        if auc >= c.max_auc:
            why.append(f"single-column AUC {auc:.3f} (out of fold): one column nearly gives it")
        elif (
            len(others)
            and auc >= c.dominance_min_auc
            and gaps[i] >= c.dominance * max(float(others.max()), 1e-9)
        ):
            second = 0.5 + float(others.max())
            why.append(f"single-column AUC {auc:.3f} towers over every other column ({second:.3f})")
        name = OUTCOME_NAME.search(str(column))
        if name and auc >= c.name_min_auc:
            why.append(
                f"its name ({name.group(0)!r}) suggests an outcome, and alone it reaches AUC "
                f"{auc:.3f}"
            )
        flags.append("; ".join(why))
    table["flag"] = flags
    table = table.drop(columns=["evidence"])
    return table.sort_values("single_column_auc", ascending=False).reset_index(drop=True)
