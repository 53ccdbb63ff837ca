"""The funnel: stage changes from the latent process (SQL, meeting, customer, disqualified) and
from the marketing-automation points rule (MQL). Hand-raises (``demo_request`` events) move the
SQL hazard from the next day on (:func:`leadscore.synthetic.params.hand_raise_boost`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from leadscore.contract import Stage
from leadscore.synthetic.behaviour import EVENT_TYPES, BlockEvents
from leadscore.synthetic.drift import Drift, drifted_hazard
from leadscore.synthetic.intent import BlockIntent
from leadscore.synthetic.params import (
    CUSTOMER_DELAY,
    MEETING_DELAY,
    POST_SQL_DQ_DELAY,
    POST_SQL_DQ_PROB,
    SECONDS_PER_DAY,
    FloatArray,
    IntArray,
    customer_probability,
    dq_hazard,
    hand_raise_boost,
    hazard_weekday_factor,
    last_raise_day,
    meeting_day,
    meeting_probability,
    sql_hazard,
)

__all__ = [
    "CRM_LABELS",
    "MQL_THRESHOLD",
    "RULE_POINTS",
    "STAGES",
    "BlockFunnel",
    "hand_raises",
    "simulate_funnel",
]

STAGES: tuple[str, ...] = tuple(s.value for s in Stage)
CRM_LABELS: dict[str, str] = {
    "lead": "Lead",
    "mql": "Marketing Qualified Lead",
    "sql": "Sales Qualified Lead",
    "meeting": "Meeting Booked",
    "customer": "Closed Won",
    "disqualified": "Disqualified",
}
MQL_THRESHOLD = 50
RULE_POINTS: dict[str, int] = {
    "web_visit": 0,
    "pricing_page_visit": 5,
    "content_download": 10,
    "webinar_registration": 5,
    "webinar_attendance": 10,
    "email_open": 1,
    "email_click": 3,
    "form_fill": 5,
    "demo_request": 20,
    "chat": 5,
    "unsubscribe": -10,
}
"""The marketing team's points (DOMAIN.md); profile points come from the profiles module."""
_NONE = -1
_DEMO = EVENT_TYPES.index("demo_request")


@dataclass(frozen=True)
class BlockFunnel:
    """Stage rows (contact, seconds, stage code) and per-contact stage times (-1 = never)."""

    contact: IntArray
    sec: IntArray
    stage: IntArray
    mql_sec: IntArray
    sql_sec: IntArray
    meeting_sec: IntArray
    customer_sec: IntArray
    disqualified_sec: IntArray
    raise_contact: IntArray
    """Hand-raises: one row per contact and day with a ``demo_request`` (its first one)."""
    raise_sec: IntArray


def hand_raises(events: BlockEvents) -> tuple[IntArray, IntArray]:
    """(contact, seconds) of the first ``demo_request`` of each contact-day, sorted."""
    rows = np.flatnonzero(events.event_type == _DEMO)
    contact, sec = events.contact[rows], events.sec[rows]
    day = sec // SECONDS_PER_DAY
    first = np.r_[True, (contact[1:] != contact[:-1]) | (day[1:] != day[:-1])]
    return contact[first].astype(np.int64), sec[first].astype(np.int64)


def _time_in_day(
    rng: np.random.Generator, day: IntArray, not_before: IntArray, end_sec: int
) -> IntArray:
    """A uniform time within ``day``, after ``not_before`` and before the end of the data."""
    lo = np.maximum(day * SECONDS_PER_DAY, not_before + 1)
    hi = np.minimum((day + 1) * SECONDS_PER_DAY, end_sec)
    return np.asarray(lo + rng.random(len(day)) * np.maximum(hi - lo, 0), dtype=np.int64)


def _mql_times(events: BlockEvents, profile_points: IntArray) -> IntArray:
    """When each contact's cumulative rule score first reaches the MQL threshold (-1 = never)."""
    n = len(profile_points)
    out = np.full(n, _NONE, dtype=np.int64)
    if len(events.contact) == 0:
        return out
    points = np.array([RULE_POINTS[t] for t in EVENT_TYPES], dtype=np.int64)
    pts = points[events.event_type]
    cum = np.cumsum(pts)
    starts = np.flatnonzero(np.r_[True, events.contact[1:] != events.contact[:-1]])
    before = np.where(starts > 0, cum[starts - 1], 0)
    group = np.cumsum(np.r_[True, events.contact[1:] != events.contact[:-1]]) - 1
    score = cum - before[group] + profile_points[events.contact]
    hit = np.flatnonzero(score >= MQL_THRESHOLD)
    contacts, first = np.unique(events.contact[hit], return_index=True)
    out[contacts] = events.sec[hit[first]]
    return np.asarray(out, dtype=np.int64)


