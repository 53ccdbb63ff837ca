"""The sales loop's store side on real stores (a DuckDB file and a PostgreSQL database): recorded
scores, people's tokens and sessions, the inbox's queries and trend words, the feedback report."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadscore.errors import ConfigError
from leadscore.serving.auth import Sessions, add_user, user_for_token, users
from leadscore.serving.feedback_report import feedback_report, reason_kind
from leadscore.serving.leads import (
    TREND_POINTS,
    InboxFilter,
    inbox_leads,
    lead_detail,
    trend_text,
)
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore
from leadscore.training.monitor import acceptance_over_time

MONDAY = datetime(2026, 11, 23, 9)


def rows(contact: str, points: list[tuple[datetime, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "contact_id": contact,
                "scored_at": at,
                "model_version": "3",
                "p_sql": p,
                "p_meeting": p / 2,
                "grade": grade,
                "fit_score": 0.5,
                "engagement_score": p,
                "reasons_positive": [f"reason {grade} one", "reason two"],
                "reasons_negative": ["far from the pricing page"],
            }
            for at, p, grade in points
        ],
        columns=list(HISTORY_COLUMNS),
    )


@pytest.fixture
def store(store_location: Path | str) -> ScoreStore:
    scores = ScoreStore(store_location)
    scores.record_scores(
        rows("c-up", [(MONDAY, 0.05, "C"), (MONDAY + timedelta(days=2), 0.4, "A")])
    )
    scores.record_scores(
        rows("c-flat", [(MONDAY, 0.2, "B"), (MONDAY + timedelta(days=1), 0.21, "B")])
    )
    scores.record_scores(rows("c-low", [(MONDAY + timedelta(days=2), 0.01, "D")]))
    return scores


def test_recorded_scores_are_history(store: ScoreStore) -> None:
    assert store.count() == 5
    latest = store.latest("c-up")
    assert latest is not None and latest["grade"] == "A"


def test_inbox_sorted_by_grade_with_trend_and_filters(store: ScoreStore) -> None:
    leads, total = inbox_leads(store, InboxFilter())
    assert total == 3
    assert [lead.contact_id for lead in leads] == ["c-up", "c-flat", "c-low"]
    up = leads[0]
    assert up.trend_p == [0.05, 0.4] and up.trend == "up from C to A since Monday"
    assert leads[1].trend == "steady at B since Monday"
    assert leads[2].trend == "first score"
    assert len(up.sparkline.split()) == 2
    only_b, total_b = inbox_leads(store, InboxFilter(grade="B"))
    assert [lead.contact_id for lead in only_b] == ["c-flat"] and total_b == 1
    recent, _ = inbox_leads(store, InboxFilter(since=MONDAY + timedelta(days=2)))
    assert {lead.contact_id for lead in recent} == {"c-up", "c-low"}
    store.add_feedback("c-up", "rejected", reason="spam_bot", rep="ann")
    rejected, _ = inbox_leads(store, InboxFilter(status="rejected"))
    open_, _ = inbox_leads(store, InboxFilter(status="open"))
    assert [lead.contact_id for lead in rejected] == ["c-up"] and rejected[0].verdict_by == "ann"
    assert {lead.contact_id for lead in open_} == {"c-flat", "c-low"}
    store.add_feedback("c-up", "accepted")  # later, through the API: no rep
    found, _ = inbox_leads(store, InboxFilter(status="accepted"))
    assert [(lead.verdict, lead.verdict_by) for lead in found] == [("accepted", None)]


def test_inbox_trend_is_the_last_scores_oldest_first(store: ScoreStore) -> None:
    """The trend holds the lead's last TREND_POINTS scores, oldest first, whatever order they
    were recorded in, and only that lead's (a window over the history, on both databases)."""
    points = [(MONDAY + timedelta(hours=h), h / 100, "B") for h in range(TREND_POINTS + 3)]
    store.record_scores(rows("c-many", points[::-1]))
    found, _ = inbox_leads(store, InboxFilter(grade="B"))
    many = next(lead for lead in found if lead.contact_id == "c-many")
    assert many.trend_p == [h / 100 for h in range(3, TREND_POINTS + 3)]
    assert many.trend_at == [at for at, _, _ in points[3:]]
    assert many.p_sql == (TREND_POINTS + 2) / 100
    flat = next(lead for lead in found if lead.contact_id == "c-flat")
    assert flat.trend_p == [0.2, 0.21]


