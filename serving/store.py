"""The score store: score history (a lead's trend), sales feedback, inbox users and CRM exports.

Its location is a DuckDB file (default ``data/scores.duckdb``; the embedded default, one process)
or a PostgreSQL URL (``postgresql://user@host/db``: several API workers behind a load balancer),
see :mod:`leadscore.serving.store_backend`. Each call opens one connection, does one transaction
and closes it, so a batch run, the HTTP API and the CLI can share the store (DuckDB lets one
process write at a time; a call that finds the file locked retries for a few seconds).

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
from leadscore.serving.runs import reconcile_runs, visible_pending
from leadscore.serving.store_backend import (
    StoreConnection,
    check_location,
    describe_location,
    is_postgres_url,
    store_path,
)
from leadscore.serving.store_duck import DuckConnection
from leadscore.serving.store_sql import DUCKDB, check_version

__all__ = [
    "COUNTED_FEEDBACK",
    "DEFAULT_STORE",
    "FACET_COLUMNS",
    "FEEDBACK_COLUMNS",
    "FEEDBACK_DETAIL",
    "HISTORY_COLUMNS",
    "ScoreStore",
]

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

SCORE_MOMENT = (
    "(CASE WHEN as_of IS NOT NULL THEN as_of WHEN run_id IS NULL THEN scored_at "
    "ELSE scored_at - INTERVAL '100 years' END)"
)
"""SQL over history rows: the moment a score describes, which orders a lead's scores (then
``scored_at``). A batch run's as-of date (a run backfilled as of last month is older than
last night's, whenever it ran); a score recorded through the API, when it was scored; a batch
row of a store written before as-of dates were recorded, ranked below every dated one
(dating began with that version: every dated run ran after it)."""

FACET_COLUMNS: tuple[str, ...] = ("owner", "segment")
"""Optional history columns: the lead's owner and segment in the CRM (the inbox's filters,
:mod:`leadscore.serving.facets`)."""

FEEDBACK_COLUMNS: tuple[str, ...] = ("contact_id", "given_at", "verdict", "reason", "model_version")
"""The contract's ``feedback`` table columns (the store keeps more: rep, note, grade, reasons)."""

FEEDBACK_DETAIL: tuple[str, ...] = ("rep", "note", "grade", "reasons_shown")
"""The store's further ``feedback`` columns."""

COUNTED_FEEDBACK = (
    "(SELECT * FROM (SELECT feedback.*, row_number() OVER (PARTITION BY contact_id, "
    "coalesce(rep, ''), coalesce(model_version, ''), CAST(given_at AS DATE) "
    "ORDER BY given_at DESC, verdict DESC, reason DESC NULLS LAST) AS nth FROM feedback) "
    "AS ranked WHERE nth = 1) AS counted"
)
"""SQL (DuckDB and PostgreSQL) for a ``FROM``: the verdicts that count, each rep's latest per
lead, day and model version (a double click or a change of mind is one verdict; another day,
model version or rep counts apart). At one moment a rejection wins, then one with a reason
(``NULLS LAST`` spelled out: PostgreSQL puts NULL first in a ``DESC`` order, DuckDB last). The
feedback report and the monitor's acceptance read it."""

_LOCK_RETRY_SECONDS = 10.0


