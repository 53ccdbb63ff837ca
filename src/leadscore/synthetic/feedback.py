"""Reps' verdicts in the synthetic CRM: who reached a rep, when they looked, what they said.

A lead reaches a rep when the marketing-automation rules make it an MQL (the points threshold:
the leads "scored high by the rules", bots included, as in real CRMs). A rep reviews
:data:`REVIEW_SHARE` of them after a delay (log-normal, median :data:`DELAY_MEDIAN_HOURS` hours,
at most :data:`DELAY_MAX_DAYS` days), unless the lead became an SQL or was disqualified first
or the data ends before; the verdict is judged from what a rep sees, never from the outcome:

- crawlers are rejected most often (mostly as ``spam_bot``), then students and interns
  (``student``), then leads of out-of-target industries (``bad_fit``, some ``competitor``),
  then webmail and disposable addresses; for everyone else the chance of a rejection falls with
  the latent ICP fit, for ``bad_fit``, ``no_budget``, ``timing`` or ``other``;
- noise: reps accept some bots and out-of-target leads, reject some good ones, and pick other
  reasons than the "true" one now and then (:data:`REASONS`).

The reason codes are the inbox's (``leadscore.serving.inbox.DEFAULT_REJECT_REASONS``), so the
default feedback policy (:mod:`leadscore.training.feedback`) reads them as a rep's would be.
Every draw comes from a stream of its own (:func:`feedback_rng`): the CRM tables of a seed are
the same with or without feedback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.synthetic.params import SECONDS_PER_DAY, FloatArray, IntArray

__all__ = [
    "DELAY_MAX_DAYS",
    "DELAY_MEDIAN_HOURS",
    "FEEDBACK_MODEL_VERSION",
    "REASONS",
    "REASON_CODES",
    "REVIEW_SHARE",
    "VERDICT_CODES",
    "BlockFeedback",
    "LeadKind",
    "feedback_rng",
    "lead_kinds",
    "simulate_feedback",
]

REVIEW_SHARE = 0.8
"""Share of the leads reaching a rep that get a verdict (the rest are never marked)."""
DELAY_MEDIAN_HOURS = 20.0
DELAY_SIGMA = 1.0
DELAY_MAX_DAYS = 21
FEEDBACK_MODEL_VERSION = "rules"
"""The synthetic leads reach reps by the rules' MQL threshold, not by a model version."""

VERDICT_CODES = ("accepted", "rejected")
REASON_CODES = ("bad_fit", "no_budget", "student", "competitor", "spam_bot", "timing", "other")

_BOT, _STUDENT, _OUT_OF_TARGET, _DISPOSABLE, _WEBMAIL, _OTHER = range(6)
LeadKind = int
"""What a rep sees first in a lead, by precedence: bot, student, out-of-target industry,
disposable address, webmail address, anything else."""

REJECT_PROBABILITY: dict[int, float] = {
    _BOT: 0.9,
    _STUDENT: 0.8,
    _OUT_OF_TARGET: 0.65,
    _DISPOSABLE: 0.6,
    _WEBMAIL: 0.35,
}
"""Chance of a rejection per kind of lead (``_OTHER``: from the fit, :func:`_fit_rejection`)."""

REASONS: dict[int, dict[str, float]] = {
    _BOT: {"spam_bot": 0.85, "other": 0.1, "bad_fit": 0.05},
    _STUDENT: {"student": 0.8, "bad_fit": 0.2},
    _OUT_OF_TARGET: {"bad_fit": 0.75, "competitor": 0.1, "other": 0.15},
    _DISPOSABLE: {"bad_fit": 0.6, "spam_bot": 0.15, "no_budget": 0.25},
    _WEBMAIL: {"bad_fit": 0.6, "spam_bot": 0.15, "no_budget": 0.25},
    _OTHER: {"bad_fit": 0.35, "no_budget": 0.25, "timing": 0.3, "other": 0.1},
}
"""The reasons reps give per kind of lead when they reject it (noisy by design)."""


@dataclass(frozen=True)
class BlockFeedback:
    """Verdicts of one block: contact index, seconds since start, verdict and reason codes
    (indices into :data:`VERDICT_CODES` and :data:`REASON_CODES`; -1: no reason)."""

    contact: IntArray
    sec: IntArray
    verdict: IntArray
    reason: IntArray


def feedback_rng(seed: int, block: int) -> np.random.Generator:
    """The reps' own random stream of a block (independent of every other stream)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, 0xFEED)))


def _fit_rejection(fit: FloatArray) -> FloatArray:
    """Chance that a rep rejects an ordinary lead: about 27 % at fit 0, 8 % at fit 1."""
    return np.asarray(1.0 / (1.0 + np.exp(1.0 + 1.5 * fit)), dtype=np.float64)


def lead_kinds(
    is_bot: np.ndarray, junior: np.ndarray, out_of_target: np.ndarray, email_kind: IntArray
) -> IntArray:
    """Each contact's :data:`LeadKind` (``email_kind``: 0 corporate, 1 webmail, 2 disposable)."""
    return np.select(
        [is_bot, junior, out_of_target, email_kind == 2, email_kind == 1],
        [_BOT, _STUDENT, _OUT_OF_TARGET, _DISPOSABLE, _WEBMAIL],
        _OTHER,
    ).astype(np.int64)


def simulate_feedback(
    rng: np.random.Generator,
    *,
    kinds: IntArray,
    fit: FloatArray,
    mql_sec: IntArray,
    settled_sec: IntArray,
    end_sec: int,
) -> BlockFeedback:
    """Verdicts on the block's MQLs (``mql_sec`` >= 0); ``settled_sec``: when the lead became
    an SQL or was disqualified (-1: never), after which no rep reviews it in the inbox."""
    n = len(kinds)
    reviewed = rng.random(n) < REVIEW_SHARE
    hours = np.exp(rng.normal(np.log(DELAY_MEDIAN_HOURS), DELAY_SIGMA, n))
    delay = np.clip(hours * 3600, 600, DELAY_MAX_DAYS * SECONDS_PER_DAY).astype(np.int64)
    given = mql_sec + delay
    p_reject = np.array([REJECT_PROBABILITY.get(k, 0.0) for k in range(_OTHER + 1)])[kinds]
    p_reject = np.where(kinds == _OTHER, _fit_rejection(fit), p_reject)
    rejected = rng.random(n) < p_reject
    u = rng.random(n)
    reason = np.full(n, -1, dtype=np.int64)
    for kind, weights in REASONS.items():
        codes = np.array([REASON_CODES.index(r) for r in weights])
        edges = np.cumsum(list(weights.values()))
        edges = edges / edges[-1]
        pick = codes[np.minimum(np.searchsorted(edges, u, side="right"), len(codes) - 1)]
        reason = np.where(rejected & (kinds == kind), pick, reason)
    keep = (
        (mql_sec >= 0) & reviewed & (given < end_sec) & ((settled_sec < 0) | (given < settled_sec))
    )
    idx = np.flatnonzero(keep)
    return BlockFeedback(
        contact=idx.astype(np.int64),
        sec=given[idx].astype(np.int64),
        verdict=rejected[idx].astype(np.int64),
        reason=reason[idx],
    )
