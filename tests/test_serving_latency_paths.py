"""The fast paths of single-lead scoring give the batch path's results.

``POST /score`` checks posted rows with the contract's own checks prepared as one query
(:class:`PostedValidator`, instead of opening a CRM per request), computes features on
long-lived DuckDB connections
(:class:`PostedFeatures`, the feature stage's own SQL), encodes small frames with dict lookups
and takes SHAP values of small batches straight from LightGBM. Each shortcut is compared here
with the general path it replaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.errors import DataContractError
from leadscore.serving import LoadedScorer, load_scorer
from leadscore.serving.contributions import exact_contributions
from leadscore.serving.features import PostedFeatures, iter_features
from leadscore.serving.posted import (
    PostedValidator,
    ScoreRequest,
    crm_from_request,
    posted_tables,
)
from tests.posted_leads import lead_from_crm
from tests.test_serving_api import running
from tests.test_serving_support import API_KEY, ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(model: ServingModel) -> LoadedScorer:
    return load_scorer("champion", tracking_uri=model.tracking_uri)


@pytest.fixture(scope="module")
def batch_features(model: ServingModel, loaded: LoadedScorer) -> pd.DataFrame:
    """Features of every eligible contact of the CRM, as batch scoring computes them."""
    crm = open_crm(model.crm_path)
    try:
        definition = loaded.scorer.require_definition()
        frames = list(iter_features(crm, definition, as_of=model.as_of))
    finally:
        crm.close()
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def single_contact_leads(model: ServingModel, batch_features: pd.DataFrame) -> list[dict[str, Any]]:
    """Up to 5 eligible contacts with events that are alone in their account, as posted leads
    (every row the CRM holds for them): their account-level features see the same rows in the
    posted request as in the whole CRM."""
    crm = open_crm(model.crm_path)
    try:
        con = crm.con
        eligible = set(batch_features["contact_id"])
        alone = [
            r[0]
            for r in con.execute(
                "SELECT min(c.contact_id) FROM contacts c GROUP BY c.account_id "
                "HAVING count(*) = 1 ORDER BY 1"
            ).fetchall()
        ]
        with_events = {
            r[0] for r in con.execute("SELECT DISTINCT contact_id FROM events").fetchall()
        }
        chosen = [c for c in alone if c in eligible and c in with_events][:5]
        assert chosen, "the test CRM has no eligible single-contact account with events"
        leads = [lead_from_crm(con, cid) for cid in chosen]
    finally:
        crm.close()
    return leads


@pytest.fixture(scope="module")
def client(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An HTTP client of the app on a real uvicorn server (127.0.0.1, free port)."""
    import httpx

    from leadscore.serving.api import create_app

    store = tmp_path_factory.mktemp("latency-store") / "scores.duckdb"
    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=store,
        api_key=API_KEY,
        crm=model.crm_path,
    )
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


def test_posted_scores_equal_batch_scores(
    client: Any,
    model: ServingModel,
    loaded: LoadedScorer,
    batch_features: pd.DataFrame,
    single_contact_leads: list[dict[str, Any]],
) -> None:
    batch = loaded.scorer.explain(batch_features)
    position = {cid: i for i, cid in enumerate(batch_features["contact_id"])}
    for leads in ([single_contact_leads[0]], single_contact_leads):  # one lead, then several
        body = {"leads": leads, "as_of": model.as_of.isoformat()}
        response = client.post("/score", json=body, headers={"X-API-Key": API_KEY})
        assert response.status_code == 200, response.text
        scores = response.json()["scores"]
        assert [s["contact_id"] for s in scores] == [
            lead["contact"]["contact_id"] for lead in leads
        ]
        for got in scores:
            i = position[got["contact_id"]]
            want = batch.scores.iloc[i]
            assert got["p_sql"] == float(want["p_sql"])
            assert got["p_meeting"] == float(want["p_meeting"])
            assert got["grade"] == want["grade"]
            assert got["fit_score"] == float(want["fit_score"])
            assert got["engagement_score"] == float(want["engagement_score"])
            reasons = batch.reasons[i]
            for side, expected in (("positive", reasons.positive), ("negative", reasons.negative)):
                posted = got[f"reasons_{side}"]
                assert [r["text"] for r in posted] == [r.text for r in expected]
                # batch SHAP sums blocks of trees: equal up to the order of float additions
                np.testing.assert_allclose(
                    [r["effect"] for r in posted], [r.effect for r in expected], rtol=1e-9
                )


def test_posted_features_equal_the_validated_crm_features(
    model: ServingModel, loaded: LoadedScorer, single_contact_leads: list[dict[str, Any]]
) -> None:
    definition = loaded.scorer.require_definition()
    request = ScoreRequest.model_validate(
        {"leads": single_contact_leads, "as_of": model.as_of.isoformat()}
    )
    crm = crm_from_request(request, as_of=model.as_of)
    try:
        expected = pd.concat(list(iter_features(crm, definition, as_of=model.as_of)))
    finally:
        crm.close()
    posted = PostedFeatures(definition, connections=1)
    try:
        for _ in range(2):  # the second call reuses the connection: no row of the first stays
            got = posted.features(posted_tables(request), as_of=model.as_of)
            pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_exact=True)
        with posted.engine.pool.connection() as con:
            for table in ("accounts", "contacts", "events", "stage_changes", "_ls_cutoffs"):
                assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,)
    finally:
        posted.close()


