"""Atomic outputs: write beside the target, then rename, so an interrupted run never leaves a
half-written file and the previous result stays intact."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from leadscore.errors import LeadscoreError

__all__ = ["atomic_path", "atomic_write_text"]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; it replaces ``path`` only on success."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise LeadscoreError(
            f"Cannot write {path}: {exc.strerror or exc}. Choose a writable location."
        ) from None
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o644)  # mkstemp creates 0600; outputs are ordinary readable files
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
