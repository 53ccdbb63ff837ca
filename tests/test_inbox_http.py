"""The lead inbox over a real HTTP server (uvicorn, 127.0.0.1): login and cookie flags, CSRF,
no feedback without a session, verdicts recorded with the rep, model version and reasons
shown, leads posted with ``?record=true`` stored and taking feedback, the report page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import duckdb
import httpx
import pytest

from tests.inbox_support import OWNERS, SEGMENTS, Inbox, inbox
from tests.postgres_support import new_database
from tests.test_serving_api import lead
from tests.test_serving_support import API_KEY, ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def app(
    model: ServingModel, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Inbox]:
    """The inbox on a DuckDB store, then on a PostgreSQL one."""
    location = None
    if request.param == "postgresql":
        location = new_database(request.getfixturevalue("postgres"))
    with inbox(model, tmp_path_factory.mktemp("inbox-http"), location) as running_inbox:
        yield running_inbox


def login(
    client: httpx.Client, token: str, next: str = "/", headers: dict[str, str] | None = None
) -> httpx.Response:
    """Log in as a browser does: open the form (its pre-login cookie and token), post it
    (``headers`` on the post only: a secure pre-login cookie would not come back over http)."""
    form = client.get("/login")
    found = re.search(r'name="login_csrf" value="([0-9a-f]{64})"', form.text)
    assert found, "no login CSRF token in the login form"
    data = {"token": token, "next": next, "login_csrf": found.group(1)}
    return client.post("/login", data=data, headers=headers)


@contextmanager
def logged_in(app: Inbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url) as client:
        response = login(client, app.token)
        assert response.status_code == 303 and response.headers["location"] == "/"
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_pages_need_a_login(app: Inbox) -> None:
    for path in ("/", "/leads/C0000001", "/feedback/report"):
        response = httpx.get(app.url + path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    page = httpx.get(app.url + "/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    for elsewhere in ("//evil.example", "/\\evil.example", "https://evil.example"):
        with httpx.Client(base_url=app.url) as client:
            away = login(client, app.token, next=elsewhere)
        assert away.status_code == 303 and away.headers["location"] == "/"
    with httpx.Client(base_url=app.url) as client:
        wrong = login(client, "not-a-token")
    assert wrong.status_code == 401 and "leadscore_session" not in wrong.headers["set-cookie"]


def test_login_form_posted_from_another_site_is_refused(app: Inbox) -> None:
    """Login CSRF: a page elsewhere posting a valid token (the attacker's own) into the rep's
    browser has neither the pre-login cookie nor the form token bound to it."""
    bare = httpx.post(app.url + "/login", data={"token": app.token, "next": "/"})
    assert bare.status_code == 403
    assert "leadscore_session" not in bare.headers.get("set-cookie", "")
    with httpx.Client(base_url=app.url) as attacker, httpx.Client(base_url=app.url) as victim:
        form = attacker.get("/login").text
        token = re.search(r'name="login_csrf" value="([0-9a-f]{64})"', form)
        assert token is not None
        victim.get("/login")  # the victim has a pre-login cookie of their own
        forged = victim.post(
            "/login", data={"token": app.token, "login_csrf": token.group(1), "next": "/"}
        )
        assert forged.status_code == 403
        assert "leadscore_session" not in forged.headers.get("set-cookie", "")
        assert "log in again" in forged.text  # and a fresh form to do so


def _session_cookie(response: httpx.Response) -> str:
    cookies = response.headers.get_list("set-cookie")
    return next(c for c in cookies if c.startswith("leadscore_session=")).lower()


def test_session_cookie_flags(app: Inbox) -> None:
    with httpx.Client(base_url=app.url) as client:
        cookie = _session_cookie(login(client, app.token))
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    # behind a TLS proxy on the same host (uvicorn trusts 127.0.0.1's forwarded headers)
    with httpx.Client(base_url=app.url) as client:
        tls = login(client, app.token, headers={"X-Forwarded-Proto": "https"})
    assert "; secure" in _session_cookie(tls)


def test_inbox_lists_leads_by_grade_with_reasons(app: Inbox) -> None:
    with logged_in(app) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        grades = re.findall(r'<tr data-grade="([A-D])"', page.text)
        assert len(grades) == 50 and grades == sorted(grades)
        assert "<li>" in page.text and "first score" in page.text
        only_c = client.get("/", params={"grade": "C"})
        assert set(re.findall(r'<tr data-grade="([A-D])"', only_c.text)) == {"C"}


def _total(html: str) -> int:
    found = re.search(r"<caption>(\d{1,3}(?:,\d{3})*) leads?,", html)  # 1,655: separators
    assert found, "no lead count in the page"
    return int(found.group(1).replace(",", ""))


def _crm_owners(app: Inbox) -> dict[str, str]:
    with duckdb.connect(str(app.crm), read_only=True) as con:
        rows = con.execute("SELECT contact_id, owner FROM contacts").fetchall()
    return {str(c): str(o) for c, o in rows}


def test_inbox_filters_by_owner_segment_and_date(app: Inbox) -> None:
    """Server-rendered GET filters (no JavaScript): owner and segment from the CRM's own
    columns, stored with each score; dates scored; they combine and survive paging."""
    with logged_in(app) as client:
        page = client.get("/")
        everyone = _total(page.text)
        for choice in (*OWNERS, *SEGMENTS):
            assert f'<option value="{choice}">{choice}</option>' in page.text
        owners = _crm_owners(app)
        totals = []
        for owner in OWNERS:
            mine = client.get("/", params={"owner": owner})
            assert mine.status_code == 200
            shown = re.findall(r'data-contact="([^"]+)" data-owner="([^"]*)"', mine.text)
            assert shown and all(o == owner and owners[c] == owner for c, o in shown)
            assert f'<option value="{owner}" selected>' in mine.text
            totals.append(_total(mine.text))
        assert sum(totals) == everyone and min(totals) > 0
        by_segment = [_total(client.get("/", params={"segment": v}).text) for v in SEGMENTS]
        assert sum(by_segment) == everyone and min(by_segment) > 0
        both = client.get("/", params={"owner": OWNERS[1], "segment": SEGMENTS[1], "grade": "D"})
        rows = re.findall(
            r'data-grade="([A-D])"[^>]*data-owner="([^"]*)" data-segment="([^"]*)"', both.text
        )
        assert rows and set(rows) == {("D", OWNERS[1], SEGMENTS[1])}
        if _total(both.text) > 50:  # the next page keeps the filters
            assert "owner=bob.rep&amp;segment=smb" in both.text
        scored = app.store.history(shown[0][0])["scored_at"].max().date()
        assert _total(client.get("/", params={"since": scored.isoformat()}).text) == everyone
        day_before = (scored - timedelta(days=1)).isoformat()
        assert _total(client.get("/", params={"until": day_before}).text) == 0
        until_scored = client.get("/", params={"until": scored.isoformat()})
        assert _total(until_scored.text) == everyone
        unknown = client.get("/", params={"owner": "nobody"})
        assert unknown.status_code == 200 and _total(unknown.text) == 0


def first_lead(client: httpx.Client) -> str:
    found = re.search(r'data-contact="([^"]+)"', client.get("/").text)
    assert found
    return found.group(1)


def test_feedback_needs_a_session_and_csrf(app: Inbox) -> None:
    with logged_in(app) as client:
        contact = first_lead(client)
        before = len(app.store.feedback())
        page = client.get(f"/leads/{contact}")
        token, shown = csrf_of(page.text), re.search(r'name="shown" value="([^"]+)"', page.text)
        assert shown
        form = {"verdict": "rejected", "reason": "spam_bot", "shown": shown.group(1)}
        anonymous = httpx.post(f"{app.url}/leads/{contact}/feedback", data={**form, "csrf": token})
        assert anonymous.status_code == 401
        assert client.post(f"/leads/{contact}/feedback", data=form).status_code == 403
        forged = {**form, "csrf": "0" * 64}
        assert client.post(f"/leads/{contact}/feedback", data=forged).status_code == 403
        with logged_in(app) as other:  # another session's token is not this one's
            stolen = other.post(f"/leads/{contact}/feedback", data={**form, "csrf": token})
            assert stolen.status_code == 403
        assert len(app.store.feedback()) == before


def test_reject_with_reason_is_recorded_with_what_was_shown(app: Inbox) -> None:
    with logged_in(app) as client:
        contact = first_lead(client)
        page = client.get(f"/leads/{contact}")
        shown = re.search(r'name="shown" value="([^"]+)"', page.text)
        assert shown
        form = {"csrf": csrf_of(page.text), "shown": shown.group(1), "verdict": "rejected"}
        missing = client.post(f"/leads/{contact}/feedback", data=form)
        assert missing.status_code == 422 and "reason" in missing.text
        done = client.post(
            f"/leads/{contact}/feedback",
            data={**form, "reason": "competitor", "note": "works at X"},
        )
        assert done.status_code == 303
        latest = app.store.latest(contact)
        assert latest is not None
        stored = app.store.feedback(detail=True)
        row = stored[stored["contact_id"] == contact].iloc[-1]
        assert (row["verdict"], row["reason"], row["rep"], row["note"]) == (
            "rejected",
            "competitor",
            "ann.rep",
            "works at X",
        )
        assert row["model_version"] == latest["model_version"] and row["grade"] == latest["grade"]
        assert list(row["reasons_shown"]) == list(latest["reasons_positive"])
        after = client.get(f"/leads/{contact}?saved=rejected")
        assert "Verdict recorded" in after.text and "Competitor" in after.text
        report = client.get("/feedback/report")
        assert report.status_code == 200 and "competitor" in report.text


def test_posted_leads_recorded_take_feedback(app: Inbox, model: ServingModel) -> None:
    headers = {"X-API-Key": API_KEY}
    body = {"leads": [lead(model, "POSTED-1")], "as_of": model.as_of.isoformat()}
    plain = httpx.post(f"{app.url}/score", json=body, headers=headers)
    assert plain.status_code == 200 and app.store.latest("POSTED-1") is None
    recorded = httpx.post(f"{app.url}/score?record=true", json=body, headers=headers)
    assert recorded.status_code == 200
    stored = app.store.latest("POSTED-1")
    assert stored is not None and stored["grade"] == recorded.json()["scores"][0]["grade"]
    verdict = {"contact_id": "POSTED-1", "verdict": "accepted"}
    assert httpx.post(f"{app.url}/feedback", json=verdict, headers=headers).status_code == 201
    with logged_in(app) as client:
        assert "POSTED-1" in client.get("/leads/POSTED-1").text


def test_logout_needs_csrf(app: Inbox) -> None:
    with logged_in(app) as client:
        assert client.post("/logout", data={}).status_code == 403
        token = csrf_of(client.get("/").text)
        out = client.post("/logout", data={"csrf": token})
        assert out.status_code == 303 and 'leadscore_session=""' in out.headers["set-cookie"]


def test_owners_and_segments_follow_the_crm_across_chunks(
    app: Inbox, model: ServingModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import pyarrow.parquet as pq

    from leadscore.serving import score_contact_base

    crm = app.crm
    out = tmp_path_factory.mktemp("chunks") / "scores.parquet"
    score_contact_base(
        crm, "champion", out, tracking_uri=model.tracking_uri, store=None,
        as_of=model.as_of, chunk_size=300,
    )  # fmt: skip
    scores = pq.read_table(out).to_pandas()
    assert len(scores) > 600  # several chunks
    with duckdb.connect(str(crm), read_only=True) as con:
        truth = (
            con.execute(
                "SELECT c.contact_id, c.owner, a.segment FROM contacts c "
                "JOIN accounts a USING (account_id)"
            )
            .df()
            .set_index("contact_id")
        )
    expected = truth.loc[scores["contact_id"]]
    assert scores["owner"].tolist() == expected["owner"].tolist()
    assert scores["segment"].tolist() == expected["segment"].tolist()
