"""A served alias follows the registry, on a real uvicorn server: after a promotion the API
answers with the new version (scores equal to batch scoring with it), every request during the
switch is scored whole by one version, and a version that does not load leaves the old one
serving with ``GET /health`` saying so."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.serving import ScoreStore, load_scorer
from leadscore.serving.features import iter_features
from leadscore.serving.resolution_cache import sqlite_file
from tests.posted_leads import lead_from_crm
from tests.test_serving_support import API_KEY, ServingModel, serving_model

FOLLOW = 0.2
"""Seconds between the test servers' checks."""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@dataclass(frozen=True)
class Registry:
    uri: str
    crm: Path
    as_of: Any

    def promote(self, version: str) -> None:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        client.set_registered_model_alias("leadscore", "champion", version)

    def delete_alias(self) -> None:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        client.delete_registered_model_alias("leadscore", "champion")


def _version_folder(
    model: ServingModel, root: Path, name: str, change: Callable[[Path], None]
) -> Path:
    folder = root / name
    shutil.copytree(model.folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    change(folder / "artifacts" / "heads")
    return folder


def _recalibrated(heads: Path) -> None:
    """Another honest version: the same trees, another Platt calibration of the SQL head."""
    path = heads / "sql.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["calibration"]["a"] *= 0.8
    record["calibration"]["b"] += 0.7
    path.write_text(json.dumps(record), encoding="utf-8")


def _corrupt(heads: Path) -> None:
    """A broken artifact: the SQL head's trees no longer match their checksum."""
    path = heads / "sql.lgb.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")