class ScoreStore:
    """Score history, feedback, users and CRM exports at ``location``: a DuckDB file (created on
    first use; ``duckdb:PATH`` too) or a PostgreSQL URL (tables created on first use)."""

    def __init__(self, location: Path | str = DEFAULT_STORE) -> None:
        check_location(location)
        self.location: Path | str = location
        self.url: str | None = str(location) if is_postgres_url(location) else None
        self.path: Path | None = None if self.url is not None else store_path(location)

    def __str__(self) -> str:
        return describe_location(self.location)

    def exists(self) -> bool:
        """Whether the store may hold something: its DuckDB file exists, or it is a server."""
        return self.path is None or self.path.exists()

    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[StoreConnection]:
        if self.url is not None:
            with self._connect_postgres(self.url, read_only=read_only) as pg:
                yield pg
            return
        path = store_path(self.location)
        if read_only and not path.exists():
            memory = duckdb.connect()  # an empty in-memory store: every read finds nothing
            memory.execute(DUCKDB.schema)
            con = DuckConnection(memory)
        else:
            if not read_only:
                check_writable(path, what="score store")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise output_error(path, exc) from None
            con = DuckConnection(self._open_with_retry(path))
        try:
            if not read_only:
                reconcile_runs(con)
            yield con
        except duckdb.Error as exc:
            if is_write_error(exc):
                raise output_error(path, exc) from None
            raise
        finally:
            con.close()

    @staticmethod
    @contextmanager
    def _connect_postgres(url: str, *, read_only: bool) -> Iterator[StoreConnection]:
        from leadscore.serving import store_pg

        con = store_pg.connect(url)
        try:
            if not read_only:
                reconcile_runs(con)
            yield con
        except Exception as exc:
            unavailable = store_pg.unavailable(exc, url)
            if unavailable is None:
                raise
            raise unavailable from None
        finally:
            con.close()

    def open_check(self) -> None:
        """Open the store for writing once (schema, reconciliation of dead runs): a bad file,
        a lock, an unwritable place or an unreachable server fails here, before anything else
        is written."""
        with self._connect():
            pass

    def _open_with_retry(self, path: Path) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:
            try:
                con = duckdb.connect(str(path))
                con.execute("SET TimeZone = 'UTC'")
                con.execute(DUCKDB.schema)
                row = con.execute("SELECT max(version) FROM store_schema").fetchone()
            except duckdb.IOException as exc:
                if is_write_error(exc):
                    raise output_error(path, exc) from None
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise SourceError(f"Cannot open the score store {path}: {exc}") from None
                time.sleep(0.1)
                continue
            except duckdb.Error as exc:  # not a DuckDB file, or one of another DuckDB version
                raise SourceError(
                    f"Cannot open the score store {path}: it is not a readable DuckDB "
                    f"database ({type(exc).__name__}). Pass --store with a new or valid score "
                    "store file."
                ) from None
            try:
                check_version(int(row[0]) if row and row[0] is not None else 0, str(path))
            except SourceError:
                con.close()
                raise
            return con

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
        """A contact's scores, newest first (by the moment scored as of, then by when), with
        each one's ``as_of`` (null for a score recorded by the API or by an older store)."""
        columns = ", ".join((*HISTORY_COLUMNS, "as_of"))
        with self._connect(read_only=True) as con:
            return con.execute(
                f"SELECT {columns} FROM score_history WHERE contact_id = ? AND {con.sql.visible()} "
                f"ORDER BY {SCORE_MOMENT} DESC, scored_at DESC, model_version DESC LIMIT ?",
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
                f"SELECT count(*) FROM score_history WHERE {con.sql.visible()}",
                [visible_pending(con)],
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

    def feedback(self, *, detail: bool = False, counted: bool = False) -> pd.DataFrame:
        """Every stored verdict, oldest first: the contract's ``feedback`` columns, or with
        ``detail`` also ``rep``, ``note``, ``grade`` and ``reasons_shown``. With ``counted``
        only the verdicts that count (:data:`COUNTED_FEEDBACK`)."""
        names = (*FEEDBACK_COLUMNS, *FEEDBACK_DETAIL) if detail else FEEDBACK_COLUMNS
        columns = ", ".join(names)
        table = COUNTED_FEEDBACK if counted else "feedback"
        with self._connect(read_only=True) as con:
            return con.execute(
                f"SELECT {columns} FROM {table} ORDER BY given_at, contact_id{con.sql.by_code}"
            ).df()

    def record_scores(self, rows: pd.DataFrame) -> int:
        """Append scored rows (the :data:`HISTORY_COLUMNS`, e.g. from ``POST /score``) to the
        history, visible at once; one transaction. Returns the rows added."""
        if rows.empty:
            return 0
        optional = ("as_of", *FACET_COLUMNS)
        names = [*HISTORY_COLUMNS, *(c for c in optional if c in rows.columns)]
        frame = rows.loc[:, names]
        with self._connect() as con:
            return con.insert_frame("score_history", frame)

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[StoreConnection]:
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
                f"FROM score_history WHERE {con.sql.visible()} GROUP BY model_version, as_of "
                f"ORDER BY as_of NULLS FIRST, model_version{con.sql.by_code}",
                [visible_pending(con)],
            ).df()

    def scores_as_of(self, model_version: str, as_of: datetime) -> pd.DataFrame:
        """The latest visible score of each contact scored by ``model_version`` as of
        ``as_of``: ``contact_id``, ``p_sql``, ``p_meeting``, ``grade``."""
        with self._connect(read_only=True) as con:

            def latest(column: str) -> str:
                return con.sql.arg_max(column, "scored_at")

            return con.execute(
                f"SELECT contact_id, {latest('p_sql')} AS p_sql, "
                f"{latest('p_meeting')} AS p_meeting, {latest('grade')} AS grade "
                f"FROM score_history WHERE {con.sql.visible()} AND model_version = ? AND as_of = ? "
                f"GROUP BY contact_id ORDER BY contact_id{con.sql.by_code}",
                [visible_pending(con), model_version, _naive(as_of)],
            ).df()

    def visible_history_sql(self, con: StoreConnection) -> tuple[str, list[Any]]:
        """A subquery of the visible history rows and its parameters, for joins elsewhere."""
        return f"(SELECT * FROM score_history WHERE {con.sql.visible()})", [visible_pending(con)]


def _naive(moment: datetime | None) -> datetime | None:
    """A UTC moment without tzinfo, as the store keeps it."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
