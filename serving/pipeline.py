"""One step ahead: the next item of a stream fetched and worked on in a background thread
while the caller handles the current one (batch scoring: DuckDB's next feature chunk and its
LightGBM numbers, both releasing the GIL, overlap the reasons and the writing of this chunk).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["Ahead", "ahead"]

T = TypeVar("T")
R = TypeVar("R")


class Ahead(Generic[T, R]):
    """``(item, work(item))`` for every item of ``items``, in order, computed one step ahead.

    The first item is taken and worked on in one background thread as soon as this object
    is made (the caller does other work meanwhile); while the caller handles item ``k``, item
    ``k + 1`` is: at most two items are held at once. An error of ``items`` or ``work`` is
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
    ) -> None:
        self._items, self._work, self._stop = items, work, stop
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="leadscore-ahead")
        self._future: Future[tuple[T, R] | None] = self._pool.submit(self._step)
        self._closed = False

    def _step(self) -> tuple[T, R] | None:
        for item in self._items:  # one item per step
            return item, self._work(item)
        return None

    def __iter__(self) -> Iterator[tuple[T, R]]:
        try:
            while not self._closed and (done := self._future.result()) is not None:
                self._future = self._pool.submit(self._step)
                yield done
        finally:
            self.close()

    def close(self) -> None:
        """Stop: wait for the running step (its error is dropped: the caller is leaving
        already or stopped on purpose), close ``items``, end the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        future = self._future
        if not future.cancel():
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
    items: Iterator[T], work: Callable[[T], R], *, stop: Callable[[], None] | None = None
) -> Ahead[T, R]:
    """:class:`Ahead` of ``items`` and ``work`` (the background step starts now)."""
    return Ahead(items, work, stop=stop)
