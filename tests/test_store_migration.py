"""A score store of schema version 1 (its CRM exports recorded no rank) opens with this
leadscore on DuckDB and PostgreSQL: migrated in place, every row kept, version 2 recorded; the
leads its exports sent are re-sent once with their rank; a PostgreSQL user that may not alter
the tables is told what to do."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from leadscore.errors import SourceError
from leadscore.serving.export import export_scores
from leadscore.serving.store import ScoreStore
from leadscore.serving.store_backend import is_postgres_url
from leadscore.serving.store_sql import SCHEMA_VERSION
from tests.postgres_support import worker_role

VERSION_1 = """
CREATE TABLE score_history (
    contact_id VARCHAR NOT NULL, scored_at TIMESTAMP NOT NULL, model_version VARCHAR NOT NULL,
    p_sql DOUBLE PRECISION, p_meeting DOUBLE PRECISION, grade VARCHAR,
    fit_score DOUBLE PRECISION, engagement_score DOUBLE PRECISION, reasons_positive VARCHAR[],
    reasons_negative VARCHAR[], run_id VARCHAR, as_of TIMESTAMP, owner VARCHAR, segment VARCHAR
);
CREATE TABLE crm_exports (
    target VARCHAR NOT NULL, contact_id VARCHAR NOT NULL, p_sql DOUBLE PRECISION,
    grade VARCHAR, exported_at TIMESTAMP NOT NULL
);
CREATE TABLE store_schema (version INTEGER NOT NULL);
INSERT INTO store_schema VALUES (1);
INSERT INTO score_history (contact_id, scored_at, model_version, p_sql, p_meeting, grade,
    fit_score, engagement_score) VALUES
    ('c1', '2026-11-20 08:00', '4', 0.40, 0.1, 'A', 0.5, 0.5),
    ('c2', '2026-11-20 08:00', '4', 0.02, 0.0, 'D', 0.1, 0.1),
    ('c3', '2026-11-21 08:00', '4', 0.10, 0.0, 'B', 0.1, 0.1);
INSERT INTO crm_exports VALUES
    ('generic', 'c1', 0.40, 'A', '2026-11-20 09:00'),
    ('generic', 'c2', 0.02, 'D', '2026-11-20 09:00');
