"""``POST /score?record=true`` writes: concurrent requests share one store write (group commit),
each returns only once its rows are committed, and a failed write is every waiter's error."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from leadscore.errors import SourceError
from leadscore.serving.recorded import GroupWriter, score_rows
from leadscore.serving.store import ScoreStore


class _Reason:
    def __init__(self, text: str) -> None:
        self.text = text


class _Scored:
    def __init__(self, contact_id: str) -> None:
        self.contact_id = contact_id
        self.p_sql = 0.25
        self.p_meeting = 0.125
        self.grade = "B"
        self.fit_score = 60.0
        self.engagement_score = 40.0
        self.reasons_positive = [_Reason("Visited the pricing page")]
        self.reasons_negative: list[_Reason] = []


def _rows(contact_id: str) -> pd.DataFrame:
    return score_rows([_Scored(contact_id)], model_version="7")


def _hold_lock(path: Path) -> subprocess.Popen[str]:
    """Another process holding the DuckDB store file (as a batch scoring run would)."""
    code = (
        "import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        "sys.stdin.readline()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_concurrent_records_share_a_write_and_all_land(tmp_path: Path) -> None:
    store = ScoreStore(tmp_path / "scores.duckdb")
    store.open_check()
    writer = GroupWriter(store)
    holder = _hold_lock(tmp_path / "scores.duckdb")
    results: dict[str, int] = {}
    try:
        first = threading.Thread(target=lambda: results.update(C0=writer.record(_rows("C0"))))
        first.start()  # its write waits for the lock (the store retries for 10 s)
        deadline = time.monotonic() + 10
        while writer.stats.writes < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with ThreadPoolExecutor(11) as pool:
            waiting = {f"C{i}": pool.submit(writer.record, _rows(f"C{i}")) for i in range(1, 12)}
            while len(writer._queue) < 11 and time.monotonic() < deadline:
                time.sleep(0.01)  # every later request queued behind the blocked write
            holder.communicate("\n", timeout=30)  # the lock released
            results.update({k: f.result(timeout=30) for k, f in waiting.items()})
        first.join(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()
    assert results == {f"C{i}": 1 for i in range(12)}
    assert (writer.stats.writes, writer.stats.requests, writer.stats.largest) == (2, 12, 11)
    for i in range(12):  # committed and visible (inbox, feedback) once the call returned
        latest = store.latest(f"C{i}")
        assert latest is not None and latest["grade"] == "B"
    assert store.count() == 12


def test_a_failed_write_is_the_error_of_every_request_in_it(tmp_path: Path) -> None:
    broken = tmp_path / "scores.duckdb"
    broken.write_text("not a database")
    writer = GroupWriter(ScoreStore(broken))
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(writer.record, _rows(f"C{i}")) for i in range(4)]
        for future in futures:
            with pytest.raises(SourceError, match="Cannot open the score store"):
                future.result(timeout=30)
    assert writer.stats.requests == 4 and not writer._queue and not writer._writing


def test_records_over_max_rows_are_split_into_writes(tmp_path: Path) -> None:
    store = ScoreStore(tmp_path / "scores.duckdb")
    writer = GroupWriter(store, max_rows=1)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda i: writer.record(_rows(f"C{i}")), range(6))) == [1] * 6
    assert writer.stats.writes == 6 and writer.stats.largest == 1
    assert store.count() == 6
    assert writer.record(_rows("C0").iloc[0:0]) == 0  # nothing to write: no store call
    assert writer.stats.writes == 6