def _lead(as_of: datetime, cid: str = "L1") -> dict[str, Any]:
    def stamp(days: float) -> str:
        return (as_of - timedelta(days=days)).isoformat()

    return {
        "contact": {"contact_id": cid, "created_at": stamp(100)},
        "account": {"account_id": f"A-{cid}", "created_at": stamp(200)},
        "events": [{"occurred_at": stamp(d), "event_type": "web_visit"} for d in (1, 2)],
        "stage_changes": [{"changed_at": stamp(100), "stage": "lead"}],
    }


def _broken(as_of: datetime) -> dict[str, dict[str, Any]]:
    """Requests that break one contract rule each (the request models accept them)."""
    cases: dict[str, dict[str, Any]] = {}
    later = (as_of + timedelta(seconds=1)).isoformat()
    for name, edit in {
        "future event": lambda lead: lead["events"][0].update(occurred_at=later),
        "future contact": lambda lead: lead["contact"].update(created_at=later),
        "future account": lambda lead: lead["account"].update(created_at=later),
        "future stage": lambda lead: lead["stage_changes"][0].update(changed_at=later),
        "contact before account": lambda lead: lead["contact"].update(
            created_at=(as_of - timedelta(days=300)).isoformat()
        ),
        "event before account": lambda lead: lead["events"][0].update(
            occurred_at=(as_of - timedelta(days=300)).isoformat()
        ),
        "stage before account": lambda lead: lead["stage_changes"][0].update(
            changed_at=(as_of - timedelta(days=300)).isoformat()
        ),
        "duplicate event id": lambda lead: [e.update(event_id="E1") for e in lead["events"]],
        # plain checks of one table, folded into one count per table (fold_checks)
        "NUL in an account name": lambda lead: lead["account"].update(name="Acme\x00 Inc"),
        "NUL in a page url": lambda lead: lead["events"][1].update(page_url="/x\x00"),
        "email address as domain": lambda lead: lead["contact"].update(
            email_domain="someone@example.com"
        ),
    }.items():
        lead = _lead(as_of)
        edit(lead)
        cases[name] = {"leads": [lead], "as_of": as_of.isoformat()}
    # the id given to an event without one can clash with another event's id
    clash = _lead(as_of)
    clash["events"][1]["event_id"] = "L1#0"
    cases["generated id clash"] = {"leads": [clash], "as_of": as_of.isoformat()}
    # across leads too
    first, second = _lead(as_of, "L1"), _lead(as_of, "L2")
    first["events"][0]["event_id"] = second["events"][0]["event_id"] = "E1"
    cases["event id in two leads"] = {"leads": [first, second], "as_of": as_of.isoformat()}
    return cases


@pytest.mark.parametrize("as_of", [datetime(2025, 6, 1, 12), datetime(2025, 6, 1, 12, 0, 0, 700)])
def test_posted_validation_is_the_contract_validation(as_of: datetime) -> None:
    valid = {"leads": [_lead(as_of), _lead(as_of, "L2")], "as_of": as_of.isoformat()}
    # within the second of as_of: the validation compares times with as_of to the second
    same_second = _lead(as_of, "L3")
    same_second["events"][0]["occurred_at"] = as_of.replace(microsecond=0).isoformat()
    new_lead = _lead(as_of, "L4")
    new_lead.update(events=[], stage_changes=[])  # arrived today: nothing happened yet
    cases = {
        "valid": valid,
        "same second": {"leads": [same_second], "as_of": as_of.isoformat()},
        "no events yet": {"leads": [new_lead], "as_of": as_of.isoformat()},
    }
    cases.update(_broken(as_of))
    validators = [
        PostedValidator(connections=1),
        PostedValidator(connections=1, built_by_posted_tables=True),  # the API's
    ]
    # every check of the validation is run by the one prepared query
    assert all(v.fast for v in validators)
    # only the unique-key and foreign-key checks posted rows cannot fail are left out
    assert validators[0].left_out == []
    assert len(validators[1].left_out) == 5
    try:
        for name, body in cases.items():
            request = ScoreRequest.model_validate(body)
            try:
                crm_from_request(request, as_of=as_of).close()
                expected = None
            except DataContractError as exc:
                expected = str(exc)
            for validator in validators:
                try:
                    validator.check(posted_tables(request), as_of=as_of)
                    got = None
                except DataContractError as exc:
                    got = str(exc)
                assert got == expected, name
                assert (got is None) == (name in {"valid", "same second", "no events yet"}), name
    finally:
        for validator in validators:
            validator.close()


