"""Slow: the registered model loads and serves in a fresh virtual environment that holds only
its declared requirements (``requirements.txt``; leadscore itself is not installed there: its
code travels in the model's ``code/`` folder)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_pyfunc_travel import PREDICT_SCRIPT, _example_scores
from tests.test_serving_support import serving_model

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: bytes) -> dict[str, object]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, object] = json.loads(response.read())
    return result


def test_a_fresh_environment_with_the_declared_requirements_loads_and_serves_the_model(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    model = serving_model(tmp_path_factory)
    folder = tmp_path / "model"
    shutil.copytree(model.folder, folder)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT"):
        if key in os.environ:
            env[key] = os.environ[key]
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(folder / "requirements.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    expected = _example_scores(model.folder)

    loaded = subprocess.run(
        [str(python), "-c", PREDICT_SCRIPT, str(folder)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result["leadscore"].startswith(str(folder / "code" / "leadscore"))
    got = pd.DataFrame(result["rows"])
    assert list(got["contact_id"]) == list(expected["contact_id"])
    np.testing.assert_allclose(got["p_sql"], expected["p_sql"], rtol=1e-12)

    port = _free_port()
    serve = ["models", "serve", "-m", str(folder), "--env-manager", "local"]
    server = subprocess.Popen(
        [str(venv / "bin" / "mlflow"), *serve, "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, "mlflow models serve exited"
                assert time.monotonic() < deadline, "mlflow models serve did not start"
                time.sleep(1)
        body = (folder / "serving_input_example.json").read_bytes()
        served = _post(f"http://127.0.0.1:{port}/invocations", body)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    rows = pd.DataFrame(served["predictions"])
    assert list(rows["contact_id"]) == list(expected["contact_id"])
    np.testing.assert_allclose(rows["p_sql"], expected["p_sql"], rtol=1e-12)
    assert all(isinstance(r, list) for r in rows["reasons_positive"])
