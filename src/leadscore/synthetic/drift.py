"""A planted drift: behaviour and conversion shift after a date (off by default).

After ``drift_at``:

* **concept drift**: sales change their motion. The daily SQL hazard's logit moves from
  ``a + b * fit + c * intent + boost`` to
  ``a + b * (1 - 3s) * fit + c * (1 - s) * intent + s * (0.65 + 2.5 * opened_7d) + boost`` for
  strength
  ``s``: the ideal profile flips (the contacts that used to fit convert as poor fits, twice as
  strongly), latent intent stops driving conversion, and a contact who opened an email in the
  last 7 days gets called (12 times the hazard); hand-raises keep their term (``boost``: sales
  still answer demo requests). The SQL volume stays about the same. A model trained before the date
  ranks post-drift leads badly; one trained after it can learn the new pattern;
* **behaviour drift**: a new newsletter cadence sends every live contact a weekly email that is
  opened with probability ``0.6 * strength`` (the email features move), and the pricing page
  moves into the main navigation: every live contact visits it in a week with probability
  ``0.5 * strength``, whatever their intent (a pricing visit no longer means much).

With no drift the generator draws exactly the same random numbers as before (the demo's numbers
do not change); the drift uses its own random stream. The oracle ignores the drift: its true
probabilities after the date are those of the undrifted process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from leadscore.synthetic import vocab
from leadscore.synthetic.behaviour import (
    CATEGORIES,
    EVENT_TYPES,
    URLS,
    BlockEvents,
    _month_index,
)
from leadscore.synthetic.params import (
    SECONDS_PER_DAY,
    SQL_FIT,
    SQL_INTENT,
    SQL_INTERCEPT,
    FloatArray,
    IntArray,
    sigmoid,
)

__all__ = ["Drift", "drift_events", "drifted_hazard"]

_OPEN = EVENT_TYPES.index("email_open")
_PRICING = EVENT_TYPES.index("pricing_page_visit")
_WEEK = 7 * SECONDS_PER_DAY


@dataclass(frozen=True)
class Drift:
    """Where the drift starts (seconds and day index since the simulation start) and how
    strong it is (0: none, 1: the full flip)."""

    sec: int
    strength: float

    @property
    def day(self) -> int:
        return self.sec // SECONDS_PER_DAY

    @classmethod
    def of(cls, at: datetime | None, strength: float, start: datetime) -> Drift | None:
        """The drift of a generator config, ``None`` when off."""
        if at is None or strength == 0:
            return None
        return cls(int((at - start).total_seconds()), float(strength))


def _opened_recently(events: BlockEvents, n: int, n_days: int) -> np.ndarray[Any, Any]:
    """(contact, day) grid: an email opened on that day or the 6 days before."""
    opened = events.event_type == _OPEN
    day = (events.sec[opened] // SECONDS_PER_DAY).clip(0, n_days - 1)
    contact = events.contact[opened]
    marks = np.zeros((n, n_days + 8), dtype=np.int64)
    np.add.at(marks, (contact, day), 1)
    np.add.at(marks, (contact, day + 7), -1)
    return np.cumsum(marks, axis=1)[:, :n_days] > 0


def drifted_hazard(
    drift: Drift,
    fit: FloatArray,
    intent: FloatArray,
    events: BlockEvents,
    weekday_factor: FloatArray,
    boost: FloatArray | float = 0.0,
) -> FloatArray:
    """The daily SQL hazard after the drift date, on the (contact, day) grid of ``intent``;
    ``boost``: the hand-raise term, unchanged (sales still answer demo requests)."""
    n, n_days = intent.shape
    s = drift.strength
    recent = _opened_recently(events, n, n_days)
    logit = (
        SQL_INTERCEPT
        + SQL_FIT * (1.0 - 3.0 * s) * fit[:, None]
        + SQL_INTENT * (1.0 - s) * intent
        + s * (0.65 + 2.5 * recent)
        + boost
    )
    return np.asarray(sigmoid(logit) * weekday_factor, dtype=np.float64)


def drift_events(
    seed: int,
    block: int,
    events: BlockEvents,
    created_sec: IntArray,
    dormant_day: IntArray,
    drift: Drift,
    start: datetime,
    end_sec: int,
) -> BlockEvents:
    """``events`` plus the weekly newsletter opens and navigation pricing visits after the
    drift (sorted by contact, time)."""
    rng = np.random.default_rng([seed, block, 0xD21F7])
    n = len(created_sec)
    weeks = np.arange(drift.sec, end_sec, _WEEK, dtype=np.int64)
    if n == 0 or len(weeks) == 0:
        return events
    parts = [
        (events.contact, events.sec, events.event_type, events.url, events.category,
         events.campaign, events.asset)
    ]  # fmt: skip
    for kind, share in ((_OPEN, 0.6), (_PRICING, 0.5)):
        sec = weeks[None, :] + rng.integers(8 * 3600, 18 * 3600, (n, len(weeks)))
        alive = (sec > created_sec[:, None]) & (sec < dormant_day[:, None] * SECONDS_PER_DAY)
        hit = alive & (rng.random((n, len(weeks))) < share * drift.strength) & (sec < end_sec)
        contact, col = np.nonzero(hit)
        added = sec[contact, col]
        none = np.full(len(contact), -1, dtype=np.int64)
        if kind == _OPEN:
            theme = rng.integers(0, len(vocab.EMAIL_THEMES), len(contact))
            campaign = _month_index(added, start) * len(vocab.EMAIL_THEMES) + theme
            url, category = none, none
        else:
            campaign = none
            url = np.full(len(contact), URLS.index("/pricing"), dtype=np.int64)
            category = np.full(len(contact), CATEGORIES.index("pricing"), dtype=np.int64)
        parts.append(
            (contact.astype(np.int64), added, np.full(len(contact), kind), url, category,
             campaign, none)
        )  # fmt: skip
    names = ("contact", "sec", "event_type", "url", "category", "campaign", "asset")
    merged = {name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(names)}
    order = np.lexsort((merged["sec"], merged["contact"]))
    return BlockEvents(**{k: np.asarray(v[order], dtype=np.int64) for k, v in merged.items()})
