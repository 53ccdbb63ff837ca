"""Leads posted to the HTTP API, as contract tables.

The request models mirror the data contract (accounts, contacts, events, stage changes) and
already guarantee most of it: types, required values, vocabularies, unique contact ids, one
version of each account, and foreign keys (by construction). :func:`posted_tables` turns the
rows into Arrow tables with the contract types; :func:`meets_contract` checks the few rules the
models cannot (unique event ids, times not in the future nor before the account existed,
non-empty tables), with the same comparisons as :func:`leadscore.validation.validate`.

Rows that pass are scored on a long-lived connection (:class:`~leadscore.serving.features.
PostedFeatures`); rows that do not go through :func:`crm_from_request`, which validates them
like any CRM with :func:`leadscore.crm.open_crm` and raises the contract's own error listing
every problem. Either way features come from the feature stage's one query: there is no second
feature implementation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.contract import CONTRACT, EventType, Stage
from leadscore.crm import CrmData, open_crm
from leadscore.validation import raw_view

__all__ = [
    "AccountIn",
    "ContactIn",
    "EventIn",
    "LeadIn",
    "ScoreRequest",
    "StageChangeIn",
    "TablesSource",
    "crm_from_request",
    "meets_contract",
    "posted_tables",
]

Id = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str | None, Field(default=None, max_length=500)]

_ARROW = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
}


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return _naive_utc(value) if isinstance(value, datetime) else value


class AccountIn(_Strict):
    """The lead's company (contract table ``accounts``)."""

    account_id: Id
    name: Text = None
    industry: Text = None
    employee_count: int | None = Field(default=None, ge=0)
    annual_revenue: float | None = Field(default=None, ge=0)
    country: Text = None
    created_at: datetime


class ContactIn(_Strict):
    """The lead (contract table ``contacts``; the email *domain* only, never the address)."""

    contact_id: Id
    created_at: datetime
    job_title: Text = None
    department: Text = None
    seniority: Text = None
    email_domain: Text = None
    country: Text = None
    lead_source: Text = None


class EventIn(_Strict):
    """One behavioural event of the lead (contract table ``events``)."""

    occurred_at: datetime
    event_type: EventType
    event_id: Id | None = None
    page_url: Text = None
    page_category: Text = None
    campaign: Text = None
    asset_name: Text = None


class StageChangeIn(_Strict):
    """One funnel stage the lead entered (contract table ``stage_changes``)."""

    changed_at: datetime
    stage: Stage
    crm_label: Text = None


class LeadIn(_Strict):
    """A lead's current data: profile, company, recent events and stage history."""

    contact: ContactIn
    account: AccountIn
    events: list[EventIn] = Field(default_factory=list, max_length=5000)
    stage_changes: list[StageChangeIn] = Field(default_factory=list, max_length=200)


class ScoreRequest(_Strict):
    """One or many leads to score now (or at ``as_of``, naive UTC or with an offset)."""

    leads: list[LeadIn] = Field(min_length=1, max_length=500)
    as_of: datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ScoreRequest:
        ids = [lead.contact.contact_id for lead in self.leads]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"contact_id posted more than once: {', '.join(duplicates[:5])}")
        accounts: dict[str, AccountIn] = {}
        for lead in self.leads:
            known = accounts.setdefault(lead.account.account_id, lead.account)
            if known != lead.account:
                raise ValueError(
                    f"account {lead.account.account_id} is posted twice with different values"
                )
        return self


class TablesSource:
    """A :class:`~leadscore.sources.Source` over in-memory Arrow tables (one per contract
    table)."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables

    def describe(self) -> str:
        return "posted leads"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("SET TimeZone = 'UTC'")
        for name, table in self.tables.items():
            # a table, not a view: registered objects are invisible to the engine's cursors
            con.register(f"_posted_{name}", table)
            con.execute(f"CREATE OR REPLACE TABLE {raw_view(name)} AS SELECT * FROM _posted_{name}")
            con.unregister(f"_posted_{name}")


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    spec = next(t for t in CONTRACT if t.name == name)
    schema = pa.schema([pa.field(c.name, _ARROW[c.dtype]) for c in spec.columns])
    return pa.Table.from_pylist(rows, schema=schema)


def posted_tables(request: ScoreRequest) -> dict[str, pa.Table]:
    """The posted rows as Arrow tables with the contract's columns and types (events without
    an ``event_id`` get ``<contact_id>#<position>``)."""
    accounts = {lead.account.account_id: lead.account for lead in request.leads}
    events: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    for lead in request.leads:
        cid = lead.contact.contact_id
        contacts.append({**lead.contact.model_dump(), "account_id": lead.account.account_id})
        for i, event in enumerate(lead.events):
            row = event.model_dump()
            row["event_id"] = event.event_id or f"{cid}#{i}"
            row["event_type"] = event.event_type.value
            events.append({**row, "contact_id": cid})
        for change in lead.stage_changes:
            stages.append({**change.model_dump(), "stage": change.stage.value, "contact_id": cid})
    return {
        "accounts": _table("accounts", [a.model_dump() for a in accounts.values()]),
        "contacts": _table("contacts", contacts),
        "events": _table("events", events),
        "stage_changes": _table("stage_changes", stages),
    }


def meets_contract(request: ScoreRequest, *, as_of: datetime) -> bool:
    """Whether the posted rows meet every rule of the data contract at ``as_of``.

    The request models guarantee types, required values, vocabularies, unique contacts and
    consistent accounts; this checks the rest as :func:`~leadscore.validation.validate` does:
    unique event ids, no time after
    ``as_of`` (compared to the second, as the validation does), no contact, event or stage
    change before its account was created. ``False`` means :func:`crm_from_request` must
    validate the rows (and report the problems).
    """
    limit = as_of.replace(microsecond=0)  # validation compares with as_of to the second
    event_ids: set[str] = set()
    for lead in request.leads:
        opened = lead.account.created_at
        if opened > limit or lead.contact.created_at > limit or lead.contact.created_at < opened:
            return False
        cid = lead.contact.contact_id
        for i, event in enumerate(lead.events):
            event_id = event.event_id or f"{cid}#{i}"
            if event_id in event_ids or event.occurred_at > limit or event.occurred_at < opened:
                return False
            event_ids.add(event_id)
        for change in lead.stage_changes:
            if change.changed_at > limit or change.changed_at < opened:
                return False
    return True


def crm_from_request(request: ScoreRequest, *, as_of: datetime) -> CrmData:
    """Validate the posted leads as a CRM (raises :class:`~leadscore.errors.DataContractError`
    listing every problem, e.g. events in the future)."""
    # a new lead may have no events or stage changes yet: that is not a broken export
    return open_crm(TablesSource(posted_tables(request)), as_of=as_of, allow_empty_tables=True)