def simulate_funnel(
    rng: np.random.Generator,
    intent: BlockIntent,
    fit: FloatArray,
    created_sec: IntArray,
    events: BlockEvents,
    profile_points: IntArray,
    start: datetime,
    end_sec: int,
    drift: Drift | None = None,
) -> BlockFunnel:
    """Draw SQL/disqualification day by day, then meetings and customers; MQL by the rules.
    ``drift``: from its day on, the SQL hazard is the drifted one (a planted drift)."""
    n, n_days = (int(x) for x in intent.grid.shape)
    days = np.arange(n_days, dtype=np.int64)
    alive = days[None, :] >= intent.created_day[:, None]
    weekday = hazard_weekday_factor(days, start)[None, :]
    raise_contact, raise_sec = hand_raises(events)
    raised = np.zeros((n, n_days), dtype=bool)
    raised[raise_contact, raise_sec // SECONDS_PER_DAY] = True
    age = days[None, :] - last_raise_day(raised, days, np.full(n, np.nan))
    boost = hand_raise_boost(age, fit[:, None])
    h = sql_hazard(fit[:, None], intent.grid, weekday, boost)
    if drift is not None:
        after = drifted_hazard(drift, fit, intent.grid, events, weekday, boost)
        h = np.where(days[None, :] >= drift.day, after, h)
    h = np.where(alive, h, 0.0)
    q = np.where(alive, dq_hazard(fit)[:, None] * weekday, 0.0)
    u = rng.random((n, n_days))
    sql_hit = u < h
    hit = sql_hit | (u < h + (1.0 - h) * q)
    any_hit = hit.any(axis=1)
    first_day = np.argmax(hit, axis=1)
    rows = np.arange(n)
    is_sql = any_hit & sql_hit[rows, first_day]
    is_dq = any_hit & ~is_sql
    when = _time_in_day(rng, first_day.astype(np.int64), created_sec, end_sec)
    sql_sec = np.where(is_sql, when, _NONE)
    dq_sec = np.where(is_dq, when, _NONE)

    # after SQL: meeting or (maybe) disqualification; after meeting: maybe customer
    p_meet = meeting_probability(fit, intent.grid[rows, first_day], boost[rows, first_day])
    meets = is_sql & (rng.random(n) < p_meet)
    delay = rng.integers(MEETING_DELAY[0], MEETING_DELAY[1] + 1, n)
    m_day = meeting_day(first_day.astype(np.int64), delay, start)
    m_sec = m_day * SECONDS_PER_DAY + rng.integers(9 * 3600, 18 * 3600, n)
    meeting_sec = np.where(meets & (m_sec < end_sec), m_sec, _NONE)
    post_dq = is_sql & ~meets & (rng.random(n) < POST_SQL_DQ_PROB)
    dq_day = first_day + rng.integers(POST_SQL_DQ_DELAY[0], POST_SQL_DQ_DELAY[1] + 1, n)
    dq_when = dq_day * SECONDS_PER_DAY + (rng.random(n) * SECONDS_PER_DAY).astype(np.int64)
    dq_sec = np.where(post_dq & (dq_when < end_sec), dq_when, dq_sec)
    wins = (meeting_sec >= 0) & (rng.random(n) < customer_probability(fit))
    c_day = m_day + rng.integers(CUSTOMER_DELAY[0], CUSTOMER_DELAY[1] + 1, n)
    c_sec = c_day * SECONDS_PER_DAY + rng.integers(8 * 3600, 20 * 3600, n)
    customer_sec = np.where(wins & (c_sec < end_sec), c_sec, _NONE)

    # MQL: the rule fires before sales or disqualification took over (never after)
    mql = _mql_times(events, profile_points)
    stop = np.where(any_hit, when, np.iinfo(np.int64).max)
    mql_sec = np.where((mql >= 0) & (mql < stop), mql, _NONE)

    per_stage = (
        (Stage.LEAD, created_sec),
        (Stage.MQL, mql_sec),
        (Stage.SQL, sql_sec),
        (Stage.MEETING, meeting_sec),
        (Stage.CUSTOMER, customer_sec),
        (Stage.DISQUALIFIED, dq_sec),
    )
    parts_c, parts_s, parts_k = [], [], []
    for stage, times in per_stage:
        idx = np.flatnonzero(times >= 0)
        parts_c.append(idx)
        parts_s.append(times[idx])
        parts_k.append(np.full(len(idx), STAGES.index(stage.value), dtype=np.int64))
    contact = np.concatenate(parts_c).astype(np.int64)
    sec = np.concatenate(parts_s).astype(np.int64)
    stage_code = np.concatenate(parts_k)
    order = np.lexsort((stage_code, sec, contact))
    return BlockFunnel(
        contact=contact[order],
        sec=sec[order],
        stage=stage_code[order],
        mql_sec=mql_sec,
        sql_sec=sql_sec,
        meeting_sec=meeting_sec,
        customer_sec=customer_sec,
        disqualified_sec=dq_sec,
        raise_contact=raise_contact,
        raise_sec=raise_sec,
    )
