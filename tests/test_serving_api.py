"""The HTTP API on a real uvicorn server (127.0.0.1, free port): auth, validation, body limit,
scores with reasons, stored scores and feedback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadscore.serving import ScoreStore, score_contact_base
from tests.test_serving_support import API_KEY, ServingModel, serving_model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def store(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> ScoreStore:
    folder = tmp_path_factory.mktemp("api-store")
    scores = ScoreStore(folder / "scores.duckdb")
    score_contact_base(
        model.crm_path,
        "champion",
        folder / "scores.parquet",
        tracking_uri=model.tracking_uri,
        store=scores,
        as_of=model.as_of,
    )
    return scores


@pytest.fixture(scope="module")
def server(model: ServingModel, store: ScoreStore) -> Iterator[str]:
    import uvicorn

    from leadscore.serving.api import create_app

    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=store,
        api_key=API_KEY,
        max_body_bytes=200_000,
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def lead(model: ServingModel, contact_id: str = "W1", **contact: Any) -> dict[str, Any]:
    now = model.as_of
    stamp = lambda days: (now - timedelta(days=days)).isoformat()  # noqa: E731
    return {
        "contact": {
            "contact_id": contact_id,
            "created_at": stamp(200),
            "job_title": "VP Marketing",
            "email_domain": "acme-software.com",
            "lead_source": "webinar",
            **contact,
        },
        "account": {
            "account_id": f"A-{contact_id}",
            "industry": "Software",
            "employee_count": 300,
            "country": "FR",
            "created_at": stamp(400),
        },
        "events": [{"occurred_at": stamp(d), "event_type": "pricing_page_visit"} for d in (1, 3, 6)]
        + [{"occurred_at": stamp(d), "event_type": "web_visit"} for d in (1, 2, 2, 5, 9, 20)],
        "stage_changes": [{"changed_at": stamp(200), "stage": "lead"}],
    }


def test_health_and_docs_need_no_key(server: str) -> None:
    health = httpx.get(f"{server}/health")
    assert health.status_code == 200 and health.json()["model_version"] == "leadscore/1"
    assert httpx.get(f"{server}/openapi.json").json()["paths"]["/score"]["post"]


def test_scoring_needs_the_api_key(server: str, model: ServingModel) -> None:
    body = {"leads": [lead(model)], "as_of": model.as_of.isoformat()}
    assert httpx.post(f"{server}/score", json=body).status_code == 401
    wrong = httpx.post(f"{server}/score", json=body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["detail"]
    assert httpx.get(f"{server}/contacts/C0000001/score").status_code == 401


def test_score_returns_probabilities_grade_and_reasons(server: str, model: ServingModel) -> None:
    cold = lead(model, "W2", job_title="Intern")
    cold["events"] = []
    body = {"leads": [lead(model), cold], "as_of": model.as_of.isoformat()}
    response = httpx.post(f"{server}/score", json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["model_version"] == "leadscore/1" and payload["not_scored"] == []
    hot, quiet = payload["scores"]
    assert hot["contact_id"] == "W1" and hot["grade"] in "ABCD"
    assert 0 < hot["p_sql"] < 1 and 0 < hot["p_meeting"] < 1
    assert hot["p_sql"] > quiet["p_sql"]
    texts = [r["text"] for r in hot["reasons_positive"]]
    assert texts and all(r["effect"] > 0 for r in hot["reasons_positive"])
    assert any("pricing-page" in t or "website" in t or "interactions" in t for t in texts)
    assert all(r["effect"] < 0 for r in quiet["reasons_negative"])


def test_bad_input_gets_a_clear_422(server: str, model: ServingModel) -> None:
    headers = {"X-API-Key": API_KEY}
    bad = lead(model)
    bad["events"][0]["event_type"] = "teleportation"
    response = httpx.post(f"{server}/score", json={"leads": [bad]}, headers=headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "leads.0.events.0.event_type" in detail and "pricing_page_visit" in detail
    assert "teleportation" not in response.text  # posted values are never echoed
    empty = httpx.post(f"{server}/score", json={"leads": []}, headers=headers)
    assert empty.status_code == 422 and "leads" in empty.json()["detail"]
    future = lead(model)
    future["events"][0]["occurred_at"] = (model.as_of + timedelta(days=30)).isoformat()
    body = {"leads": [future], "as_of": model.as_of.isoformat()}
    response = httpx.post(f"{server}/score", json=body, headers=headers)
    assert response.status_code == 422 and "future" in response.json()["detail"]


def test_oversized_body_gets_413(server: str, model: ServingModel) -> None:
    body = {"leads": [lead(model, f"W{i}") for i in range(400)]}
    response = httpx.post(f"{server}/score", json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_stored_score_and_feedback(server: str, store: ScoreStore) -> None:
    headers = {"X-API-Key": API_KEY}
    history = store.feedback()
    assert history.empty
    with store._connect(read_only=True) as con:
        row = con.execute("SELECT contact_id, grade FROM score_history LIMIT 1").fetchone()
    assert row is not None
    response = httpx.get(f"{server}/contacts/{row[0]}/score", headers=headers)
    assert response.status_code == 200
    assert response.json()["grade"] == row[1] and len(response.json()["history"]) == 1
    assert httpx.get(f"{server}/contacts/nobody/score", headers=headers).status_code == 404
    verdict = {"contact_id": row[0], "verdict": "rejected", "reason": "no budget this year"}
    assert httpx.post(f"{server}/feedback", json=verdict, headers=headers).status_code == 201
    stored = store.feedback()
    assert stored[["contact_id", "verdict", "model_version"]].values.tolist() == [
        [row[0], "rejected", "leadscore/1"]
    ]
    bad = httpx.post(f"{server}/feedback", json={**verdict, "verdict": "maybe"}, headers=headers)
    assert bad.status_code == 422


def test_the_app_refuses_to_start_without_a_key(
    model: ServingModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from leadscore.errors import ConfigError
    from leadscore.serving.api import create_app

    monkeypatch.delenv("LEADSCORE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="LEADSCORE_API_KEY"):
        create_app("champion", tracking_uri=model.tracking_uri, store=tmp_path / "s.duckdb")
