"""The shipped heads refitted on train + validation once validation has chosen them.

Validation's work is done once it has chosen the head, its settings, LightGBM's number of rounds
(early stopping) and the calibrators; the rows it held then carry the most recent outcomes the
model can learn from. The heads that ship (and whose test metrics are reported) are refitted
with the chosen settings on every row whose label was complete before the first test cutoff:
the training period, the cutoffs purged between training and validation (purged only so early
stopping and calibration saw outcomes the trees had not) and the validation period. Test stays
untouched. Flat mode does the same (:mod:`leadscore.training.flat_fit`).

- Rounds: the validated best iteration, kept (:data:`MAX_ROUND_GROWTH` is 1). Flat mode scales
  it by the rows added (at most 1.25x); on the 1,500-lead funnel of
  ``benchmarks/funnel_vs_flat.py`` (seeds 0-4, 1.5x the rows) the scaled refit's test AUC was
  0.006 to 0.010 below the kept one's on every seed (up to 0.013 with other LightGBM seeds):
  more trees on the same leaf sizes fit the added rows harder than validation ever checked,
  while the kept count is the one it did.
- Calibration: the calibrators stay those fitted on validation (on the train-period model's
  out-of-sample scores) unless ``training.refit_calibration: crossfit`` refits LightGBM's on
  cross-fitted validation scores of models boosted like the refit (:mod:`.crossfit`). Measured
  with ``benchmarks/refit_calibration.py`` (14 synthetic CRMs: 10 of 5,000 contacts, 4 of
  20,000), the refit does *not* systematically over-predict grade A: its predicted - realised
  gap moves by +0.20 pp (se 0.20) against the training-period model's, noise next to every
  variant's own gap (+0.52 pp on average). It does worsen the overall calibration a little on
  small CRMs (test ECE +0.045 pp at 5,000 contacts, none at 20,000), and cross-fitting undoes
  most of that (-0.021 pp) at the same ranking, for about a third more training CPU: offered,
  not the default. Figures and commands: ``docs/bots-and-model-choice.md``.
- Grades: their thresholds stay quantiles of the served (refitted) head's probabilities on the
  validation rows, although it has seen them. Measured on the demo (seed 42, sql,
  ``benchmarks/grade_thresholds.py``): the refitted head's scores sit higher than the
  training-period model's (its trees start from train + validation's base rate), so thresholds
  from the training-period model's out-of-sample validation probabilities put 5.4 % of the test
  leads in A against the rules' MQL share of 4.7 %; the refitted head's own give 5.1 % (4.8 %
  for the training-period model with its own).
- A negative sample (training-time or built) is applied to the added rows with the same draw,
  fraction and weights, so the refit rows are one uniform sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.sampling import WEIGHT_COLUMN, TableSample
from leadscore.training.sampling import keep_fraction, row_uniforms
from leadscore.training.split import TimeSplit
from leadscore.training.table import CUTOFF_COLUMN

__all__ = ["MAX_ROUND_GROWTH", "RefitRows", "refit_rounds", "refit_rows"]

MAX_ROUND_GROWTH = 1.0
"""Most the validated number of LightGBM rounds grows by on the refit, in proportion to the rows
added (flat mode: 1.25; here 1: measured, see the module doc)."""

BoolArray = np.ndarray[Any, Any]
FloatArray = np.ndarray[Any, Any]


@dataclass(frozen=True)
class RefitRows:
    """The rows the shipped heads are refitted on (masks over the table's rows)."""

    mask: BoolArray
    """Rows fitted on (after the bot rule and any negative sample)."""
    weight: FloatArray | None
    """Per fitted row: its negative-sample weight (``None``: not sampled, all 1)."""
    first_cutoff: pd.Timestamp
    last_cutoff: pd.Timestamp
    rows_by_period: dict[str, int]
    """Rows fitted on per period: ``train``, ``purged`` (between train and validation), ``valid``."""

    @property
    def rows(self) -> int:
        return int(self.mask.sum())

    def record(self) -> dict[str, Any]:
        """What the run and the heads record (MLflow params, the heads' params)."""
        return {
            "rows": self.rows,
            "first_cutoff": self.first_cutoff.date().isoformat(),
            "last_cutoff": self.last_cutoff.date().isoformat(),
            **{f"rows_{p}": n for p, n in self.rows_by_period.items()},
        }

    def describe(self, rounds: dict[str, tuple[int, int]], *, crossfit: bool = False) -> str:
        """One sentence for the report (``rounds``: per target, validated and refitted rounds;
        ``crossfit``: LightGBM's calibrators were cross-fitted, :mod:`.crossfit`)."""
        parts = ", ".join(f"{n:,} {p}" for p, n in self.rows_by_period.items() if n)
        trees = "; ".join(f"{t}: LightGBM {a} -> {b} rounds" for t, (a, b) in rounds.items())
        calibrators = (
            "the validated settings (LightGBM's calibrators refitted on cross-fitted "
            "validation scores, logistic's kept from validation)"
            if crossfit
            else "the validated settings and calibrators"
        )
        return (
            f"Shipped heads refitted on train + validation after validation chose them: "
            f"{self.rows:,} rows ({parts}), cutoffs {self.first_cutoff:%Y-%m-%d} to "
            f"{self.last_cutoff:%Y-%m-%d}, with {calibrators}"
            + (f" ({trees})" if trees else "")
            + "; the test metrics are the refitted heads'."
        )


def refit_rows(
    frame: pd.DataFrame,
    split: TimeSplit,
    excluded: BoolArray,
    positive: BoolArray,
    *,
    fraction: float = 1.0,
    seed: int = 0,
    built: TableSample | None = None,
) -> RefitRows:
    """Rows of ``frame`` whose labels are complete before the test period, without the bot
    rule's ``excluded`` rows, under the training period's negative sample (``fraction`` and
    ``seed`` drawn at training, or ``built`` when the table was sampled when built);
    ``positive``: rows positive on any target (always kept)."""
    period = split.period.to_numpy()
    cutoffs = pd.to_datetime(frame[CUTOFF_COLUMN])
    gap = (period == "purged") & (cutoffs < split.valid_cutoffs[0]).to_numpy()
    chosen = ((period == "train") | (period == "valid") | gap) & ~np.asarray(excluded, bool)
    if built is not None:
        before = (cutoffs < pd.Timestamp(built.until)).to_numpy()
        weight = np.where(before, frame[WEIGHT_COLUMN].to_numpy(dtype=np.float64), 1.0)
        drawn = keep_fraction(row_uniforms(frame, built.seed), positive, built.fraction)
        later = ~before & ~positive
        chosen &= before | drawn
        weight = np.where(later, 1.0 / built.fraction, weight)
    elif fraction < 1:
        chosen &= keep_fraction(row_uniforms(frame, seed), positive, fraction)
        weight = np.where(positive, 1.0, 1.0 / fraction)
    else:
        weight = None
    labels = np.where(gap, "purged", period)
    by_period = {p: int((chosen & (labels == p)).sum()) for p in ("train", "purged", "valid")}
    times = cutoffs[chosen]
    return RefitRows(
        mask=chosen,
        weight=None if weight is None else np.asarray(weight[chosen], dtype=np.float64),
        first_cutoff=pd.Timestamp(times.min()),
        last_cutoff=pd.Timestamp(times.max()),
        rows_by_period=by_period,
    )


def refit_rounds(best_iteration: int, fitted_rows: int, refit_rows: int) -> int:
    """The validated best iteration scaled by the rows added, at most :data:`MAX_ROUND_GROWTH`
    times (1: kept)."""
    growth = min(MAX_ROUND_GROWTH, refit_rows / max(1, fitted_rows))
    return max(1, round(best_iteration * max(1.0, growth)))
