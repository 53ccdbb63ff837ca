"""The paired gate: challenger vs champion on one test window, with a paired cluster bootstrap.

Both models score the same rows; each bootstrap draw resamples *contacts* (a contact's rows move
together, as in :mod:`leadscore.training.evaluate`) and computes the metric of both models on
the same draw, so the interval is the one of the *difference*, not of two separate estimates.
The challenger is promoted only when the interval excludes zero in its favour, the point
difference clears the existing gate's margin (:func:`~leadscore.training.tracking.promote_version`),
the test window comes after the challenger's validation window and the feature-definition hashes
match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from leadscore.training.evaluate import _AucKernel, _interval, _TopKKernel

__all__ = [
    "GateChecks",
    "GateMetric",
    "PairedComparison",
    "gate_checks",
    "paired_bootstrap",
]

GateMetric = Literal["roc_auc", "found_at_capacity"]


@dataclass(frozen=True)
class PairedComparison:
    """Challenger minus champion on one window: point values, the difference and its CI."""

    metric: GateMetric
    challenger: float
    champion: float
    difference: float
    low: float
    high: float
    confidence: float
    n_bootstrap: int
    n_rows: int
    n_contacts: int
    n_positives: int

    @property
    def excludes_zero_for_challenger(self) -> bool:
        """The whole interval is above zero: the challenger is better beyond sampling noise."""
        return bool(np.isfinite(self.low) and self.low > 0)

    def describe(self) -> str:
        return (
            f"{self.metric} challenger {self.challenger:.4f} vs champion {self.champion:.4f}: "
            f"difference {self.difference:+.4f}, paired {self.confidence:.0%} CI "
            f"[{self.low:+.4f}, {self.high:+.4f}] ({self.n_bootstrap:,} contact-bootstrap draws, "
            f"{self.n_rows:,} rows, {self.n_positives:,} positives)"
        )


def paired_bootstrap(
    y: np.ndarray[Any, Any],
    challenger: np.ndarray[Any, Any],
    champion: np.ndarray[Any, Any],
    contacts: pd.Series,
    cutoffs: pd.Series,
    *,
    metric: GateMetric = "roc_auc",
    capacity_share: float = 0.1,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """The paired contact-bootstrap CI of ``metric(challenger) - metric(champion)``.

    ``found_at_capacity``: positives among the top ``capacity_share`` of each cutoff's rows
    (the leads sales can work), ties counted at their expected value.
    """
    y = np.asarray(y, dtype=np.int64)
    a = np.asarray(challenger, dtype=np.float64)
    b = np.asarray(champion, dtype=np.float64)
    contact_codes, uniques = pd.factorize(contacts.to_numpy())
    cutoff_codes = pd.factorize(pd.to_datetime(cutoffs).to_numpy(), sort=True)[0]
    cutoff_codes = cutoff_codes.astype(np.int64)
    n_cutoffs = int(cutoff_codes.max()) + 1 if len(cutoff_codes) else 0

    def kernels() -> tuple[Any, Any]:
        if metric == "roc_auc":
            return _AucKernel(a, y), _AucKernel(b, y)
        return _TopKKernel(a, y, cutoff_codes), _TopKKernel(b, y, cutoff_codes)

    ka, kb = kernels()

    def value(kernel: Any, w: np.ndarray[Any, Any]) -> float:
        if metric == "roc_auc":
            return float(kernel(w))
        k = np.bincount(cutoff_codes, w, minlength=n_cutoffs) * capacity_share
        return float(kernel(w, k))

    ones = np.ones(len(y))
    va, vb = value(ka, ones), value(kb, ones)
    rng = np.random.default_rng(seed)
    n_contacts = len(uniques)
    diffs = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        counts = np.bincount(rng.integers(0, n_contacts, n_contacts), minlength=n_contacts)
        w = counts[contact_codes].astype(np.float64)
        diffs[i] = value(ka, w) - value(kb, w)
    low, high = _interval(diffs, confidence) if n_bootstrap else (float("nan"), float("nan"))
    return PairedComparison(
        metric=metric,
        challenger=va,
        champion=vb,
        difference=va - vb,
        low=low,
        high=high,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        n_rows=len(y),
        n_contacts=n_contacts,
        n_positives=int(y.sum()),
    )


@dataclass
class GateChecks:
    """The preconditions of a fair comparison; ``problems`` blocks promotion, ``notes`` do not."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def gate_checks(
    challenger_tags: dict[str, str],
    champion_tags: dict[str, str],
    *,
    test_first: date,
    table_definition_hash: str,
) -> GateChecks:
    """Check that the test window starts after the challenger's validation window (and after
    the champion's, else the champion has seen the test period) and that the challenger, the
    champion and the test table share one feature-definition hash."""
    checks = GateChecks()
    valid_last = _day(challenger_tags.get("valid_last_cutoff"))
    if valid_last is None:
        checks.problems.append("the challenger's run has no valid_last_cutoff tag")
    elif test_first <= valid_last:
        checks.problems.append(
            f"the test window starts {test_first} but the challenger's validation window "
            f"ends {valid_last}: the comparison would reuse data the challenger was tuned on"
        )
    champion_valid = _day(champion_tags.get("valid_last_cutoff"))
    if champion_valid is not None and test_first <= champion_valid:
        checks.problems.append(
            f"the champion was trained or validated up to {champion_valid}, inside the test "
            f"window starting {test_first}: its score there is not out of time"
        )
    hashes = {
        "challenger": challenger_tags.get("definition_hash"),
        "champion": champion_tags.get("definition_hash"),
        "test table": table_definition_hash,
    }
    if len(set(hashes.values())) != 1:
        shown = ", ".join(f"{k} {str(v)[:12]}" for k, v in hashes.items())
        checks.problems.append(
            f"feature-definition hashes differ ({shown}): the models do not compute the same "
            "features; retrain both on one definition or compare by hand"
        )
    return checks
