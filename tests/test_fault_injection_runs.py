"""Crash safety of training runs: a killed or failing training run ends FAILED in MLflow at the
next command that opens the registry; a run whose process is alive stays RUNNING."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.atomic import FAULT_ENV
from leadscore.errors import ArtifactError, OutputError
from tests.fault_helpers import KILLED, clean_env, finish, start

_LOG_RUN = """
import sys
from pathlib import Path
from leadscore.training.tracking import log_training_run
root = Path(sys.argv[1])
log_training_run(
    tracking_uri=sys.argv[2], model_name="crash", params={"p": 1}, metrics={"m": 0.5},
    tags={"t": "v"}, heads=root / "heads", report=root / "report.html", features=[], targets=[],
)
"""


def _run_statuses(uri: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_id: r.info.status for r in client.search_runs(experiments)}


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One MLflow sqlite store for the module (its schema migrations are slow)."""
    tmp_path = tmp_path_factory.mktemp("tracking")
    (tmp_path / "heads").mkdir()
    (tmp_path / "heads" / "head.txt").write_text("model")
    (tmp_path / "report.html").write_text("<html></html>")
    return tmp_path, f"sqlite:///{tmp_path}/mlruns/mlflow.db"


def test_killed_training_run_ends_failed_at_the_next_command(
    tracking: tuple[Path, str],
) -> None:
    from leadscore.training import list_models

    root, uri = tracking
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        before = set(_run_statuses(uri)) if (root / "mlruns").exists() else set()
        rc, err = finish(start(["-c", _LOG_RUN, str(root), uri], "train.run_created", root))
        assert rc == KILLED, err
        (killed,) = ((k, v) for k, v in _run_statuses(uri).items() if k not in before)
        assert killed[1] == "RUNNING"
        # a run whose process is alive stays RUNNING
        from mlflow import MlflowClient

        from leadscore.atomic import host_name
        from leadscore.run_status import HOST_TAG, PID_TAG

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.get_experiment_by_name("leadscore").experiment_id
        alive = client.create_run(
            experiment, tags={PID_TAG: str(live.pid), HOST_TAG: host_name()}
        ).info.run_id
        assert list_models("crash", tracking_uri=uri) == []  # the next command
        statuses = _run_statuses(uri)
        assert statuses[killed[0]] == "FAILED"
        assert statuses[alive] == "RUNNING"
    finally:
        live.kill()
        live.wait()


def test_failing_training_run_ends_failed(
    tracking: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadscore.training.tracking import log_training_run

    root, uri = tracking
    before = set(_run_statuses(uri)) if (root / "mlruns").exists() else set()
    monkeypatch.setenv(FAULT_ENV, "train.run_created:enospc")
    with pytest.raises(OutputError, match=r"disk is full.*no version was registered"):
        log_training_run(
            tracking_uri=uri, model_name="crash", params={}, metrics={}, tags={},
            heads=root / "heads", report=root / "report.html", features=[], targets=[],
        )  # fmt: skip
    assert [v for k, v in _run_statuses(uri).items() if k not in before] == ["FAILED"]


@pytest.mark.slow
def test_training_killed_before_finishing_ends_failed(tracking: tuple[Path, str]) -> None:
    from leadscore.training import list_models

    root, uri = tracking
    before = set(_run_statuses(uri)) if (root / "mlruns").exists() else set()
    rc, err = finish(start(["-c", _LOG_RUN, str(root), uri], "train.before_finished", root))
    assert rc == KILLED, err
    (run,) = (k for k in _run_statuses(uri) if k not in before)
    assert _run_statuses(uri)[run] == "RUNNING"
    list_models("crash", tracking_uri=uri)
    assert _run_statuses(uri)[run] == "FAILED"


def test_a_version_registered_by_a_killed_run_is_never_promoted_as_the_challenger(
    tracking: tuple[Path, str],
) -> None:
    """Killed between registering a version and naming it challenger: `promote` must not
    silently ship the older challenger in its place; it names both versions."""
    from leadscore.training.tracking import CHAMPION, log_training_run, promote_version

    root, uri = tracking
    args = {"params": {}, "metrics": {"m": 0.5}, "tags": {}, "features": [], "targets": []}
    _, older = log_training_run(
        tracking_uri=uri, model_name="half", heads=root / "heads", report=root / "report.html",
        **args,
    )  # fmt: skip
    script = _LOG_RUN.replace('model_name="crash"', 'model_name="half"')
    rc, err = finish(start(["-c", script, str(root), uri], "train.version_registered", root))
    assert rc == KILLED, err
    newer = str(int(older) + 1)
    with pytest.raises(
        ArtifactError, match=f"Version {newer} .* newer than the challenger \\({older}\\)"
    ):
        promote_version("half", tracking_uri=uri, metric="m", force=True)
    decision = promote_version("half", tracking_uri=uri, version=newer, metric="m", force=True)
    assert decision.promoted and decision.challenger_version == newer
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("half", CHAMPION).version) == newer


def test_sqlites_full_database_is_a_write_failure(tmp_path: Path) -> None:
    """MLflow's sqlite store says "database or disk is full" (SQLITE_FULL), no errno: it is a
    full disk (exit 1 with what to do), not "a bug in leadscore" (exit 70)."""
    import sqlite3

    from leadscore.atomic import write_failure

    con = sqlite3.connect(tmp_path / "small.db")
    con.execute("PRAGMA max_page_count = 2")  # a real SQLITE_FULL once the file needs page 3
    with pytest.raises(sqlite3.OperationalError) as full:
        con.execute("CREATE TABLE t (x TEXT)")
        con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 100)
    con.close()
    assert "database or disk is full" in str(full.value)
    assert write_failure(full.value) == write_failure(OSError(28, "No space left on device"))
    assert write_failure(ValueError("a bug")) is None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a private tmpfs")
def test_the_registry_on_a_real_full_disk(tracking: tuple[Path, str]) -> None:
    """Reading still works (a killed run waits to be marked FAILED); promoting names the
    registry and keeps the champion (was "internal error ... a bug", exit 70, for both)."""
    root, _ = tracking
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    disk = root / "disk"
    disk.mkdir()
    uri = f"sqlite:///{disk}/mlflow.db"
    ls = f"{sys.executable} -m leadscore"
    script = (
        f"mount -t tmpfs -o size=8m tmpfs {disk} && "
        f"{sys.executable} -c '{_LOG_RUN}' {root} {uri} && "
        f"({FAULT_ENV}=train.run_created {sys.executable} -c '{_LOG_RUN}' {root} {uri}; true) && "
        f"(dd if=/dev/zero of={disk}/filler bs=64k 2>/dev/null; true) && "
        f"{ls} models --model-name crash --tracking-uri {uri} >/dev/null && echo MODELS-OK >&2 && "
        f"{ls} promote --force --metric m --model-name crash --tracking-uri {uri}"
    )
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
        env=clean_env(), timeout=300,
    )  # fmt: skip
    err = " ".join(run.stderr.split())
    assert "MODELS-OK" in err, err
    assert "Traceback" not in err.split("MODELS-OK")[0].split("Killed")[-1]  # `models`, quiet
    assert run.returncode == OutputError.exit_code, err
    assert f"Cannot write the model registry {disk}/mlflow.db: the disk is full" in err
    assert "the champion is still none" in err and "bug" not in err
