"""Posted leads built from a CRM's own rows (for tests that compare HTTP with batch scoring).

(Holds no test.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp | datetime):
            out[key] = pd.Timestamp(value).isoformat()
        elif (
            value is None
            or (isinstance(value, float) and np.isnan(value))
            or value is pd.NaT
            or value is pd.NA
        ):
            out[key] = None
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def lead_from_crm(
    con: duckdb.DuckDBPyConnection, contact_id: str, *, before: datetime | None = None
) -> dict[str, Any]:
    """The posted-lead JSON of ``contact_id``: its contact and account rows and every event
    and stage change the CRM holds for it (only those before ``before`` when given)."""
    until = before or datetime(9999, 1, 1)
    contact = con.execute("SELECT * FROM contacts WHERE contact_id = ?", [contact_id]).df()
    account_id = contact["account_id"].iloc[0]
    account = con.execute(
        "SELECT account_id, name, industry, employee_count, annual_revenue, country, created_at "
        "FROM accounts WHERE account_id = ?",
        [account_id],
    ).df()
    events = con.execute(
        "SELECT event_id, occurred_at, event_type, page_url, page_category, campaign, asset_name "
        "FROM events WHERE contact_id = ? AND occurred_at < ? ORDER BY occurred_at, event_id",
        [contact_id, until],
    ).df()
    stages = con.execute(
        "SELECT changed_at, stage, crm_label FROM stage_changes WHERE contact_id = ? "
        "AND changed_at < ? ORDER BY changed_at",
        [contact_id, until],
    ).df()
    columns = [
        "contact_id",
        "created_at",
        "job_title",
        "department",
        "seniority",
        "email_domain",
        "country",
        "lead_source",
    ]
    return {
        "contact": _clean(contact[columns].to_dict("records")[0]),
        "account": _clean(account.to_dict("records")[0]),
        "events": [_clean(e) for e in events.to_dict("records")],
        "stage_changes": [_clean(s) for s in stages.to_dict("records")],
    }
