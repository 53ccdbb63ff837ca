"""Small hand-written CRM tables shared by the tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

Tables = dict[str, pd.DataFrame]


def tiny_crm_tables() -> Tables:
    """A tiny CRM that satisfies every rule of the contract."""
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": ["A1", "A2"],
                "name": ["Acme", "Globex"],
                "industry": ["software", "retail"],
                "employee_count": [250, 12],
                "annual_revenue": [3.5e7, 1.2e6],
                "country": ["FR", "US"],
                "created_at": ["2024-01-01 00:00:00", "2024-01-05 00:00:00"],
                "crm_tier": ["gold", "bronze"],  # a free column, allowed on accounts
            }
        ),
        "contacts": pd.DataFrame(
            {
                "contact_id": ["C1", "C2", "C3"],
                "account_id": ["A1", "A1", "A2"],
                "created_at": ["2024-02-01 09:00:00", "2024-02-03 10:00:00", "2024-03-01 08:00:00"],
                "job_title": ["Directeur Commercial", "Head of Marketing", None],
                "email_domain": ["acme.com", "gmail.com", None],
                "lead_source": ["webinar", "organic_search", "paid_search"],
            }
        ),
        "events": pd.DataFrame(
            {
                "event_id": ["E1", "E2", "E3", "E4"],
                "contact_id": ["C1", "C1", "C2", "C3"],
                "occurred_at": [
                    "2024-02-02 10:00:00",
                    "2024-02-10 11:30:00",
                    "2024-02-04 12:00:00",
                    "2024-03-02 15:00:00",
                ],
                "event_type": [
                    "pricing_page_visit",
                    "demo_request",
                    "content_download",
                    "web_visit",
                ],
            }
        ),
        "stage_changes": pd.DataFrame(
            {
                "contact_id": ["C1", "C1", "C1", "C2", "C3"],
                "changed_at": [
                    "2024-02-01 09:00:00",
                    "2024-02-10 12:00:00",
                    "2024-02-12 09:00:00",
                    "2024-02-03 10:00:00",
                    "2024-03-01 08:00:00",
                ],
                "stage": ["lead", "mql", "sql", "lead", "lead"],
            }
        ),
    }


def write_csv_folder(tables: Tables, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder
