"""The HTTP API on a real uvicorn server (127.0.0.1, free port): auth, validation, bounds, body
limits (declared and chunked), scores with reasons, stored scores, feedback, the access log and
server faults (5xx with a request id)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadscore.errors import OutputError
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


@contextmanager
def running(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL."""
    import uvicorn

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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(model: ServingModel, store: ScoreStore) -> Iterator[str]:
    from leadscore.serving.api import create_app

    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=store,
        api_key=API_KEY,
        max_body_bytes=200_000,
        crm=model.crm_path,
    )
    with running(app) as url:
        yield url


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
    assert any("pricing-page" in t or "website" in t or "interaction" in t for t in texts), texts
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
    body = response.json()  # the moment the score describes, beside when it was computed
    assert body["as_of"] is not None and body["history"][0]["as_of"] == body["as_of"]
    assert httpx.get(f"{server}/contacts/nobody/score", headers=headers).status_code == 404
    # a rejection's reason is a code (what `feedback apply` acts on); free text is a note
    free = {"contact_id": row[0], "verdict": "rejected", "reason": "no budget this year"}
    refused = httpx.post(f"{server}/feedback", json=free, headers=headers)
    assert refused.status_code == 422 and "spam_bot" in refused.text
    assert "no budget this year" not in refused.text  # free text is never echoed
    assert store.feedback().empty
    verdict = {**free, "reason": "no_budget", "note": "no budget this year"}
    assert httpx.post(f"{server}/feedback", json=verdict, headers=headers).status_code == 201
    assert store.feedback(detail=True).iloc[-1]["note"] == "no budget this year"
    stored = store.feedback()
    assert stored[["contact_id", "verdict", "model_version"]].values.tolist() == [
        [row[0], "rejected", "leadscore/1"]
    ]
    bad = httpx.post(f"{server}/feedback", json={**verdict, "verdict": "maybe"}, headers=headers)
    assert bad.status_code == 422


