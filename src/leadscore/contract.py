"""The data contract for CRM history: tables, columns, keys and vocabularies.

This module only *describes* the contract; :mod:`leadscore.validation` checks data against it and
``docs/data-contract.md`` documents it for users. Types are DuckDB SQL types: every source is read
through DuckDB, so one set of checks serves every source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "CONTRACT",
    "FUNNEL",
    "MEETING_OR_LATER",
    "SCHEMA_VERSION",
    "SQL_OR_LATER",
    "Column",
    "EventType",
    "ForeignKey",
    "Stage",
    "Table",
    "Verdict",
    "table_spec",
]

SCHEMA_VERSION = "1"
"""Bumped whenever a table, column or vocabulary of the contract changes incompatibly."""


class Stage(StrEnum):
    """Funnel stages (DOMAIN.md). CRM labels are mapped onto these in the config file."""

    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    MEETING = "meeting"
    CUSTOMER = "customer"
    DISQUALIFIED = "disqualified"


FUNNEL: tuple[Stage, ...] = (Stage.LEAD, Stage.MQL, Stage.SQL, Stage.MEETING, Stage.CUSTOMER)
"""The ordered funnel; ``disqualified`` is an exit, not a step."""

SQL_OR_LATER: tuple[str, ...] = ("sql", "meeting", "customer")
"""Reaching any of these is "reached SQL": the one definition the labels and the funnel
summary share (a CRM that records won deals but no SQL stage still has SQLs)."""
MEETING_OR_LATER: tuple[str, ...] = ("meeting", "customer")
"""Reaching any of these is "booked a meeting"."""


class EventType(StrEnum):
    """Behavioural event types. CRM event names are mapped onto these in the config file."""

    WEB_VISIT = "web_visit"
    PRICING_PAGE_VISIT = "pricing_page_visit"
    CONTENT_DOWNLOAD = "content_download"
    WEBINAR_REGISTRATION = "webinar_registration"
    WEBINAR_ATTENDANCE = "webinar_attendance"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    FORM_FILL = "form_fill"
    DEMO_REQUEST = "demo_request"
    CHAT = "chat"
    UNSUBSCRIBE = "unsubscribe"


class Verdict(StrEnum):
    """A sales rep's verdict on a scored lead."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Column:
    """One column of a contract table.

    ``required`` columns must be present; optional ones are added as NULL when absent.
    ``nullable`` says whether NULL values are allowed in the column; ``minimum`` is the smallest
    value allowed in a numeric column.
    """

    name: str
    dtype: str
    description: str
    required: bool = True
    nullable: bool = True
    vocabulary: tuple[str, ...] = ()
    minimum: float | None = None


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of this table must exist in ``ref_table.ref_column``."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    """One contract table. ``row_id`` names the column quoted as example ids in error messages."""

    name: str
    description: str
    columns: tuple[Column, ...]
    row_id: str
    key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    time_column: str | None = None
    optional: bool = False
    allows_extra_columns: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)  # internal use only: names come from the contract itself


_STAGES = tuple(stage.value for stage in Stage)
_EVENT_TYPES = tuple(event.value for event in EventType)
_VERDICTS = tuple(verdict.value for verdict in Verdict)

CONTRACT: tuple[Table, ...] = (
    Table(
        name="accounts",
        description="Companies and their firmographics.",
        row_id="account_id",
        key=("account_id",),
        time_column="created_at",
        allows_extra_columns=True,
        columns=(
            Column("account_id", "VARCHAR", "Unique account identifier.", nullable=False),
            Column("name", "VARCHAR", "Company name.", required=False),
            Column("industry", "VARCHAR", "Industry label (free text; unknown values allowed)."),
            Column("employee_count", "BIGINT", "Number of employees.", required=False, minimum=0),
            Column(
                "annual_revenue",
                "DOUBLE",
                "Annual revenue in the CRM currency.",
                required=False,
                minimum=0,
            ),
            Column("country", "VARCHAR", "ISO 3166-1 alpha-2 country code.", required=False),
            Column(
                "created_at", "TIMESTAMP", "When the account entered the CRM (UTC).", nullable=False
            ),
        ),
    ),
    Table(
        name="contacts",
        description="People at accounts. Only the email *domain* is needed, never the address.",
        row_id="contact_id",
        key=("contact_id",),
        time_column="created_at",
        foreign_keys=(ForeignKey("account_id", "accounts", "account_id"),),
        allows_extra_columns=True,
        columns=(
            Column("contact_id", "VARCHAR", "Unique contact identifier.", nullable=False),
            Column("account_id", "VARCHAR", "The contact's account.", nullable=False),
            Column(
                "created_at", "TIMESTAMP", "When the contact entered the CRM (UTC).", nullable=False
            ),
            Column("job_title", "VARCHAR", "Job title as typed (any language)."),
            Column("department", "VARCHAR", "Department, if the CRM knows it.", required=False),
            Column("seniority", "VARCHAR", "Seniority, if the CRM knows it.", required=False),
            Column("email_domain", "VARCHAR", "Domain part of the email address (no local part)."),
            Column("country", "VARCHAR", "ISO 3166-1 alpha-2 country code.", required=False),
            Column(
                "lead_source", "VARCHAR", "How the contact arrived (webinar, paid_search, ...)."
            ),
        ),
    ),
    Table(
        name="events",
        description="Behavioural events (web, email, content, webinar, forms, chat).",
        row_id="event_id",
        key=("event_id",),
        time_column="occurred_at",
        foreign_keys=(ForeignKey("contact_id", "contacts", "contact_id"),),
        columns=(
            Column("event_id", "VARCHAR", "Unique event identifier.", nullable=False),
            Column("contact_id", "VARCHAR", "Who did it.", nullable=False),
            Column("occurred_at", "TIMESTAMP", "When it happened (UTC).", nullable=False),
            Column(
                "event_type",
                "VARCHAR",
                "Event type after mapping.",
                nullable=False,
                vocabulary=_EVENT_TYPES,
            ),
            Column("page_url", "VARCHAR", "Visited page URL, for web events.", required=False),
            Column(
                "page_category", "VARCHAR", "Page category (pricing, blog, ...).", required=False
            ),
            Column("campaign", "VARCHAR", "Marketing campaign, if any.", required=False),
            Column("asset_name", "VARCHAR", "Downloaded asset or webinar name.", required=False),
        ),
    ),
    Table(
        name="stage_changes",
        description="Funnel stage history: one row each time a contact enters a stage.",
        row_id="contact_id",
        time_column="changed_at",
        foreign_keys=(ForeignKey("contact_id", "contacts", "contact_id"),),
        columns=(
            Column("contact_id", "VARCHAR", "Whose stage changed.", nullable=False),
            Column("changed_at", "TIMESTAMP", "When the stage was entered (UTC).", nullable=False),
            Column(
                "stage",
                "VARCHAR",
                "Funnel stage after mapping.",
                nullable=False,
                vocabulary=_STAGES,
            ),
            Column("crm_label", "VARCHAR", "The CRM's own stage label.", required=False),
        ),
    ),
    Table(
        name="feedback",
        description="Sales reps' verdicts on leads (optional; read by `leadscore feedback`).",
        row_id="contact_id",
        time_column="given_at",
        optional=True,
        foreign_keys=(ForeignKey("contact_id", "contacts", "contact_id"),),
        columns=(
            Column("contact_id", "VARCHAR", "The scored contact.", nullable=False),
            Column("given_at", "TIMESTAMP", "When the rep gave the verdict (UTC).", nullable=False),
            Column(
                "verdict",
                "VARCHAR",
                "accepted or rejected.",
                nullable=False,
                vocabulary=_VERDICTS,
            ),
            Column("reason", "VARCHAR", "The rep's reason, free text.", required=False),
            Column(
                "model_version", "VARCHAR", "Model version that scored the lead.", required=False
            ),
        ),
    ),
)

TABLE_NAMES: tuple[str, ...] = tuple(table.name for table in CONTRACT)


def table_spec(name: str) -> Table:
    """The contract table called ``name``."""
    for table in CONTRACT:
        if table.name == name:
            return table
    raise KeyError(name)  # internal use only
