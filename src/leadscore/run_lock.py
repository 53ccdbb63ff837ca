"""One batch run at a time per output file: an OS lock on ``.<name>.lock`` beside the output.

Two ``leadscore score`` runs on one ``--out`` could leave the file from one run and the score
store's "latest" from the other. The second run waits a few seconds for the lock, then refuses
naming the holder's pid. The lock is ``flock`` on an open file: the OS drops it when its process
ends, even on ``kill -9``; a clean end also removes the file (a lock file left by a killed run
is simply taken over). The name starts with a dot, as the atomic writer's temporary files do:
a folder of Parquet files read as one dataset (pandas, pyarrow, Spark) skips it.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from leadscore.atomic import check_writable, output_error
from leadscore.errors import OutputError

__all__ = ["WAIT_SECONDS", "lock_path", "output_run_lock"]

WAIT_SECONDS = 5.0
"""How long a run waits for another run writing the same output before refusing."""

_POLL_SECONDS = 0.1
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}
"""A file system without locks (some network mounts): the run goes ahead unlocked."""


def lock_path(out: Path) -> Path:
    """The lock file of the output ``out``: ``.<name>.lock`` in its folder."""
    return out.with_name(f".{out.name}.lock")


@contextmanager
def output_run_lock(
    out: Path, *, what: str = "leadscore score run", wait_seconds: float = WAIT_SECONDS
) -> Iterator[None]:
    """Hold the run lock of ``out`` for the block; waits up to ``wait_seconds`` for another
    holder, then raises :class:`OutputError` naming its pid."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): unlocked, as before
        yield
        return
    check_writable(out, what="output")
    lock = lock_path(out)
    created = _missing_folders(lock.parent)
    try:
        fd = _acquire(fcntl, out, lock, what, time.monotonic() + wait_seconds)
        if fd is None:  # a file system without locks
            yield
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            with suppress(OSError):
                lock.unlink()  # still held: no other run has this file
            os.close(fd)
    finally:
        if not out.exists():  # a failed run leaves no empty folder it made for its lock
            for folder in created:
                with suppress(OSError):  # not empty (another run's lock, other files): kept
                    folder.rmdir()


def _missing_folders(folder: Path) -> list[Path]:
    """The folders of ``folder``'s path that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _acquire(fcntl: Any, out: Path, lock: Path, what: str, deadline: float) -> int | None:
    """The open, locked descriptor of ``lock`` (None: locks unsupported there)."""
    while True:
        try:  # each time: a failed run removes the folders it made
            lock.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(out, exc) from exc
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError as exc:  # removed meanwhile by a run that failed: again
            if time.monotonic() >= deadline:
                raise output_error(lock, exc) from exc
            continue
        except OSError as exc:
            raise output_error(lock, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                pid = f" (pid {holder})" if holder else ""
                raise OutputError(
                    f"Another {what} is writing {out}{pid}; wait for it or choose another --out."
                ) from None
            time.sleep(_POLL_SECONDS)
            continue
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NO_LOCKS:
                return None
            raise output_error(lock, exc) from exc
        if _is_current(fd, lock):
            return fd
        os.close(fd)  # a run that just ended removed this file: lock the new one


def _holder(fd: int) -> int | None:
    """The pid written in a held lock file (None while its holder is writing it)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _is_current(fd: int, lock: Path) -> bool:
    """Whether the locked ``fd`` is still the file at ``lock`` (not one a releasing run
    unlinked after this run opened it)."""
    try:
        held, there = os.fstat(fd), os.stat(lock)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)
