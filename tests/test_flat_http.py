"""A flat model over HTTP on a real uvicorn server (127.0.0.1): export rows in, the shipped
head's scores, grades and reasons out, equal to scoring the file; key, bounds and rows that
are not the model's export refused clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from leadscore.model.pyfunc import save_pyfunc
from leadscore.pipeline import FlatScoreSpec, FlatTrainSpec, score_flat_step, train_flat_step
from leadscore.serving.flat_api import MAX_ROWS
from tests.test_flat_choice import _linear_export
from tests.test_serving_api import running

KEY = "flat-key-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, pd.DataFrame]]:
    from leadscore.serving.api import create_app

    root = tmp_path_factory.mktemp("flat-http")
    path = _linear_export(root / "linear.csv")
    result = train_flat_step(
        FlatTrainSpec(
            table=path,
            target="converted",
            time_column="created",
            report=root / "r.html",
            track=False,
        )
    )
    assert result.model_dir is not None and result.chosen == "logistic"
    (root / "pyfunc").mkdir()
    model = save_pyfunc(result.model_dir, root / "pyfunc")
    out = root / "scores.csv"
    score_flat_step(FlatScoreSpec(table=path, model=str(model), out=out))
    app = create_app(str(model), api_key=KEY, store=root / "scores.duckdb")
    with running(app) as url:
        yield url, path, pd.read_csv(out)


def test_rows_posted_are_scored_as_the_file_is(served: tuple[str, Path, pd.DataFrame]) -> None:
    url, path, file_scores = served
    raw = pd.read_csv(path, keep_default_na=False, dtype=str).head(40)
    rows = raw.to_dict("records")
    rows[0] = {**rows[0], "x3": 0.25, "segment": "Select"}  # numbers as numbers, a placeholder
    response = httpx.post(f"{url}/score", json={"rows": rows}, headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["target"] == "converted" and body["head"] == "logistic"
    scores = body["scores"]
    assert [s["row_id"] for s in scores] == raw["lead_id"].tolist()
    p = np.array([s["probability"] for s in scores])
    assert np.allclose(p[1:], file_scores["p_converted"].iloc[1:40])
    assert [s["grade"] for s in scores[1:]] == file_scores["grade"].iloc[1:40].tolist()
    best = scores[int(np.argmax(p))]
    assert best["reasons_positive"] and best["reasons_positive"][0].startswith(("X0", "X1", "X2"))
    # a placeholder is a missing value, as in the file
    same = httpx.post(
        f"{url}/score", json={"rows": [{**rows[0], "segment": None}]}, headers={"X-API-Key": KEY}
    )
    assert same.json()["scores"][0]["probability"] == pytest.approx(p[0])
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["target"] == "converted"


def test_key_bounds_and_foreign_rows_are_refused(served: tuple[str, Path, pd.DataFrame]) -> None:
    url, _, _ = served
    row = {"x0": 1, "x1": 0, "x2": 0, "x3": 0, "x4": 0, "x5": 0, "segment": "smb"}
    assert httpx.post(f"{url}/score", json={"rows": [row]}).status_code == 401
    too_many = httpx.post(
        f"{url}/score", json={"rows": [row] * (MAX_ROWS + 1)}, headers={"X-API-Key": KEY}
    )
    assert too_many.status_code == 422 and "request_id" in too_many.json()
    # the CRM API's 422 body (one error shape for both APIs), never echoing the values
    assert too_many.json()["detail"].startswith("Invalid request: rows:")
    assert [e["field"] for e in too_many.json()["errors"]] == ["rows"]
    assert "smb" not in too_many.text
    missing = httpx.post(f"{url}/score", json={"rows": [{"x0": 1}]}, headers={"X-API-Key": KEY})
    assert missing.status_code == 422 and "column(s) are missing" in missing.json()["detail"]
    text = httpx.post(
        f"{url}/score",
        json={"rows": [{**row, "x0": "many"}, {**row, "x0": "lots"}]},
        headers={"X-API-Key": KEY},
    )
    assert text.status_code == 422 and "'x0'" in text.json()["detail"]
    ok = httpx.post(f"{url}/score", json={"rows": [row]}, headers={"X-API-Key": KEY})
    assert ok.status_code == 200 and ok.json()["scores"][0]["row_id"] is None


def test_a_flat_champion_is_followed(tmp_path: Path) -> None:
    """A flat server of the champion alias answers with the new version after a promotion."""
    import time

    from mlflow import MlflowClient

    from leadscore.serving.api import create_app

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    path = _linear_export(tmp_path / "linear.csv")
    spec = FlatTrainSpec(
        table=path,
        target="converted",
        time_column="created",
        report=tmp_path / "r.html",
        tracking_uri=uri,
    )
    train_flat_step(spec)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    first = client.get_model_version("leadscore", "1")
    client.set_registered_model_alias("leadscore", "champion", "1")
    second = client.create_model_version("leadscore", source=first.source, run_id=first.run_id)
    app = create_app(
        "champion", tracking_uri=uri, api_key=KEY, store=tmp_path / "s.duckdb", follow_seconds=0.2
    )
    row = pd.read_csv(path, keep_default_na=False, dtype=str).head(1).to_dict("records")
    with running(app) as url:
        before = httpx.post(f"{url}/score", json={"rows": row}, headers={"X-API-Key": KEY}).json()
        assert httpx.get(f"{url}/health").json()["following"] == "leadscore@champion"
        client.set_registered_model_alias("leadscore", "champion", second.version)
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/health").json()["model_version"] != f"leadscore/{second.version}":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        after = httpx.post(f"{url}/score", json={"rows": row}, headers={"X-API-Key": KEY}).json()
    assert (before["model_version"], after["model_version"]) == ("leadscore/1", "leadscore/2")
    assert after["scores"] == before["scores"]  # the same artifact registered again
