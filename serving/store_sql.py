"""The score store's SQL per database: schema, migrations and the few fragments that differ.

Everything else the store's modules write is SQL both DuckDB and PostgreSQL read alike
(``?`` placeholders, which the PostgreSQL connection turns into its own). Schema version
:data:`SCHEMA_VERSION` is recorded in the ``store_schema`` table of both; a store written by a
newer leadscore is refused rather than misread.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadscore.errors import SourceError

__all__ = ["DUCKDB", "POSTGRES", "SCHEMA_VERSION", "Dialect", "check_version"]

SCHEMA_VERSION = 2
"""Version of the store's tables (1: score history with runs and facets, feedback with rep,
note, grade and reasons shown, users, CRM exports, batch runs; 2: each CRM export row records
the rank it sent, ``crm_exports.score_rank``)."""

_VERSION_TABLE = f"""
CREATE TABLE IF NOT EXISTS store_schema (version INTEGER NOT NULL);
INSERT INTO store_schema SELECT {SCHEMA_VERSION} WHERE NOT EXISTS (SELECT 1 FROM store_schema);
UPDATE store_schema SET version = {SCHEMA_VERSION} WHERE version < {SCHEMA_VERSION};
"""
"""The version row: written by a new store, raised once an older store's tables are migrated
(the DDL before it added what the older version lacked); a newer version is left as it is."""

_MIGRATIONS = """
ALTER TABLE crm_exports ADD COLUMN IF NOT EXISTS score_rank INTEGER;
"""
"""Columns added since version 1, on both databases (idempotent; rows written before keep
nulls: an export sent by version 1 recorded no rank)."""

_DUCKDB_SCHEMA = """
CREATE TABLE IF NOT EXISTS score_history (
    contact_id VARCHAR NOT NULL,
    scored_at TIMESTAMP NOT NULL,
    model_version VARCHAR NOT NULL,
    p_sql DOUBLE,
    p_meeting DOUBLE,
    grade VARCHAR,
    fit_score DOUBLE,
    engagement_score DOUBLE,
    reasons_positive VARCHAR[],
    reasons_negative VARCHAR[]
);
CREATE TABLE IF NOT EXISTS feedback (
    contact_id VARCHAR NOT NULL,
    given_at TIMESTAMP NOT NULL,
    verdict VARCHAR NOT NULL CHECK (verdict IN ('accepted', 'rejected')),
    reason VARCHAR,
    model_version VARCHAR
);
ALTER TABLE score_history ADD COLUMN IF NOT EXISTS run_id VARCHAR;
ALTER TABLE score_history ADD COLUMN IF NOT EXISTS as_of TIMESTAMP;
ALTER TABLE score_history ADD COLUMN IF NOT EXISTS owner VARCHAR;
ALTER TABLE score_history ADD COLUMN IF NOT EXISTS segment VARCHAR;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS rep VARCHAR;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS note VARCHAR;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS grade VARCHAR;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS reasons_shown VARCHAR[];
CREATE TABLE IF NOT EXISTS users (
    name VARCHAR PRIMARY KEY,
    token_sha256 VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS crm_exports (
    target VARCHAR NOT NULL,
    contact_id VARCHAR NOT NULL,
    p_sql DOUBLE,
    grade VARCHAR,
    exported_at TIMESTAMP NOT NULL,
    score_rank INTEGER
);
CREATE TABLE IF NOT EXISTS score_runs (
    run_id VARCHAR PRIMARY KEY,
    state VARCHAR NOT NULL CHECK (state IN ('pending', 'committed')),
    output VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL DEFAULT current_localtimestamp(),
    pid BIGINT NOT NULL,
    host VARCHAR NOT NULL,
    rows BIGINT NOT NULL
);
"""
"""DuckDB: the tables as first created, then the columns added since (older files migrate in
place, idempotently)."""

_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS score_history (
    contact_id VARCHAR NOT NULL,
    scored_at TIMESTAMP NOT NULL,
    model_version VARCHAR NOT NULL,
    p_sql DOUBLE PRECISION,
    p_meeting DOUBLE PRECISION,
    grade VARCHAR,
    fit_score DOUBLE PRECISION,
    engagement_score DOUBLE PRECISION,
    reasons_positive VARCHAR[],
    reasons_negative VARCHAR[],
    run_id VARCHAR,
    as_of TIMESTAMP,
    owner VARCHAR,
    segment VARCHAR
);
CREATE INDEX IF NOT EXISTS score_history_contact ON score_history (contact_id, scored_at);
CREATE INDEX IF NOT EXISTS score_history_run ON score_history (run_id);
CREATE TABLE IF NOT EXISTS feedback (
    contact_id VARCHAR NOT NULL,
    given_at TIMESTAMP NOT NULL,
    verdict VARCHAR NOT NULL CHECK (verdict IN ('accepted', 'rejected')),
    reason VARCHAR,
    model_version VARCHAR,
    rep VARCHAR,
    note VARCHAR,
    grade VARCHAR,
    reasons_shown VARCHAR[]
);
CREATE INDEX IF NOT EXISTS feedback_contact ON feedback (contact_id, given_at);
CREATE TABLE IF NOT EXISTS users (
    name VARCHAR PRIMARY KEY,
    token_sha256 VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS crm_exports (
    target VARCHAR NOT NULL,
    contact_id VARCHAR NOT NULL,
    p_sql DOUBLE PRECISION,
    grade VARCHAR,
    exported_at TIMESTAMP NOT NULL,
    score_rank INTEGER
);
CREATE INDEX IF NOT EXISTS crm_exports_target ON crm_exports (target, contact_id);
CREATE TABLE IF NOT EXISTS score_runs (
    run_id VARCHAR PRIMARY KEY,
    state VARCHAR NOT NULL CHECK (state IN ('pending', 'committed')),
    output VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL DEFAULT LOCALTIMESTAMP,
    pid BIGINT NOT NULL,
    host VARCHAR NOT NULL,
    rows BIGINT NOT NULL
);
"""
"""PostgreSQL (sessions run in UTC, so ``LOCALTIMESTAMP`` is UTC as in DuckDB)."""


@dataclass(frozen=True)
class Dialect:
    """The SQL of one database."""

    name: str
    schema: str
    """Idempotent DDL creating or migrating every table, then the version row."""
    _any: str
    _arg_max: str
    by_code: str = ""
    """Appended to a text sort key: order by code point as DuckDB does, not by the database's
    locale (a PostgreSQL database in ``en_US`` puts ``(API)`` after ``A1`` and ``_z`` first)."""

    def any_of(self, column: str) -> str:
        """``column`` is one of the values of a list parameter (``?``)."""
        return self._any.format(column=column)

    def arg_max(self, value: str, key: str) -> str:
        """The aggregate: ``value`` of the row with the largest ``key`` in the group, among the
        rows where neither is null (DuckDB's ``arg_max``; PostgreSQL sorts a null key first
        in a descending order, so it is filtered out there)."""
        return self._arg_max.format(value=value, key=key)

    def visible(self) -> str:
        """History rows a reader sees (one list parameter: the pending runs whose output is in
        place): legacy rows without run id, committed runs and those pending runs."""
        return (
            "(run_id IS NULL OR run_id IN (SELECT run_id FROM score_runs WHERE state = "
            f"'committed') OR {self.any_of('run_id')})"
        )


DUCKDB = Dialect(
    name="duckdb",
    schema=_DUCKDB_SCHEMA + _MIGRATIONS + _VERSION_TABLE,
    _any="list_contains(?::VARCHAR[], {column})",
    _arg_max="arg_max({value}, {key})",
)

POSTGRES = Dialect(
    name="postgresql",
    schema=_POSTGRES_SCHEMA + _MIGRATIONS + _VERSION_TABLE,
    _any="{column} = ANY(?::VARCHAR[])",
    by_code=' COLLATE "C"',
    _arg_max=(
        "((array_agg({value} ORDER BY {key} DESC) "
        "FILTER (WHERE {value} IS NOT NULL AND {key} IS NOT NULL))[1])"
    ),
)


def check_version(found: int, where: str) -> None:
    """Refuse a store whose tables a newer leadscore wrote (``where``: the store, redacted)."""
    if found > SCHEMA_VERSION:
        raise SourceError(
            f"The score store {where} has schema version {found}; this leadscore reads up to "
            f"{SCHEMA_VERSION}. Upgrade leadscore, or pass --store with another store."
        )
