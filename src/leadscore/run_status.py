"""Run status of MLflow training runs: a killed ``train`` never leaves its run RUNNING for good.

Every run records the process that owns it (tags ``leadscore.pid`` and ``leadscore.host``).
:func:`fail_dead_runs`, called whenever a command opens the registry, ends as FAILED every
RUNNING run whose process is gone from this host (a run of another host, or of a live process,
is left alone; so are RUNNING runs that carry no owner, logged by older versions).
On a full disk the marking waits for a later command: reading the registry still works.
:func:`sweep_runs` also names the live processes of this host that own a RUNNING run (a cached
model resolution holds only while they live, :mod:`leadscore.serving.resolution_cache`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from leadscore.atomic import host_name, process_alive, write_failure

__all__ = [
    "HOST_TAG",
    "PID_TAG",
    "REASON_TAG",
    "RunSweep",
    "fail_dead_runs",
    "owner_tags",
    "sweep_runs",
]

PID_TAG = "leadscore.pid"
HOST_TAG = "leadscore.host"
REASON_TAG = "leadscore.failure"
_log = logging.getLogger(__name__)


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the owner of a new run."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: host_name()}


@dataclass(frozen=True)
class RunSweep:
    """What :func:`sweep_runs` did and saw."""

    failed: list[str]
    """Ids of the runs it marked FAILED."""
    live_owners: list[int]
    """Live processes of this host owning a RUNNING run (this one included)."""


def _local_owner(tags: dict[str, str]) -> int | None:
    pid = tags.get(PID_TAG, "")
    if not pid.isdigit() or tags.get(HOST_TAG) != host_name():
        return None
    return int(pid)


@contextmanager
def _quiet_store_log() -> Iterator[None]:
    """MLflow's sqlite store logs a failed write with its traceback at ERROR before raising;
    the caller decides what the failure means."""
    store_log = logging.getLogger("mlflow.store.db.utils")
    level = store_log.level
    store_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        store_log.setLevel(level)


def sweep_runs(client: Any) -> RunSweep:
    """Mark FAILED the RUNNING runs whose owning process died on this host."""
    experiments = [str(e.experiment_id) for e in client.search_experiments()]
    if not experiments:
        return RunSweep([], [])
    failed: list[str] = []
    live: list[int] = []
    for run in client.search_runs(
        experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000
    ):
        pid = _local_owner(dict(run.data.tags))
        if pid is None:
            continue
        if pid == os.getpid() or process_alive(pid):
            live.append(pid)
            continue
        run_id = str(run.info.run_id)
        try:
            with _quiet_store_log():
                client.set_tag(run_id, REASON_TAG, f"process {pid} ended before the run finished")
                client.set_terminated(run_id, "FAILED")
        except Exception as exc:  # a full disk: housekeeping must not fail a read
            if write_failure(exc) is None:
                raise
            _log.debug("Run %s stays RUNNING until the registry can be written: %s", run_id, exc)
            continue
        failed.append(run_id)
    return RunSweep(failed, sorted(set(live)))


def fail_dead_runs(client: Any) -> list[str]:
    """Mark FAILED the RUNNING runs whose owning process died on this host; returns their ids."""
    return sweep_runs(client).failed
