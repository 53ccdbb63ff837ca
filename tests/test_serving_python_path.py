"""Over HTTP, the Python feature path and the SQL path give bit-identical answers: the same
leads scored by a server with the Python path and by one with it forced off get the same
scores, grades and reasons, and the same 422 (the contract's own message) for broken rows."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from leadscore.crm import open_crm
from tests.posted_leads import lead_from_crm
from tests.test_serving_support import API_KEY, ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def servers(
    model: ServingModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[str], list[Any]]]:
    from leadscore.serving.api import create_app
    from tests.test_serving_api import running

    apps = [
        create_app(
            "champion",
            tracking_uri=model.tracking_uri,
            store=tmp_path_factory.mktemp(f"python-path-{leads}") / "scores.duckdb",
            api_key=API_KEY,
            crm=model.crm_path,
            python_leads=leads,
        )
        for leads in (32, 0)
    ]
    with running(apps[0]) as fast, running(apps[1]) as sql:
        yield [fast, sql], apps


_TITLES = [None, "", "  ", "\tCEO", "Directeur Général", "İstanbul CTO", "ΣΑΣ", "co-founder & cto"]


def _bodies(model: ServingModel) -> list[dict[str, Any]]:
    from tests.test_serving_api import lead

    as_of = model.as_of
    crm = open_crm(model.crm_path)
    try:
        rows = crm.con.execute(
            "SELECT c.contact_id FROM contacts c JOIN contacts m USING (account_id) "
            "WHERE c.created_at < ? GROUP BY ALL HAVING count(*) >= 2 ORDER BY 1 LIMIT 40",
            [as_of - timedelta(days=30)],
        ).fetchall()
        draw = random.Random(3)
        chosen = draw.sample([r[0] for r in rows], 14)
        crm_leads = [lead_from_crm(crm.con, c, before=as_of) for c in chosen]
        earlier = as_of - timedelta(days=45, hours=7)
        old_leads = [lead_from_crm(crm.con, c, before=earlier) for c in chosen[:4]]
    finally:
        crm.close()
    bodies: list[dict[str, Any]] = [{"leads": [item]} for item in crm_leads[:8]]
    bodies.append({"leads": crm_leads[8:11]})
    bodies += [{"leads": [item], "as_of": earlier.isoformat()} for item in old_leads]
    for i, title in enumerate(_TITLES):
        item = lead(model, f"PY-{i}", job_title=title, email_domain=[None, " Gmail.com"][i % 2])
        item["events"] = item["events"][: 1 + 2 * i]
        bodies.append({"leads": [item]})
    bodies.append({"leads": [lead(model, f"PY-32-{k}") for k in range(32)]})
    bodies.append({"leads": [lead(model, f"PY-33-{k}") for k in range(33)]})  # SQL in both
    for body in bodies:
        body.setdefault("as_of", as_of.isoformat())
    return bodies


def _broken(model: ServingModel) -> list[dict[str, Any]]:
    from tests.test_serving_api import lead

    future = lead(model, "BR-1")
    future["events"][0]["occurred_at"] = (model.as_of + timedelta(days=2)).isoformat()
    nul = lead(model, "BR-2", job_title="CEO\x00")
    twice = lead(model, "BR-3")
    twice["events"][0]["event_id"] = twice["events"][1]["event_id"] = "same"
    early = lead(model, "BR-4", created_at=(model.as_of - timedelta(days=500)).isoformat())
    stage = lead(model, "BR-5")
    stage["stage_changes"][0]["changed_at"] = (model.as_of - timedelta(days=300)).isoformat()
    domain = lead(model, "BR-6", email_domain="someone@acme.com")
    before_account = lead(model, "BR-7")
    before_account["events"][0]["occurred_at"] = (model.as_of - timedelta(days=450)).isoformat()
    cases = [future, nul, twice, early, stage, domain, before_account]
    return [{"leads": [case], "as_of": model.as_of.isoformat()} for case in cases]


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=60) as client:
        response = client.post("/score", json=body)
    out = response.json()
    if response.status_code == 200:
        return 200, out["scores"]
    return response.status_code, out.get("detail")


def test_python_path_and_sql_path_give_identical_scores(
    servers: tuple[list[str], list[Any]], model: ServingModel
) -> None:
    (fast, sql), apps = servers
    for body in _bodies(model):
        got, want = _post(fast, body), _post(sql, body)
        assert got[0] == 200, got
        assert got == want  # bit-identical probabilities, grades and reasons
    python, plain = (app.state.feature_paths for app in apps)
    assert python.python >= 20 and python.fallbacks == 0 and python.sql >= 1  # the 33 leads
    assert plain.python == 0


def test_broken_rows_get_the_same_422(
    servers: tuple[list[str], list[Any]], model: ServingModel
) -> None:
    (fast, sql), _ = servers
    for body in _broken(model):
        got, want = _post(fast, body), _post(sql, body)
        assert got[0] == 422, got
        assert got == want
