"""The score store: score history (a lead's trend) and sales feedback, in a DuckDB file.

Default ``data/scores.duckdb``. Each call opens the file, does one transaction and closes it, so
a batch run, the HTTP API and the CLI can share the file (DuckDB lets one process write at a
time; a call that finds the file locked retries for a few seconds). At scale the same tables
live in PostgreSQL (see DESIGN.md); only this module knows where they are.

A batch run and its output are committed together (:mod:`leadscore.serving.runs`): its history
rows carry the run id and stay invisible until the run is committed, or until its output file
(whose Parquet metadata holds the run id) proves that the output was replaced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from leadscore.atomic import check_writable, is_write_error, output_error
from leadscore.clock import utc_now
from leadscore.contract import Verdict
from leadscore.errors import SourceError
from leadscore.serving.runs import RUNS_SCHEMA, reconcile_runs, visible_pending

__all__ = ["DEFAULT_STORE", "FACET_COLUMNS", "FEEDBACK_COLUMNS", "HISTORY_COLUMNS", "ScoreStore"]

DEFAULT_STORE = Path("data/scores.duckdb")

HISTORY_COLUMNS: tuple[str, ...] = (
    "contact_id",
    "scored_at",
    "model_version",
    "p_sql",
    "p_meeting",
    "grade",
    "fit_score",
    "engagement_score",
    "reasons_positive",
    "reasons_negative",
)

FACET_COLUMNS: tuple[str, ...] = ("owner", "segment")
"""Optional history columns: the lead's owner and segment in the CRM (the inbox's filters,
:mod:`leadscore.serving.facets`)."""

FEEDBACK_COLUMNS: tuple[str, ...] = ("contact_id", "given_at", "verdict", "reason", "model_version")
"""The contract's ``feedback`` table columns (the store keeps more: rep, note, grade, reasons)."""

_SCHEMA = (
    """
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
    exported_at TIMESTAMP NOT NULL
);
"""
    + RUNS_SCHEMA
)

_VISIBLE = (
    "(run_id IS NULL OR run_id IN (SELECT run_id FROM score_runs WHERE state = 'committed') "
    "OR list_contains(?::VARCHAR[], run_id))"
)
"""History rows of legacy runs (no run id), committed runs and pending runs whose output was
replaced; the parameter is :func:`~leadscore.serving.runs.visible_pending`'s list."""

_LOCK_RETRY_SECONDS = 10.0


