"""Subprocess helpers for the crash-safety tests: start a leadscore command with a fault point
armed (``LEADSCORE_FAULT``), wait for it, list temp files, find a dead pid. (Holds no test.)"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from leadscore.atomic import FAULT_ENV

KILLED = -signal.SIGKILL


def clean_env(fault: str | None = None) -> dict[str, str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    if fault:
        env[FAULT_ENV] = fault
    return env


def start(args: list[str], fault: str | None, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=clean_env(fault),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