def test_feedback_times_must_follow_the_score_and_precede_now(
    server: str, store: ScoreStore
) -> None:
    """A verdict backdated before the lead was scored would relabel its earlier training rows
    (``feedback apply`` acts from ``given_at`` on: a leak); one in the future would stay out of
    training until then. Both are refused; an API verdict keeps the grade and reasons shown."""
    headers = {"X-API-Key": API_KEY}
    with store._connect(read_only=True) as con:
        row = con.execute(
            "SELECT contact_id, grade, scored_at, reasons_positive FROM score_history "
            "ORDER BY contact_id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    contact, grade, scored_at, reasons = row
    before = len(store.feedback())
    for given_at, why in (
        ((scored_at - timedelta(days=400)).isoformat(), "before the lead's first stored score"),
        ("2099-01-01T00:00:00", "in the future"),
    ):
        verdict = {"contact_id": contact, "verdict": "rejected", "given_at": given_at}
        response = httpx.post(f"{server}/feedback", json=verdict, headers=headers)
        assert response.status_code == 422 and why in response.text
        assert contact not in response.text
    assert len(store.feedback()) == before
    verdict = {"contact_id": contact, "verdict": "accepted"}
    assert httpx.post(f"{server}/feedback", json=verdict, headers=headers).status_code == 201
    stored = store.feedback(detail=True).iloc[-1]
    assert stored["grade"] == grade and list(stored["reasons_shown"]) == list(reasons)


def test_the_app_refuses_to_start_without_a_key(
    model: ServingModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from leadscore.errors import ConfigError
    from leadscore.serving.api import create_app

    monkeypatch.delenv("LEADSCORE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="LEADSCORE_API_KEY"):
        create_app("champion", tracking_uri=model.tracking_uri, store=tmp_path / "s.duckdb")
    for short in ("", " ", "x", "fifteen-chars-k"):
        monkeypatch.setenv("LEADSCORE_API_KEY", short)
        with pytest.raises(ConfigError) as refused:
            create_app("champion", tracking_uri=model.tracking_uri, store=tmp_path / "s.duckdb")
        assert "secrets.token_urlsafe(32)" in str(refused.value)
        if short.strip():
            assert "at least 16" in str(refused.value) and short not in str(refused.value)


def test_numbers_and_times_out_of_bounds_get_422(server: str, model: ServingModel) -> None:
    headers = {"X-API-Key": API_KEY}
    edits: dict[str, Any] = {
        "employee_count 2^63": ("account", "employee_count", 2**63),
        "employee_count -1": ("account", "employee_count", -1),
        "employee_count 10^8": ("account", "employee_count", 10**8),
        "revenue 1e300": ("account", "annual_revenue", 1e300),
        "created in year 1": ("account", "created_at", "0001-01-01T00:00:00"),
        "created in year 9999": ("contact", "created_at", "9999-12-31T23:59:59"),
    }
    for name, (part, field, value) in edits.items():
        body = lead(model, "B1")
        body[part][field] = value
        response = httpx.post(
            f"{server}/score", json={"leads": [body]}, headers=headers, timeout=30
        )
        assert response.status_code == 422, (name, response.text)
        assert field in response.json()["detail"], name
    far = {"leads": [lead(model, "B2")], "as_of": "0001-01-01T00:00:00"}
    response = httpx.post(f"{server}/score", json=far, headers=headers)
    assert response.status_code == 422 and "as_of" in response.json()["detail"]
    nan = '{"leads": [{"contact": {}, "account": {"annual_revenue": NaN}}]}'
    response = httpx.post(f"{server}/score", content=nan, headers=headers)
    assert response.status_code == 422


def test_every_over_limit_body_gets_413_chunked_included(server: str, model: ServingModel) -> None:
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    payload = json.dumps({"leads": [lead(model, f"W{i}") for i in range(400)]}).encode()
    assert len(payload) > 200_000

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 16_384):
            yield payload[start : start + 16_384]

    for content in (payload, chunks()):
        response = httpx.post(f"{server}/score", content=content, headers=headers, timeout=30)
        assert response.status_code == 413, response.text
        assert "200,000 bytes" in response.json()["detail"]
        assert response.json()["request_id"] == response.headers["x-request-id"]
    small = json.dumps({"leads": [lead(model)], "as_of": model.as_of.isoformat()}).encode()
    response = httpx.post(f"{server}/score", content=iter([small]), headers=headers)
    assert response.status_code == 200, response.text  # a chunked body under the limit is read


def test_feedback_for_a_contact_never_scored_gets_404(server: str, store: ScoreStore) -> None:
    verdict = {"contact_id": "never-scored-1", "verdict": "accepted"}
    response = httpx.post(f"{server}/feedback", json=verdict, headers={"X-API-Key": API_KEY})
    assert response.status_code == 404 and "no stored score" in response.json()["detail"]
    assert "never-scored-1" not in set(store.feedback()["contact_id"])


def test_one_access_log_line_per_request_without_ids_or_values(
    server: str, model: ServingModel, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"X-API-Key": API_KEY}
    secret_title = "Chief Secret Officer"
    body = {"leads": [lead(model, "W77", job_title=secret_title)], "as_of": model.as_of.isoformat()}
    with caplog.at_level(logging.INFO, logger="leadscore.serving.access"):
        scored = httpx.post(f"{server}/score", json=body, headers=headers)
        missing = httpx.get(f"{server}/contacts/C-private-42/score", headers=headers)
        deadline = time.monotonic() + 5
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert scored.status_code == 200 and missing.status_code == 404
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("access")]
    assert len(lines) == 2
    first, second = lines
    assert set(first) == {"request_id", "method", "route", "status", "duration_ms", "leads"}
    assert first["route"] == "/score" and first["status"] == 200 and first["leads"] == 1
    assert first["request_id"] == scored.headers["x-request-id"]
    assert second["route"] == "/contacts/{contact_id}/score" and second["status"] == 404
    assert second["leads"] is None and second["duration_ms"] >= 0
    text = caplog.text
    for value in ("W77", secret_title, "C-private-42", "acme-software.com", API_KEY):
        assert value not in text


def test_server_faults_are_5xx_with_a_request_id(
    model: ServingModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from leadscore.serving.api import create_app

    broken = tmp_path / "scores.duckdb"
    broken.write_bytes(b"this is not a DuckDB file " * 100)  # a corrupt store: a server fault

    class FailingStore(ScoreStore):
        def history(self, contact_id: str, *, limit: int = 50) -> Any:
            raise RuntimeError(f"unexpected failure for {contact_id}")

    class FullStore(ScoreStore):  # the store's disk is full: the client may retry later
        def history(self, contact_id: str, *, limit: int = 50) -> Any:
            raise OutputError(f"Cannot write {broken.name}: the disk is full")

        def add_feedback(self, contact_id: str, verdict: Any, **kwargs: Any) -> None:
            raise OutputError(f"Cannot write {broken.name}: the disk is full")

    headers = {"X-API-Key": API_KEY}
    cases = ((ScoreStore(broken), 503), (FailingStore(broken), 500), (FullStore(broken), 503))
    for store, expected in cases:
        app = create_app("champion", tracking_uri=model.tracking_uri, store=store, api_key=API_KEY)
        with caplog.at_level(logging.INFO), running(app) as url:
            response = httpx.get(f"{url}/contacts/C-secret-7/score", headers=headers)
            verdict = {"contact_id": "C-secret-7", "verdict": "accepted"}
            feedback = httpx.post(f"{url}/feedback", json=verdict, headers=headers)
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("leadscore"))
        for answer in (response, feedback):
            assert answer.status_code == expected, answer.text
            request_id = answer.json()["request_id"]
            assert request_id == answer.headers["x-request-id"] and len(request_id) == 32
            assert request_id in ours  # the operator finds the fault by the id
            if isinstance(store, FullStore):
                assert answer.headers["retry-after"] == "60" and "disk is full" in answer.text
        assert "C-secret-7" not in ours
        caplog.clear()


def test_without_a_crm_account_features_are_refused_over_http(
    model: ServingModel, tmp_path: Path
) -> None:
    from leadscore.serving.api import create_app

    app = create_app(
        "champion", tracking_uri=model.tracking_uri, store=tmp_path / "s.db", api_key=API_KEY
    )
    body: dict[str, Any] = {"leads": [lead(model)], "as_of": model.as_of.isoformat()}
    with running(app) as url:
        refused = httpx.post(f"{url}/score", json=body, headers={"X-API-Key": API_KEY})
        body["complete_accounts"] = True
        whole = httpx.post(f"{url}/score", json=body, headers={"X-API-Key": API_KEY})
    assert refused.status_code == 422 and "account_" in refused.json()["detail"]
    assert "--crm" in refused.json()["detail"]
    assert whole.status_code == 200, whole.text