@pytest.fixture
def registry(model: ServingModel, tmp_path: Path) -> Registry:
    """A copy of the serving registry: version 1 champion, 2 recalibrated, 3 broken."""
    from mlflow import MlflowClient

    source_db = sqlite_file(model.tracking_uri)
    assert source_db is not None
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(source_db, db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_model_version("leadscore", "1").run_id
    for name, change in (("v2", _recalibrated), ("v3", _corrupt)):
        folder = _version_folder(model, tmp_path, name, change)
        client.create_model_version("leadscore", source=str(folder), run_id=run)
    return Registry(uri, model.crm_path, model.as_of)


@pytest.fixture(scope="module")
def contacts(model: ServingModel) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Twelve eligible contacts and their posted-lead JSON (CRM rows before the as-of)."""
    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    crm = open_crm(model.crm_path)
    try:
        definition = loaded.scorer.require_definition()
        frame = next(iter(iter_features(crm, definition, as_of=model.as_of)))
    finally:
        crm.close()
    ids = sorted(frame["contact_id"].astype(str))[:12]
    with duckdb.connect(str(model.crm_path), read_only=True) as con:
        leads = {c: lead_from_crm(con, c, before=model.as_of) for c in ids}
    return ids, leads


def batch_scores(registry: Registry, version: str, ids: list[str]) -> pd.DataFrame:
    """Batch scoring of ``ids`` with registered ``version`` (features from the CRM)."""
    loaded = load_scorer(version, tracking_uri=registry.uri)
    crm = open_crm(registry.crm)
    try:
        definition = loaded.scorer.require_definition()
        frames = iter_features(crm, definition, as_of=registry.as_of, contact_ids=ids)
        features = pd.concat(list(frames), ignore_index=True)
    finally:
        crm.close()
    scores = loaded.scorer.score(features)
    scores.index = features["contact_id"].astype(str)
    return scores


@pytest.fixture
def server(registry: Registry, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The API serving the registry copy's champion (checks every :data:`FOLLOW` s); yields its
    URL and app. Bodies of up to 2 leads take the Python path, larger ones the SQL path."""
    from leadscore.serving.api import create_app
    from tests.test_serving_api import running

    app = create_app(
        "champion",
        tracking_uri=registry.uri,
        store=ScoreStore(tmp_path / "scores.duckdb"),
        api_key=API_KEY,
        crm=registry.crm,
        python_leads=2,
        follow_seconds=FOLLOW,
    )
    with running(app) as url:
        yield url, app


def post(url: str, leads: list[dict[str, Any]], as_of: Any, record: bool = False) -> Any:
    response = httpx.post(
        f"{url}/score",
        params={"record": "true"} if record else None,
        json={"leads": leads, "as_of": as_of.isoformat()},
        headers={"X-API-Key": API_KEY},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_scored_by(answer: dict[str, Any], expected: dict[str, pd.DataFrame]) -> None:
    """Every lead of ``answer`` has the scores of the version the answer names."""
    reference = expected[answer["model_version"]]
    assert answer["scores"] and not answer["not_scored"]
    for score in answer["scores"]:
        row = reference.loc[score["contact_id"]]
        np.testing.assert_allclose(score["p_sql"], row["p_sql"], rtol=1e-9)
        np.testing.assert_allclose(score["p_meeting"], row["p_meeting"], rtol=1e-9)
        assert score["grade"] == row["grade"]


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the bounded wait"
        time.sleep(0.05)


def test_a_promotion_is_served_without_a_restart(
    registry: Registry,
    server: tuple[str, Any],
    contacts: tuple[list[str], dict[str, dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, app = server
    ids, leads = contacts
    expected = {f"leadscore/{v}": batch_scores(registry, v, ids) for v in ("1", "2")}
    assert not np.allclose(expected["leadscore/1"]["p_sql"], expected["leadscore/2"]["p_sql"])
    before = post(url, [leads[ids[0]]], registry.as_of)
    assert before["model_version"] == "leadscore/1"
    assert_scored_by(before, expected)
    health = httpx.get(f"{url}/health").json()
    assert health["following"] == "leadscore@champion" and health["status"] == "ok"

    with caplog.at_level(logging.INFO, logger="leadscore.serving.api"):
        registry.promote("2")
        wait_for(
            lambda: post(url, [leads[ids[1]]], registry.as_of)["model_version"] != "leadscore/1"
        )
        wait_for(lambda: "leadscore/1 -> leadscore/2" in caplog.text)  # logged at the switch
    single = post(url, [leads[ids[2]]], registry.as_of)  # the Python path
    several = post(url, [leads[c] for c in ids[3:8]], registry.as_of)  # the SQL path
    recorded = post(url, [leads[ids[8]]], registry.as_of, record=True)
    for answer in (single, several, recorded):
        assert answer["model_version"] == "leadscore/2"
        assert_scored_by(answer, expected)
    stored = httpx.get(
        f"{url}/contacts/{ids[8]}/score", headers={"X-API-Key": API_KEY}, timeout=30
    ).json()
    assert stored["model_version"] == "leadscore/2"
    health = httpx.get(f"{url}/health").json()
    assert (health["model_version"], health["status"]) == ("leadscore/2", "ok")
    assert app.state.served.switches == 1


def test_requests_during_a_switch_are_each_scored_by_one_version(
    registry: Registry,
    server: tuple[str, Any],
    contacts: tuple[list[str], dict[str, dict[str, Any]]],
) -> None:
    url, app = server
    ids, leads = contacts
    expected = {f"leadscore/{v}": batch_scores(registry, v, ids) for v in ("1", "2")}
    answers: list[dict[str, Any]] = []
    spans: list[tuple[float, float, str]] = []  # each request's start, end and version
    errors: list[BaseException] = []
    stop = threading.Event()

    def client(k: int) -> None:
        i = 0
        while not stop.is_set():
            size = 1 if k % 2 else 4  # single leads (merged on the Python path) and SQL batches
            chosen = [leads[ids[(k * 3 + i + j) % len(ids)]] for j in range(size)]
            try:
                started = time.monotonic()
                answer = post(url, chosen, registry.as_of, record=(i % 5 == 0))
                spans.append((started, time.monotonic(), answer["model_version"]))
                answers.append(answer)
            except BaseException as exc:
                errors.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    registry.promote("2")
    try:
        wait_for(lambda: bool(answers) and answers[-1]["model_version"] == "leadscore/2")
        seen = len(answers)
        wait_for(lambda: len(answers) > seen + 12)  # more answers after the switch
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors
    versions = [a["model_version"] for a in answers]
    assert {"leadscore/1", "leadscore/2"} <= set(versions)
    for answer in answers:
        assert_scored_by(answer, expected)  # each answer whole by the version it names
    # never back: a request started after any answer by version 2 is scored by version 2
    first_new = min(end for _, end, version in spans if version == "leadscore/2")
    assert all(version == "leadscore/2" for start, _, version in spans if start > first_new)
    served = app.state.served
    assert served.switches == 1 and not served._retired  # the old version closed, none leaked


def test_a_broken_version_leaves_the_old_one_serving(
    registry: Registry,
    server: tuple[str, Any],
    contacts: tuple[list[str], dict[str, dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, _ = server
    ids, leads = contacts
    expected = {"leadscore/1": batch_scores(registry, "1", ids)}
    with caplog.at_level(logging.WARNING, logger="leadscore.serving.api"):
        registry.promote("3")
        wait_for(lambda: httpx.get(f"{url}/health").json()["status"] != "ok")
        wait_for(lambda: "leadscore/3" in caplog.text)
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "degraded" and health["model_version"] == "leadscore/1"
    assert (
        "leadscore/3" in health["model_problem"]
        and "still serving leadscore/1" in (health["model_problem"])
    )
    answer = post(url, [leads[c] for c in ids[:3]], registry.as_of)
    assert answer["model_version"] == "leadscore/1"
    assert_scored_by(answer, expected)
    registry.promote("2")  # a version that loads: served, the problem gone
    wait_for(lambda: httpx.get(f"{url}/health").json()["model_version"] == "leadscore/2")
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["model_problem"] is None
    registry.delete_alias()  # no champion any more: the last one keeps serving, said
    wait_for(lambda: httpx.get(f"{url}/health").json()["status"] != "ok")
    health = httpx.get(f"{url}/health").json()
    assert (
        health["model_version"] == "leadscore/2" and "no longer exists" in health["model_problem"]
    )
    assert post(url, [leads[ids[0]]], registry.as_of)["model_version"] == "leadscore/2"


@pytest.mark.parametrize(
    ("model", "followed"),
    [
        ("champion", ("leadscore", "champion")),
        ("models:/other@challenger", ("other", "challenger")),
        ("3", None),
        ("models:/leadscore/3", None),
    ],
)
def test_only_aliases_are_followed(model: str, followed: tuple[str, str] | None) -> None:
    from leadscore.serving.loading import followed_alias

    found = followed_alias(model, "sqlite:///registry.db")
    assert (found[:2] if found else None) == followed


def test_a_folder_is_never_followed(model: ServingModel) -> None:
    from leadscore.serving.loading import followed_alias

    assert followed_alias(model.folder, model.tracking_uri) is None


def _followed_app(registry: Registry, tmp_path: Path) -> Any:
    """The API app of the registry copy's champion, following it every :data:`FOLLOW` s."""
    from leadscore.serving.api import create_app

    return create_app(
        "champion",
        tracking_uri=registry.uri,
        store=ScoreStore(tmp_path / "scores.duckdb"),
        api_key=API_KEY,
        follow_seconds=FOLLOW,
    )


def _frozen_server_with_a_cycle(registry: Registry, tmp_path: Path) -> tuple[Any, Any]:
    """A followed app's ``served`` whose version is in a reference cycle (only the collector
    frees it), with a weak reference to that version, after ``gc.freeze()`` as serve() does."""
    import gc
    import weakref

    app = _followed_app(registry, tmp_path)
    served = app.state.served
    first = served.current
    first.cycle = first
    replaced = weakref.ref(first)
    del first
    gc.collect()
    gc.freeze()
    return served, replaced


def test_a_replaced_version_is_collected_though_the_server_froze_its_objects(
    registry: Registry, tmp_path: Path
) -> None:
    """``leadscore serve`` freezes its start-up objects (``gc.freeze``: out of the collector's
    sight, so requests' collections stay short). A version a promotion replaces must still be
    collected once closed, reference cycles included (a frozen cycle was kept for good), and
    the new version is frozen in its place."""
    import gc

    served, replaced = _frozen_server_with_a_cycle(registry, tmp_path)
    try:
        frozen = gc.get_freeze_count()
        served.start()
        registry.promote("2")
        wait_for(lambda: served.current.model_version == "leadscore/2")
        wait_for(lambda: replaced() is None, seconds=10)
        wait_for(lambda: gc.get_freeze_count() > 0.5 * frozen)  # frozen again, the new one too
    finally:
        served.stop()
        gc.unfreeze()


def test_the_refreeze_after_a_switch_waits_for_the_requests_in_flight(
    registry: Registry, tmp_path: Path
) -> None:
    """``gc.freeze()`` takes every object alive: one of a request in flight at the switch would
    never be collected. The follower refreezes at a moment without requests (the replaced
    version is collected meanwhile), so a reference cycle of a request answered across the
    switch is collected once the request is done, and the objects are frozen again after."""
    import gc
    import weakref

    from leadscore.serving.follow import IDLE_WAIT_SECONDS
    from tests.test_serving_api import running

    app = _followed_app(registry, tmp_path)
    cycles: list[weakref.ref[Any]] = []
    started, release = threading.Event(), threading.Event()

    class Cycle:
        me: Any = None

    @app.get("/held")
    def held() -> dict[str, str]:  # a request that lasts across the switch
        cycle = Cycle()
        cycle.me = cycle  # only the collector frees it
        cycles.append(weakref.ref(cycle))
        started.set()
        release.wait(60)
        return {"status": "done"}

    served = app.state.served
    gc.collect()
    gc.freeze()  # as serve() does after create_app
    frozen = gc.get_freeze_count()
    try:
        with running(app) as url:
            holder = threading.Thread(target=lambda: httpx.get(f"{url}/held", timeout=60))
            holder.start()
            assert started.wait(20)
            registry.promote("2")
            wait_for(lambda: served.current.model_version == "leadscore/2")
            time.sleep(4 * FOLLOW + IDLE_WAIT_SECONDS)  # the follower's refreeze step ran
            release.set()
            holder.join(30)
            wait_for(lambda: gc.collect() >= 0 and cycles[0]() is None, seconds=10)
            # frozen again once no request was in flight, that once
            wait_for(lambda: served.refreezes == 1 and gc.get_freeze_count() > 0.5 * frozen)
    finally:
        release.set()
        gc.unfreeze()


def test_while_requests_never_pause_the_replaced_version_is_collected_unfrozen(
    registry: Registry, tmp_path: Path
) -> None:
    """A request in flight at every check (one that never ends, as under constant load): the
    replaced version is still collected, cycles included, without a freeze that would take the
    request's objects; the freeze comes at the first moment without requests."""
    import gc

    served, replaced = _frozen_server_with_a_cycle(registry, tmp_path)
    frozen = gc.get_freeze_count()
    served.in_flight.enter()  # a request that does not end
    left = False
    try:
        served.start()
        registry.promote("2")
        wait_for(lambda: served.current.model_version == "leadscore/2")
        wait_for(lambda: replaced() is None, seconds=10)  # collected while busy
        assert served.refreezes == 0 and gc.get_freeze_count() == 0  # nothing frozen meanwhile
        served.in_flight.leave()
        left = True
        wait_for(lambda: served.refreezes == 1 and gc.get_freeze_count() > 0.5 * frozen)
    finally:
        if not left:
            served.in_flight.leave()
        served.stop()
        gc.unfreeze()