"""
"""The tables of a version-1 store that matter here (leadscore 1 created the others too; the
migration creates what is missing), two leads exported, a third scored since."""


def _run(location: Path | str, sql: str) -> Any:
    if is_postgres_url(location):
        import psycopg

        with psycopg.connect(str(location), autocommit=True) as con:
            con.execute(sql)
            return None
    with duckdb.connect(str(location)) as con:
        return con.execute(sql).fetchall()


def _version_and_columns(store: ScoreStore) -> tuple[int, list[str]]:
    with store.connection(read_only=True) as con:
        (version,) = con.execute("SELECT max(version) FROM store_schema").fetchone()
        columns = list(con.execute("SELECT * FROM crm_exports WHERE 1 = 0").df().columns)
    return int(version), columns


def test_a_version_1_store_is_migrated_and_resends_its_exported_leads_once(
    store_location: Path | str, tmp_path: Path
) -> None:
    _run(store_location, VERSION_1)
    store = ScoreStore(store_location)
    assert store.count() == 3  # opening migrates; the rows stay
    assert _version_and_columns(store) == (
        SCHEMA_VERSION,
        ["target", "contact_id", "p_sql", "grade", "exported_at", "score_rank"],
    )
    out = tmp_path / "generic.csv"
    first = export_scores(store, "generic", out)
    # c3 is new; c1 and c2 were sent without a recorded rank: re-sent once with their rank
    assert (first.rows, first.rank_unrecorded, first.rank_moved) == (3, 2, 0)
    with store.connection(read_only=True) as con:
        ranks = con.execute(
            "SELECT contact_id, score_rank FROM crm_exports WHERE score_rank IS NOT NULL "
            "ORDER BY contact_id"
        ).fetchall()
    assert [tuple(r) for r in ranks] == [("c1", 100), ("c2", 34), ("c3", 67)]
    second = export_scores(store, "generic", tmp_path / "again.csv")
    assert (second.rows, second.rank_unrecorded) == (0, 0)
    assert _version_and_columns(ScoreStore(store_location))[0] == SCHEMA_VERSION


def test_a_postgres_user_that_may_not_migrate_is_told_what_to_do(pg_store_url: str) -> None:
    """deploying.md: workers' users need no ``CREATE``; a version-1 store they open is refused
    with what to do (run one command as the tables' owner), then works once the owner ran."""
    import psycopg

    _run(pg_store_url, VERSION_1)
    role, url = worker_role(pg_store_url)
    worker = ScoreStore(url)
    with pytest.raises(SourceError, match="schema version 1; this leadscore needs version 2") as e:
        worker.count()
    assert "owner of its tables" in str(e.value)
    ScoreStore(pg_store_url).count()  # the owner: migrated
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
    assert worker.count() == 3


def test_a_rank_tolerance_of_100_does_not_resend_the_leads_sent_without_a_rank(
    store_location: Path | str, tmp_path: Path
) -> None:
    """``--rank-tolerance 100`` never re-sends for the rank alone (cli-reference): not the
    leads a version-1 store sent either (no rank can move by more than 99 points). A lower
    tolerance later re-sends them once."""
    _run(store_location, VERSION_1)
    store = ScoreStore(store_location)
    first = export_scores(store, "generic", tmp_path / "a.csv", rank_tolerance=100)
    assert (first.rows, first.rank_unrecorded) == (1, 0)  # c3 only: never sent
    later = export_scores(store, "generic", tmp_path / "b.csv")
    assert (later.rows, later.rank_unrecorded) == (2, 2)


def test_the_export_summary_adds_up(store_location: Path | str, tmp_path: Path) -> None:
    """Read as a RevOps user reads it: the leads written are the changed ones, those whose rank
    moved and those re-sent once, each counted apart (a version-1 store: none of the two leads
    it sent changed, so they are not "changed since the last export")."""
    from typer.testing import CliRunner

    from leadscore.cli import app

    _run(store_location, VERSION_1)
    out = tmp_path / "generic.csv"
    args = ["export", "--store", str(store_location), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert (
        "Wrote 3 of 3 leads (1 new or changed since last sent, 0 whose rank moved by more than "
        "5 points) for generic to" in text
    )
    assert "note: 2 more lead(s) were re-sent once with their current rank" in text
    again = " ".join(CliRunner().invoke(app, args).output.split())
    assert "Wrote 0 of 3 leads (0 new or changed since last sent, 0 whose rank" in again


def test_a_worker_starting_while_the_owner_migrates_waits_and_works(pg_store_url: str) -> None:
    """The owner migrates (as deploying.md says) while a worker whose user may not alter the
    tables starts: the worker waits for the schema lock, then finds version 2 and works; it
    does not try the DDL itself and fail with "schema version 1" on a migrated store."""
    import threading
    import time

    import psycopg

    from leadscore.serving.store_sql import POSTGRES

    _run(pg_store_url, VERSION_1)
    role, url = worker_role(pg_store_url)
    worker = ScoreStore(url)
    outcome: list[object] = []

    def start_worker() -> None:
        try:
            outcome.append(worker.count())
        except Exception as exc:  # reported below
            outcome.append(exc)

    with psycopg.connect(pg_store_url, autocommit=True) as owner:
        with owner.transaction():
            owner.execute("SELECT pg_advisory_xact_lock(%s)", [0x1EAD5C0E])
            owner.execute(POSTGRES.schema)  # the owner's migration, not committed yet
            owner.execute(  # the tables VERSION_1 leaves out, as a real version-1 store has them
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            )
            thread = threading.Thread(target=start_worker)
            thread.start()
            for _ in range(200):  # until the worker waits for the schema lock
                waiting = owner.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if (waiting and waiting[0]) or not thread.is_alive():
                    break
                time.sleep(0.05)
        thread.join(30)
    assert outcome == [3]


def test_the_owner_without_create_on_the_schema_is_told_so(pg_store_url: str) -> None:
    """deploying.md: the user needs CREATE on the schema the first time, then only SELECT,
    INSERT, UPDATE, DELETE. The tables' owner whose CREATE was then revoked cannot migrate a
    version-1 store either: the message says what it lacks, not only "run it as the owner"
    (which it is), and the owner migrates it once CREATE is granted again."""
    import psycopg

    role = f"owner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
        admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    url = pg_store_url.replace("//postgres@", f"//{role}@")
    _run(url, VERSION_1)  # the owner created the tables
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        admin.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
    with pytest.raises(SourceError, match="schema version 1") as e:
        ScoreStore(url).count()
    assert "CREATE on its schema" in str(e.value)
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    assert ScoreStore(url).count() == 3
