"""Leads posted to the HTTP API, as contract tables, validated by the contract's own code.

The request models mirror the data contract (accounts, contacts, events, stage changes) with
bounds on every number, time and text, so that no value can break the feature query: types,
required values, vocabularies, unique contact ids, one version of each account, and foreign
keys (by construction). :func:`posted_tables` turns the rows into Arrow tables with the contract
types; :class:`PostedValidator` then checks them with :func:`leadscore.validation.validate`,
the very checks every CRM passes (unique event ids, no time after ``as_of``, nothing before its
account existed, ...), and raises the contract's own error listing every problem. Features come
from the feature stage's one query (:class:`~leadscore.serving.features.PostedFeatures`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.clock import as_of_from_text
from leadscore.config import CrmMapping
from leadscore.contract import CONTRACT, EventType, Stage
from leadscore.crm import CrmData, open_crm
from leadscore.errors import ConfigError
from leadscore.features.duck_pool import ConnectionPool
from leadscore.safe_text import safe_example
from leadscore.validation import raw_view, validate

__all__ = [
    "MAX_EMPLOYEES",
    "MAX_EVENTS_PER_LEAD",
    "MAX_LEADS",
    "MAX_REVENUE",
    "MAX_STAGE_CHANGES_PER_LEAD",
    "AccountIn",
    "ContactIn",
    "EventIn",
    "LeadIn",
    "PostedValidator",
    "ScoreRequest",
    "StageChangeIn",
    "TablesSource",
    "crm_from_request",
    "fold_checks",
    "posted_rows",
    "posted_tables",
    "tables_of_rows",
]

MAX_LEADS = 500
"""Leads per request."""
MAX_EVENTS_PER_LEAD = 5000
MAX_STAGE_CHANGES_PER_LEAD = 200
MAX_EMPLOYEES = 10_000_000
"""Above the largest employer on earth (about 2.3 million people): a higher count is a typo."""
MAX_REVENUE = 1e13
"""Ten trillion (any currency): above any company's annual revenue."""
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(2200, 1, 1)
"""Times (and ``as_of``) must lie in ``[EARLIEST, LATEST)``, naive UTC."""

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
        if not isinstance(value, datetime):
            return value
        naive = _naive_utc(value)
        if not EARLIEST <= naive < LATEST:
            raise ValueError(
                f"time out of range: expected a UTC time from {EARLIEST:%Y-%m-%d} to before "
                f"{LATEST:%Y-%m-%d}"
            )
        return naive


class AccountIn(_Strict):
    """The lead's company (contract table ``accounts``)."""

    account_id: Id
    name: Text = None
    industry: Text = None
    employee_count: int | None = Field(default=None, ge=0, le=MAX_EMPLOYEES)
    annual_revenue: float | None = Field(default=None, ge=0, le=MAX_REVENUE, allow_inf_nan=False)
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
    events: list[EventIn] = Field(default_factory=list, max_length=MAX_EVENTS_PER_LEAD)
    stage_changes: list[StageChangeIn] = Field(
        default_factory=list, max_length=MAX_STAGE_CHANGES_PER_LEAD
    )


