"""Micro-batched API: many overlapping real HTTP requests on 127.0.0.1 share feature queries,
and each gets exactly the answer it gets alone (leads of CRM accounts with colleagues, new
accounts, multi-lead bodies, requests that cannot merge, a request that breaks the contract)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from leadscore.crm import open_crm
from tests.test_serving_support import API_KEY, ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def served(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from leadscore.serving.api import create_app
    from tests.test_serving_api import running

    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=tmp_path_factory.mktemp("micro-batch-store") / "scores.duckdb",
        api_key=API_KEY,
        crm=model.crm_path,
        python_leads=0,  # requests this small would take the Python path: no query to share
    )
    with running(app) as url:
        yield app, url


def _crm_accounts(model: ServingModel, n: int) -> list[tuple[str, str]]:
    crm = open_crm(model.crm_path)
    try:
        rows = crm.con.execute(
            "SELECT a.account_id, a.created_at FROM accounts a JOIN contacts c USING (account_id) "
            "WHERE a.created_at < ? GROUP BY ALL HAVING count(*) >= 2 ORDER BY 1 LIMIT ?",
            [model.as_of - timedelta(days=400), n],
        ).fetchall()
    finally:
        crm.close()
    return [(str(r[0]), r[1].isoformat()) for r in rows]


def _bodies(model: ServingModel) -> list[dict[str, Any]]:
    from tests.test_serving_api import lead

    def with_account(item: dict[str, Any], account: tuple[str, str]) -> dict[str, Any]:
        item["account"].update(account_id=account[0], created_at=account[1])
        return item

    accounts = _crm_accounts(model, 12)
    bodies: list[list[dict[str, Any]]] = []
    for i, account in enumerate(accounts):  # one lead of a CRM account: colleagues counted
        bodies.append([with_account(lead(model, f"MB-crm-{i}", job_title=f"CTO {i}"), account)])
    for i in range(12):  # new accounts, varied activity
        item = lead(model, f"MB-new-{i}", job_title=f"Head of Sales {i % 5}")
        item["events"] = item["events"][: 1 + i % len(item["events"])]
        bodies.append([item])
    for i in range(3):  # several leads per body, one of them sharing an account
        leads = [lead(model, f"MB-multi-{i}-{k}") for k in range(4)]
        leads[1]["account"]["account_id"] = leads[0]["account"]["account_id"]
        bodies.append(leads)
    for i in range(2):  # the same contact with other data: these never merge
        bodies.append([lead(model, "MB-new-0", job_title=f"Intern {i}")])
    broken = lead(model, "MB-broken")
    broken["events"][0]["occurred_at"] = (model.as_of + timedelta(days=3)).isoformat()
    bodies.append([broken])
    return [{"leads": leads, "as_of": model.as_of.isoformat()} for leads in bodies]


def test_overlapping_requests_equal_single_requests(served: Any, model: ServingModel) -> None:
    import httpx

    app, url = served
    bodies = _bodies(model)
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        expected = []
        for body in bodies:  # one at a time: each runs alone
            response = client.post("/score", json=body)
            expected.append((response.status_code, response.json()))
    statuses = [status for status, _ in expected]
    errors = [out["detail"][:300] for status, out in expected if status == 422]
    assert statuses.count(422) == 1 and statuses.count(200) == len(bodies) - 1, errors
    assert all(len(out["scores"]) for status, out in expected if status == 200)
    before = app.state.feature_batches.largest
    assert before == 1

    work = [i for i in range(len(bodies)) for _ in range(3)]
    random.Random(4).shuffle(work)

    def run(i: int) -> bool:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            response = client.post("/score", json=bodies[i])
        got = response.json()
        want = expected[i][1]
        if response.status_code == 422:  # the error message is the request's own
            return expected[i][0] == 422 and got["detail"] == want["detail"]
        return (response.status_code, got) == expected[i]

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(run, work))
    assert outcomes.count(False) == 0, f"{outcomes.count(False)} of {len(work)} responses differ"
    stats = app.state.feature_batches
    assert stats.largest > 1, "no request was merged: the test did not exercise batching"
    assert stats.batches < stats.requests


def test_merged_feature_query_equals_each_alone(model: ServingModel) -> None:
    """Deterministic: one merged query split per request equals each request's own query."""
    from leadscore.serving import load_scorer
    from leadscore.serving.online import OnlineFeatures
    from leadscore.serving.posted import ScoreRequest

    scorer = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    crm = open_crm(model.crm_path)
    online = OnlineFeatures(scorer.require_definition(), scorer.features, crm=crm)
    try:
        bodies = _bodies(model)[:-3]  # mergeable: no id in common, no broken row
        requests = [ScoreRequest.model_validate(b) for b in bodies]
        merged = online.features_many(requests, as_of=model.as_of)
        for request, got in zip(requests, merged, strict=True):
            alone = online.features(request, as_of=model.as_of)
            assert not isinstance(got, BaseException)
            assert got.equals(alone) and list(got.dtypes) == list(alone.dtypes)
        broken = [ScoreRequest.model_validate(b) for b in _bodies(model)[-2:]]
        outcomes = online.features_many([requests[0], broken[-1]], as_of=model.as_of)
        assert outcomes[0].equals(online.features(requests[0], as_of=model.as_of))  # type: ignore[union-attr]
        assert "data contract" in str(outcomes[1])  # the broken one alone gets the error
    finally:
        online.close()
        crm.close()


def test_requests_sharing_an_id_or_another_as_of_never_merge() -> None:
    from datetime import datetime

    from leadscore.serving.online_batch import BatchedFeatures, _Pending, request_ids
    from leadscore.serving.posted import ScoreRequest

    def pending(contact: str, account: str, as_of: datetime | None = None) -> _Pending:
        body = {
            "leads": [
                {
                    "contact": {"contact_id": contact, "created_at": "2025-01-01T00:00:00"},
                    "account": {"account_id": account, "created_at": "2024-01-01T00:00:00"},
                }
            ]
        }
        request = ScoreRequest.model_validate(body)
        return _Pending(request, as_of, request_ids(request), 1)

    batcher = BatchedFeatures(None, max_leads=3)  # type: ignore[arg-type]  # queue logic only
    day = datetime(2025, 6, 1)
    queue = [
        pending("c1", "a1"),
        pending("c1", "a9"),  # same contact
        pending("c2", "a1"),  # same account
        pending("c3", "a3", day),  # another as_of
        pending("c4", "a4"),
        pending("c5", "a5"),
        pending("c6", "a6"),  # over max_leads
    ]
    batcher._queue = list(queue)
    assert batcher._take() == [queue[0], queue[4], queue[5]]
    assert batcher._take() == [queue[1], queue[2], queue[6]]
    assert batcher._take() == [queue[3]]
