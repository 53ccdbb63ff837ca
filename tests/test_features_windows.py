"""Behaviour features against a brute-force reference, at any cutoff time of day.

The SQL generator computes windows on a day grid aligned with each cutoff's time of day and
recency from per-interval maxima (never joining a contact to its events once per cutoff); here
every value is recomputed the obvious way, event by event, for random events and cutoffs that
include non-midnight times, several times of day in one query, events exactly at a cutoff or a
window boundary, and cutoffs on the same day. Batching cutoffs must not change any value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.features import build_features, load_definition
from tests.test_features_data import base_tables, crm_from_frames

START = datetime(2024, 1, 1)
LOOKBACK = 40
TYPES = ["web_visit", "pricing_page_visit", "email_open"]
CONTACTS = ["C0", "C1", "C2", "C3"]
ACCOUNT = {"C0": "A1", "C1": "A1", "C2": "A1", "C3": "A2"}
DAY = timedelta(days=1)

DEFINITION = load_definition(
    catalog={
        "lookback_days": LOOKBACK,
        "features": [
            {"name": "n_all_{window}d", "kind": "event_count", "windows": [1, 7, 30],
             "concept": "engagement", "type": "numeric", "explanation": "{value}"},
            {"name": "n_web_{window}d", "kind": "event_count", "event_types": ["web_visit"],
             "windows": [1, 7], "concept": "engagement", "type": "numeric",
             "explanation": "{value}"},
            {"name": "n_pe_{window}d", "kind": "event_count",
             "event_types": ["pricing_page_visit", "email_open"], "windows": [2, 30],
             "concept": "engagement", "type": "numeric", "explanation": "{value}"},
            {"name": "active_all_{window}d", "kind": "active_days", "windows": [1, 3, 30],
             "concept": "engagement", "type": "numeric", "explanation": "{value}"},
            {"name": "active_web_{window}d", "kind": "active_days",
             "event_types": ["web_visit"], "windows": [2, 7], "concept": "engagement",
             "type": "numeric", "explanation": "{value}"},
            {"name": "t_trend", "kind": "trend", "recent_days": 3, "baseline_days": 5,
             "concept": "engagement", "type": "numeric", "explanation": "{value}"},
            {"name": "days_all", "kind": "days_since", "concept": "recency",
             "type": "numeric", "explanation": "{value}"},
            {"name": "days_pe", "kind": "days_since",
             "event_types": ["pricing_page_visit", "email_open"], "concept": "recency",
             "type": "numeric", "explanation": "{value}"},
            {"name": "any_all", "kind": "any_event", "concept": "intent", "type": "boolean",
             "explanation": "{value}"},
            {"name": "any_web", "kind": "any_event", "event_types": ["web_visit"],
             "concept": "intent", "type": "boolean", "explanation": "{value}"},
            {"name": "acct_events_{window}d", "kind": "account", "measure": "events",
             "windows": [2, 10], "concept": "account_activity", "type": "numeric",
             "explanation": "{value}"},
            {"name": "acct_engaged_{window}d", "kind": "account",
             "measure": "engaged_other_contacts", "windows": [2, 10],
             "concept": "account_activity", "type": "numeric", "explanation": "{value}"},
        ],
    }
)  # fmt: skip

# cutoffs between day 60 and day 75, on a few times of day (shared, so events land exactly on
# cutoffs and window boundaries), events from day 0 (beyond the lookback) to day 80
TIMES_OF_DAY = [timedelta(0), timedelta(hours=12, minutes=30), timedelta(hours=23, seconds=59)]
cutoff_time = st.builds(
    lambda day, tod: START + timedelta(days=day) + tod,
    st.integers(60, 75),
    st.sampled_from(TIMES_OF_DAY),
)
event_time = st.one_of(
    st.builds(
        lambda day, tod: START + timedelta(days=day) + tod,
        st.integers(0, 80),
        st.sampled_from(TIMES_OF_DAY),
    ),
    st.integers(0, 80 * 86400).map(lambda s: START + timedelta(seconds=s)),
)
events_strategy = st.lists(
    st.tuples(st.sampled_from(CONTACTS), event_time, st.sampled_from(TYPES)), max_size=40
)


def _reference(
    events: list[tuple[str, datetime, str]], cutoff: datetime, contact: str
) -> dict[str, Any]:
    def known(types: list[str] | None, days: int | None = None) -> list[datetime]:
        return [
            at
            for cid, at, kind in events
            if cid == contact
            and at < cutoff
            and (types is None or kind in types)
            and (days is None or at >= cutoff - days * DAY)
        ]

    def count(types: list[str] | None, days: int) -> int:
        return len(known(types, days))

    def active(types: list[str] | None, days: int) -> int:
        return len({at.date() for at in known(types, days)})

    def since(types: list[str] | None) -> int:
        times = known(types, LOOKBACK)
        if not times:
            return LOOKBACK
        return min((cutoff - max(times)) // DAY, LOOKBACK)

    pe = ["pricing_page_visit", "email_open"]
    row: dict[str, Any] = {f"n_all_{w}d": count(None, w) for w in (1, 7, 30)}
    row |= {f"n_web_{w}d": count(["web_visit"], w) for w in (1, 7)}
    row |= {f"n_pe_{w}d": count(pe, w) for w in (2, 30)}
    row |= {f"active_all_{w}d": active(None, w) for w in (1, 3, 30)}
    row |= {f"active_web_{w}d": active(["web_visit"], w) for w in (2, 7)}
    row["t_trend"] = count(None, 3) - (count(None, 8) - count(None, 3)) * 3 / 5
    row["days_all"], row["days_pe"] = since(None), since(pe)
    row["any_all"] = bool(known(None, LOOKBACK))
    row["any_web"] = bool(known(["web_visit"], LOOKBACK))
    mates = [c for c in CONTACTS if ACCOUNT[c] == ACCOUNT[contact]]  # all created at START
    for w in (2, 10):
        counts = {
            c: sum(1 for cid, at, _ in events if cid == c and cutoff - w * DAY <= at < cutoff)
            for c in mates
        }
        row[f"acct_events_{w}d"] = sum(counts.values())
        row[f"acct_engaged_{w}d"] = sum(1 for c, n in counts.items() if n and c != contact)
    return row


def _crm(events: list[tuple[str, datetime, str]]) -> Any:
    contacts = [
        {"contact_id": c, "account_id": ACCOUNT[c], "created_at": START, "job_title": None,
         "email_domain": None, "lead_source": None}
        for c in CONTACTS
    ]  # fmt: skip
    rows = [{"event_id": "anchor", "contact_id": "C0", "occurred_at": START, "event_type": "chat"}]
    rows += [
        {"event_id": f"E{i}", "contact_id": cid, "occurred_at": at, "event_type": kind}
        for i, (cid, at, kind) in enumerate(events)
    ]
    stages = [{"contact_id": c, "changed_at": START, "stage": "lead"} for c in CONTACTS]
    return crm_from_frames(base_tables(contacts, rows, stages)), [
        ("C0", START, "chat"),
        *events,
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events_strategy, cutoffs=st.lists(cutoff_time, min_size=1, max_size=4, unique=True))
def test_behaviour_features_match_brute_force(
    events: list[tuple[str, datetime, str]], cutoffs: list[datetime]
) -> None:
    crm, all_events = _crm(events)
    try:
        together = build_features(crm, DEFINITION, cutoffs)
        one_by_one = build_features(crm, DEFINITION, cutoffs, cutoffs_per_query=1)
    finally:
        crm.close()
    pd.testing.assert_frame_equal(together, one_by_one)
    assert len(together) == len(CONTACTS) * len(cutoffs)
    for record in together.to_dict("records"):
        cutoff = record["cutoff"].to_pydatetime()
        expected = _reference(all_events, cutoff, record["contact_id"])
        got = {name: record[name] for name in expected}
        assert got == expected, (record["contact_id"], cutoff)
