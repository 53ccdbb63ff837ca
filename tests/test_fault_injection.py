"""Crash safety: real processes killed with SIGKILL at injected points (``LEADSCORE_FAULT``).

After a kill at any point: every output is the old or the new one (score output and score
history together), the next run removes the temporary files of the dead run, no MLflow run stays
RUNNING once a command opens the registry, and the previous result is intact. Full disks and
outputs under a file are clear errors (``OutputError``, exit 1), never "a bug" (exit 70).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from leadscore.atomic import (
    FAULT_ENV,
    atomic_write_text,
    fault_point,
    sweep_dead_temps,
    temp_sibling,
)
from leadscore.errors import OutputError
from leadscore.serving import score_contact_base
from leadscore.serving.loading import LoadedScorer, load_scorer
from leadscore.serving.runs import output_run_id
from leadscore.serving.store import ScoreStore
from tests.fault_helpers import KILLED, clean_env, dead_pid, finish, start, temps
from tests.test_serving_support import ServingModel, serving_model

# --- the test hook and the temp-file sweep -------------------------------------------------


def test_fault_point_does_nothing_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    fault_point("score.before_replace")
    monkeypatch.setenv(FAULT_ENV, "other.point,score.before_replace:enospc")
    with pytest.raises(OSError) as info:
        fault_point("score.before_replace")
    assert info.value.errno == errno.ENOSPC
    fault_point("score.chunk_written")  # not named: nothing


def test_sweep_removes_dead_temps_restores_backups_and_spares_live_ones(tmp_path: Path) -> None:
    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "kept.parquet").write_text("new")
        (tmp_path / f".kept.parquet.tmp-{dead}-0a1b2c3d").write_text("half")
        (tmp_path / f".crm.duckdb.tmp-{dead}-0a1b2c3d.wal").write_text("wal")
        folder_tmp = tmp_path / f".crm.tmp-{dead}-00ff00ff"
        (folder_tmp / "events").mkdir(parents=True)
        (tmp_path / f".gone.old-{dead}-12345678").write_text("old")  # target missing: restore
        (tmp_path / f".kept.parquet.old-{dead}-12345678").write_text("old")  # target there
        live_tmp = tmp_path / f".kept.parquet.tmp-{live.pid}-0a1b2c3d"
        live_tmp.write_text("writing")
        mine = temp_sibling(tmp_path / "kept.parquet")
        mine.write_text("mine")
        (tmp_path / ".notes.tmp").write_text("not ours")  # no pid: never touched
        other_host = "ffff" if mine.name.rsplit("-", 1)[1][:4] != "ffff" else "0000"
        elsewhere = tmp_path / f".kept.parquet.tmp-{dead}-{other_host}0a1b2c3d"
        elsewhere.write_text("another host's pid: unknown here")
        sweep_dead_temps(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [".notes.tmp", "gone", "kept.parquet", live_tmp.name, mine.name, elsewhere.name]
        )
        assert (tmp_path / "gone").read_text() == "old"
    finally:
        live.kill()
        live.wait()


def test_killed_atomic_write_keeps_the_old_file_and_the_next_write_cleans_up(
    tmp_path: Path,
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    code = (
        "from pathlib import Path; from leadscore.atomic import atomic_write_text as w; "
        f"w(Path({str(target)!r}), 'new')"
    )
    for point in ("atomic.text_written", "atomic.before_replace", "atomic.after_replace"):
        rc, _ = finish(start(["-c", code], point, tmp_path))
        assert rc == KILLED
        expected = "new" if point == "atomic.after_replace" else "old"
        assert target.read_text() == expected
        atomic_write_text(target, expected)  # the next run
        assert temps(tmp_path) == []


# --- generate -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic CRM as a DuckDB file and as a Parquet folder (the previous outputs)."""
    from leadscore.synthetic import GeneratorConfig, generate_crm

    root = tmp_path_factory.mktemp("generated")
    generate_crm(GeneratorConfig(n_contacts=60, seed=3), root / "crm.duckdb")
    generate_crm(GeneratorConfig(n_contacts=60, seed=3), root / "crm", fmt="parquet")
    return root


def _fingerprint(path: Path) -> str:
    from leadscore.crm import open_crm

    crm = open_crm(path)
    try:
        return crm.fingerprint()
    finally:
        crm.close()


GENERATE_CASES = [
    ("crm.duckdb", "generate.chunk_written"),
    ("crm.duckdb", "generate.before_replace"),
    ("crm", "generate.chunk_written"),
    ("crm", "generate.before_replace"),
    ("crm", "generate.between_replaces"),
]


@pytest.mark.parametrize(("name", "point"), GENERATE_CASES)
def test_killed_generate_leaves_the_previous_crm(
    generated: Path, tmp_path: Path, name: str, point: str
) -> None:
    from leadscore.synthetic import GeneratorConfig, generate_crm

    out = tmp_path / name
    (shutil.copytree if (generated / name).is_dir() else shutil.copy)(generated / name, out)
    before = _fingerprint(out)
    args = ["-m", "leadscore", "generate", "--contacts", "80", "--seed", "4", "--out", str(out)]
    rc, err = finish(start(args, point, tmp_path))
    assert rc == KILLED, err
    assert temps(tmp_path), "the kill left its temporary output behind"
    sweep_dead_temps(tmp_path)  # what every next run does first
    assert _fingerprint(out) == before  # the previous CRM, whole
    assert temps(tmp_path) == []
    generate_crm(GeneratorConfig(n_contacts=60, seed=5), out)  # the next run replaces it
    assert _fingerprint(out) != before
    assert temps(tmp_path) == []


