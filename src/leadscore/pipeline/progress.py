"""How steps report progress: one callback, ``progress(task, done, total)``, no terminal code.

``total`` is ``None`` while unknown. A step that waits on one long call (validating a source,
computing the oracle) reports the task at ``(0, None)`` before and ``(1, 1)`` after. A task may
carry what it is doing now after :data:`DETAIL` (``"Training models · sql: LightGBM candidate
2/6"``): one bar per task (the part before it), the detail as its description. The CLI draws bars
from these calls (plain log lines when not on a terminal); a notebook can pass ``print`` or a
tqdm adapter, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["DETAIL", "ProgressFn", "no_progress", "per_task", "split_detail", "waiting"]

DETAIL = " · "
"""Separates a task from what it is doing now (one bar per task, the detail as its text)."""

ProgressFn = Callable[[str, int, int | None], None]
"""``progress(task, done, total)``: ``done`` units of ``task`` finished out of ``total``."""


def no_progress(task: str, done: int, total: int | None) -> None:
    """The default callback: report nothing."""


def split_detail(task: str) -> tuple[str, str]:
    """``(task, detail)`` of a reported task (the detail ``""`` when it carries none)."""
    name, _, detail = task.partition(DETAIL)
    return name, detail


def per_task(progress: ProgressFn, task: str) -> Callable[[int, int | None], None]:
    """A ``(done, total)`` callback, the form the stages take, reporting under ``task``."""

    def update(done: int, total: int | None) -> None:
        progress(task, done, total)

    return update


@contextmanager
def waiting(progress: ProgressFn, task: str) -> Iterator[None]:
    """Report ``task`` as started, then as done when the block ends without an error."""
    progress(task, 0, None)
    yield
    progress(task, 1, 1)
