"""One step ahead: the next item of a stream fetched and worked on in a background thread
while the caller handles the current one (batch scoring: DuckDB's next feature chunk and its
LightGBM numbers, both releasing the GIL, overlap the reasons and the writing of this chunk).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["ahead"]

T = TypeVar("T")
R = TypeVar("R")


def ahead(items: Iterator[T], work: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """``(item, work(item))`` for every item of ``items``, in order. Item ``k + 1`` is taken
    from ``items`` and worked on in one background thread while the caller handles item
    ``k``: at most two items are held at once. An error of ``items`` or ``work`` is raised to
    the caller at the item it belongs to. When the caller stops early (an error, a break),
    the background step still running is waited for and ``items`` is closed (a generator's
    ``finally`` runs: an open DuckDB result is released)."""

    def step() -> tuple[T, R] | None:
        for item in items:  # one item per step
            return item, work(item)
        return None

    with ThreadPoolExecutor(1, thread_name_prefix="leadscore-ahead") as pool:
        future: Future[tuple[T, R] | None] = pool.submit(step)
        try:
            while (done := future.result()) is not None:
                future = pool.submit(step)
                yield done
        finally:
            if not future.done():
                future.cancel()
            _settled(future)
            close = getattr(items, "close", None)
            if close is not None:
                close()


def _settled(future: Future[Any]) -> None:
    """Wait for ``future`` unless cancelled; its error is the caller's no longer (the caller
    is already leaving with its own error or stopped on purpose)."""
    if future.cancelled():
        return
    with contextlib.suppress(BaseException):  # already leaving: the first error is raised
        future.result()
