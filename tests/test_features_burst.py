"""Burst features (issue 14 item 4): their values, and no leak from the future.

The leakage check is the future-change pattern of ``test_features_leakage.py``: two worlds share
every event before the cutoff and differ in everything at or after it (bursts in the very hour
the cutoff cuts, just after it, and later); each contact's burst features must be equal. The
cutoff is mid-hour, so a bucket that straddles it is exercised.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.errors import FeatureDefinitionError
from leadscore.features import load_definition
from leadscore.features.build import build_features
from tests.test_features_data import base_tables, crm_from_frames

CUTOFF = datetime(2024, 4, 1, 10, 30)  # mid-hour on purpose
DEFINITION = load_definition(
    {"include": ["max_events_in_an_hour_*", "max_events_in_a_day_*", "burst_event_share_*"]}
)
BURST = ["max_events_in_an_hour_90d", "max_events_in_a_day_90d", "burst_event_share_90d"]


def _contacts(world: str, n: int) -> list[dict[str, Any]]:
    return [
        {"contact_id": f"{world}_C{i}", "account_id": "A1", "created_at": "2023-06-01",
         "job_title": None, "email_domain": "acme.com", "lead_source": "webinar"}
        for i in range(n)
    ]  # fmt: skip


def _crm(events: dict[str, list[tuple[int, datetime]]], n: int) -> Any:
    rows, contacts, stages = [], [], []
    for world, items in events.items():
        contacts += _contacts(world, n)
        stages += [
            {"contact_id": f"{world}_C{i}", "changed_at": "2023-06-01", "stage": "lead"}
            for i in range(n)
        ]
        # an anchor outside the 90-day window: the contract wants events
        rows.append({"event_id": f"{world}z", "contact_id": f"{world}_C0",
                     "occurred_at": datetime(2023, 7, 1), "event_type": "email_open"})  # fmt: skip
        rows += [
            {"event_id": f"{world}{j}", "contact_id": f"{world}_C{i}", "occurred_at": at,
             "event_type": "web_visit"}
            for j, (i, at) in enumerate(items)
        ]  # fmt: skip
    return crm_from_frames(base_tables(contacts, rows, stages))


def _features(crm: Any) -> pd.DataFrame:
    try:
        return build_features(crm, DEFINITION, [CUTOFF]).set_index("contact_id").sort_index()
    finally:
        crm.close()


def test_burst_values_by_hand() -> None:
    base = CUTOFF - timedelta(days=3)  # 07:30 three days before
    events = [(0, base + timedelta(minutes=m % 30)) for m in range(40)]  # 40 in one hour
    events += [(0, base + timedelta(hours=2, minutes=m)) for m in range(10)]  # same day, 10
    events += [(0, CUTOFF - timedelta(days=1, minutes=5))]  # another day, 1
    events += [(0, CUTOFF - timedelta(days=100))]  # outside the 90-day window
    events += [(0, CUTOFF + timedelta(minutes=m)) for m in range(50)]  # after: never counted
    events += [(1, CUTOFF - timedelta(minutes=10))] * 3  # the hour the cutoff cuts
    f = _features(_crm({"a": events}, 3))
    row = f.loc["a_C0"]
    assert row["max_events_in_an_hour_90d"] == 40
    assert row["max_events_in_a_day_90d"] == 50
    assert row["burst_event_share_90d"] == pytest.approx(40 / 51)
    assert f.loc["a_C1", "max_events_in_an_hour_90d"] == 3
    assert f.loc["a_C1", "burst_event_share_90d"] == 0.0
    assert f.loc["a_C2", BURST].tolist() == [0, 0, 0.0]  # no events at all


past = st.integers(1, 120 * 3600).map(lambda s: CUTOFF - timedelta(seconds=s))
future = st.one_of(
    st.integers(0, 1799), st.integers(0, 3 * 86400), st.integers(0, 200 * 86400)
).map(lambda s: CUTOFF + timedelta(seconds=s))


@st.composite
def burst_worlds(draw: st.DrawFn) -> dict[str, Any]:
    def bursts(time: st.SearchStrategy[datetime]) -> list[tuple[int, datetime]]:
        out: list[tuple[int, datetime]] = []
        for _ in range(draw(st.integers(0, 3))):
            contact, start = draw(st.integers(0, 2)), draw(time)
            size = draw(st.integers(1, 60))
            spread = draw(st.sampled_from([60, 3600, 6 * 3600]))
            out += [(contact, start + timedelta(seconds=(k * spread) // size)) for k in range(size)]
        return out

    shared = bursts(past)
    shared = [(c, t) for c, t in shared if t < CUTOFF]
    return {w: shared + bursts(future) for w in "ab"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(burst_worlds())
def test_burst_features_ignore_the_future(world: dict[str, Any]) -> None:
    f = _features(_crm(world, 3))
    f.index = f.index.str[2:].where(f.index.str[0] == "a", "b:" + f.index.str[2:])
    a = f[~f.index.str.startswith("b:")][BURST]
    b = f[f.index.str.startswith("b:")][BURST]
    b.index = b.index.str[2:]
    pd.testing.assert_frame_equal(a, b)


def test_burst_feature_needs_a_window_and_is_numeric() -> None:
    with pytest.raises(FeatureDefinitionError, match="needs a window"):
        load_definition(
            {"add": [{"name": "b", "kind": "burst", "measure": "max_per_hour",
                      "concept": "engagement", "type": "numeric", "explanation": "x"}]}
        )  # fmt: skip
    with pytest.raises(FeatureDefinitionError, match="numeric"):
        load_definition(
            {"add": [{"name": "b_{window}d", "kind": "burst", "measure": "max_per_hour",
                      "windows": [30], "concept": "engagement", "type": "boolean",
                      "explanation": "x"}]}
        )  # fmt: skip


def _burst_by_hand(times: list[datetime], cutoff: datetime, days: int, threshold: int) -> tuple:
    """The three measures straight from their definition (calendar hours and days)."""
    inside = [t for t in times if cutoff - timedelta(days=days) <= t < cutoff]
    hours: dict[datetime, int] = {}
    per_day: dict[Any, int] = {}
    for t in inside:
        hours[t.replace(minute=0, second=0, microsecond=0)] = (
            hours.get(t.replace(minute=0, second=0, microsecond=0), 0) + 1
        )
        per_day[t.date()] = per_day.get(t.date(), 0) + 1
    burst = sum(n for n in hours.values() if n >= threshold)
    share = burst / len(inside) if inside else 0.0
    return max(hours.values(), default=0), max(per_day.values(), default=0), share


@pytest.mark.parametrize("per_query", [1, None])
def test_burst_over_many_cutoffs_equals_the_definition(per_query: int | None) -> None:
    """Cutoffs at midnight and mid-hour in one query (two grids), events crowded around each
    cutoff and around the start of its window, so whole days, cut days and cut hours all count;
    one cutoff per query (events joined per cutoff) and all in one (per-day summaries)."""
    import random

    rng = random.Random(7)
    days, threshold = 3, 4
    cutoffs = [
        datetime(2024, 4, 1),
        datetime(2024, 4, 2, 10, 30),
        datetime(2024, 4, 4, 23, 59),
        datetime(2024, 4, 6, 0, 0, 1),
    ]
    events: list[tuple[int, datetime]] = []
    for cutoff in cutoffs:
        for edge in (cutoff, cutoff - timedelta(days=days)):
            for _ in range(60):
                contact = rng.randrange(4)
                events.append((contact, edge + timedelta(seconds=rng.randint(-7200, 7200))))
    crm = _crm({"a": events}, 5)
    definition = load_definition(
        {
            "add": [
                {
                    "name": f"b_{m}_{{window}}d",
                    "kind": "burst",
                    "measure": m,
                    "windows": [days],
                    "burst_hour_events": threshold,
                    "concept": "engagement",
                    "type": "numeric",
                    "explanation": "{value}",
                }
                for m in ("max_per_hour", "max_per_day", "burst_share")
            ],
            "include": ["b_*"],
        }
    )
    try:
        got = build_features(crm, definition, cutoffs, cutoffs_per_query=per_query)
    finally:
        crm.close()
    assert len(got) == 5 * len(cutoffs)
    names = [f"b_{m}_{days}d" for m in ("max_per_hour", "max_per_day", "burst_share")]
    for row in got.itertuples(index=False):
        contact = int(row.contact_id.split("_C")[1])
        times = [t for c, t in events if c == contact]
        want = _burst_by_hand(times, row.cutoff.to_pydatetime(), days, threshold)
        values = tuple(getattr(row, n) for n in names)
        assert values[:2] == want[:2], (row.contact_id, row.cutoff)
        assert values[2] == pytest.approx(want[2], abs=1e-12)
