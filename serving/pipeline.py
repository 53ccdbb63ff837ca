"""One step ahead (or more): the next item of a stream fetched and worked on in a background thread
while the caller handles the current one (batch scoring: DuckDB's next feature chunk and its
LightGBM numbers, both releasing the GIL, overlap the reasons and the writing of this chunk).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["Ahead", "ahead"]

T = TypeVar("T")
R = TypeVar("R")


class Ahead(Generic[T, R]):
    """``(item, work(item))`` for every item of ``items``, in order, computed ``depth`` steps
    ahead (default one).

    The first item is taken and worked on in one background thread as soon as this object
    is made (the caller does other work meanwhile); while the caller handles item ``k``, items
    ``k + 1`` to ``k + depth`` are, one after the other: at most ``depth + 1`` items are held
    at once (``depth`` 2: the thread goes on with the next item when it is done before the
    caller, rather than waiting for it). An error of ``items`` or ``work`` is
    raised to the caller at the item it belongs to. :meth:`close` (also on leaving a ``with``
    block, or when iteration stops early) calls ``stop`` when a background step is still
    running (to cut a long query short: an error or Ctrl-C is not held up by it), waits for
    that step and closes ``items`` (a generator's ``finally`` runs: an open DuckDB result is
    released).
    """

    def __init__(
        self,
        items: Iterator[T],
        work: Callable[[T], R],
        *,
        stop: Callable[[], None] | None = None,
        depth: int = 1,
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._items, self._work, self._stop = items, work, stop
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="leadscore-ahead")
        # the steps run one after the other on the one thread, in the order submitted
        self._futures: deque[Future[tuple[T, R] | None]] = deque(
            self._pool.submit(self._step) for _ in range(depth)
        )
        self._closed = False

    def _step(self) -> tuple[T, R] | None:
        for item in self._items:  # one item per step
            return item, self._work(item)
        return None

    def __iter__(self) -> Iterator[tuple[T, R]]:
        try:
            while not self._closed and (done := self._futures[0].result()) is not None:
                self._futures.popleft()
                self._futures.append(self._pool.submit(self._step))
                yield done
        finally:
            self.close()

    def close(self) -> None:
        """Stop: drop the steps not started, wait for the running one (its error is
        dropped: the caller is leaving already or stopped on purpose), close ``items``, end
        the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        running = [future for future in self._futures if not future.cancel()]
        for future in running:  # at most one runs (one thread); the others are done
            if self._stop is not None and not future.done():
                self._stop()
            with contextlib.suppress(BaseException):  # the first error is the one raised
                future.result()
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Ahead[T, R]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def ahead(
    items: Iterator[T],
    work: Callable[[T], R],
    *,
    stop: Callable[[], None] | None = None,
    depth: int = 1,
) -> Ahead[T, R]:
    """:class:`Ahead` of ``items`` and ``work`` (the background step starts now)."""
    return Ahead(items, work, stop=stop, depth=depth)