def test_generate_on_a_full_disk_is_a_clear_error(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "crm.duckdb"
    shutil.copy(generated / "crm.duckdb", out)
    before = _fingerprint(out)
    args = ["-m", "leadscore", "generate", "--contacts", "80", "--out", str(out)]
    rc, err = finish(start(args, "generate.chunk_written:enospc", tmp_path))
    assert rc == OutputError.exit_code, err
    assert "Traceback" not in err and "bug" not in err
    assert str(out) in " ".join(err.split()) and "disk is full" in err
    assert _fingerprint(out) == before
    assert temps(tmp_path) == []


# --- score: output and history committed together -----------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def scorer(model: ServingModel) -> LoadedScorer:
    return load_scorer(model.folder)


@pytest.fixture(scope="module")
def previous(
    model: ServingModel, scorer: LoadedScorer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One committed run: the previous output and history every case starts from."""
    root = tmp_path_factory.mktemp("previous")
    score_contact_base(
        model.crm_path, scorer, root / "scores.parquet", store=root / "scores.duckdb",
        as_of=model.as_of, chunk_size=400,
    )  # fmt: skip
    return root


def _copy_previous(previous: Path, folder: Path) -> tuple[Path, ScoreStore]:
    for name in ("scores.parquet", "scores.duckdb"):
        shutil.copy(previous / name, folder / name)
    return folder / "scores.parquet", ScoreStore(folder / "scores.duckdb")


def _score_args(model: ServingModel, out: Path, store: Path) -> list[str]:
    return [
        "-m", "leadscore", "score", str(model.crm_path), "--model", str(model.folder),
        "--out", str(out), "--store", str(store), "--as-of", model.as_of.isoformat(),
        "--chunk-size", "400",
    ]  # fmt: skip


def _assert_together(out: Path, store: ScoreStore) -> str:
    """The output's run is the newest visible run of the history, and every visible run is
    whole: both old or both new. Returns the output's run id."""
    run = output_run_id(out)
    runs = store.runs()
    shown = runs[runs["visible"]]
    assert run is not None and list(shown["run_id"])[-1] == run
    assert store.count() == int(shown["rows"].sum())
    assert pd.read_parquet(out).shape[0] == int(shown["rows"].iloc[-1])
    return run


SCORE_POINTS = [
    ("score.chunk_written", "old"),
    ("score.staging", "old"),
    ("score.before_replace", "old"),
    ("atomic.before_replace", "old"),
    ("score.output_replaced", "new"),
]


@dataclass(frozen=True)
class KilledScore:
    folder: Path
    old_run: str
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def killed_scores(
    model: ServingModel, previous: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, KilledScore]]:
    """Every kill point of ``leadscore score``, run in parallel processes."""
    old_run = output_run_id(previous / "scores.parquet")
    assert old_run is not None
    procs = {}
    for point, _ in SCORE_POINTS:
        folder = tmp_path_factory.mktemp(point.replace(".", "-"))
        out, store = _copy_previous(previous, folder)
        procs[point] = (folder, start(_score_args(model, out, store.path), point, folder))
    results = {}
    for point, (folder, proc) in procs.items():
        rc, err = finish(proc)
        results[point] = KilledScore(folder, old_run, rc, err)
    yield results


@pytest.mark.parametrize(("point", "expected"), SCORE_POINTS)
def test_killed_score_keeps_output_and_history_together(
    killed_scores: dict[str, KilledScore],
    model: ServingModel,
    scorer: LoadedScorer,
    point: str,
    expected: str,
) -> None:
    case = killed_scores[point]
    assert case.returncode == KILLED, case.stderr
    out, store = case.folder / "scores.parquet", ScoreStore(case.folder / "scores.duckdb")
    run = _assert_together(out, store)  # already consistent for readers, before any next run
    assert (run == case.old_run) == (expected == "old")
    result = score_contact_base(
        model.crm_path, scorer, out, store=store, as_of=model.as_of, chunk_size=400
    )  # the next run reconciles the dead run and sweeps its temp files
    assert _assert_together(out, store) == result.run_id
    runs = store.runs()
    assert set(runs["state"]) == {"committed"}  # nothing left pending
    assert len(runs) == (3 if expected == "new" else 2)
    assert temps(case.folder) == []


def test_pending_run_of_a_live_process_stays_invisible_and_untouched(
    previous: Path, tmp_path: Path
) -> None:
    out, store = _copy_previous(previous, tmp_path)
    count = store.count()
    rows = store.stage_run("live-run", previous / "scores.parquet", out)  # pid: this process
    assert rows > 0
    store.open_check()  # a writer reconciles: a live run's rows must stay (and stay hidden)
    runs = store.runs().set_index("run_id")
    assert runs.loc["live-run", "state"] == "pending" and not runs.loc["live-run", "visible"]
    assert store.count() == count
    store.discard_run("live-run")
    assert "live-run" not in set(store.runs()["run_id"]) and store.count() == count


def test_score_with_a_bad_store_writes_nothing(
    model: ServingModel, scorer: LoadedScorer, previous: Path, tmp_path: Path
) -> None:
    out, _ = _copy_previous(previous, tmp_path)
    before = out.read_bytes()
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a duckdb database" * 100)
    from leadscore.errors import SourceError

    with pytest.raises(SourceError, match=r"bad\.duckdb"):
        score_contact_base(model.crm_path, scorer, out, store=bad, as_of=model.as_of)
    assert out.read_bytes() == before
    assert temps(tmp_path) == []


@pytest.mark.parametrize("which", ["out", "store"])
def test_score_under_a_file_is_an_output_error_before_anything_is_written(
    model: ServingModel,
    previous: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: str,
) -> None:
    from leadscore.cli import main

    out, store = _copy_previous(previous, tmp_path)
    before = (out.read_bytes(), store.path.read_bytes())
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = blocker / ("scores.parquet" if which == "out" else "scores.duckdb")
    args = _score_args(
        model, target if which == "out" else out, target if which == "store" else store.path
    )
    with pytest.raises(SystemExit) as info:
        main(args[2:])
    err = " ".join(capsys.readouterr().err.split())
    assert info.value.code == OutputError.exit_code
    assert str(blocker) in err and "is a file" in err and "bug" not in err
    assert (out.read_bytes(), store.path.read_bytes()) == before


@pytest.mark.parametrize("point", ["score.chunk_written:enospc", "atomic.before_replace:enospc"])
def test_score_on_a_full_disk_keeps_the_previous_result(
    model: ServingModel,
    previous: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    from leadscore.cli import main

    out, store = _copy_previous(previous, tmp_path)
    before = out.read_bytes()
    count = store.count()
    monkeypatch.setenv(FAULT_ENV, point)
    with pytest.raises(SystemExit) as info:
        main(_score_args(model, out, store.path)[2:])
    err = " ".join(capsys.readouterr().err.split())
    assert info.value.code == OutputError.exit_code
    assert str(out) in err and "disk is full" in err and "bug" not in err
    assert out.read_bytes() == before
    assert store.count() == count and set(store.runs()["state"]) == {"committed"}
    assert temps(tmp_path) == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a private tmpfs")
def test_score_on_a_real_full_tmpfs(model: ServingModel, previous: Path, tmp_path: Path) -> None:
    """A real ENOSPC: the output on a tmpfs just big enough for the previous output."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    disk = tmp_path / "disk"
    disk.mkdir()
    prev = previous / "scores.parquet"
    size_kb = prev.stat().st_size // 1024 + 8
    args = " ".join(_score_args(model, disk / "scores.parquet", tmp_path / "scores.duckdb"))
    script = (
        f"mount -t tmpfs -o size={size_kb}k tmpfs {disk} && cp {prev} {disk}/ && "
        f"{sys.executable} {args}; rc=$?; cmp {prev} {disk}/scores.parquet || exit 99; "
        f"ls -A {disk} >&2; exit $rc"
    )
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=clean_env(),
        timeout=300,
    )  # fmt: skip
    err = " ".join(run.stderr.split())
    assert run.returncode == OutputError.exit_code, err
    assert "disk is full" in err and "bug" not in err
    assert err.endswith("scores.parquet")  # ls: the previous output only, no temp file


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a private tmpfs")
def test_score_with_the_store_on_a_real_full_disk(
    model: ServingModel, previous: Path, tmp_path: Path
) -> None:
    """The score store's COMMIT fails on a full disk: the message names the store and the
    disk (was "internal error: cannot rollback - no transaction is active", exit 70); the
    previous output and history stay whole."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    out, store = _copy_previous(previous, tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    size_kb = store.path.stat().st_size // 1024 + 64  # the store fits; its next run does not
    args = " ".join(_score_args(model, out, disk / "scores.duckdb"))
    script = (
        f"mount -t tmpfs -o size={size_kb}k tmpfs {disk} && cp {store.path} {disk}/ && "
        f"{sys.executable} {args}; rc=$?; cp {disk}/scores.duckdb {tmp_path}/after.duckdb; "
        "exit $rc"
    )
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=clean_env(),
        timeout=300,
    )  # fmt: skip
    err = " ".join(run.stderr.split())
    assert run.returncode == OutputError.exit_code, err
    assert f"{disk}/scores.duckdb: the disk is full" in err and "bug" not in err
    old_run = output_run_id(previous / "scores.parquet")
    assert output_run_id(out) == old_run  # the previous output, not replaced
    after = ScoreStore(tmp_path / "after.duckdb")
    assert list(after.runs()["run_id"]) == [old_run]
    assert _assert_together(out, after) == old_run


def test_pid_of_this_process_is_alive() -> None:
    from leadscore.atomic import process_alive

    assert process_alive(os.getpid())
    assert not process_alive(dead_pid())
