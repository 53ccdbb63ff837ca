"""Tell when the installed packages differ from those a model was trained with.

MLflow's own check scans every installed distribution (about 2 s of start-up per load, and
its warning is silenced on the command line anyway); this one reads the model's pinned
``requirements.txt`` and asks for just those few distributions.
"""

from __future__ import annotations

import logging
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["requirement_drift", "warn_on_requirement_drift"]

_PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")
_PYTHON = re.compile(r"^\s*python_version:\s*['\"]?([0-9][0-9.]*)", re.MULTILINE)
_log = logging.getLogger(__name__)


def requirement_drift(model_dir: str | Path) -> list[str]:
    """One line per pinned requirement of the model at ``model_dir`` whose installed version
    differs (or is missing), and one when its Python minor version differs; empty when they
    all match or nothing is pinned."""
    drift = _python_drift(Path(model_dir) / "MLmodel")
    path = Path(model_dir) / "requirements.txt"
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
    except (OSError, UnicodeError):  # advisory: an unreadable file says nothing, loads anyway
        return drift
    for line in text.splitlines():
        match = _PINNED.match(line)
        if not match:
            continue
        name, pinned = match.groups()
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            drift.append(f"{name} {pinned} at training, {installed} here")
    return drift


def _python_drift(mlmodel: Path) -> list[str]:
    """The Python version the model was saved with, when its minor version differs from this
    interpreter's (what MLflow's own check, skipped at load, warned about)."""
    try:
        saved = _PYTHON.search(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeError):
        return []
    here = platform.python_version()
    if saved is None or saved.group(1).split(".")[:2] == here.split(".")[:2]:
        return []
    return [f"Python {saved.group(1)} at training, {here} here"]


def warn_on_requirement_drift(model_dir: str | Path) -> None:
    """Log a warning naming the packages whose versions differ from the training's."""
    drift = requirement_drift(model_dir)
    if drift:
        _log.warning(
            "The model was trained with other package versions (%s): its scores may differ "
            "slightly; retrain with this environment to be sure.",
            "; ".join(drift),
        )
