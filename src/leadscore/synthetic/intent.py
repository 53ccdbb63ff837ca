"""Latent, time-varying intent: bursts of interest that decay, on a daily grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from leadscore.synthetic.params import (
    DORMANCY_HAZARD,
    HALF_LIFE_LOG_MEDIAN,
    HALF_LIFE_LOG_SD,
    HALF_LIFE_RANGE,
    INITIAL_AMPLITUDE_LOG_SD,
    SECONDS_PER_DAY,
    FloatArray,
    IntArray,
    burst_rate,
    decayed_sum,
    draw_amplitudes,
)

__all__ = ["BlockIntent", "simulate_intent"]


@dataclass(frozen=True)
class BlockIntent:
    """Intent of a block's contacts: per-contact parameters, bursts and the daily intent grid.

    ``dormant_day`` may be ``>= n_days`` (never dormant within the period). ``grid`` has shape
    (contacts, days) and is zero before each contact's creation day.
    """

    created_day: IntArray
    dormant_day: IntArray
    half_life: FloatArray
    rate: FloatArray
    burst_contact: IntArray
    burst_day: IntArray
    burst_amplitude: FloatArray
    grid: FloatArray


def simulate_intent(
    rng: np.random.Generator,
    fit: FloatArray,
    created_sec: IntArray,
    initial_intent: FloatArray,
    n_days: int,
) -> BlockIntent:
    """Draw bursts (one at creation, then Poisson arrivals until dormancy) and the intent grid."""
    n = len(fit)
    created_day = created_sec // SECONDS_PER_DAY
    half_life = np.clip(
        rng.lognormal(HALF_LIFE_LOG_MEDIAN, HALF_LIFE_LOG_SD, n), *HALF_LIFE_RANGE
    ).astype(np.float64)
    dormant_day = (created_day + rng.geometric(DORMANCY_HAZARD, n)).astype(np.int64)
    rate = burst_rate(fit)

    first_amp = initial_intent * rng.lognormal(0.0, INITIAL_AMPLITUDE_LOG_SD, n)
    span = np.maximum(np.minimum(dormant_day, n_days) - created_day - 1, 0)
    counts = rng.poisson(rate * span)
    later_contact = np.repeat(np.arange(n, dtype=np.int64), counts)
    later_day = (
        created_day[later_contact]
        + 1
        + (rng.random(len(later_contact)) * span[later_contact]).astype(np.int64)
    )
    later_amp = draw_amplitudes(rng, len(later_contact))

    burst_contact = np.concatenate([np.arange(n, dtype=np.int64), later_contact])
    burst_day = np.concatenate([created_day, later_day]).astype(np.int64)
    burst_amplitude = np.concatenate([first_amp, later_amp]).astype(np.float64)
    order = np.lexsort((burst_day, burst_contact))
    burst_contact, burst_day, burst_amplitude = (
        burst_contact[order],
        burst_day[order],
        burst_amplitude[order],
    )

    impulses = np.asarray(
        np.bincount(
            burst_contact * n_days + burst_day, weights=burst_amplitude, minlength=n * n_days
        ),
        dtype=np.float64,
    ).reshape(n, n_days)
    log_decay = (-math.log(2.0) / half_life)[:, None]
    grid = decayed_sum(impulses, log_decay)
    return BlockIntent(
        created_day=created_day.astype(np.int64),
        dormant_day=dormant_day,
        half_life=half_life,
        rate=rate,
        burst_contact=burst_contact,
        burst_day=burst_day,
        burst_amplitude=burst_amplitude,
        grid=grid,
    )
