"""The Python pass over posted rows never lets through what the contract checks refuse: when
it says the rows are clean, the DuckDB check finds nothing; every broken rule makes it say no
(then the DuckDB check runs and gives the contract's own message)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.errors import DataContractError
from leadscore.serving.posted import PostedValidator, ScoreRequest, posted_rows, tables_of_rows
from leadscore.serving.posted_quick import QuickCheck

AS_OF = datetime(2025, 6, 1, 12, 0, 0, 500_000)


@pytest.fixture(scope="module")
def validator() -> Iterator[PostedValidator]:
    checker = PostedValidator(connections=1, built_by_posted_tables=True)
    try:
        yield checker
    finally:
        checker.close()


def test_every_recorded_check_is_known(validator: PostedValidator) -> None:
    quick = QuickCheck(validator.checks)
    assert validator.fast and quick.enabled, quick.unknown
    assert not QuickCheck([*validator.checks, "SELECT count(*) FROM x WHERE y"]).enabled


def _lead(i: int) -> dict[str, Any]:
    created = AS_OF - timedelta(days=100)
    return {
        "contact": {"contact_id": f"C{i}", "created_at": created, "job_title": "CEO"},
        "account": {"account_id": f"A{i}", "created_at": created - timedelta(days=10)},
        "events": [
            {"occurred_at": AS_OF - timedelta(days=d), "event_type": "web_visit"} for d in (1, 2)
        ],
        "stage_changes": [{"changed_at": created, "stage": "lead"}],
    }


def _apply(lead: dict[str, Any], changes: dict[str, Any]) -> None:
    for path, value in changes.items():
        *head, last = path.split(".")
        target: Any = lead
        for key in head:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value


_SECONDS = st.integers(-3, 3).map(lambda s: AS_OF.replace(microsecond=0) + timedelta(seconds=s))
_BREAKS: list[st.SearchStrategy[dict[str, Any]]] = [
    st.just({}),
    _SECONDS.map(lambda t: {"events.0.occurred_at": t}),
    _SECONDS.map(lambda t: {"stage_changes.0.changed_at": t}),
    _SECONDS.map(lambda t: {"contact.created_at": t, "account.created_at": t}),
    _SECONDS.map(lambda t: {"account.created_at": t - timedelta(days=200)}),
    st.sampled_from(["CEO\x00", "\x00", "ok"]).map(lambda v: {"contact.job_title": v}),
    st.sampled_from(["a\x00", "ok"]).map(lambda v: {"account.industry": v}),
    st.sampled_from(["/\x00", "/p"]).map(lambda v: {"events.1.page_url": v}),
    st.sampled_from(["C0#1", "C1#0", "x", "C0#0"]).map(lambda v: {"events.0.event_id": v}),
    st.sampled_from(["a@b.com", "b.com", "@"]).map(lambda v: {"contact.email_domain": v}),
    st.integers(-2, 2).map(
        lambda d: {"account.created_at": AS_OF - timedelta(days=100 - d, microseconds=1)}
    ),
    st.integers(-2, 2).map(
        lambda d: {"stage_changes.0.changed_at": AS_OF - timedelta(days=100 + d)}
    ),
    st.integers(-2, 2).map(lambda d: {"events.1.occurred_at": AS_OF - timedelta(days=110 + d)}),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.tuples(st.integers(0, 1), st.one_of(*_BREAKS)), max_size=3))
def test_quick_pass_never_lets_a_broken_row_through(
    validator: PostedValidator, changes: list[tuple[int, dict[str, Any]]]
) -> None:
    leads = [_lead(0), _lead(1)]
    for i, change in changes:
        _apply(leads[i], change)
    try:
        request = ScoreRequest.model_validate({"leads": leads, "as_of": AS_OF})
    except ValueError:
        return  # refused by the request model already
    rows = posted_rows(request)
    quick = QuickCheck(validator.checks).passes(rows, as_of=AS_OF)
    try:
        validator.check(tables_of_rows(rows), as_of=AS_OF)
    except DataContractError:
        assert not quick, "the Python pass let through rows the contract refuses"
    else:
        if not changes:
            assert quick  # clean rows skip the DuckDB check


def test_clean_requests_pass(validator: PostedValidator) -> None:
    request = ScoreRequest.model_validate({"leads": [_lead(0), _lead(1)], "as_of": AS_OF})
    assert QuickCheck(validator.checks).passes(posted_rows(request), as_of=AS_OF)


_LATE = AS_OF.replace(microsecond=0) + timedelta(seconds=1)


@pytest.mark.parametrize(
    "change",
    [
        {"events.0.occurred_at": _LATE},
        {"stage_changes.0.changed_at": _LATE},
        {"contact.job_title": "CEO\x00"},
        {"events.1.page_url": "/\x00"},
        {"events.0.event_id": "C0#1"},
        {"contact.email_domain": "a@b.com"},
        {"account.created_at": AS_OF - timedelta(days=99)},
        {"stage_changes.0.changed_at": AS_OF - timedelta(days=101)},
        {"events.1.occurred_at": AS_OF - timedelta(days=111)},
    ],
)
def test_each_broken_rule_is_refused_by_both(
    validator: PostedValidator, change: dict[str, Any]
) -> None:
    lead = _lead(0)
    _apply(lead, change)
    request = ScoreRequest.model_validate({"leads": [lead, _lead(1)], "as_of": AS_OF})
    rows = posted_rows(request)
    assert not QuickCheck(validator.checks).passes(rows, as_of=AS_OF)
    with pytest.raises(DataContractError):
        validator.check(tables_of_rows(rows), as_of=AS_OF)
