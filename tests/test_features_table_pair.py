"""The training table and its metadata are one unit: after a crash at any point of
``leadscore features build`` the pair is the old one, the new one, or refused on read (and
``train`` refuses it with exit 5), never a silent mismatch."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leadscore.errors import ArtifactError
from leadscore.features import read_training_table
from leadscore.features.meta import FAULT_ENV, metadata_path
from tests.test_features_data import synthetic_crm_file


def _command(crm: Path, out: Path, horizon: int) -> list[str]:
    return [
        sys.executable, "-m", "leadscore", "features", "build", str(crm),
        "--out", str(out), "--horizon", str(horizon),
    ]  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    return {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", **extra}


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_crm_file(tmp_path_factory.mktemp("pair"), 300, 5)


@pytest.fixture(scope="module")
def old_table(crm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table built with a 30-day horizon; the runs under test rebuild it with 14 days."""
    out = tmp_path_factory.mktemp("old") / "t.parquet"
    built = subprocess.run(_command(crm, out, 30), capture_output=True, text=True, env=_env())
    assert built.returncode == 0, built.stderr
    return out


def _fresh_copy(old_table: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / old_table.name
    shutil.copy(old_table, out)
    shutil.copy(metadata_path(old_table), metadata_path(out))
    return out


def _state(out: Path) -> str:
    """``old``, ``new`` or ``refused``; fails the test on any other outcome."""
    try:
        frame, meta = read_training_table(out)
    except ArtifactError as exc:
        assert "does not match its metadata" in str(exc) or "missing" in str(exc)
        return "refused"
    assert len(frame) == meta.rows
    return {30: "old", 14: "new"}[meta.horizon_days]


@pytest.mark.parametrize(
    ("point", "expected"),
    [("table-written", "old"), ("table-replaced", "refused"), ("meta-replaced", "new")],
)
def test_kill_at_each_commit_point_leaves_old_new_or_refused(
    crm: Path, old_table: Path, tmp_path: Path, point: str, expected: str
) -> None:
    out = _fresh_copy(old_table, tmp_path)
    run = subprocess.run(
        _command(crm, out, 14), capture_output=True, text=True, env=_env(**{FAULT_ENV: point})
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert _state(out) == expected


def test_sigkill_at_random_moments_never_leaves_a_silent_mismatch(
    crm: Path, old_table: Path, tmp_path: Path
) -> None:
    seen = set()
    for i, delay in enumerate((0.5, 1.5, 2.5, 3.5, 6.0)):
        out = _fresh_copy(old_table, tmp_path / str(i))
        process = subprocess.Popen(
            _command(crm, out, 14), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env()
        )
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=120)
        seen.add(_state(out))
    assert seen <= {"old", "new", "refused"} and seen


def test_train_refuses_a_mismatched_pair(old_table: Path, crm: Path, tmp_path: Path) -> None:
    out = _fresh_copy(old_table, tmp_path / "a")
    other = tmp_path / "b" / "t.parquet"
    other.parent.mkdir()
    built = subprocess.run(_command(crm, other, 14), capture_output=True, text=True, env=_env())
    assert built.returncode == 0, built.stderr
    shutil.copy(other, out)  # new Parquet, old metadata: what a kill between the two left
    with pytest.raises(ArtifactError, match="does not match its metadata") as caught:
        read_training_table(out)
    assert "`leadscore feedback apply`" in str(caught.value)  # it writes such pairs too
    trained = subprocess.run(
        [sys.executable, "-m", "leadscore", "train", str(out),
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"],
        capture_output=True, text=True, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 5, trained.stderr
    assert "does not match its metadata" in trained.stderr
    assert "Traceback" not in trained.stderr
    assert not (tmp_path / "mlflow.db").exists() or "Registered" not in trained.stdout