class ScoreRequest(_Strict):
    """One or many leads to score now (or at ``as_of``, naive UTC or with an offset).

    ``complete_accounts``: the posted leads are *every* contact their accounts have (e.g. the
    first lead of a new company). Only then can a server without a CRM compute account-level
    features; a server with a CRM reads the accounts' other contacts from it either way.
    """

    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_LEADS)
    as_of: datetime | None = None
    complete_accounts: bool = False

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_alone_is_its_end(cls, value: Any) -> Any:
        """``"2025-12-30"`` is the end of that day, never after now (as ``--as-of``: the
        API scores as batch scoring does)."""
        if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
            return as_of_from_text(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScoreRequest:
        ids = [lead.contact.contact_id for lead in self.leads]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            shown = ", ".join(safe_example(i) for i in duplicates[:5])  # ids can be emails
            raise ValueError(f"contact_id posted more than once: {shown}")
        accounts: dict[str, AccountIn] = {}
        for lead in self.leads:
            known = accounts.setdefault(lead.account.account_id, lead.account)
            if known != lead.account:
                raise ValueError(
                    f"account {safe_example(lead.account.account_id)} is posted twice with "
                    "different values"
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
    return tables_of_rows(posted_rows(request))


def tables_of_rows(rows: dict[str, list[dict[str, Any]]]) -> dict[str, pa.Table]:
    """:func:`posted_rows` as Arrow tables (the contract's columns and types)."""
    return {name: _table(name, table_rows) for name, table_rows in rows.items()}


def posted_rows(request: ScoreRequest) -> dict[str, list[dict[str, Any]]]:
    """The rows of :func:`posted_tables`, as dictionaries (before Arrow)."""
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
        "accounts": [a.model_dump() for a in accounts.values()],
        "contacts": contacts,
        "events": events,
        "stage_changes": stages,
    }


def crm_from_request(request: ScoreRequest, *, as_of: datetime) -> CrmData:
    """Validate the posted leads as a CRM (raises :class:`~leadscore.errors.DataContractError`
    listing every problem, e.g. events in the future)."""
    # a new lead may have no events or stage changes yet: that is not a broken export
    return open_crm(TablesSource(posted_tables(request)), as_of=as_of, allow_empty_tables=True)


_BAD_ROWS = re.compile(r"SELECT count\(\*\) FROM .+ WHERE ", re.DOTALL)
_STRUCTURE = re.compile(
    r"(SELECT view_name FROM duckdb_views\(\)|DESCRIBE raw_\w+$|CREATE OR REPLACE VIEW "
    r"|SELECT count\(\*\) FROM raw_\w+$)"
)
_SENTINEL = datetime(2199, 12, 31, 23, 59, 59)
_SIMPLE = re.compile(
    r"SELECT count\(\*\) FROM (?P<table>raw_\w+|\"\w+\"|\w+) WHERE (?P<cond>.+)$", re.DOTALL
)


_BY_CONSTRUCTION = re.compile(
    # unique keys: ScoreRequest refuses a contact posted twice (and an account posted with two
    # versions); posted_tables writes one row per account
    r'SELECT count\(\*\) FROM "(accounts|contacts)" WHERE \("(account_id|contact_id)"\) IN '
    # foreign keys: posted_tables derives every key from the nesting of the request
    r'|SELECT count\(\*\) FROM "(contacts|events|stage_changes)" WHERE "(account_id|contact_id)" '
    r'IS NOT NULL AND "(account_id|contact_id)" NOT IN \(SELECT '
)
"""Checks that rows built by :func:`posted_tables` from a :class:`ScoreRequest` cannot fail
(see the comments); :class:`PostedValidator` leaves them out when told the rows are built so.
Every other check runs (a new check of the validation, of any shape, is never left out)."""


def fold_checks(checks: list[str]) -> list[str]:
    """The bad-row counts ``checks`` as fewer queries that find a broken rule exactly when one
    of ``checks`` counts a row: the plain ones (``SELECT count(*) FROM t WHERE c``, no
    subquery) of each table become one count of the rows meeting any of their conditions
    (``WHERE (c1) OR (c2) ...``: a row meets the disjunction exactly when some condition is
    true, nulls included); the others are kept as they are."""
    conditions: dict[str, list[str]] = {}
    kept: list[str] = []
    for sql in checks:
        match = _SIMPLE.match(sql)
        if match is None or "SELECT" in match["cond"].upper():
            kept.append(sql)
        else:
            conditions.setdefault(match["table"].strip('"'), []).append(match["cond"])
    folded = [
        f'SELECT count(*) FROM "{table}" WHERE ' + " OR ".join(f"({c})" for c in conds)
        for table, conds in conditions.items()
    ]
    return folded + kept


_CHECKS = "_ls_contract_checks"
_POSTED = ("accounts", "contacts", "events", "stage_changes")


class _NoRows:
    """The answer of a recorded query: no bad row, no example."""

    @staticmethod
    def fetchone() -> tuple[int]:
        return (0,)

    @staticmethod
    def fetchall() -> list[Any]:
        return []


class _Recorder:
    """The connection :func:`validate` runs on once, on empty posted tables: its bad-row counts
    (``SELECT count(*) FROM ... WHERE <rule broken>``) are recorded and answered "none"; the
    statements that read the structure run as usual. Any other statement marks the recording
    as ``unknown`` (a check whose shape this does not know: the validator then runs the full
    validation on every request instead)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.counts: list[str] = []
        self.unknown = False

    def execute(self, sql: str, *args: Any) -> Any:
        if not args and _BAD_ROWS.match(sql):
            self.counts.append(sql)
            return _NoRows
        if not args and sql.startswith("SELECT DISTINCT") and "NOT IN" in sql:
            return _NoRows  # examples of unknown values: only read for a message
        if args or not _STRUCTURE.match(sql):
            self.unknown = True
        return self.con.execute(sql, *args)


class PostedValidator:
    """Checks posted contract tables with the data contract's own validation
    (:func:`leadscore.validation.validate`, the checks every CRM passes), fast.

    Each of a small pool of in-memory DuckDB connections holds empty ``raw_*`` tables of the
    posted kind. :func:`validate` runs once on them at start, through :class:`_Recorder`: its
    bad-row counts (``SELECT count(*) ... WHERE <rule broken>``, one per rule, with ``as_of``
    as a parameter) are prepared as *one* query. A call swaps the rows in, runs that query
    and rolls them back (no posted row stays between requests). When a rule is broken, the
    rows go through :func:`leadscore.crm.open_crm` for the validation's own message listing
    every problem (:class:`~leadscore.errors.DataContractError`).

    Measured (one run, loaded 2-core machine, one lead): the ~60 checks one by
    one cost more to plan than to run on a request's rows; as one prepared statement they cost
    one execution (51 ms), folded per table by :func:`fold_checks` (one scan per table for the
    plain ones) 41 ms. ``built_by_posted_tables``: the tables checked are always
    :func:`posted_tables` of a :class:`ScoreRequest` (the HTTP API's case), so the checks of
    :data:`_BY_CONSTRUCTION` (unique account and contact ids, foreign keys), which such rows
    cannot fail, are left out (:attr:`left_out`): 30 ms. Should the validation hold a check of
    a shape the recorder does not know, ``fast`` is false and every call runs the full
    validation (slower, never wrong). Thread-safe: one connection per call.
    """

    def __init__(self, *, connections: int = 2, built_by_posted_tables: bool = False) -> None:
        if connections < 1:
            raise ConfigError(f"connections must be at least 1, got {connections}.")
        self.fast = True
        self.left_out: list[str] = []
        self.checks: list[str] = []
        """The bad-row counts run on every call (see :class:`~leadscore.serving.posted_quick.
        QuickCheck`)."""
        self._trusted = built_by_posted_tables
        # connections renewed after a number of uses (they slow down as they go: duck_pool)
        self.pool = ConnectionPool(self._connect, connections)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={"threads": 1})
        try:
            self.fast = self._prepare(con, self._trusted) and self.fast
        except BaseException:
            con.close()
            raise
        return con

    def _prepare(self, con: duckdb.DuckDBPyConnection, trusted: bool) -> bool:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_optimizer = false")  # a prepared plan is reused as it is
        for name in _POSTED:
            spec = next(t for t in CONTRACT if t.name == name)
            columns = ", ".join(f'"{c.name}" {c.dtype}' for c in spec.columns)
            con.execute(f"CREATE TABLE {raw_view(name)} ({columns})")
        recorder = _Recorder(con)
        validate(
            cast(duckdb.DuckDBPyConnection, recorder),
            CrmMapping(),
            as_of=_SENTINEL,
            allow_empty_tables=True,
        )
        literal = f"TIMESTAMP '{_SENTINEL:%Y-%m-%d %H:%M:%S}'"
        checks = [q.replace(literal, "CAST($1 AS TIMESTAMP)") for q in recorder.counts]
        if trusted:
            self.left_out = [q for q in checks if _BY_CONSTRUCTION.match(q)]
            checks = [q for q in checks if not _BY_CONSTRUCTION.match(q)]
        self.checks = checks
        union = " UNION ALL ".join(f"({q})" for q in fold_checks(checks))
        if recorder.unknown or not checks or f"{_SENTINEL:%Y-%m-%d}" in union:
            return False
        con.execute(f"PREPARE {_CHECKS} AS SELECT max(n) FROM ({union}) AS checks(n)")
        return True

    def check(self, tables: dict[str, pa.Table], *, as_of: datetime) -> None:
        """Raise :class:`~leadscore.errors.DataContractError` listing every rule ``tables``
        (the posted contract tables) break at ``as_of`` (naive UTC); return quietly when they
        meet the contract."""
        if self.fast and set(tables) == set(_POSTED):
            moment = as_of.replace(microsecond=0)  # validate compares to the second
            raw = {raw_view(name): table for name, table in tables.items()}
            with self.pool.rows_in(raw) as con:
                row = con.execute(f"EXECUTE {_CHECKS}('{moment:%Y-%m-%d %H:%M:%S}')").fetchone()
            if not (row and row[0]):
                return
        # a rule is broken (or the fast path is off): the validation itself, for its message
        open_crm(TablesSource(tables), as_of=as_of, allow_empty_tables=True).close()

    def close(self) -> None:
        """Close every connection of the pool."""
        self.pool.close()