def test_posted_rows_cannot_break_the_checks_left_out() -> None:
    """What ``built_by_posted_tables`` relies on: unique contact and account ids, and keys that
    point to posted rows, whatever the request."""
    as_of = datetime(2025, 6, 1, 12)
    twice = {"leads": [_lead(as_of), _lead(as_of)], "as_of": as_of.isoformat()}
    with pytest.raises(ValueError, match="more than once"):
        ScoreRequest.model_validate(twice)
    other = _lead(as_of, "L2")
    other["account"] = {**_lead(as_of)["account"], "industry": "Retail"}
    with pytest.raises(ValueError, match="twice with different values"):
        ScoreRequest.model_validate({"leads": [_lead(as_of), other], "as_of": as_of.isoformat()})
    same = _lead(as_of, "L2")
    same["account"] = _lead(as_of)["account"]
    request = ScoreRequest.model_validate(
        {"leads": [_lead(as_of), same, _lead(as_of, "L3")], "as_of": as_of.isoformat()}
    )
    tables = posted_tables(request)
    accounts = tables["accounts"].column("account_id").to_pylist()
    contacts = tables["contacts"].column("contact_id").to_pylist()
    assert sorted(accounts) == sorted(set(accounts)) == ["A-L1", "A-L3"]
    assert set(tables["contacts"].column("account_id").to_pylist()) == set(accounts)
    for name in ("events", "stage_changes"):
        assert set(tables[name].column("contact_id").to_pylist()) == set(contacts)


def test_contract_errors_still_get_the_validation_message(client: Any, model: ServingModel) -> None:
    for name, body in _broken(model.as_of).items():
        response = client.post("/score", json=body, headers={"X-API-Key": API_KEY})
        assert response.status_code == 422, name
        assert "breaks the data contract" in response.json()["detail"], name


def test_small_batch_encoding_and_contributions_equal_the_general_path(
    loaded: LoadedScorer, batch_features: pd.DataFrame
) -> None:
    small = batch_features.head(5).copy()
    # unseen and missing levels, booleans with a missing value (object dtype)
    categorical = [f.name for f in loaded.scorer.heads["sql"].features if f.kind == "categorical"]
    small.loc[small.index[0], categorical[0]] = "a level never seen in training"
    small.loc[small.index[1], categorical[0]] = None
    big = pd.concat([small] * 60, ignore_index=True)  # above the dict-lookup threshold
    for head in loaded.scorer.heads.values():
        np.testing.assert_array_equal(head.matrix(small), head.matrix(big)[: len(small)])
    head = loaded.scorer.heads["sql"]
    matrix = head.matrix(small)
    for rows in (matrix[:1], matrix):
        direct = loaded.scorer._contributions(rows)
        grouped = exact_contributions(
            head.booster, rows, num_iteration=head.best_iteration, trees_per_block=None
        )
        # exact SHAP either way; summing tree blocks in another order moves the last bits only
        np.testing.assert_allclose(direct, grouped, rtol=0, atol=1e-12)


def test_a_new_lead_without_events_is_scored(client: Any, model: ServingModel) -> None:
    lead = _lead(model.as_of, "NEW1")
    lead.update(events=[], stage_changes=[])
    response = client.post(
        "/score",
        json={"leads": [lead], "as_of": model.as_of.isoformat()},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 200, response.text
    scored = response.json()["scores"][0]
    assert scored["contact_id"] == "NEW1"
    assert 0.0 <= scored["p_sql"] <= 1.0


def test_500_realistic_leads_fit_the_default_body_limit(client: Any, model: ServingModel) -> None:
    """The documented maximum is reachable: 500 CRM leads with a year of activity each are
    under :data:`DEFAULT_MAX_BODY_BYTES` and are scored (the server above has the default)."""
    import json
    import random

    from leadscore.serving.api import DEFAULT_MAX_BODY_BYTES
    from leadscore.serving.posted import MAX_LEADS
    from tests.posted_leads import lead_from_crm

    crm = open_crm(model.crm_path)
    try:
        ids = [
            r[0] for r in crm.con.execute("SELECT contact_id FROM contacts ORDER BY 1").fetchall()
        ]
        chosen = random.Random(3).sample(ids, MAX_LEADS)
        year_ago = (model.as_of - timedelta(days=365)).isoformat()
        leads = []
        for cid in chosen:
            lead = lead_from_crm(crm.con, cid, before=model.as_of)
            lead["events"] = [e for e in lead["events"] if e["occurred_at"] >= year_ago]
            leads.append(lead)
    finally:
        crm.close()
    body = {"leads": leads, "as_of": model.as_of.isoformat()}
    size = len(json.dumps(body).encode())
    assert size < DEFAULT_MAX_BODY_BYTES / 1.5, size  # room to spare
    response = client.post("/score", json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, response.text[:500]
    payload = response.json()
    assert len(payload["scores"]) + len(payload["not_scored"]) == MAX_LEADS
    assert len(payload["scores"]) > MAX_LEADS / 2
