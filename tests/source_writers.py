"""A hand-built CRM and writers of it to every source (DuckDB, CSV/Parquet folders, a real
throw-away PostgreSQL server) for the source tests. (Holds no test.)"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa

from leadscore.config import CrmMapping
from leadscore.contract import TABLE_NAMES, EventType, Stage
from tests.postgres_support import (  # noqa: F401  (their home before postgres_support)
    PostgresServer,
    free_port,
    postgres_bindir,
)

AS_OF = datetime(2025, 1, 1)
MAPPING = CrmMapping(
    stage_labels={"Marketing Qualified Lead": Stage.MQL, "Sales Accepted": Stage.SQL},
    event_types={"Visited Pricing": EventType.PRICING_PAGE_VISIT},
)
Tables = dict[str, pd.DataFrame]

# -- a small, realistic CRM built by hand ----------------------------------------------------------


def _timestamps(rng: np.random.Generator, n: int, start: str, days: int) -> pd.Series:
    """Random timestamps with microsecond precision after ``start``."""
    offsets = rng.integers(0, days * 86_400 * 1_000_000, size=n)
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(offsets, unit="us")).astype(
        "datetime64[us]"
    )


def hand_built_crm(n_accounts: int = 8, n_contacts: int = 30, seed: int = 7) -> Tables:
    """Every contract table with NULLs, non-ASCII text, CRM labels and an empty feedback table."""
    rng = np.random.default_rng(seed)
    account_ids = [f"A{i:03d}" for i in range(n_accounts)]
    accounts = pd.DataFrame(
        {
            "account_id": account_ids,
            "name": [f'Acme "{i}", Ltd' if i % 3 else f"Société Générale {i}" for i in range(8)][
                :n_accounts
            ],
            "industry": [
                "Software",
                "Manufacturing",
                None,
                "Finance",
                "Retail",
                "Health",
                "",
                "IT",
            ][:n_accounts],
            "employee_count": pd.array(
                [12, 250, None, 5_000_000_000, 40, 1, 77, 300][:n_accounts], dtype="Int64"
            ),
            "annual_revenue": [1_250_000.5, None, 3.25, 99e6, 0.0, 12.75, 8.5, 1e9][:n_accounts],
            "country": ["DE", "FR", None, "US", "JP", "BR", "GB", "IN"][:n_accounts],
            "created_at": _timestamps(rng, n_accounts, "2022-01-01", 180),
            "segment": ["smb", "mid", "ent", None, "smb", "mid", "ent", "smb"][:n_accounts],
        }
    )
    accounts["industry"] = accounts["industry"].replace("", "Other")
    contact_accounts = rng.choice(n_accounts, size=n_contacts)
    titles = ["Head of IT", "Einkaufsleiter", "Directeur financier", "CTO", "営業部長", None]
    contacts = pd.DataFrame(
        {
            "contact_id": [f"C{i:04d}" for i in range(n_contacts)],
            "account_id": [account_ids[a] for a in contact_accounts],
            "created_at": accounts["created_at"].to_numpy()[contact_accounts]
            + pd.to_timedelta(rng.integers(1, 10**12, n_contacts), unit="us"),
            "job_title": [titles[i % len(titles)] for i in range(n_contacts)],
            "department": [None if i % 4 == 0 else "IT" for i in range(n_contacts)],
            "email_domain": [f"example{a}.com" for a in contact_accounts],
            "country": [None if i % 5 == 0 else "DE" for i in range(n_contacts)],
            "lead_source": [
                ["webinar", "paid_search", "organic"][i % 3] for i in range(n_contacts)
            ],
        }
    )
    contacts["created_at"] = contacts["created_at"].astype("datetime64[us]")
    event_names = [*(e.value for e in EventType), "Visited Pricing", "Web_Visit"]
    rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for contact_id, created in zip(contacts["contact_id"], contacts["created_at"], strict=True):
        for _ in range(int(rng.integers(0, 5))):
            event_type = event_names[int(rng.integers(0, len(event_names)))]
            rows.append(
                {
                    "contact_id": contact_id,
                    "occurred_at": created
                    + pd.Timedelta(microseconds=int(rng.integers(1, 10**13))),
                    "event_type": event_type,
                    "page_url": "https://example.com/pricing?x=1,2"
                    if "ric" in event_type
                    else None,
                    "campaign": None if rng.random() < 0.5 else "Q3 \u2013 Launch",
                }
            )
        stages = ["lead", "Marketing Qualified Lead", "Sales Accepted", "meeting"]
        for step in range(int(rng.integers(1, len(stages) + 1))):
            changes.append(
                {
                    "contact_id": contact_id,
                    "changed_at": created + pd.Timedelta(days=7 * step, microseconds=step),
                    "stage": stages[step],
                    "crm_label": stages[step].title(),
                }
            )
    events = pd.DataFrame(rows)
    events.insert(0, "event_id", [f"E{i:05d}" for i in range(len(events))])
    events["occurred_at"] = events["occurred_at"].astype("datetime64[us]")
    stage_changes = pd.DataFrame(changes)
    stage_changes["changed_at"] = stage_changes["changed_at"].astype("datetime64[us]")
    feedback = pd.DataFrame(
        {
            "contact_id": pd.Series([], dtype="str"),
            "given_at": pd.Series([], dtype="datetime64[us]"),
            "verdict": pd.Series([], dtype="str"),
            "reason": pd.Series([], dtype="str"),
        }
    )
    return {
        "accounts": accounts,
        "contacts": contacts,
        "events": events,
        "stage_changes": stage_changes,
        "feedback": feedback,
    }


def synthetic_generator() -> Callable[[Path, str], None] | None:
    """``write(out, fmt)`` from :mod:`leadscore.synthetic`, or None while it is not available."""
    try:
        synthetic = importlib.import_module("leadscore.synthetic")
        config = synthetic.GeneratorConfig(n_contacts=300, seed=3)
    except (ImportError, AttributeError):
        return None

    def write(out: Path, fmt: str) -> None:
        synthetic.generate_crm(config, out, fmt=fmt)

    return write


# -- writers ---------------------------------------------------------------------------------------


def write_duckdb(tables: Mapping[str, pd.DataFrame], path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        for name, frame in tables.items():
            con.register("_frame", frame)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
            con.unregister("_frame")
    return path


def write_folder(
    tables: Mapping[str, pd.DataFrame], folder: Path, fmt: str, *, parts: tuple[str, ...] = ()
) -> Path:
    """One file per table; tables named in ``parts`` are split into a ``<table>/`` parts folder."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(frame: pd.DataFrame, path: Path) -> None:
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)

    for name, frame in tables.items():
        if name in parts:
            (folder / name).mkdir()
            half = len(frame) // 2
            write(frame.iloc[:half], folder / name / f"part-0.{fmt}")
            write(frame.iloc[half:], folder / name / f"part-1.{fmt}")
        else:
            write(frame, folder / f"{name}.{fmt}")
    return folder


