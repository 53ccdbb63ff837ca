"""Single leads on the Python feature path that arrive together are scored in one call
(:mod:`leadscore.serving.api_batch`): each answer is byte for byte the one the request gets
alone, over real HTTP on 127.0.0.1; ``Scorer.explain(by_row=True)`` gives every row the numbers
it gets alone, for LightGBM, logistic and rules heads; requests that cannot merge never do."""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadscore.serving.posted import ScoreRequest
from tests.test_serving_support import API_KEY, ServingModel, champion_features, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def _crm_pairs(model: ServingModel, n: int) -> list[tuple[str, str, datetime]]:
    """``(contact, account, account created)`` of CRM contacts whose account has colleagues."""
    from leadscore.crm import open_crm

    crm = open_crm(model.crm_path)
    try:
        rows = crm.con.execute(
            "SELECT c.contact_id, c.account_id, a.created_at FROM contacts c "
            "JOIN accounts a USING (account_id) WHERE a.account_id IN (SELECT account_id FROM "
            "contacts GROUP BY 1 HAVING count(*) >= 2) AND a.created_at < ? ORDER BY 1 LIMIT ?",
            [model.as_of - timedelta(days=400), n],
        ).fetchall()
    finally:
        crm.close()
    return [(str(c), str(a), t) for c, a, t in rows]


def _bodies(model: ServingModel) -> list[dict[str, Any]]:
    """Varied one-lead bodies: CRM accounts (colleagues read) and new ones, no events, missing
    values, a bot-like burst, explicit event ids, two ``as_of``, a contract error, a lead not
    eligible, and CRM contacts posted under a new account next to leads of their CRM account."""
    from tests.test_serving_api import lead

    as_of, earlier = model.as_of, model.as_of - timedelta(days=3)
    pairs = _crm_pairs(model, 8)
    bodies: list[dict[str, Any]] = []
    for i in range(40):
        one = lead(model, f"Q-{i}")
        if i % 3 == 0:  # a CRM account: its colleagues count
            _, account, created = pairs[i % len(pairs)]
            one["account"] = {**one["account"], "account_id": account}
            one["account"]["created_at"] = created.isoformat()
        if i % 4 == 0:
            one["events"] = []
        if i % 5 == 0:
            one["account"].pop("employee_count")
            one["account"]["industry"] = None
            one["contact"]["job_title"] = None
        if i % 7 == 0:  # bot-like: 60 events in an hour
            one["events"] = [
                {"occurred_at": (as_of - timedelta(hours=3, seconds=k)).isoformat(),
                 "event_type": "web_visit"}
                for k in range(60)
            ]  # fmt: skip
        if i % 8 == 0:
            one["events"] = [{**e, "event_id": f"E-{i}-{k}"} for k, e in enumerate(one["events"])]
        if i % 2:  # scored 3 days earlier: the events of the last 3 days had not happened
            one["events"] = [e for e in one["events"] if e["occurred_at"] < earlier.isoformat()]
        bodies.append({"leads": [one], "as_of": (earlier if i % 2 else as_of).isoformat()})
    broken = lead(model, "Q-late")
    broken["events"][0]["occurred_at"] = (as_of + timedelta(days=1)).isoformat()
    bodies.append({"leads": [broken], "as_of": as_of.isoformat()})  # the contract's 422
    young = lead(model, "Q-young", created_at=(as_of - timedelta(days=1)).isoformat())
    bodies.append({"leads": [young], "as_of": earlier.isoformat()})  # created after as_of
    for k, (contact, account, created) in enumerate(pairs[:4]):
        moved = lead(model, contact)  # a CRM contact posted under a new account ...
        bodies.append({"leads": [moved], "as_of": as_of.isoformat()})
        beside = lead(model, f"Q-beside-{k}")  # ... next to a lead of its CRM account
        beside["account"] = {**beside["account"], "account_id": account}
        beside["account"]["created_at"] = created.isoformat()
        bodies.append({"leads": [beside], "as_of": as_of.isoformat()})
    return bodies


def _same(response: Any) -> tuple[int, bytes]:
    """Status and body, the request id of error bodies blanked (it is random)."""
    return response.status_code, re.sub(rb'"request_id":"[0-9a-f]+"', b"", response.content)


