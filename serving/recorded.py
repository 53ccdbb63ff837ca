"""Scores of posted leads (``POST /score?record=true``) added to the score history.

Opening the store costs each write ~20 ms of CPU (a DuckDB file is opened per call, so that batch
scoring can take it between calls). :class:`GroupWriter` lets concurrent requests share one
write: a request's rows are committed before it is answered (never an acknowledged record that a
crash could lose), but requests arriving while a write runs wait for the next one and go in it
together.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from leadscore.clock import utc_now
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore

__all__ = ["GroupWriter", "WriterStats", "record_posted_scores", "score_rows"]


class _Reason(Protocol):
    @property
    def text(self) -> str: ...


class _Scored(Protocol):
    @property
    def contact_id(self) -> str: ...
    @property
    def p_sql(self) -> float: ...
    @property
    def p_meeting(self) -> float: ...
    @property
    def grade(self) -> str: ...
    @property
    def fit_score(self) -> float: ...
    @property
    def engagement_score(self) -> float: ...
    @property
    def reasons_positive(self) -> Sequence[_Reason]: ...
    @property
    def reasons_negative(self) -> Sequence[_Reason]: ...


def record_posted_scores(
    store: ScoreStore | GroupWriter, scores: Sequence[_Scored], *, model_version: str
) -> int:
    """Append ``scores`` to ``store``'s history (directly, or through a :class:`GroupWriter`),
    scored now by ``model_version``; returns the rows added (the same columns as batch scoring's
    history). Returns once the rows are committed."""
    rows = score_rows(scores, model_version=model_version)
    if isinstance(store, GroupWriter):
        return store.record(rows)
    return store.record_scores(rows)


def score_rows(scores: Sequence[_Scored], *, model_version: str) -> pd.DataFrame:
    """History rows of ``scores``, scored now by ``model_version``."""
    now = utc_now().replace(tzinfo=None)
    return pd.DataFrame(
        [
            {
                "contact_id": s.contact_id,
                "scored_at": now,
                "model_version": model_version,
                "p_sql": s.p_sql,
                "p_meeting": s.p_meeting,
                "grade": s.grade,
                "fit_score": s.fit_score,
                "engagement_score": s.engagement_score,
                "reasons_positive": [r.text for r in s.reasons_positive],
                "reasons_negative": [r.text for r in s.reasons_negative],
            }
            for s in scores
        ],
        columns=list(HISTORY_COLUMNS),
    )


@dataclass
class WriterStats:
    """Counts since start: store writes, requests recorded, the most requests in one write."""

    writes: int = 0
    requests: int = 0
    largest: int = 0


@dataclass(eq=False)
class _Pending:
    rows: pd.DataFrame
    finished: bool = False
    added: int = 0
    error: BaseException | None = field(default=None, repr=False)


class GroupWriter:
    """Group commit of history rows to a :class:`ScoreStore` (thread-safe; see the module doc).

    :meth:`record` returns when the rows are committed, or raises the write's error. Only one
    write runs at a time; the request that finds none running writes every queued request's
    rows (up to ``max_rows``) in one transaction, so a write's failure (the store locked or
    unwritable) is the error of each request in it, and none of their rows is stored.
    """

    def __init__(self, store: ScoreStore, *, max_rows: int = 5_000) -> None:
        self.store = store
        self.max_rows = max(1, max_rows)
        self.stats = WriterStats()
        self._queue: list[_Pending] = []
        self._writing = False
        self._cond = threading.Condition()

    def record(self, rows: pd.DataFrame) -> int:
        """Append ``rows`` (:data:`HISTORY_COLUMNS`) to the history; the rows added."""
        if rows.empty:
            return 0
        item = _Pending(rows)
        with self._cond:
            self._queue.append(item)
            while not item.finished:
                if not self._writing:
                    batch = self._take()
                    self._writing = True
                    self._cond.release()
                    try:
                        self._write(batch)
                    finally:
                        self._cond.acquire()
                        self._writing = False
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if item.error is not None:
            raise item.error
        return item.added

    def _take(self) -> list[_Pending]:
        """The queue's first requests, up to ``max_rows`` rows (at least one; lock held)."""
        batch, rows = [self._queue[0]], len(self._queue[0].rows)
        for item in self._queue[1:]:
            if rows + len(item.rows) > self.max_rows:
                break
            batch.append(item)
            rows += len(item.rows)
        del self._queue[: len(batch)]
        self.stats.writes += 1
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        return batch

    def _write(self, batch: list[_Pending]) -> None:
        """One transaction for the batch; every item ends finished, with its count or the
        error."""
        try:
            frames = [item.rows for item in batch]
            self.store.record_scores(
                frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            )
        except BaseException as exc:
            for item in batch:
                item.error = exc
        else:
            for item in batch:
                item.added = len(item.rows)
        for item in batch:
            item.finished = True
