"""One ``score`` run per output file: real processes holding, waiting for and dropping the lock
(``leadscore.run_lock``), the CLI's refusal, and two real runs at once on one ``--out``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leadscore.errors import OutputError
from leadscore.run_lock import lock_path, output_run_lock
from tests.test_cli import run_cli
from tests.test_serving_support import ServingModel, serving_model

_HOLD = """
import sys, time
from pathlib import Path
from leadscore.run_lock import output_run_lock
with output_run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(out: Path, seconds: float = 120) -> subprocess.Popen[str]:
    """Another process holding ``out``'s run lock for ``seconds`` (it says when it holds it)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def _end(process: subprocess.Popen[str]) -> None:
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def test_a_second_run_is_refused_naming_the_holder_and_kill_9_frees_the_output(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out" / "scores.parquet"
    holder = _holder(out)
    try:
        started = time.monotonic()
        with pytest.raises(OutputError) as refused, output_run_lock(out, wait_seconds=0.5):
            pass
        assert time.monotonic() - started >= 0.5  # it waited first
        assert str(refused.value) == (
            f"Another leadscore score run is writing {out} (pid {holder.pid}); wait for it or "
            "choose another --out."
        )
        assert refused.value.exit_code == 1
        # the real command: refused before the CRM or the model is read (neither exists here)
        run = run_cli("score", str(tmp_path / "crm.duckdb"), "--out", str(out))
        assert run.returncode == 1, run.stderr
        said = " ".join((run.stdout + run.stderr).split())
        assert f"is writing {out} (pid {holder.pid}); wait for it" in said
        assert "Traceback" not in run.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        _end(holder)
    assert lock_path(out).exists()  # left by the killed run, and taken over
    with output_run_lock(out, wait_seconds=0):
        assert lock_path(out).read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists()  # a clean end removes it


def test_a_second_run_waits_for_one_about_to_end(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    holder = _holder(out, seconds=1.0)
    try:
        started = time.monotonic()
        with output_run_lock(out, wait_seconds=30):
            waited = time.monotonic() - started
            assert lock_path(out).read_text().strip() == str(os.getpid())
        assert holder.wait(timeout=30) == 0  # it ended well, after releasing the lock
    finally:
        holder.kill()
        _end(holder)
    assert 0.5 < waited < 30  # held for 1 s after it said so
    assert not lock_path(out).exists()


def test_one_process_holds_an_output_at_a_time_under_contention(tmp_path: Path) -> None:
    """Four processes each take the lock five times, appending start/end marks: the marks never
    interleave (the unlink on release never lets two holders in)."""
    out, log = tmp_path / "scores.parquet", tmp_path / "log.txt"
    code = """
import os, sys, time
from pathlib import Path
from leadscore.run_lock import output_run_lock
out, log = Path(sys.argv[1]), Path(sys.argv[2])
for _ in range(5):
    with output_run_lock(out, wait_seconds=60):
        with log.open("a") as f:
            f.write(f"start {os.getpid()}\\n")
        time.sleep(0.02)
        with log.open("a") as f:
            f.write(f"end {os.getpid()}\\n")
"""
    runs = [subprocess.Popen([sys.executable, "-c", code, str(out), str(log)]) for _ in range(4)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0, 0, 0]
    marks = log.read_text().split("\n")[:-1]
    assert len(marks) == 40
    for start, end in zip(marks[::2], marks[1::2], strict=True):
        assert start.startswith("start ") and end == "end " + start.removeprefix("start ")
    assert not lock_path(out).exists()


def test_a_folder_of_parquet_files_reads_as_a_dataset_while_a_run_holds_its_lock(
    tmp_path: Path,
) -> None:
    """``--out`` in a folder of Parquet exports: the lock file is hidden, as the atomic
    writer's temporary files are, so reading the folder as one dataset skips it (a visible
    ``scores.parquet.lock`` broke pandas/pyarrow, and after a ``kill -9`` kept breaking it)."""
    import pandas as pd

    folder = tmp_path / "exports"
    folder.mkdir()
    pd.DataFrame({"p_sql": [0.1]}).to_parquet(folder / "2026-11.parquet")
    out = folder / "scores.parquet"
    pd.DataFrame({"p_sql": [0.2]}).to_parquet(out)
    with output_run_lock(out):
        assert lock_path(out).name.startswith(".") and lock_path(out).exists()
        assert sorted(pd.read_parquet(folder)["p_sql"]) == [0.1, 0.2]


def test_a_failed_run_leaves_no_folder_it_made_for_its_lock(tmp_path: Path) -> None:
    """The lock needs ``--out``'s folder before the CRM is read: a run that then fails (a CRM
    path with a typo) removes the folders it made, as runs did before the lock; a folder that
    held something already, or the output written, is kept."""
    run = run_cli("score", "typo.duckdb", "--out", "reports/2026-12/scores.parquet", cwd=tmp_path)
    assert run.returncode == 3 and "does not exist" in run.stderr, run.stderr
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "reports").mkdir()
    out = tmp_path / "reports" / "2026-12" / "scores.parquet"
    with pytest.raises(RuntimeError), output_run_lock(out):
        raise RuntimeError("the run failed")
    assert [p.name for p in tmp_path.rglob("*")] == ["reports"]
    with output_run_lock(out):
        out.write_bytes(b"scores")
    assert out.read_bytes() == b"scores" and not lock_path(out).exists()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.mark.slow  # two real score runs at once (~30 s on a loaded machine)
def test_two_score_runs_at_once_leave_the_file_and_the_store_of_one_run(
    model: ServingModel, tmp_path: Path
) -> None:
    from leadscore.serving import ScoreStore
    from leadscore.serving.runs import output_run_id

    out, store = tmp_path / "scores.parquet", tmp_path / "scores.duckdb"
    args = [
        sys.executable, "-m", "leadscore", "score", str(model.crm_path), "--out", str(out),
        "--store", str(store), "--tracking-uri", model.tracking_uri,
        "--as-of", model.as_of.date().isoformat(),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    runs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(*run.communicate(timeout=300), run.returncode) for run in runs]
    results = [(code, stdout, stderr) for stdout, stderr, code in results]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, _, stderr in results:
        if code == 1:
            assert "Another leadscore score run is writing" in " ".join(stderr.split())
    visible = ScoreStore(store).runs().query("visible").sort_values("started_at")
    assert len(visible) == codes.count(0)
    assert output_run_id(out) == visible["run_id"].iloc[-1]  # the file is the latest run's
    assert not lock_path(out).exists()