def test_concurrent_single_leads_merge_and_answer_as_alone(
    model: ServingModel, tmp_path: Any
) -> None:
    import httpx

    from leadscore.serving.api import create_app
    from tests.test_serving_api import running

    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=tmp_path / "scores.duckdb",
        api_key=API_KEY,
        crm=model.crm_path,
        python_threads=1,  # the others wait and merge
    )
    bodies = _bodies(model)
    headers = {"X-API-Key": API_KEY}
    with running(app) as url, httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        alone = [_same(client.post("/score", json=body)) for body in bodies]
        assert app.state.python_calls.largest == 1  # one at a time: nothing to merge

        def post(body: dict[str, Any]) -> tuple[int, bytes]:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as own:
                return _same(own.post("/score", json=body))

        with ThreadPoolExecutor(16) as pool:
            together = list(pool.map(post, bodies + bodies[::-1]))
    assert together == alone + alone[::-1]
    assert {status for status, _ in alone} == {200, 422}
    assert sum(b'"scores":[{' in body for _, body in alone) >= len(bodies) - 4
    assert app.state.python_calls.largest > 1  # merged calls happened
    assert app.state.python_in_flight.peak == 1


def test_a_posted_contact_hiding_another_requests_colleague_is_never_merged(
    model: ServingModel,
) -> None:
    from leadscore.serving import load_scorer
    from leadscore.serving.online import OnlineFeatures
    from tests.test_serving_api import lead

    (contact, account, created), *_ = _crm_pairs(model, 1)
    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    from leadscore.crm import open_crm

    crm = open_crm(model.crm_path)
    online = OnlineFeatures(loaded.scorer.require_definition(), loaded.scorer.features, crm=crm)
    try:
        moved = ScoreRequest.model_validate({"leads": [lead(model, contact)]})
        beside = lead(model, "H-beside")
        beside["account"] = {**beside["account"], "account_id": account}
        beside["account"]["created_at"] = created.isoformat()
        other = ScoreRequest.model_validate({"leads": [beside]})
        assert online.python_many([moved, other], as_of=model.as_of) is None
        fresh = ScoreRequest.model_validate({"leads": [lead(model, "H-fresh")]})
        both = online.python_many([fresh, other], as_of=model.as_of)
        assert both is not None
        for request in (fresh, other):
            own = online.features(request, as_of=model.as_of)
            mine = both[both["contact_id"] == own["contact_id"].iloc[0]].reset_index(drop=True)
            pd.testing.assert_frame_equal(mine, own, check_dtype=False, check_exact=True)
    finally:
        online.close()
        crm.close()


def _logistic_scorer(model: ServingModel, frame: pd.DataFrame) -> Any:
    """The champion with its SQL head swapped for a logistic head fitted on ``frame``."""
    from leadscore.model.encoding import FeatureEncoder
    from leadscore.serving import load_scorer
    from leadscore.serving.scorer import Scorer
    from leadscore.training.models import LogisticModel

    scorer = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    specs = list(scorer.heads["sql"].features)
    p_sql = scorer.explain(frame).scores["p_sql"]
    y = p_sql > p_sql.median()
    half = len(frame) // 2
    fitted = LogisticModel(specs).fit(
        frame.iloc[:half], y.to_numpy()[:half], frame.iloc[half:], y.to_numpy()[half:]
    )
    head = fitted.head(FeatureEncoder(specs).fit(frame.iloc[:half]))
    return Scorer({**scorer.heads, "sql": head}, scorer.spec)


def test_explain_by_row_equals_each_row_alone(model: ServingModel) -> None:
    from leadscore.model.head import ModelHead
    from leadscore.model.linear_head import LogisticHead
    from leadscore.model.rules_head import RulesHead
    from leadscore.serving import load_scorer

    features = champion_features(model).reset_index(drop=True)
    rows = features.sample(60, random_state=3).reset_index(drop=True)
    odd = rows.head(4).copy()  # missing numbers and categories, an unseen level
    numbers = [c for c in odd.columns if odd[c].dtype.kind == "f"]
    odd.loc[0, numbers[:5]] = np.nan
    texts = [c for c in odd.columns if odd[c].dtype == object and c != "contact_id"]
    odd.loc[1, texts[:3]] = None
    if texts:
        odd.loc[2, texts[0]] = "never-seen-level"
    rows = pd.concat([rows, odd], ignore_index=True)
    champion = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    logistic = _logistic_scorer(model, features)
    assert isinstance(logistic.heads["sql"], LogisticHead)
    kinds = {type(h) for s in (champion, logistic) for h in s.heads.values()}
    assert LogisticHead in kinds and (ModelHead in kinds or RulesHead in kinds)
    for scorer in (champion, logistic):
        together = scorer.explain(rows, by_row=True)
        for i in range(len(rows)):
            alone = scorer.explain(rows.iloc[[i]])
            mine = together.scores.iloc[[i]]
            assert repr(mine.to_dict("records")) == repr(alone.scores.to_dict("records"))
            assert together.reasons[i] == alone.reasons[0]
            assert np.array_equal(together.contributions[i], alone.contributions[0])
            assert together.raw_score[i] == alone.raw_score[0]


