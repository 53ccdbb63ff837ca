"""Requests on the Python feature path are scored at most ``python_threads`` at once (more
threads only fight over the GIL), over real HTTP on 127.0.0.1: every answer equals the one the
request gets alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from leadscore.errors import ConfigError
from tests.test_serving_support import API_KEY, ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def test_python_path_requests_are_scored_two_at_a_time(model: ServingModel, tmp_path: Any) -> None:
    import httpx

    from leadscore.serving.api import create_app
    from tests.test_serving_api import lead, running

    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=tmp_path / "scores.duckdb",
        api_key=API_KEY,
        crm=model.crm_path,
        python_threads=2,
    )
    bodies = [
        {"leads": [lead(model, f"PT-{i}")], "as_of": model.as_of.isoformat()} for i in range(24)
    ]
    headers = {"X-API-Key": API_KEY}
    with running(app) as url, httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        alone = [client.post("/score", json=body).json() for body in bodies]
        assert app.state.python_in_flight.peak == 1

        def post(body: dict[str, Any]) -> Any:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as own:
                return own.post("/score", json=body).json()

        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(post, bodies))
    assert together == alone and all(answer["scores"] for answer in alone)
    assert 1 <= app.state.python_in_flight.peak <= 2  # 12 at once, scored two by two at most
    assert app.state.feature_paths.python == 2 * len(bodies)


def test_python_threads_must_be_positive(model: ServingModel, tmp_path: Any) -> None:
    from leadscore.serving.api import create_app

    with pytest.raises(ConfigError, match="python_threads"):
        create_app(
            "champion",
            tracking_uri=model.tracking_uri,
            store=tmp_path / "scores.duckdb",
            api_key=API_KEY,
            python_threads=0,
        )