def _sql_types(frame: pd.DataFrame) -> dict[str, Any]:
    """The column types a CRM database would use: TIMESTAMPTZ, INTEGER, NUMERIC, VARCHAR."""
    types: dict[str, Any] = {}
    for column, dtype in frame.dtypes.items():
        name = str(column)
        if pd.api.types.is_datetime64_any_dtype(dtype):
            types[name] = sa.DateTime(timezone=True)
        elif pd.api.types.is_integer_dtype(dtype):
            types[name] = sa.BigInteger()
        elif pd.api.types.is_float_dtype(dtype) and frame[name].dropna().round(2).equals(
            frame[name].dropna()
        ):
            types[name] = sa.Numeric(16, 2)  # exact decimals, read back as Decimal
        elif pd.api.types.is_float_dtype(dtype):
            types[name] = sa.Float()
        else:
            types[name] = sa.String(200)
    return types


def write_postgres(
    tables: Mapping[str, pd.DataFrame],
    server_url: str,
    database: str,
    *,
    time_zone: str = "Asia/Tokyo",
) -> str:
    """Create ``database`` on the server, load every table, return the database URL.

    The database's session time zone is not UTC, so TIMESTAMPTZ values arrive with an offset.
    """
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}"'))
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
            connection.execute(
                sa.text(f"ALTER DATABASE \"{database}\" SET timezone TO '{time_zone}'")
            )
    finally:
        admin.dispose()
    url = server_url.rsplit("/", 1)[0] + f"/{database}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for name, frame in tables.items():
                frame = frame.copy()
                for column in frame.columns:  # naive means UTC in the contract
                    if isinstance(frame[column].dtype, np.dtypes.DateTime64DType):
                        frame[column] = frame[column].dt.tz_localize("UTC")
                frame.to_sql(name, connection, index=False, dtype=_sql_types(frame))
    finally:
        engine.dispose()
    return url


def read_duckdb(path: Path) -> Tables:
    with duckdb.connect(str(path), read_only=True) as con:
        names = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {name: con.table(name).df() for name in TABLE_NAMES if name in names}


# -- a throw-away PostgreSQL server: tests/postgres_support.py -----------------------------------
