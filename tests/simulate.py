"""A small simulated training table for tests (not CRM data).

Rows are ``(contact_id, cutoff)`` with the columns the feature stage writes, the features the
default rules read, and the true probabilities (an oracle) the labels were drawn from. The
signal is deliberately non-additive so that a learned model can beat hand-set points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadscore.training.table import FeatureSpec, TrainingTable

__all__ = ["simulate_flat_export", "simulate_training_table"]

_SENIORITY = ["c_level", "vp", "director", "manager", "individual", "student", "intern"]
_SENIORITY_P = [0.05, 0.08, 0.12, 0.25, 0.4, 0.06, 0.04]
_SENIORITY_FIT = np.array([1.2, 1.0, 0.7, 0.2, -0.3, -1.5, -1.5])
_INDUSTRY = [
    "software",
    "it_services",
    "financial_services",
    "manufacturing",
    "retail",
    "education",
    "healthcare",
]
_INDUSTRY_FIT = np.array([0.8, 0.5, 0.4, 0.1, -0.4, -0.8, 0.3])
_FEATURES = [
    FeatureSpec("content_downloads_90d", "numeric", "engagement"),
    FeatureSpec("demo_requests_90d", "numeric", "intent"),
    FeatureSpec("pricing_visits_30d", "numeric", "intent"),
    FeatureSpec("webinar_attendances_90d", "numeric", "engagement"),
    FeatureSpec("email_clicks_30d", "numeric", "engagement"),
    FeatureSpec("form_fills_90d", "numeric", "intent"),
    FeatureSpec("days_since_last_visit", "numeric", "recency"),
    FeatureSpec("seniority", "categorical", "profile"),
    FeatureSpec("industry", "categorical", "firmographic"),
    FeatureSpec("employee_count", "numeric", "firmographic"),
    FeatureSpec("email_domain_kind", "categorical", "profile"),
    FeatureSpec("is_target_industry", "boolean", "profile"),
    FeatureSpec("is_target_size", "boolean", "profile"),
    FeatureSpec("is_out_of_target_industry", "boolean", "profile"),
]


def _sigmoid(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def simulate_training_table(
    n_contacts: int = 3000, n_cutoffs: int = 12, *, seed: int = 0
) -> tuple[TrainingTable, pd.DataFrame]:
    """A training table and its oracle frame (contact_id, cutoff, p_sql, p_meeting)."""
    rng = np.random.default_rng(seed)
    seniority = rng.choice(len(_SENIORITY), n_contacts, p=_SENIORITY_P)
    industry = rng.integers(0, len(_INDUSTRY), n_contacts)
    employees = np.maximum(1.0, np.round(np.exp(rng.normal(5.0, 1.6, n_contacts))))
    generic = rng.random(n_contacts) < 0.2
    size_fit = -0.25 * (np.log(employees) - 6.0) ** 2 / 2.0 + 0.3
    fit = (
        _SENIORITY_FIT[seniority]
        + _INDUSTRY_FIT[industry]
        + size_fit
        - 0.6 * generic
        + rng.normal(0, 0.5, n_contacts)
    )
    start = rng.integers(0, n_cutoffs, n_contacts)
    cutoffs = pd.date_range("2024-01-01", periods=n_cutoffs, freq="MS")
    base_intent = rng.normal(-1.0, 0.8, n_contacts)

    frames = []
    intent = base_intent.copy()
    sql_done = np.zeros(n_contacts, dtype=bool)
    for c in range(n_cutoffs):
        intent = 0.6 * intent + 0.4 * base_intent + rng.normal(0, 0.7, n_contacts)
        live = (start <= c) & ~sql_done
        idx = np.flatnonzero(live)
        if len(idx) == 0:
            continue
        it, ft = intent[idx], fit[idx]
        lam = np.exp(it)
        downloads = rng.poisson(0.8 * lam)
        pricing = rng.poisson(0.5 * lam * np.exp(0.3 * ft))
        webinars = rng.poisson(0.3 * lam)
        clicks = rng.poisson(1.5 * lam)
        forms = rng.poisson(0.2 * lam)
        demos = rng.poisson(0.05 * lam * np.exp(0.5 * ft))
        last_visit = np.where(
            rng.random(len(idx)) < _sigmoid(it + 1), rng.exponential(10 / lam), np.nan
        )
        # the truth: profile x intent interaction, saturating pricing, demo as strong signal
        logit = (
            -4.2
            + 0.9 * ft
            + 0.5 * it * (ft > 0)
            + 0.9 * np.log1p(pricing)
            + 1.6 * (demos > 0)
            + 0.3 * np.log1p(downloads)
            - 0.02 * np.nan_to_num(last_visit, nan=60.0)
        )
        p_sql = _sigmoid(logit)
        p_meet_given = _sigmoid(-0.4 + 0.8 * ft + 0.5 * (demos > 0))
        y_sql = rng.random(len(idx)) < p_sql
        y_meet = y_sql & (rng.random(len(idx)) < p_meet_given)
        sql_done[idx[y_sql]] = True
        frames.append(
            pd.DataFrame(
                {
                    "contact_id": [f"C{i:06d}" for i in idx],
                    "cutoff": cutoffs[c],
                    "became_sql": y_sql,
                    "booked_meeting": y_meet,
                    "content_downloads_90d": downloads,
                    "demo_requests_90d": demos,
                    "pricing_visits_30d": pricing,
                    "webinar_attendances_90d": webinars,
                    "email_clicks_30d": clicks,
                    "form_fills_90d": forms,
                    "days_since_last_visit": last_visit,
                    "seniority": np.array(_SENIORITY, dtype=object)[seniority[idx]],
                    "industry": np.array(_INDUSTRY, dtype=object)[industry[idx]],
                    "employee_count": employees[idx],
                    "email_domain_kind": np.where(generic[idx], "webmail", "corporate"),
                    "is_target_industry": industry[idx] < 4,
                    "is_target_size": (employees[idx] >= 50) & (employees[idx] <= 5000),
                    "is_out_of_target_industry": industry[idx] == 5,
                    "p_sql": p_sql,
                    "p_meeting": p_sql * p_meet_given,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    oracle = frame[["contact_id", "cutoff", "p_sql", "p_meeting"]].copy()
    table = TrainingTable(
        frame=frame.drop(columns=["p_sql", "p_meeting"]),
        features=list(_FEATURES),
        data_fingerprint=f"simulated-{n_contacts}-{n_cutoffs}-{seed}",
        definition_hash="simulated",
        horizon_days=None,
    )
    return table, oracle


def simulate_flat_export(n_leads: int = 4000, *, seed: int = 0) -> pd.DataFrame:
    """A one-row-per-lead CRM export with an id column, a date column, a planted leaky column
    (``sales_call_notes_length``, only filled once a lead converted) and a near-copy of the
    label (``opportunity_stage_code``)."""
    table, _ = simulate_training_table(n_leads, 6, seed=seed)
    ever = table.frame.groupby("contact_id")["became_sql"].max()
    rows = table.frame.drop_duplicates("contact_id", keep="first").reset_index(drop=True)
    rows["became_sql"] = rows["contact_id"].map(ever)
    rng = np.random.default_rng(seed + 1)
    converted = rows["became_sql"].to_numpy(dtype=bool)
    out = rows.drop(columns=["booked_meeting"]).rename(
        columns={"contact_id": "lead_id", "cutoff": "created_date", "became_sql": "converted"}
    )
    out["created_date"] = out["created_date"] + pd.to_timedelta(rng.integers(0, 28, len(out)), "D")
    out["sales_call_notes_length"] = np.where(
        converted,
        rng.integers(50, 800, len(out)),
        np.where(rng.random(len(out)) < 0.01, 30, np.nan),
    )
    out["email_hash"] = [f"h{rng.integers(0, 2**40):011x}" for _ in range(len(out))]
    out["converted"] = out["converted"].astype(int)
    return out
