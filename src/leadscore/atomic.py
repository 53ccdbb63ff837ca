"""Atomic outputs: write beside the target, then rename, so an interrupted run never leaves a
half-written file and the previous result stays intact.

Temporary siblings are named ``.<target>.tmp-<pid>-<token>`` (backups of a replaced folder
``.<target>.old-<pid>-<token>``), so the next run can tell the leftovers of a dead process from
the files of a live one: :func:`sweep_dead_temps` removes the former (restoring a backup whose
target is missing) and never touches the latter.

Test hook: :func:`fault_point` kills the process with SIGKILL (or raises ``OSError(ENOSPC)``)
at a named point when ``LEADSCORE_FAULT`` asks for it; the fault-injection suite uses it to
check that every output is either the old or the new one after a crash at any point.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from leadscore.errors import OutputError

__all__ = [
    "FAULT_ENV",
    "atomic_path",
    "atomic_write_text",
    "check_writable",
    "fault_point",
    "host_name",
    "is_write_error",
    "output_error",
    "process_alive",
    "sweep_dead_temps",
    "temp_sibling",
    "write_failure",
]

FAULT_ENV = "LEADSCORE_FAULT"
_TEMP = re.compile(
    r"^\.(?P<target>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-(?P<host>[0-9a-f]{4})?[0-9a-f]{8}"
    r"(?P<extra>\..+)?$"
)
_WRITE_ERRNOS = {
    errno.ENOSPC: "the disk is full: free some space or choose another location",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another location",
    errno.EFBIG: "the file is too large for this file system: choose another location",
    errno.EROFS: "the file system is read-only: choose a writable location",
    errno.EACCES: "permission denied: choose a location you can write to",
    errno.EPERM: "permission denied: choose a location you can write to",
    errno.ENOTDIR: "a parent of it is a file, not a folder: choose another path",
    errno.EISDIR: "it is a folder: give a file path",
}


def fault_point(name: str) -> None:
    """Test hook: act when ``$LEADSCORE_FAULT`` names this point (comma-separated list).

    ``<point>`` kills this process with SIGKILL (no cleanup runs, like ``kill -9``);
    ``<point>:enospc`` raises ``OSError(ENOSPC)`` as a full disk would. Unset: does nothing.
    """
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    for item in wanted.split(","):
        point, _, action = item.strip().partition(":")
        if point != name:
            continue
        if action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.kill(os.getpid(), signal.SIGKILL)


def host_name() -> str:
    """This machine's name (recorded beside a pid: a pid means nothing on another host)."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a process we may not signal counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _errno_of(exc: BaseException) -> int | None:
    """The errno of an ``OSError``, also when a library only put it in the message (Arrow,
    DuckDB: "... [errno 28] ..." or "No space left on device")."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    text = str(exc)
    found = re.search(r"errno\s*:?\s*(\d+)", text, re.IGNORECASE)
    if found:
        return int(found[1])
    for code, message in (
        (errno.ENOSPC, "No space left"),
        (errno.ENOSPC, "database or disk is full"),  # SQLite's SQLITE_FULL (MLflow's store)
        (errno.EDQUOT, "quota exceeded"),
    ):
        if message.lower() in text.lower():
            return code
    return None


def is_write_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a file-system condition of the output (full disk, read-only...)."""
    return _errno_of(exc) in _WRITE_ERRNOS


def write_failure(exc: BaseException) -> str | None:
    """Why a write failed and what to do (``"the disk is full: free some space or ..."``) when
    ``exc`` is a file-system condition (:func:`is_write_error`), else ``None``."""
    return _WRITE_ERRNOS.get(_errno_of(exc) or 0)


def output_error(path: Path, exc: BaseException) -> OutputError:
    """An :class:`OutputError` naming ``path``, the cause and the fix."""
    why = _WRITE_ERRNOS.get(_errno_of(exc) or 0)
    if why is None:
        why = f"{getattr(exc, 'strerror', None) or exc}: choose a writable location"
    return OutputError(f"Cannot write {path}: {why}. Any previous {path.name} is left intact.")


def check_writable(path: Path, *, what: str = "output", folder_ok: bool = False) -> None:
    """Refuse early, before anything is written, an output ``path`` that cannot be created:
    a parent that is a file, the path itself a folder (unless ``folder_ok``), or no write
    permission."""
    if path.is_dir() and not folder_ok:
        raise OutputError(f"The {what} {path} is a folder: give a file path.")
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link: mkdir would fail
            break
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(
            f"Cannot write the {what} {path}: {parent} is a file, not a folder. "
            "Choose another path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"Cannot write the {what} {path}: no write permission in {parent}. "
            "Choose a location you can write to."
        )


def _host_tag() -> str:
    """4 hex digits of this host's name: a folder shared by several hosts (or containers)
    holds pids that mean nothing here, and their files are left alone."""
    return hashlib.sha1(host_name().encode(), usedforsecurity=False).hexdigest()[:4]


def temp_sibling(path: Path, kind: str = "tmp") -> Path:
    """A fresh sibling name of ``path`` carrying this process's pid and host (``kind``: tmp
    or old): ``.<name>.<kind>-<pid>-<host tag><random>``."""
    token = f"{_host_tag()}{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{token}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_dead_temps(folder: Path) -> list[Path]:
    """Remove the temporary files of dead leadscore processes in ``folder``; a backup whose
    target is missing (a crash between the two renames of a folder swap) is moved back.
    Files of live processes are never touched. Returns the paths removed or restored."""
    swept: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return swept
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None:
            continue
        pid = int(match["pid"])
        if match["host"] not in (None, _host_tag()):
            continue  # another host's process: its pid cannot be checked from here
        if pid == os.getpid() or process_alive(pid):
            continue
        target = folder / match["target"]
        with contextlib.suppress(OSError):
            if match["kind"] == "old" and not match["extra"] and not target.exists():
                os.replace(entry, target)  # the previous result, put back
            else:
                _remove(entry)
            swept.append(entry)
    return swept


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; it replaces ``path`` only on success.

    Leftovers of dead runs in the folder are removed first. An ``OSError`` of the file system
    (full disk, read-only, parent is a file...) becomes an :class:`OutputError` naming ``path``.
    """
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_dead_temps(path.parent)
        tmp = temp_sibling(path)
        tmp.touch(mode=0o644, exist_ok=False)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        yield tmp
        fault_point("atomic.before_replace")
        os.replace(tmp, path)
        fault_point("atomic.after_replace")
    except OSError as exc:
        if _errno_of(exc) not in _WRITE_ERRNOS:
            raise
        raise output_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        fault_point("atomic.text_written")
