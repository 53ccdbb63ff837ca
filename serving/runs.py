"""Batch runs committed together with their output: the ``score_runs`` table of the score store.

The table's schema is in :mod:`leadscore.serving.store_sql`. A batch run writes its output to a temporary file whose Parquet metadata holds the run id, then:

1. :func:`stage` inserts the history rows with the run id and a ``pending`` run row (one
   transaction: pid and host recorded);
2. the output replaces the previous one (``os.replace``);
3. :func:`commit` marks the run ``committed``.

Readers see a run's rows when it is committed, or when it is pending and the output file already
carries its run id (a crash between steps 2 and 3): so the history and the output are both old
or both new whatever the moment of a crash. :func:`reconcile_runs`, run by every writer, settles
the pending runs of dead processes: committed when the output carries their id, else deleted.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from leadscore.atomic import fault_point, host_name, process_alive

__all__ = [
    "RUN_ID_KEY",
    "commit",
    "discard",
    "new_run_id",
    "output_run_id",
    "reconcile_runs",
    "stage",
    "visible_pending",
]

RUN_ID_KEY = b"leadscore.run_id"
"""Key of the run id in the batch output's Parquet key-value metadata."""


def new_run_id() -> str:
    """A fresh batch run id."""
    return uuid.uuid4().hex


def output_run_id(output: Path | str) -> str | None:
    """The run id recorded in a batch output file, ``None`` if absent or unreadable."""
    try:
        metadata = pq.read_schema(str(output)).metadata or {}
    except (OSError, ValueError):  # missing, half-written or not Parquet
        return None
    value = metadata.get(RUN_ID_KEY)
    return value.decode() if value is not None else None


def stage(
    con: Any,
    run_id: str,
    parquet: Path,
    output: Path,
    columns: Sequence[str],
    *,
    as_of: Any = None,
) -> int:
    """Insert the rows of ``parquet`` as pending run ``run_id`` of ``output`` (one transaction),
    with the run's ``as_of`` moment on every row."""
    con.execute("BEGIN")
    try:
        con.insert_parquet("score_history", parquet, columns, {"run_id": run_id, "as_of": as_of})
        row = con.execute(
            "SELECT count(*) FROM score_history WHERE run_id = ?", [run_id]
        ).fetchone()
        rows = int(row[0]) if row else 0
        con.execute(
            "INSERT INTO score_runs (run_id, state, output, pid, host, rows) "
            "VALUES (?, 'pending', ?, ?, ?, ?)",
            [run_id, str(Path(output).resolve()), os.getpid(), host_name(), rows],
        )
        fault_point("score.staging")
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return rows


def _rollback(con: Any) -> None:
    """Roll back, keeping the error that caused it: a failed COMMIT (a full disk) has already
    ended the transaction, and "no transaction is active" would hide why."""
    with contextlib.suppress(Exception):
        con.execute("ROLLBACK")


def commit(con: Any, run_id: str) -> None:
    """Mark run ``run_id`` committed."""
    con.execute("UPDATE score_runs SET state = 'committed' WHERE run_id = ?", [run_id])


def discard(con: Any, run_id: str) -> None:
    """Delete a pending run and its rows (one transaction)."""
    con.execute("BEGIN")
    try:
        con.execute(
            "DELETE FROM score_history WHERE run_id = ? AND run_id IN "
            "(SELECT run_id FROM score_runs WHERE state = 'pending')",
            [run_id],
        )
        con.execute("DELETE FROM score_runs WHERE run_id = ? AND state = 'pending'", [run_id])
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise


def _pending(con: Any) -> list[tuple[str, str, int, str]]:
    rows = con.execute(
        "SELECT run_id, output, pid, host FROM score_runs WHERE state = 'pending'"
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]


def visible_pending(con: Any) -> list[str]:
    """Pending runs whose output is already in place (their rows are visible)."""
    return [run_id for run_id, output, _, _ in _pending(con) if output_run_id(output) == run_id]


def reconcile_runs(con: Any) -> list[tuple[str, str]]:
    """Settle pending runs: committed when their output carries their id; deleted when their
    process died on this host without replacing the output. Runs of live processes and of
    other hosts are left pending (and invisible). Returns ``(run_id, "committed"|"discarded")``."""
    settled: list[tuple[str, str]] = []
    for run_id, output, pid, host in _pending(con):
        if output_run_id(output) == run_id:
            commit(con, run_id)
            settled.append((run_id, "committed"))
        elif host == host_name() and pid != os.getpid() and not process_alive(pid):
            discard(con, run_id)
            settled.append((run_id, "discarded"))
    return settled
