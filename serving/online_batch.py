"""Concurrent ``POST /score`` requests share one feature query (micro-batching).

Each request of the API pays a fixed cost for the feature query's plan and the contract
checks whatever its size (50 leads cost about 1.4x one lead), so requests that arrive while
the feature connections are busy are merged: :class:`BatchedFeatures` lets at most ``slots``
feature queries run at once; a request that finds a free slot runs at once (no waiting when the
server is idle), the others queue, and whichever request thread next gets a slot takes every
queued request it can merge and runs them as one. Each request gets its own rows back.

Requests merge only when their answers cannot change: the same ``as_of`` (requests without one
are scored "now", the batch's start), no account, contact or event id in common (a lead's
features read its own account's rows only), and at most ``max_leads`` leads together. When the
merged rows break the contract, each request is run alone, so each gets its own error.
Requests small enough for the Python feature path (:meth:`OnlineFeatures.takes_python`) run no
feature query: they are served at once, never queued.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from leadscore.clock import utc_now
from leadscore.serving.online import OnlineFeatures
from leadscore.serving.posted import MAX_LEADS, ScoreRequest

__all__ = ["BatchStats", "BatchedFeatures", "request_ids"]


@dataclass
class BatchStats:
    """Counts since start: feature queries run, requests served, the largest batch."""

    batches: int = 0
    requests: int = 0
    largest: int = 0


@dataclass(eq=False)
class _Pending:
    request: ScoreRequest
    as_of: datetime | None
    ids: frozenset[tuple[str, str]]
    leads: int
    finished: bool = False
    result: tuple[datetime, pd.DataFrame] | None = None
    error: BaseException | None = None
    batch_as_of: datetime | None = field(default=None, repr=False)


def request_ids(request: ScoreRequest) -> frozenset[tuple[str, str]]:
    """Account, contact and explicit event ids of a request (merged requests share none)."""
    ids: set[tuple[str, str]] = set()
    for lead in request.leads:
        ids.add(("account", lead.account.account_id))
        ids.add(("contact", lead.contact.contact_id))
        ids.update(("event", e.event_id) for e in lead.events if e.event_id)
    return frozenset(ids)


class BatchedFeatures:
    """Micro-batched :meth:`OnlineFeatures.features` (thread-safe; see the module doc)."""

    def __init__(
        self, online: OnlineFeatures, *, slots: int = 2, max_leads: int = MAX_LEADS
    ) -> None:
        self.online = online
        self.slots = max(1, slots)
        self.max_leads = max(1, max_leads)
        self.stats = BatchStats()
        self._queue: list[_Pending] = []
        self._busy = 0
        self._cond = threading.Condition()

    def features(
        self, request: ScoreRequest, *, as_of: datetime | None
    ) -> tuple[datetime, pd.DataFrame]:
        """``(as_of, frame)``: the request's feature frame as :meth:`OnlineFeatures.features`
        gives it, and the ``as_of`` used (``utc_now()`` at the batch's start when ``None``)."""
        self.online.refuse(request)
        if self.online.takes_python(request):  # no feature query to share
            moment = as_of or utc_now()
            return moment, self.online.features(request, as_of=moment)
        item = _Pending(request, as_of, request_ids(request), len(request.leads))
        with self._cond:
            self._queue.append(item)
            while not item.finished:
                if self._busy < self.slots and self._queue:
                    batch = self._take()
                    self._busy += 1
                    self._cond.release()
                    try:
                        self._run(batch)
                    finally:
                        self._cond.acquire()
                        self._busy -= 1
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if item.error is not None:
            raise item.error
        assert item.result is not None  # set with finished when there is no error
        return item.result

    def _take(self) -> list[_Pending]:
        """The queue's first request and every later one it can merge with (caller holds the
        lock)."""
        first = self._queue[0]
        batch, ids, leads, rest = [first], set(first.ids), first.leads, []
        for item in self._queue[1:]:
            fits = leads + item.leads <= self.max_leads and item.as_of == first.as_of
            if fits and ids.isdisjoint(item.ids):
                batch.append(item)
                ids.update(item.ids)
                leads += item.leads
            else:
                rest.append(item)
        self._queue = rest
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        return batch

    def _run(self, batch: list[_Pending]) -> None:
        """Features of a batch; every item ends finished, with a result or its own error."""
        as_of = batch[0].as_of or utc_now()
        try:
            if len(batch) == 1:
                outcomes: list[pd.DataFrame | BaseException] = [
                    self.online.features(batch[0].request, as_of=as_of)
                ]
            else:
                outcomes = self.online.features_many([b.request for b in batch], as_of=as_of)
        except BaseException as exc:  # each waiting request gets the error
            outcomes = [exc] * len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                item.error = outcome
            else:
                item.result = (as_of, outcome)
            item.finished = True