class ScoreStore:
    """Score history and feedback tables in the DuckDB file ``path`` (created on first use)."""

    def __init__(self, path: Path | str = DEFAULT_STORE) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            con = duckdb.connect()  # an empty in-memory store: every read finds nothing
            con.execute(_SCHEMA)
        else:
            if not read_only:
                check_writable(self.path, what="score store")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise output_error(self.path, exc) from None
            con = self._open_with_retry()
        try:
            if not read_only:
                reconcile_runs(con)
            yield con
        except duckdb.Error as exc:
            if is_write_error(exc):
                raise output_error(self.path, exc) from None
            raise
        finally:
            con.close()

    def open_check(self) -> None:
        """Open the store for writing once (schema, reconciliation of dead runs): a bad file,
        a lock or an unwritable place fails here, before anything else is written."""
        with self._connect():
            pass

    def _open_with_retry(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:
            try:
                con = duckdb.connect(str(self.path))
                con.execute("SET TimeZone = 'UTC'")
                con.execute(_SCHEMA)
                return con
            except duckdb.IOException as exc:
                if is_write_error(exc):
                    raise output_error(self.path, exc) from None
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise SourceError(f"Cannot open the score store {self.path}: {exc}") from None
                time.sleep(0.1)
            except duckdb.Error as exc:  # not a DuckDB file, or one of another DuckDB version
                raise SourceError(
                    f"Cannot open the score store {self.path}: it is not a readable DuckDB "
                    f"database ({type(exc).__name__}). Pass --store with a new or valid score "
                    "store file."
                ) from None

    def stage_run(
        self, run_id: str, parquet: Path, output: Path, *, as_of: datetime | None = None
    ) -> int:
        """Insert the rows of ``parquet`` (the run's temporary output) as run ``run_id``,
        pending until :meth:`commit_run` or until ``output`` carries the run id; one
        transaction. ``as_of``: the moment the run scored as of (rows of older stores and
        runs without it have none). Returns the rows staged."""
        import pyarrow.parquet as pq

        from leadscore.serving.runs import stage

        present = set(pq.read_schema(str(parquet)).names)
        columns = [*HISTORY_COLUMNS, *(c for c in FACET_COLUMNS if c in present)]
        with self._connect() as con:
            return stage(con, run_id, parquet, output, columns, as_of=_naive(as_of))

    def commit_run(self, run_id: str) -> None:
        """Mark run ``run_id`` committed (its output is in place)."""
        from leadscore.serving.runs import commit

        with self._connect() as con:
            commit(con, run_id)

    def discard_run(self, run_id: str) -> None:
        """Drop a pending run's rows (its output was never put in place)."""
        from leadscore.serving.runs import discard

        with self._connect() as con:
            discard(con, run_id)

    def history(self, contact_id: str, *, limit: int = 50) -> pd.DataFrame:
        """A contact's scores, newest first."""
        columns = ", ".join(HISTORY_COLUMNS)
        with self._connect(read_only=True) as con:
            return con.execute(
                f"SELECT {columns} FROM score_history WHERE contact_id = ? AND {_VISIBLE} "
                "ORDER BY scored_at DESC, model_version DESC LIMIT ?",
                [contact_id, visible_pending(con), limit],
            ).df()

    def latest(self, contact_id: str) -> dict[str, Any] | None:
        """The contact's latest score as a dict, ``None`` when never scored."""
        frame = self.history(contact_id, limit=1)
        if frame.empty:
            return None
        return {str(k): v for k, v in frame.iloc[0].to_dict().items()}

    def count(self) -> int:
        """Rows in the score history (committed runs only)."""
        with self._connect(read_only=True) as con:
            row = con.execute(
                f"SELECT count(*) FROM score_history WHERE {_VISIBLE}", [visible_pending(con)]
            ).fetchone()
        return int(row[0]) if row else 0

    def runs(self) -> pd.DataFrame:
        """Batch runs recorded in the store, oldest first, with a ``visible`` column: committed,
        or pending with their output already in place."""
        with self._connect(read_only=True) as con:
            frame = con.execute(
                "SELECT run_id, state, output, started_at, pid, host, rows FROM score_runs "
                "ORDER BY started_at, run_id"
            ).df()
            shown = set(visible_pending(con))
        frame["visible"] = (frame["state"] == "committed") | frame["run_id"].isin(shown)
        return frame

    def add_feedback(
        self,
        contact_id: str,
        verdict: Verdict | str,
        *,
        reason: str | None = None,
        model_version: str | None = None,
        given_at: datetime | None = None,
        rep: str | None = None,
        note: str | None = None,
        grade: str | None = None,
        reasons_shown: list[str] | None = None,
    ) -> None:
        """Store one rep verdict: the contract's ``feedback`` columns, plus who gave it, a free
        text note, and the grade and reasons the rep was shown."""
        value = Verdict(verdict).value
        moment = given_at or utc_now()
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        with self._connect() as con:
            con.execute(
                "INSERT INTO feedback (contact_id, given_at, verdict, reason, model_version, "
                "rep, note, grade, reasons_shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [contact_id, moment, value, reason, model_version, rep, note, grade, reasons_shown],
            )

    def feedback(self, *, detail: bool = False) -> pd.DataFrame:
        """Every stored verdict, oldest first: the contract's ``feedback`` columns, or with
        ``detail`` also ``rep``, ``note``, ``grade`` and ``reasons_shown``."""
        columns = "*" if detail else ", ".join(FEEDBACK_COLUMNS)
        with self._connect(read_only=True) as con:
            return con.execute(f"SELECT {columns} FROM feedback ORDER BY given_at, contact_id").df()

    def record_scores(self, rows: pd.DataFrame) -> int:
        """Append scored rows (the :data:`HISTORY_COLUMNS`, e.g. from ``POST /score``) to the
        history, visible at once; one transaction. Returns the rows added."""
        if rows.empty:
            return 0
        optional = ("as_of", *FACET_COLUMNS)
        names = [*HISTORY_COLUMNS, *(c for c in optional if c in rows.columns)]
        frame = rows.loc[:, names]
        columns = ", ".join(names)
        with self._connect() as con:
            con.register("new_scores", frame)
            con.execute(f"INSERT INTO score_history ({columns}) SELECT {columns} FROM new_scores")
            con.unregister("new_scores")
        return len(frame)

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection (one call's transaction) for the modules reading or writing the
        store's other tables (users, CRM exports, inbox queries)."""
        with self._connect(read_only=read_only) as con:
            yield con

    def scoring_runs(self) -> pd.DataFrame:
        """One row per visible scoring (model version, as-of date, scored_at): ``contacts``
        scored, for the cohorts of the monitor; rows without an as-of date have ``as_of``
        null."""
        with self._connect(read_only=True) as con:
            return con.execute(
                "SELECT model_version, as_of, min(scored_at) AS scored_at, "
                "count(DISTINCT contact_id) AS contacts "
                f"FROM score_history WHERE {_VISIBLE} GROUP BY model_version, as_of "
                "ORDER BY as_of NULLS FIRST, model_version",
                [visible_pending(con)],
            ).df()

    def scores_as_of(self, model_version: str, as_of: datetime) -> pd.DataFrame:
        """The latest visible score of each contact scored by ``model_version`` as of
        ``as_of``: ``contact_id``, ``p_sql``, ``p_meeting``, ``grade``."""
        with self._connect(read_only=True) as con:
            return con.execute(
                "SELECT contact_id, arg_max(p_sql, scored_at) AS p_sql, "
                "arg_max(p_meeting, scored_at) AS p_meeting, arg_max(grade, scored_at) AS grade "
                f"FROM score_history WHERE {_VISIBLE} AND model_version = ? AND as_of = ? "
                "GROUP BY contact_id ORDER BY contact_id",
                [visible_pending(con), model_version, _naive(as_of)],
            ).df()

    def visible_history_sql(self, con: duckdb.DuckDBPyConnection) -> tuple[str, list[Any]]:
        """A subquery of the visible history rows and its parameters, for joins elsewhere."""
        return f"(SELECT * FROM score_history WHERE {_VISIBLE})", [visible_pending(con)]


def _naive(moment: datetime | None) -> datetime | None:
    """A UTC moment without tzinfo, as the store keeps it."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
