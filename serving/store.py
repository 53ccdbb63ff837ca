"""The score store: score history (a lead's trend) and sales feedback, in a DuckDB file.

Default ``data/scores.duckdb``. Each call opens the file, does one transaction and closes it, so
a batch run, the HTTP API and the CLI can share the file (DuckDB lets one process write at a
time; a call that finds the file locked retries for a few seconds). At scale the same two tables
live in PostgreSQL (see DESIGN.md); only this module knows where they are.
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

from leadscore.clock import utc_now
from leadscore.contract import Verdict
from leadscore.errors import SourceError

__all__ = ["DEFAULT_STORE", "HISTORY_COLUMNS", "ScoreStore"]

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

_SCHEMA = """
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
"""

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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._open_with_retry()
        try:
            yield con
        finally:
            con.close()

    def _open_with_retry(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:
            try:
                con = duckdb.connect(str(self.path))
                con.execute("SET TimeZone = 'UTC'")
                con.execute(_SCHEMA)
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise SourceError(f"Cannot open the score store {self.path}: {exc}") from None
                time.sleep(0.1)

    def append_parquet(self, parquet: Path) -> int:
        """Append every row of a scores Parquet file (the batch output) in one transaction."""
        columns = ", ".join(HISTORY_COLUMNS)
        with self._connect() as con:
            con.execute("BEGIN")
            con.execute(
                f"INSERT INTO score_history ({columns}) SELECT {columns} FROM read_parquet(?)",
                [str(parquet)],
            )
            row = con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchone()
            con.execute("COMMIT")
        return int(row[0]) if row else 0

    def history(self, contact_id: str, *, limit: int = 50) -> pd.DataFrame:
        """A contact's scores, newest first."""
        with self._connect(read_only=True) as con:
            return con.execute(
                "SELECT * FROM score_history WHERE contact_id = ? "
                "ORDER BY scored_at DESC, model_version DESC LIMIT ?",
                [contact_id, limit],
            ).df()

    def latest(self, contact_id: str) -> dict[str, Any] | None:
        """The contact's latest score as a dict, ``None`` when never scored."""
        frame = self.history(contact_id, limit=1)
        if frame.empty:
            return None
        return {str(k): v for k, v in frame.iloc[0].to_dict().items()}

    def count(self) -> int:
        """Rows in the score history."""
        with self._connect(read_only=True) as con:
            row = con.execute("SELECT count(*) FROM score_history").fetchone()
        return int(row[0]) if row else 0

    def add_feedback(
        self,
        contact_id: str,
        verdict: Verdict | str,
        *,
        reason: str | None = None,
        model_version: str | None = None,
        given_at: datetime | None = None,
    ) -> None:
        """Store one rep verdict (the contract's ``feedback`` table columns)."""
        value = Verdict(verdict).value
        moment = given_at or utc_now()
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        with self._connect() as con:
            con.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
                [contact_id, moment, value, reason, model_version],
            )

    def feedback(self) -> pd.DataFrame:
        """Every stored verdict, oldest first (readable as the contract's ``feedback`` table)."""
        with self._connect(read_only=True) as con:
            return con.execute("SELECT * FROM feedback ORDER BY given_at, contact_id").df()
