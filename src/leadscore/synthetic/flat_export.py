"""A realistic one-row-per-lead export with planted leaks of every kind, drift and the oracle.

Legitimate columns (known when the lead comes in) drive a latent conversion probability whose
base rate drifts over the months; the leaks are columns a CRM fills after the outcome, one per
kind the flat-mode detector must catch:

- ``rep_notes``: outcome notes whose values are near-pure for positives;
- ``lead_quality``: a rep's judgement (name suggests an outcome, AUC about 0.8);
- ``last_activity``: the latest activity, moved by the outcome (name, AUC about 0.7);
- ``deal_amount``: filled for a quarter of positives, no negative (class-conditional filling);
- ``transaction_revenue``: non-zero almost only for positives;
- ``call_duration``: a call's length, set by the outcome (name);
- ``final_score``: a near-copy of the outcome (single-column AUC near 1).

A placeholder ("Select") stands for missing job titles, and ``segment_id`` is a real 300-level
category whose name ends in ``_id``. :attr:`FlatExport.probability` is the true probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LEAK_KINDS", "FlatExport", "generate_flat_export"]

LEAK_KINDS: dict[str, str] = {
    "rep_notes": "near-pure text values",
    "lead_quality": "outcome name, rep judgement",
    "last_activity": "outcome name, updated after the outcome",
    "deal_amount": "filled only for positives",
    "transaction_revenue": "non-zero almost only for positives",
    "call_duration": "outcome name, set by the call's result",
    "final_score": "near-copy of the outcome",
}


@dataclass(frozen=True)
class FlatExport:
    """The export, its legitimate and leaking columns, and the true probability per row."""

    frame: pd.DataFrame
    target: str
    time_column: str
    id_column: str
    legitimate: tuple[str, ...]
    leaks: dict[str, str]
    probability: np.ndarray[Any, Any]


def _sigmoid(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(1 / (1 + np.exp(-x)), dtype=np.float64)


def generate_flat_export(n_leads: int = 6000, *, seed: int = 0) -> FlatExport:
    """``n_leads`` rows over 18 months (see the module doc)."""
    rng = np.random.default_rng(seed)
    n = n_leads
    days = np.sort(rng.integers(0, 540, n))
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(days, "D")
    sources = np.array(["Google", "Direct", "Reference", "Olark", "Organic", "Referral", "Event"])
    source = rng.choice(sources, n, p=[0.3, 0.2, 0.08, 0.15, 0.12, 0.1, 0.05])
    source_effect = dict(zip(sources, [0.0, -0.3, 1.8, -0.8, 0.2, 0.6, 0.4], strict=True))
    segment = rng.integers(0, 300, n)
    segment_effect = rng.normal(0, 0.7, 300)
    website = rng.lognormal(5.5, 1.0, n)
    views = rng.poisson(np.clip(website / 150, 0.2, 20))
    employees = np.round(rng.lognormal(4, 1.2, n))
    do_not_email = rng.random(n) < 0.1
    titles = np.array(["Select", "Manager", "Director", "Engineer", "Student", "Owner"])
    title = rng.choice(titles, n, p=[0.3, 0.2, 0.1, 0.2, 0.1, 0.1])
    title_effect = dict(zip(titles, [0.0, 0.4, 0.7, 0.1, -0.9, 0.5], strict=True))
    country = rng.choice([f"C{i:02d}" for i in range(25)], n)
    drift = 0.6 * days / 540  # the base rate rises over the months
    logit = (
        -2.6
        + drift
        + np.vectorize(source_effect.get)(source)
        + segment_effect[segment]
        + 0.7 * (np.log(website) - 5.5)
        + 0.05 * np.minimum(views, 10)
        + 0.15 * (np.log1p(employees) - 4)
        - 0.8 * do_not_email
        + np.vectorize(title_effect.get)(title)
    )
    p = _sigmoid(logit)
    y = (rng.random(n) < p).astype(int)
    pos = y == 1
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i:06d}" for i in rng.permutation(n)],
            "created_at": created.strftime("%Y-%m-%d"),
            "lead_source": source,
            "segment_id": segment,
            "time_on_website": np.round(website),
            "page_views": views,
            "employee_count": employees,
            "do_not_email": np.where(do_not_email, "Yes", "No"),
            "job_title": title,
            "country": country,
        }
    )
    legitimate = tuple(c for c in frame.columns if c not in ("lead_id", "created_at"))
    notes_pos = np.array(["Will revert after reading", "Closed by rep", "Interested", "Ringing"])
    notes_neg = np.array(["Ringing", "Not interested", "Switched off", "Interested", "No answer"])
    frame["rep_notes"] = np.where(
        pos,
        rng.choice(notes_pos, n, p=[0.35, 0.35, 0.2, 0.1]),
        rng.choice(notes_neg, n, p=[0.3, 0.25, 0.2, 0.05, 0.2]),
    )
    quality_pos = rng.choice(["High", "Might be", "Not sure", "Low"], n, p=[0.4, 0.3, 0.2, 0.1])
    quality_neg = rng.choice(["High", "Might be", "Not sure", "Low"], n, p=[0.1, 0.2, 0.35, 0.35])
    judged = pd.Series(np.where(pos, quality_pos, quality_neg), dtype=object)
    frame["lead_quality"] = judged.where(rng.random(n) < 0.5)  # half the leads never judged
    acts = np.array(["Email Opened", "SMS Sent", "Page Visited", "Olark Chat"])
    frame["last_activity"] = np.where(
        pos,
        rng.choice(acts, n, p=[0.3, 0.45, 0.15, 0.1]),
        rng.choice(acts, n, p=[0.4, 0.15, 0.25, 0.2]),
    )
    frame["deal_amount"] = np.where(
        pos & (rng.random(n) < 0.25), rng.integers(1, 50, n) * 1000.0, np.nan
    )
    bought = (pos & (rng.random(n) < 0.4)) | (~pos & (rng.random(n) < 0.004))
    frame["transaction_revenue"] = np.where(bought, np.round(rng.lognormal(4, 1, n), 2), 0.0)
    frame["call_duration"] = np.round(rng.gamma(2, 60, n) + pos * rng.gamma(3, 100, n))
    frame["final_score"] = np.round(np.clip(y * 70 + rng.normal(15, 8, n), 0, 100))
    frame["converted"] = y
    return FlatExport(
        frame=frame,
        target="converted",
        time_column="created_at",
        id_column="lead_id",
        legitimate=legitimate,
        leaks=dict(LEAK_KINDS),
        probability=p,
    )
