"""Scoring is thread-safe: concurrent requests on one scorer give bit-identical results to
sequential scoring (single leads and batches above the small-batch path), in the library and
over a real HTTP server on 127.0.0.1.

LightGBM writes a requested iteration range into the shared model before predicting, so one
booster shared by threads asking different ranges returns wrong values; these tests failed on
29 of 60 runs before the scorer used immutable per-range boosters.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.serving import load_scorer
from leadscore.serving.features import iter_features
from leadscore.serving.scorer import SMALL_BATCH, Scorer
from tests.test_serving_support import API_KEY, ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def scorer(model: ServingModel) -> Scorer:
    return load_scorer("champion", tracking_uri=model.tracking_uri).scorer


@pytest.fixture(scope="module")
def features(model: ServingModel, scorer: Scorer) -> pd.DataFrame:
    crm = open_crm(model.crm_path)
    try:
        definition = scorer.require_definition()
        frame = pd.concat(list(iter_features(crm, definition, as_of=model.as_of)))
    finally:
        crm.close()
    return frame.reset_index(drop=True)


def _requests(n_rows: int, seed: int) -> list[slice]:
    """Single leads, small batches and batches well over the small-batch path."""
    rng = random.Random(seed)
    sizes = [1, 1, 2, SMALL_BATCH, SMALL_BATCH + 1, 40, 250, 1200]
    out = []
    for size in sizes * 3:
        start = rng.randrange(0, max(1, n_rows - size))
        out.append(slice(start, start + size))
    return out


def _result(scorer: Scorer, frame: pd.DataFrame) -> tuple[Any, ...]:
    explained = scorer.explain(frame)
    scores = explained.scores
    return (
        explained.contributions,
        scores["p_sql"].to_numpy(),
        scores["p_meeting"].to_numpy(),
        scores["grade"].tolist(),
        scores["reasons_positive"].tolist(),
        scores["reasons_negative"].tolist(),
    )


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    arrays_equal = all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
    return arrays_equal and a[3:] == b[3:]


def test_concurrent_explain_equals_sequential(scorer: Scorer, features: pd.DataFrame) -> None:
    requests = _requests(len(features), seed=3)
    expected = [_result(scorer, features.iloc[r]) for r in requests]
    work = [i for i in range(len(requests)) for _ in range(4)]
    random.Random(5).shuffle(work)

    def run(i: int) -> bool:
        return _same(_result(scorer, features.iloc[requests[i]]), expected[i])

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(run, work))
    assert outcomes.count(False) == 0, f"{outcomes.count(False)} of {len(work)} results differ"


def test_concurrent_probabilities_equal_sequential(scorer: Scorer, features: pd.DataFrame) -> None:
    """Probability-only calls interleaved with explanations (different code paths)."""
    requests = _requests(len(features), seed=11)
    expected = [scorer.probabilities(features.iloc[r]).to_numpy() for r in requests]
    expected_explain = [_result(scorer, features.iloc[r]) for r in requests]
    work = [(i, kind) for i in range(len(requests)) for kind in ("p", "e", "p")]
    random.Random(7).shuffle(work)

    def run(item: tuple[int, str]) -> bool:
        i, kind = item
        frame = features.iloc[requests[i]]
        if kind == "p":
            return np.array_equal(scorer.probabilities(frame).to_numpy(), expected[i])
        return _same(_result(scorer, frame), expected_explain[i])

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(run, work))
    assert all(outcomes), f"{outcomes.count(False)} of {len(work)} results differ"


@pytest.fixture(scope="module")
def server(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from leadscore.serving.api import create_app
    from tests.test_serving_api import running

    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=tmp_path_factory.mktemp("concurrency-store") / "scores.duckdb",
        api_key=API_KEY,
        max_body_bytes=5_000_000,
        crm=model.crm_path,
    )
    with running(app) as url:
        yield url


def _posted_bodies(model: ServingModel) -> list[dict[str, Any]]:
    """Request bodies of real CRM contacts: single leads and batches over the small batch."""
    from tests.test_serving_api import lead

    bodies = []
    for size in (1, 1, 3, SMALL_BATCH + 4, 60):
        leads = [lead(model, f"W{size}-{i}", job_title=f"Head of Ops {i % 7}") for i in range(size)]
        for i, item in enumerate(leads):
            item["events"] = item["events"][: 1 + i % max(1, len(item["events"]))]
        bodies.append({"leads": leads, "as_of": model.as_of.isoformat()})
    return bodies


@pytest.mark.parametrize("clients,rounds", [(16, 6), pytest.param(16, 200, marks=pytest.mark.slow)])
def test_concurrent_http_clients_get_sequential_results(
    model: ServingModel, server: str, clients: int, rounds: int
) -> None:
    import httpx

    bodies = _posted_bodies(model)
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=server, headers=headers, timeout=60) as client:
        expected = []
        for body in bodies:
            response = client.post("/score", json=body)
            assert response.status_code == 200, response.text
            expected.append(response.json()["scores"])

    def run(worker: int) -> int:
        differences = 0
        rng = random.Random(worker)
        with httpx.Client(base_url=server, headers=headers, timeout=120) as client:
            for _ in range(rounds):
                i = rng.randrange(len(bodies))
                response = client.post("/score", json=bodies[i])
                if response.status_code != 200 or response.json()["scores"] != expected[i]:
                    differences += 1
        return differences

    with ThreadPoolExecutor(clients) as pool:
        differences = sum(pool.map(run, range(clients)))
    assert differences == 0, f"{differences} of {clients * rounds} responses differ"


def test_every_lightgbm_prediction_asks_for_the_same_thread_count(
    scorer: Scorer, features: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LightGBM keeps the latest call's ``num_threads`` process-wide and sizes per-thread
    buffers from it: two overlapping predictions asking for different counts overrun each
    other (a segfault in CI). Every real prediction a scorer makes, single leads to large
    batches, probabilities and explanations, asks for ``PREDICT_THREADS``."""
    import lightgbm as lgb

    from leadscore.model.lgb_threads import PREDICT_THREADS, predict

    asked: list[object] = []
    real_predict = lgb.Booster.predict

    def recording(self: lgb.Booster, data: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("num_threads"))
        return real_predict(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", recording)
    for size in (1, SMALL_BATCH, SMALL_BATCH + 1, 1200, len(features)):
        frame = features.iloc[:size]
        scorer.explain(frame)
        scorer.probabilities(frame)
    assert asked, "no LightGBM prediction was made"
    assert set(asked) == {PREDICT_THREADS}, f"thread counts asked: {sorted(map(str, set(asked)))}"
    with pytest.raises(ValueError, match="PREDICT_THREADS"):
        predict(object(), features, num_threads=2)
