"""Positives per period of a time split, and a split that would give every period enough.

Under drift a conversion rate can fall so far that the latest cutoffs (the test period) hold a
handful of positives while training holds hundreds: such a test cannot rank anything honestly.
:func:`period_shortfall` says which period is short, with the counts of all three (a short
test period, or a period without positives, stops the target; a short training or validation
period is a warning);
:func:`suggest_split` finds the smallest test and validation periods (counted in cutoffs from
the end) that hold enough positives while training keeps enough, and says it as config values
the user can paste, or that no such split exists in this history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from leadscore.training.flat_guards import MIN_PER_PERIOD

__all__ = ["MIN_PER_PERIOD", "period_shortfall", "suggest_split"]

_PERIODS = ("train", "valid", "test")


def _counts(labels: pd.Series) -> tuple[int, int]:
    positives = int(labels.astype(bool).sum())
    return positives, len(labels) - positives


def period_shortfall(labels: pd.Series, parts: Mapping[str, pd.DataFrame]) -> tuple[str, str]:
    """Why the periods cannot train and evaluate a target, and what makes them weak (``""``
    when nothing): a test period with fewer than :data:`MIN_PER_PERIOD` positives or negatives,
    or a period with none, cannot evaluate or fit it; a training or validation period with
    fewer than :data:`MIN_PER_PERIOD` fits and chooses on noise. Both give every period's
    counts."""
    counts = {name: _counts(labels[parts[name].index]) for name in _PERIODS if name in parts}
    shown = ", ".join(f"{n} {pos:,} of {pos + neg:,}" for n, (pos, neg) in counts.items())
    empty = [n for n, (pos, neg) in counts.items() if min(pos, neg) == 0]
    short = [n for n, (pos, neg) in counts.items() if min(pos, neg) < MIN_PER_PERIOD]
    blocking = [n for n in short if n in empty or n == "test"]
    if blocking:
        return (
            f"the {' and '.join(blocking)} period(s) have fewer than {MIN_PER_PERIOD} positives "
            f"or negatives (positives per period: {shown})",
            "",
        )
    if short:
        return "", (
            f"the {' and '.join(short)} period(s) have fewer than {MIN_PER_PERIOD} positives "
            f"(positives per period: {shown}): early stopping, calibration and the model "
            "choice read noise there"
        )
    return "", ""


def suggest_split(cutoffs: pd.Series, labels: pd.Series, *, minimum: int = MIN_PER_PERIOD) -> str:
    """A split (``split.test_fraction`` / ``split.valid_fraction``) whose test and validation
    periods, taken from the latest cutoffs, each hold ``minimum`` positives while training keeps
    ``minimum``; or a sentence saying this history has no such split. Purging is ignored here
    (it only removes training cutoffs): the suggestion is a starting point, the split checks it.
    """
    per_cutoff = labels.astype(bool).groupby(pd.to_datetime(cutoffs)).sum().sort_index()
    latest_first: np.ndarray[Any, Any] = per_cutoff.to_numpy()[::-1]
    n, total = len(latest_first), int(latest_first.sum())
    k_test = _cutoffs_to_reach(latest_first, minimum)
    k_valid = _cutoffs_to_reach(latest_first[k_test:], minimum) if k_test else 0
    left = total - int(latest_first[: k_test + k_valid].sum())
    if k_test and k_valid and k_test + k_valid < n and left >= minimum:
        return (
            f"a split with enough positives: split: {{test_fraction: {_fraction(k_test, n)}, "
            f"valid_fraction: {_fraction(k_valid, n)}}} in the training config (the latest "
            f"{k_test} cutoff(s) for test, the {k_valid} before them for validation, {left:,} "
            "positives left to train on)"
        )
    return (
        f"this history has {total:,} positives over {n} cutoff(s): no split gives test, "
        f"validation and training {minimum} each; build over a longer period or a longer "
        "--horizon"
    )


def _cutoffs_to_reach(positives: np.ndarray[Any, Any], minimum: int) -> int:
    """How many leading entries of ``positives`` sum to ``minimum`` (0: never)."""
    running = np.cumsum(positives)
    if not len(running) or running[-1] < minimum:
        return 0
    return int(np.searchsorted(running, minimum) + 1)


def _fraction(k: int, n: int) -> str:
    """The smallest 3-decimal fraction whose share of ``n`` cutoffs rounds to ``k``."""
    return f"{np.ceil(1000 * k / n) / 1000:.3f}"