def test_trend_down_and_dates() -> None:
    times = [MONDAY - timedelta(days=30), MONDAY, MONDAY + timedelta(days=3)]
    assert trend_text(["A", "A", "C"], times) == "down from A to C since Monday"
    assert trend_text(["A", "C"], [MONDAY - timedelta(days=30), MONDAY]) == (
        "down from A to C since 24 Oct"
    )


def test_feedback_keeps_contract_columns_and_detail(store: ScoreStore) -> None:
    store.add_feedback(
        "c-up", "accepted", rep="bob", model_version="3", grade="A", reasons_shown=["r1", "r2"]
    )
    assert list(store.feedback().columns) == [
        "contact_id",
        "given_at",
        "verdict",
        "reason",
        "model_version",
    ]
    detail = store.feedback(detail=True)
    assert detail.loc[0, "rep"] == "bob" and list(detail.loc[0, "reasons_shown"]) == ["r1", "r2"]
    found, verdicts = lead_detail(store, "c-up")
    assert found is not None and found.verdict == "accepted" and len(verdicts) == 1
    assert lead_detail(store, "nobody")[0] is None


def test_tokens_are_stored_hashed(store: ScoreStore) -> None:
    token = add_user(store, "jane.doe")
    assert user_for_token(store, token) == "jane.doe"
    assert user_for_token(store, token + "x") is None and user_for_token(store, "") is None
    with store.connection(read_only=True) as con:
        stored = con.execute("SELECT token_sha256 FROM users").fetchall()
    assert token not in str(stored) and len(stored[0][0]) == 64
    renewed = add_user(store, "jane.doe")
    assert user_for_token(store, token) is None and user_for_token(store, renewed) == "jane.doe"
    assert users(store) == ["jane.doe"]
    with pytest.raises(ConfigError, match="not valid"):
        add_user(store, "jane doe; drop")


