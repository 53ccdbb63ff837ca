"""The latent model of the generator: constants and the hazard functions shared with the oracle.

The generator and :mod:`leadscore.synthetic.oracle` both call these functions, so the oracle
integrates exactly the process that produced the data. Time runs on a daily grid: day ``d``
covers ``[start + d days, start + d + 1 days)``.

Latent process per contact
--------------------------
* ``fit``: ICP fit from the true profile plus unobserved noise (roughly standard normal).
* intent bursts: one at creation (strength set by the lead source), then Poisson arrivals at
  :func:`burst_rate` per day until the contact goes dormant (geometric, :data:`DORMANCY_HAZARD`).
  ``intent_d = sum_k amplitude_k * 2 ** (-(d - day_k) / half_life)`` over bursts with
  ``day_k <= d``.
* hand-raises: on an active day (created, not yet dormant) the contact asks for a demo or for
  sales (a ``demo_request`` event) with probability ``1 - exp(-rate)``, ``rate`` =
  :func:`demo_request_rate` x the events' weekday factor. A hand-raise is an explicit request:
  from the next day on, sales answer it (:func:`hand_raise_boost` on the SQL logit, decaying with
  the days since the latest hand-raise, larger for good fit: a decision maker in the target
  market gets qualified, a student asking for a demo mostly does not).
* each day from creation: SQL with probability :func:`sql_hazard`; otherwise disqualified with
  probability :func:`dq_hazard` (competing risks, SQL checked first).
* after SQL: a meeting with probability :func:`meeting_probability` (intent and hand-raise term
  of the SQL day: a demo requester qualified by sales mostly books the demo) on
  :func:`meeting_day`; otherwise disqualified with :data:`POST_SQL_DQ_PROB` after
  :data:`POST_SQL_DQ_DELAY` days. After a meeting: customer with :func:`customer_probability`.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AMPLITUDE_LOG_MEAN",
    "AMPLITUDE_LOG_SD",
    "BLOCK_CONTACTS",
    "CUSTOMER_DELAY",
    "DORMANCY_HAZARD",
    "EVENT_WEEKEND_FACTOR",
    "GENERATOR_VERSION",
    "HALF_LIFE_RANGE",
    "MEETING_DELAY",
    "POST_SQL_DQ_DELAY",
    "POST_SQL_DQ_PROB",
    "SECONDS_PER_DAY",
    "FloatArray",
    "IntArray",
    "burst_rate",
    "customer_probability",
    "decayed_sum",
    "demo_request_rate",
    "dq_hazard",
    "draw_amplitudes",
    "hand_raise_boost",
    "hazard_weekday_factor",
    "last_raise_day",
    "meeting_day",
    "meeting_probability",
    "sigmoid",
    "sql_hazard",
    "weekday_of_day",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

GENERATOR_VERSION = "2"
"""Bumped whenever the latent model changes; the oracle refuses data from another version."""

SECONDS_PER_DAY = 86_400
BLOCK_CONTACTS = 1_000
"""Contacts per random block: each block has its own random stream, so output does not depend
on the chunk size (chunks are whole numbers of blocks)."""

# --- intent -------------------------------------------------------------------------------------
BURST_RATE_BASE = 1.0 / 75.0
BURST_RATE_FIT = 0.3
AMPLITUDE_LOG_MEAN = -0.5
AMPLITUDE_LOG_SD = 0.9
INITIAL_AMPLITUDE_LOG_SD = 0.7
HALF_LIFE_LOG_MEDIAN = math.log(10.0)
HALF_LIFE_LOG_SD = 0.5
HALF_LIFE_RANGE = (2.0, 45.0)
DORMANCY_HAZARD = 1.0 / 240.0

# --- funnel -------------------------------------------------------------------------------------
SQL_INTERCEPT = -11.1
SQL_FIT = 0.7
SQL_INTENT = 1.8
HAZARD_WEEKEND_FACTOR = 0.15
EVENT_WEEKEND_FACTOR = 0.35
"""Events (hence hand-raises) are rarer on Saturdays and Sundays."""
DEMO_REQUEST_RATE = 0.0025
"""``demo_request`` events per active day: ``2 * rate * intent**2 * sigmoid(1.5 * fit)``."""
HAND_RAISE_BOOST = 5.8
HAND_RAISE_FIT = 1.3
HAND_RAISE_HALF_LIFE = 7.0
HAND_RAISE_MEMORY = 30
"""Days after a hand-raise during which it still moves the SQL hazard."""
DQ_BASE = 0.004
MEETING_INTERCEPT = -2.1
MEETING_FIT = 0.55
MEETING_INTENT = 0.25
MEETING_HAND_RAISE = 0.15
MEETING_DELAY = (1, 21)
"""Inclusive range of days between the SQL and the meeting (weekends move to Monday)."""
POST_SQL_DQ_PROB = 0.55
POST_SQL_DQ_DELAY = (5, 40)
CUSTOMER_INTERCEPT = -1.0
CUSTOMER_FIT = 0.7
CUSTOMER_DELAY = (14, 120)


def sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function, elementwise."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def burst_rate(fit: FloatArray) -> FloatArray:
    """Expected intent bursts per day after creation (mildly higher for good fit)."""
    return np.asarray(BURST_RATE_BASE * np.exp(BURST_RATE_FIT * fit), dtype=np.float64)


def draw_amplitudes(rng: np.random.Generator, n: int) -> FloatArray:
    """Amplitudes of ``n`` spontaneous intent bursts (lognormal)."""
    return rng.lognormal(AMPLITUDE_LOG_MEAN, AMPLITUDE_LOG_SD, n)


def weekday_of_day(days: IntArray, start: datetime) -> IntArray:
    """Weekday (Monday = 0) of grid days."""
    return np.asarray((days + start.weekday()) % 7, dtype=np.int64)


def hazard_weekday_factor(days: IntArray, start: datetime) -> FloatArray:
    """Sales work on weekdays: hazards are damped on Saturdays and Sundays."""
    weekend = weekday_of_day(days, start) >= 5
    return np.where(weekend, HAZARD_WEEKEND_FACTOR, 1.0)


def demo_request_rate(intent: FloatArray, fit: FloatArray) -> FloatArray:
    """Expected ``demo_request`` events on an active weekday (hot, well-fitting contacts ask)."""
    return np.asarray(2.0 * DEMO_REQUEST_RATE * intent**2 * sigmoid(1.5 * fit), dtype=np.float64)


def hand_raise_boost(age: FloatArray, fit: FloatArray) -> FloatArray:
    """Added to the SQL logit ``age`` days after the latest hand-raise (``age >= 1``; NaN or
    beyond :data:`HAND_RAISE_MEMORY`: none): ``(k + k_fit * fit)+ * 2 ** (-(age - 1) / h)``."""
    size = np.maximum(HAND_RAISE_BOOST + HAND_RAISE_FIT * fit, 0.0)
    recent = (age >= 1) & (age <= HAND_RAISE_MEMORY)
    decay = np.exp2(-(np.where(recent, age, 1.0) - 1.0) / HAND_RAISE_HALF_LIFE)
    return np.asarray(np.where(recent, size * decay, 0.0), dtype=np.float64)


def last_raise_day(raised: np.ndarray, days: IntArray, before: FloatArray) -> FloatArray:
    """Per row and day of ``raised`` (bool, last axis on grid ``days``), the latest day strictly
    before it with a hand-raise; ``before`` (per row, NaN for none): the latest one before the
    grid. NaN when there is none."""
    marks = np.where(raised, days.astype(np.float64), -np.inf)
    latest = np.maximum.accumulate(marks, axis=-1)
    shifted = np.concatenate([np.full((*latest.shape[:-1], 1), -np.inf), latest[..., :-1]], axis=-1)
    prior = np.nan_to_num(np.asarray(before, dtype=np.float64), nan=-np.inf)
    out = np.maximum(shifted, prior.reshape((*prior.shape, *(1,) * (raised.ndim - prior.ndim))))
    return np.asarray(np.where(np.isfinite(out), out, np.nan), dtype=np.float64)


def sql_hazard(
    fit: FloatArray,
    intent: FloatArray,
    weekday_factor: FloatArray,
    boost: FloatArray | float = 0.0,
) -> FloatArray:
    """Daily probability of becoming SQL: ``sigmoid(a + b*fit + c*intent + boost)`` x weekday
    factor; ``boost``: :func:`hand_raise_boost`."""
    return sigmoid(SQL_INTERCEPT + SQL_FIT * fit + SQL_INTENT * intent + boost) * weekday_factor


def dq_hazard(fit: FloatArray) -> FloatArray:
    """Daily probability that marketing disqualifies a not-yet-SQL lead (bad fit only)."""
    return np.asarray(DQ_BASE * sigmoid(-2.5 * (fit + 1.0)), dtype=np.float64)


def meeting_probability(
    fit: FloatArray, intent_at_sql: FloatArray, boost_at_sql: FloatArray | float = 0.0
) -> FloatArray:
    """Probability that an SQL books a meeting, given fit, the intent of its SQL day and its
    hand-raise term (:func:`hand_raise_boost`) that day."""
    return sigmoid(
        MEETING_INTERCEPT
        + MEETING_FIT * fit
        + MEETING_INTENT * intent_at_sql
        + MEETING_HAND_RAISE * boost_at_sql
    )


def customer_probability(fit: FloatArray) -> FloatArray:
    """Probability that a meeting ends as a customer."""
    return sigmoid(CUSTOMER_INTERCEPT + CUSTOMER_FIT * fit)


def meeting_day(sql_day: IntArray, delay: IntArray, start: datetime) -> IntArray:
    """The meeting's grid day: ``sql_day + delay``, moved to Monday when it falls on a weekend."""
    day = sql_day + delay
    weekday = weekday_of_day(day, start)
    return np.asarray(day + np.where(weekday >= 5, 7 - weekday, 0), dtype=np.int64)


_SEGMENT = 128


def decayed_sum(impulses: FloatArray, log_decay: FloatArray) -> FloatArray:
    """``out[..., d] = sum_{t <= d} impulses[..., t] * exp(log_decay * (d - t))`` along the last
    axis; ``log_decay`` (<= 0) broadcasts against ``impulses[..., :1]``.

    Vectorised with a segmented cumulative sum (no loop over days inside a segment); segments
    keep ``exp(-log_decay * t)`` far from overflow for any horizon.
    """
    out = np.empty_like(impulses)
    carry = np.zeros_like(impulses[..., 0])
    n_days = impulses.shape[-1]
    for lo in range(0, n_days, _SEGMENT):
        hi = min(lo + _SEGMENT, n_days)
        steps = np.arange(hi - lo, dtype=np.float64)
        growth = np.exp(-log_decay * steps)  # (..., span)
        shrink = np.exp(log_decay * steps)
        segment = np.cumsum(impulses[..., lo:hi] * growth, axis=-1) * shrink
        segment += carry[..., None] * shrink * np.exp(log_decay)
        out[..., lo:hi] = segment
        carry = segment[..., -1]
    return out
