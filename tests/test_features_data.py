"""Hand-built CRM tables for the feature tests (helpers only; no test here)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from leadscore.crm import CrmData, open_crm

__all__ = ["T0", "FrameSource", "base_tables", "crm_from_frames", "synthetic_crm_file"]

T0 = datetime(2024, 1, 1)
AS_OF = datetime(2030, 1, 1)


class FrameSource:
    """A CRM source holding pandas frames (tests only)."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self.tables = tables

    def describe(self) -> str:
        return "in-memory frames"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("SET TimeZone = 'UTC'")
        for name, frame in self.tables.items():
            con.register("_frame", frame)
            con.execute(f"CREATE TABLE raw_{name} AS SELECT * FROM _frame")
            con.unregister("_frame")


def crm_from_frames(tables: dict[str, pd.DataFrame]) -> CrmData:
    """Validate the frames against the contract and return the CRM."""
    return open_crm(FrameSource(tables), as_of=AS_OF)


def _frame(rows: list[dict[str, Any]], columns: list[str], times: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in times:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    for column in frame.columns:
        if column not in times and frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    return frame


def base_tables(
    contacts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    stage_changes: list[dict[str, Any]],
    accounts: list[dict[str, Any]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Contract tables from row dicts; accounts default to A1 and A2, created long before."""
    accounts = accounts or [
        {
            "account_id": "A1",
            "industry": "SaaS",
            "employee_count": 250,
            "annual_revenue": 3.5e7,
            "country": "FR",
            "created_at": "2023-01-01",
        },
        {
            "account_id": "A2",
            "industry": "Enseignement",
            "employee_count": 12,
            "annual_revenue": 1.2e6,
            "country": "US",
            "created_at": "2023-01-01",
        },
    ]
    contact_cols = [
        "contact_id", "account_id", "created_at", "job_title", "email_domain", "lead_source",
    ]  # fmt: skip
    return {
        "accounts": _frame(
            accounts,
            ["account_id", "industry", "employee_count", "annual_revenue", "country", "created_at"],
            ["created_at"],
        ),
        "contacts": _frame(contacts, contact_cols, ["created_at"]),
        "events": _frame(
            events, ["event_id", "contact_id", "occurred_at", "event_type"], ["occurred_at"]
        ),
        "stage_changes": _frame(
            stage_changes, ["contact_id", "changed_at", "stage"], ["changed_at"]
        ),
    }


def synthetic_crm_file(folder: Path, contacts: int, seed: int) -> Path:
    """A generated synthetic CRM (DuckDB file) in ``folder``."""
    from leadscore.synthetic import GeneratorConfig, generate_crm

    path = folder / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=contacts, seed=seed), path)
    return path