def test_sessions_sign_expire_and_bind_csrf() -> None:
    sessions = Sessions(b"k" * 32)
    cookie = sessions.issue("ann")
    assert sessions.user(cookie) == "ann"
    assert sessions.user(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert Sessions(b"other key 123456").user(cookie) is None
    csrf = sessions.csrf(cookie)
    assert sessions.csrf_ok(cookie, csrf)
    assert not sessions.csrf_ok(sessions.issue("ann"), csrf)  # bound to its session
    assert not sessions.csrf_ok(cookie, None) and not sessions.csrf_ok(None, csrf)
    expired = Sessions(b"k" * 32, max_age=-1).issue("ann")
    time.sleep(0.01)
    assert sessions.user(expired) is None


def test_feedback_report_counts(store: ScoreStore) -> None:
    assert feedback_report(store).verdicts == 0
    store.add_feedback(
        "c-up", "rejected", reason="spam_bot", rep="ann", grade="A", reasons_shown=["x"]
    )
    store.add_feedback("c-flat", "accepted", rep="ann", grade="B", model_version="3")
    store.add_feedback("c-low", "rejected", reason="student", rep="bob", grade="D")
    store.add_feedback("c-low", "rejected", reason="spam_bot", grade="D")
    report = feedback_report(store)
    assert (report.verdicts, report.accepted) == (4, 1)
    by_grade = report.by_grade.set_index("grade")
    assert by_grade.loc["B", "acceptance"] == 1.0 and by_grade.loc["D", "rejected"] == 2
    by_rep = report.by_rep.set_index("rep")
    assert by_rep.loc["ann", "verdicts"] == 2 and by_rep.loc["(API)", "verdicts"] == 1
    assert next(iter(report.rejected_for["reason"])) == "spam_bot"
    assert report.rejected_for["rejections"].tolist() == [2, 1]
    assert report.by_top_reason.set_index("top_reason").loc["x", "rejected"] == 1
    assert report.repeats == 0


def test_feedback_report_counts_each_reps_latest_verdict(store: ScoreStore) -> None:
    """A double click and a change of mind are one verdict (the latest); another day, model
    version or rep counts apart."""
    start = datetime(2025, 6, 2, 9)
    for minutes in (0, 1):  # double click
        store.add_feedback(
            "c-1",
            "accepted",
            rep="ann",
            model_version="3",
            grade="A",
            given_at=start + timedelta(minutes=minutes),
        )
    store.add_feedback("c-2", "accepted", rep="ann", model_version="3", given_at=start)
    store.add_feedback(  # ann changes her mind
        "c-2",
        "rejected",
        reason="timing",
        rep="ann",
        model_version="3",
        given_at=start + timedelta(hours=1),
    )
    store.add_feedback("c-2", "accepted", rep="bob", model_version="3", given_at=start)
    store.add_feedback("c-2", "accepted", rep="ann", model_version="4", given_at=start)
    store.add_feedback(  # a week later, the lead scored again: a new verdict
        "c-1", "accepted", rep="ann", model_version="3", given_at=start + timedelta(days=7)
    )
    report = feedback_report(store)
    assert (report.given, report.verdicts, report.accepted, report.repeats) == (7, 5, 4, 2)
    counted = store.feedback(detail=True, counted=True)  # what the monitor reads
    assert len(counted) == report.verdicts and "nth" not in counted.columns
    ann_c2 = counted[(counted["contact_id"] == "c-2") & (counted["rep"] == "ann")]
    assert ann_c2.set_index("model_version")["verdict"].to_dict() == {
        "3": "rejected",
        "4": "accepted",
    }
    weekly = acceptance_over_time(store.feedback(counted=True))
    assert weekly[["verdicts", "accepted"]].values.tolist() == [[4, 3], [1, 1]]
    assert report.by_grade.set_index("grade").loc["A", "verdicts"] == 1
    assert report.rejected_for["reason"].tolist() == ["timing"]
    by_version = report.by_model_version.set_index("model_version")
    assert by_version.loc["3", "verdicts"] == 4 and by_version.loc["3", "rejected"] == 1


def test_verdicts_given_at_one_moment_count_alike_on_both_backends(store: ScoreStore) -> None:
    """Two rejections at the same moment (an API client posting its own ``given_at``), one
    with a reason: the one with the reason counts on DuckDB and PostgreSQL alike (their
    ``DESC`` orders put NULL last and first by default)."""
    moment = datetime(2025, 6, 2, 9)
    for reason in ("timing", None, "bad_fit"):
        store.add_feedback(
            "c-1", "rejected", reason=reason, rep="ann", model_version="3", given_at=moment
        )
    counted = store.feedback(counted=True)
    assert counted["reason"].tolist() == ["timing"]  # the first reason in DESC order, never NULL
    assert feedback_report(store).rejected_for["reason"].tolist() == ["timing"]


def test_a_score_of_an_older_export_says_its_as_of(store_location: Path | str) -> None:
    """A batch run scored today on data that ended earlier: its "last 7 days" count back from
    its as-of, so the lead's page must say it; an API score (no as-of) does not."""
    scores = ScoreStore(store_location)
    old = rows("c-old", [(MONDAY, 0.3, "A")]).assign(as_of=MONDAY - timedelta(days=300))
    scores.record_scores(old)
    scores.record_scores(rows("c-api", [(MONDAY, 0.3, "A")]))
    lead, _ = lead_detail(scores, "c-old")
    assert lead is not None and lead.as_of == MONDAY - timedelta(days=300)
    assert lead.describes_the_past
    api, _ = lead_detail(scores, "c-api")
    assert api is not None and api.as_of is None and not api.describes_the_past


def test_acceptance_per_top_reason_groups_reasons_that_differ_by_a_count(
    store: ScoreStore,
) -> None:
    """ "16 interactions in the last 7 days" and "33 ..." are one kind of reason: one row, not
    one row per lead; windows and labels keep their numbers."""
    store.add_feedback("c-up", "accepted", reasons_shown=["16 interactions in the last 7 days"])
    store.add_feedback("c-flat", "rejected", reasons_shown=["33 interactions in the last 7 days"])
    store.add_feedback("c-low", "accepted", reasons_shown=["annual revenue band 50M-100M"])
    table = feedback_report(store).by_top_reason
    assert table["top_reason"].tolist() == [
        "N interactions in the last 7 days",
        "annual revenue band 50M-100M",
    ]
    assert table["verdicts"].tolist() == [2, 1] and table["acceptance"].tolist() == [0.5, 1.0]
    assert reason_kind("Employee count 1,200 (higher than 85 % of leads)") == (
        "Employee count N (higher than N % of leads)"  # a flat model's reasons group too
    )
