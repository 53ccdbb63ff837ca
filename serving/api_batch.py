"""``POST /score`` requests on the Python feature path: single leads that arrive together are
scored in one call.

Scoring one lead alone pays fixed costs that do not grow with the rows: a pandas frame of ~70
columns, the heads' matrices, the scores frame (about 3.5 of the 4.5 ms of CPU a lead costs
alone, measured). :class:`PythonQueue` runs at most ``threads`` scoring calls at once (the path
is pure Python: more threads only fight over the GIL) and, when a call ends, gives the next one
every waiting request it can merge: one frame, one matrix per head and one reasons call for
all, each lead's numbers computed row by row (``Scorer.explain(by_row=True)``), so every answer
is byte for byte the one the request gets alone. A request that finds a free thread runs at
once: no waiting when the server is idle.

Requests merge when merging cannot change an answer: one lead each, no ``?record=true`` (the
store write keeps its own path), the same ``as_of`` (same text; without one, "now" is the
call's start, as for a request alone) and ``complete_accounts``, no account, contact or event
id in common, at most ``max_leads`` leads, the same scope (the model version a request is
scored by: merged requests are scored by one version). When the merged rows cannot be computed together
(:meth:`OnlineFeatures.python_many` says why), each request runs alone, with its own answer or
error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import anyio

from leadscore.serving.online_batch import request_ids
from leadscore.serving.posted import ScoreRequest

__all__ = ["InFlight", "PythonQueue", "QueueStats"]

Answer = TypeVar("Answer")
Scope = TypeVar("Scope")


class InFlight:
    """Scoring calls running now and the most at once (``app.state.python_in_flight``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.now -= 1


@dataclass
class QueueStats:
    """Counts since start: scoring calls, requests served, the most requests in one call."""

    calls: int = 0
    requests: int = 0
    largest: int = 0


@dataclass(eq=False)
class _Item(Generic[Answer, Scope]):
    request: ScoreRequest
    record: bool
    scope: Scope
    future: asyncio.Future[Answer]
    key: tuple[str | None, bool, int] | None
    """What merged requests share (``as_of`` text, ``complete_accounts``, the scope's id);
    None: runs alone."""
    ids: frozenset[tuple[str, str]] = field(default_factory=frozenset)


class PythonQueue(Generic[Answer, Scope]):
    """Python-path requests scored at most ``threads`` calls at once, single leads merged.

    ``alone(request, record, scope)`` answers one request (blocking); ``together(requests,
    as_of, scope)`` answers several mergeable ones of one scope at ``as_of`` in one call, or
    returns ``None`` when they cannot be computed together (then each runs alone). Both run in
    worker threads; ``done(scope)``, when given, is called once per request after its answer is
    computed (even when its client went away). The queue itself lives on the event loop (not
    thread-safe; one loop)."""

    def __init__(
        self,
        alone: Callable[[ScoreRequest, bool, Scope], Answer],
        together: Callable[[list[ScoreRequest], datetime | None, Scope], list[Answer] | None],
        *,
        threads: int,
        max_leads: int,
        done: Callable[[Scope], Any] | None = None,
    ) -> None:
        self.alone = alone
        self.together = together
        self.done = done
        self.threads = threads
        self.max_leads = max(1, max_leads)
        self.stats = QueueStats()
        self.in_flight = InFlight()
        self._pending: list[_Item[Answer, Scope]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def score(self, request: ScoreRequest, record: bool, scope: Scope) -> Answer:
        """The answer to ``request`` (its error raised here), once a thread has scored it in
        ``scope``."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        mergeable = len(request.leads) == 1 and not record
        as_of = request.as_of.isoformat() if request.as_of else None
        key = (as_of, request.complete_accounts, id(scope)) if mergeable else None
        ids = request_ids(request) if mergeable else frozenset()
        item = _Item(request, record, scope, future, key, ids)
        self._pending.append(item)
        self._start()
        return await future

    def _start(self) -> None:
        while self._running < self.threads and self._pending:
            batch = self._take()
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Item[Answer, Scope]]:
        """The first waiting request and every later one it merges with."""
        first = self._pending[0]
        batch, rest = [first], []
        if first.key is not None:
            ids, leads = set(first.ids), 1
            for item in self._pending[1:]:
                fits = item.key == first.key and leads < self.max_leads
                if fits and ids.isdisjoint(item.ids):
                    batch.append(item)
                    ids.update(item.ids)
                    leads += 1
                else:
                    rest.append(item)
        else:
            rest = self._pending[1:]
        self._pending = rest
        self.stats.calls += 1
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        return batch

    async def _run(self, batch: list[_Item[Answer, Scope]]) -> None:
        try:
            outcomes = await anyio.to_thread.run_sync(self._blocking, batch)
        except asyncio.CancelledError:  # the server stops
            for item in batch:
                item.future.cancel()
            raise
        finally:
            self._running -= 1
            if self.done is not None:
                for item in batch:
                    self.done(item.scope)
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():  # the client went away
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        self._start()

    def _blocking(self, batch: list[_Item[Answer, Scope]]) -> list[Answer | BaseException]:
        with self.in_flight:
            if len(batch) > 1:
                as_of, scope = batch[0].request.as_of, batch[0].scope
                answers = self.together([item.request for item in batch], as_of, scope)
                if answers is not None:
                    return list(answers)
            return [self._alone(item) for item in batch]

    def _alone(self, item: _Item[Answer, Scope]) -> Answer | BaseException:
        try:
            return self.alone(item.request, item.record, item.scope)
        except Exception as exc:  # handed to the request it belongs to
            return exc
