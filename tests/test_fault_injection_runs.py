"""Crash safety of training runs: a killed or failing training run ends FAILED in MLflow at the
next command that opens the registry; a run whose process is alive stays RUNNING."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.atomic import FAULT_ENV
from tests.fault_helpers import KILLED, finish, start

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
    with pytest.raises(OSError):
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
