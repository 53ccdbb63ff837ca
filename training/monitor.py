"""Monitoring the champion in the field: drift (PSI), calibration per grade on matured cohorts,
feedback acceptance over time, and a verdict a scheduler can act on.

Population stability index (PSI) of a current sample against a reference sample, over the
reference's decile bins (categories for non-numeric columns, missing values as their own bin):
``sum((cur - ref) * ln(cur / ref))``. Rule of thumb used by credit-risk teams and kept as the
defaults: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 a major shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "MonitorThresholds",
    "MonitorVerdict",
    "acceptance_over_time",
    "feature_drift",
    "grade_calibration",
    "noise_psi",
    "psi",
    "small_sample_warning",
    "verdict",
]

Status = Literal["ok", "retrain recommended", "stale"]
_EPS = 1e-4
_Z95 = 1.959964


@dataclass(frozen=True)
class MonitorThresholds:
    """When the monitor warns and when it recommends a retrain."""

    psi_warn: float = 0.1
    psi_retrain: float = 0.25
    stale_after_days: int = 180
    """The champion is stale when the data it was trained and tested on (up to its test
    period's last cutoff) ended more than this many days before the as-of date. (Measured from
    its newest validation cutoff, every fresh model was already a test window and a horizon
    old, ~186 days on the demo: stale on day one, and a retrain changed nothing.)"""
    min_grade_rows: int = 30
    """Fewest scored leads of a grade in a cohort to judge its calibration."""
    min_feedback: int = 20
    acceptance_drop: float = 0.15


def _shares(values: pd.Series, edges: np.ndarray[Any, Any] | None, cats: list[Any]) -> Any:
    missing = values.isna()
    present = values[~missing]
    if edges is not None:
        idx = np.searchsorted(edges, present.to_numpy(dtype=np.float64), side="right")
        counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    else:
        as_text = present.astype(str)
        counts = np.array([(as_text == c).sum() for c in cats], dtype=np.float64)
        counts = np.append(counts, float((~as_text.isin(cats)).sum()))
    counts = np.append(counts, float(missing.sum()))
    return counts / max(len(values), 1)


def _bins(reference: pd.Series, bins: int) -> tuple[np.ndarray[Any, Any] | None, list[Any]]:
    present = reference.dropna()
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if numeric and present.nunique() > bins:
        qs = np.quantile(present.to_numpy(dtype=np.float64), np.linspace(0, 1, bins + 1)[1:-1])
        return np.unique(qs), []
    return None, sorted(present.astype(str).unique().tolist())


def psi(reference: pd.Series, current: pd.Series, *, bins: int = 10) -> float:
    """The population stability index of ``current`` against ``reference``."""
    edges, cats = _bins(reference, bins)
    ref = np.clip(_shares(reference, edges, cats), _EPS, None)
    cur = np.clip(_shares(current, edges, cats), _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def noise_psi(reference_rows: int, current_rows: int, *, bins: int = 10) -> float:
    """The PSI that sampling alone gives, on average, between two samples of one population of
    these sizes: about ``(bins - 1) * (1/n_ref + 1/n_cur)`` (PSI is a symmetric chi-square)."""
    if reference_rows <= 0 or current_rows <= 0:
        return float("inf")
    return (bins - 1) * (1 / reference_rows + 1 / current_rows)


def small_sample_warning(
    reference_rows: int, current_rows: int, moments: int, thresholds: MonitorThresholds
) -> str | None:
    """A warning when drift is measured on too few leads or moments to be read at face value."""
    noise = noise_psi(reference_rows, current_rows)
    if noise >= thresholds.psi_warn / 2:
        return (
            f"drift is measured on only {reference_rows:,} reference and {current_rows:,} "
            f"current leads: sampling alone gives a PSI of about {noise:.2f} on every feature "
            f"(warning at {thresholds.psi_warn}, retrain at {thresholds.psi_retrain}); read "
            "the drift table as noise unless a feature's PSI is far above that"
        )
    if moments < 2:
        return (
            "the reference is a single moment (the model's test window has one cutoff): drift "
            "against it includes that day's seasonality; a model tested on a longer window "
            "gives a steadier reference"
        )
    return None


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[str]
) -> pd.DataFrame:
    """PSI of every feature, largest first: ``feature``, ``psi``, ``reference_mean``,
    ``current_mean`` (numeric features; NaN otherwise)."""
    rows = []
    for name in features:
        if name not in reference.columns or name not in current.columns:
            continue
        ref, cur = reference[name], current[name]
        numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
        rows.append(
            {
                "feature": name,
                "psi": psi(ref, cur),
                "reference_mean": float(ref.mean()) if numeric else float("nan"),
                "current_mean": float(cur.mean()) if numeric else float("nan"),
            }
        )
    frame = pd.DataFrame(rows, columns=["feature", "psi", "reference_mean", "current_mean"])
    return frame.sort_values("psi", ascending=False, ignore_index=True)


def _wilson(k: float, n: float) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + _Z95**2 / n
    mid = (p + _Z95**2 / (2 * n)) / den
    half = _Z95 * np.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def grade_calibration(cohorts: pd.DataFrame, *, min_rows: int = 30) -> pd.DataFrame:
    """Predicted vs realised conversion per (cohort, model version, grade).

    ``cohorts``: one row per scored lead with ``as_of``, ``model_version``, ``grade``,
    ``p_sql`` and ``became_sql`` (observed over the full horizon). Returns ``n``, ``predicted``
    (mean ``p_sql``), ``realised``, its 95 % Wilson interval, and ``off`` (the predicted rate
    lies outside the interval, judged only with ``min_rows`` leads or more).
    """
    columns = ["as_of", "model_version", "grade", "n", "predicted", "realised", "low", "high"]
    if cohorts.empty:
        return pd.DataFrame(columns=[*columns, "off"])
    grouped = cohorts.groupby(["as_of", "model_version", "grade"], dropna=False)
    out = grouped.agg(
        n=("became_sql", "size"), predicted=("p_sql", "mean"), k=("became_sql", "sum")
    ).reset_index()
    out["realised"] = out["k"] / out["n"]
    bounds = [_wilson(float(k), float(n)) for k, n in zip(out["k"], out["n"], strict=True)]
    out["low"] = [b[0] for b in bounds]
    out["high"] = [b[1] for b in bounds]
    out["off"] = (out["n"] >= min_rows) & (
        (out["predicted"] < out["low"]) | (out["predicted"] > out["high"])
    )
    return out[[*columns, "off"]]


def acceptance_over_time(feedback: pd.DataFrame, *, freq: str = "W-SUN") -> pd.DataFrame:
    """Verdicts and accepted share per week (``period``: its Monday), ``verdicts``, ``accepted``,
    ``share``. ``feedback`` holds the verdicts that count (``given_at``, ``verdict``): the score
    store's ``feedback(counted=True)``, each rep's latest per lead, day and model version."""
    if feedback.empty:
        return pd.DataFrame(columns=["period", "verdicts", "accepted", "share"])
    frame = pd.DataFrame(
        {
            "period": pd.to_datetime(feedback["given_at"]).dt.to_period(freq).dt.start_time,
            "accepted": (feedback["verdict"] == "accepted").astype(int),
        }
    )
    out = frame.groupby("period").agg(verdicts=("accepted", "size"), accepted=("accepted", "sum"))
    out["share"] = out["accepted"] / out["verdicts"]
    return out.reset_index()


@dataclass
class MonitorVerdict:
    """``ok``, ``retrain recommended`` or ``stale``, with every reason and softer warnings."""

    status: Status
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _acceptance_reason(weekly: pd.DataFrame, t: MonitorThresholds) -> str | None:
    if len(weekly) < 2:
        return None
    recent, before = weekly.iloc[-4:], weekly.iloc[:-4]
    if before.empty:
        recent, before = weekly.iloc[-1:], weekly.iloc[:-1]
    n1, n0 = float(recent["verdicts"].sum()), float(before["verdicts"].sum())
    if n1 < t.min_feedback or n0 < t.min_feedback:
        return None
    s1, s0 = recent["accepted"].sum() / n1, before["accepted"].sum() / n0
    pooled = (recent["accepted"].sum() + before["accepted"].sum()) / (n0 + n1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1)) or 1.0
    if s0 - s1 >= t.acceptance_drop and (s0 - s1) / se > _Z95:
        return (
            f"reps accept fewer leads: {s1:.0%} of {int(n1)} verdicts recently vs {s0:.0%} "
            f"of {int(n0)} before"
        )
    return None


def verdict(
    *,
    score_psi: float,
    features: pd.DataFrame,
    calibration: pd.DataFrame,
    weekly_feedback: pd.DataFrame,
    champion_version: str,
    model_trained_until: datetime | None,
    as_of: datetime,
    thresholds: MonitorThresholds | None = None,
) -> MonitorVerdict:
    """Stale when the champion's data (up to its test period's last cutoff) is too old; retrain recommended on a
    major score or feature shift, a grade whose realised conversion contradicts its predicted
    rate, or a significant fall in acceptance; else ok (moderate shifts become warnings)."""
    t = thresholds or MonitorThresholds()
    reasons: list[str] = []
    warnings: list[str] = []
    stale = False
    if model_trained_until is None:
        warnings.append("the champion records no training window: its age is unknown")
    else:
        age = (as_of - model_trained_until).days
        if age > t.stale_after_days:
            stale = True
            reasons.append(
                f"the champion's data ends at {model_trained_until:%Y-%m-%d} (its test period's "
                f"last cutoff), {age} days before {as_of:%Y-%m-%d} (limit {t.stale_after_days} "
                "days): retrain on the newer data"
            )
    level = f"score PSI {score_psi:.3f}"
    if score_psi > t.psi_retrain:
        reasons.append(f"the score distribution moved: {level} > {t.psi_retrain}")
    elif score_psi > t.psi_warn:
        warnings.append(f"moderate score shift: {level}")
    major = features[features["psi"] > t.psi_retrain]
    if len(major):
        top = ", ".join(f"{r.feature} ({r.psi:.2f})" for r in major.head(5).itertuples())
        reasons.append(f"{len(major)} feature(s) moved (PSI > {t.psi_retrain}): {top}")
    moderate = features[(features["psi"] > t.psi_warn) & (features["psi"] <= t.psi_retrain)]
    if len(moderate):
        warnings.append(f"{len(moderate)} feature(s) with a moderate shift (PSI > {t.psi_warn})")
    mine = calibration[calibration["model_version"] == champion_version]
    for r in mine[mine["off"]].itertuples():
        reasons.append(
            f"grade {r.grade} scored as of {str(r.as_of)[:10]}: predicted "
            f"{r.predicted:.1%}, realised {r.realised:.1%} (95% CI {r.low:.1%}-{r.high:.1%}, "
            f"{r.n} leads)"
        )
    if mine.empty:
        warnings.append(
            "no matured cohort of the champion in the score history: realised conversion per "
            "grade cannot be checked yet (score with `leadscore score` and wait one horizon)"
        )
    drop = _acceptance_reason(weekly_feedback, t)
    if drop:
        reasons.append(drop)
    status: Status = "stale" if stale else ("retrain recommended" if reasons else "ok")
    return MonitorVerdict(status, reasons, warnings)
