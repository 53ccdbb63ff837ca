"""A CRM shaped like a real marketing funnel: MQLs with their first-contact date, lead source and
landing page, won deals with their won date, no other events, and a win rate that drifts over
time. The landing page carries most of the signal. Used by the real-funnel tests and by
``benchmarks/funnel_vs_flat.py`` and ``benchmarks/lead_age.py``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PAGES", "funnel_crm_folder", "landing_page_yaml"]

PAGES = {"/pricing": 0.16, "/demo": 0.22, "/blog/seo": 0.02, "/blog/crm": 0.03, "/home": 0.06}
SOURCES = ["paid_search", "organic", "referral", "social", "email", "event", "partner"]
START = datetime(2024, 1, 1)


def funnel_crm_folder(
    folder: Path, leads: int = 2500, *, won_as: str = "sql", seed: int = 0
) -> Path:
    """Write the funnel as CSV tables in ``folder``; won deals are stage ``won_as``."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.uniform(0, 540, leads))
    created = [
        START + timedelta(days=float(d), hours=float(h))
        for d, h in zip(days, rng.uniform(8, 18, leads), strict=True)
    ]
    pages = rng.choice(list(PAGES), leads, p=[0.2, 0.1, 0.3, 0.2, 0.2])
    drift = 0.6 + 0.8 * days / 540  # the win rate grows over time
    p_win = np.clip(np.array([PAGES[p] for p in pages]) * drift, 0, 0.9)
    won = rng.random(leads) < p_win
    won_after = rng.exponential(20, leads)
    ids = [f"L{i:05d}" for i in range(leads)]
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(leads)],
            "industry": rng.choice(["software", "retail", "services"], leads),
            "created_at": [START - timedelta(days=30)] * leads,
        }
    )
    contacts = pd.DataFrame(
        {
            "contact_id": ids,
            "account_id": accounts["account_id"],
            "created_at": created,
            "job_title": None,
            "email_domain": "example.com",
            "lead_source": rng.choice(SOURCES, leads),
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [f"E{i:05d}" for i in range(leads)],
            "contact_id": ids,
            "occurred_at": created,
            "event_type": "web_visit",
            "page_url": pages,
        }
    )
    stages = [
        {"contact_id": c, "changed_at": t, "stage": "mql"}
        for c, t in zip(ids, created, strict=True)
    ]
    stages += [
        {
            "contact_id": ids[i],
            "changed_at": created[i] + timedelta(days=float(won_after[i])),
            "stage": won_as,
        }
        for i in np.flatnonzero(won)
    ]
    end = max(created) + timedelta(days=1)
    stage_frame = pd.DataFrame(stages)
    stage_frame = stage_frame[stage_frame["changed_at"] < end]
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("accounts", accounts),
        ("contacts", contacts),
        ("events", events),
        ("stage_changes", stage_frame),
    ):
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def landing_page_yaml(path: Path) -> Path:
    """A feature YAML adding the landing page (first page_url) and the lead source as given."""
    path.write_text(
        """add:
  - name: landing_page
    kind: event_property
    property: page_url
    measure: first
    top_k: 10
    concept: intent
    type: categorical
    explanation: "landed on {label}"
  - name: source
    kind: column
    table: contacts
    column: lead_source
    concept: profile_fit
    type: categorical
    explanation: "came from {label}"
""",
        encoding="utf-8",
    )
    return path