def _queue_run(items: list[tuple[dict[str, Any], bool]], threads: int) -> list[list[str]]:
    """Post ``items`` (body, record) to a :class:`PythonQueue` at once (its first call blocked
    until all are queued); returns the contact ids of each call, in order."""
    from leadscore.serving.api_batch import PythonQueue

    calls: list[list[str]] = []
    gate = threading.Event()

    def alone(request: ScoreRequest, record: bool, scope: None) -> str:
        gate.wait(10)
        calls.append([request.leads[0].contact.contact_id])
        return request.leads[0].contact.contact_id

    def together(requests: list[ScoreRequest], as_of: datetime | None, scope: None) -> list[str]:
        ids = [r.leads[0].contact.contact_id for r in requests]
        calls.append(ids)
        return ids

    async def main() -> list[str]:
        queue: PythonQueue[str, None] = PythonQueue(alone, together, threads=threads, max_leads=4)
        tasks = [
            asyncio.ensure_future(queue.score(ScoreRequest.model_validate(body), record, None))
            for body, record in items
        ]
        await asyncio.sleep(0.2)
        gate.set()
        return list(await asyncio.gather(*tasks))

    answers = asyncio.run(main())
    assert answers == [body["leads"][0]["contact"]["contact_id"] for body, _ in items]
    return calls


def test_only_mergeable_requests_merge(model: ServingModel) -> None:
    from tests.test_serving_api import lead

    def one(contact: str, **extra: Any) -> dict[str, Any]:
        body = {"leads": [lead(model, contact)], "as_of": model.as_of.isoformat()}
        return {**body, **extra}

    shared = lead(model, "M-shared")
    shared["account"]["account_id"] = "A-M-2"  # the account of M-2
    items = [
        (one("M-1"), False),  # runs first, alone (gate)
        (one("M-2"), False),
        (one("M-3"), True),  # ?record=true: alone
        ({"leads": [shared], "as_of": model.as_of.isoformat()}, False),  # shares M-2's account
        (one("M-4", as_of=(model.as_of - timedelta(days=1)).isoformat()), False),  # other as_of
        (one("M-5"), False),
        (one("M-6", complete_accounts=True), False),
        (one("M-7"), False),
        (one("M-8"), False),
        (one("M-9"), False),  # over max_leads=4 with M-2, M-5, M-7, M-8
    ]
    calls = _queue_run(items, threads=1)
    assert calls[0] == ["M-1"]
    assert calls[1] == ["M-2", "M-5", "M-7", "M-8"]
    assert sorted(map(tuple, calls[2:])) == sorted(
        [("M-3",), ("M-shared", "M-9"), ("M-4",), ("M-6",)]
    )


def test_sql_micro_batches_never_merge_a_request_hiding_anothers_colleague(
    model: ServingModel,
) -> None:
    from leadscore.crm import open_crm
    from leadscore.serving import load_scorer
    from leadscore.serving.colleagues import CrmColleagues
    from leadscore.serving.online import OnlineFeatures
    from leadscore.serving.posted import posted_tables
    from tests.test_serving_api import lead

    (contact, account, created), *_ = _crm_pairs(model, 1)
    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    crm = open_crm(model.crm_path)
    online = OnlineFeatures(
        loaded.scorer.require_definition(), loaded.scorer.features, crm=crm, python_leads=0
    )
    try:
        moved = ScoreRequest.model_validate({"leads": [lead(model, contact)]})
        beside = lead(model, "S-beside")
        beside["account"] = {**beside["account"], "account_id": account}
        beside["account"]["created_at"] = created.isoformat()
        other = ScoreRequest.model_validate({"leads": [beside]})
        merged = online.features_many([moved, other], as_of=model.as_of)
        for request, frame in zip((moved, other), merged, strict=True):
            assert isinstance(frame, pd.DataFrame)
            own = online.features(request, as_of=model.as_of)
            pd.testing.assert_frame_equal(frame, own, check_exact=True)
        # the CRM read with SQL finds the same hidden colleague as the snapshot
        both = {
            n: pa_concat([posted_tables(moved)[n], posted_tables(other)[n]])
            for n in posted_tables(moved)
        }
        snapshot = CrmColleagues(crm, lookback_days=90).hidden(both, as_of=model.as_of)
        sql = CrmColleagues(crm, lookback_days=90, max_cached_events=0)
        assert not sql.cached
        assert sql.hidden(both, as_of=model.as_of) == snapshot == [(contact, account)]
    finally:
        online.close()
        crm.close()


def pa_concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables)
