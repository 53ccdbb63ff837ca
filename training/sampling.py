"""Negative sampling of the training period: every positive, a seeded fraction of the negatives,
and weights ``1 / fraction`` on the kept negatives.

Only the training period is sampled; validation (early stopping, the search, calibration, the
model choice, grades) and test (metrics, bootstrap CIs, the rules comparison) keep every row. The
weights make the weighted sample an unbiased image of the full training period: each negative
stands for ``1 / fraction`` negatives, so the log loss the trees minimise is, in expectation, the
full population's and the raw probabilities stay on its scale (the calibrator fitted on the
unsampled validation period has nothing extra to undo).

Rows, not contacts, are drawn: a contact's weekly rows are near-copies of each other, so keeping
a fraction of every contact's rows covers all contacts (lower variance for the same row count)
where keeping whole contacts would drop most of them. The draw of a row depends only on the seed
and the row's (contact, cutoff), never on the order or the other rows of the table: the same row
is kept in a rebuilt or extended table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import ConfigError
from leadscore.features.sampling import WEIGHT_COLUMN, TableSample, row_draws
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN

__all__ = [
    "NegativeSample",
    "built_sample",
    "keep_fraction",
    "refuse_sampled_evaluation",
    "row_uniforms",
    "sample_negatives",
]

BoolArray = np.ndarray[Any, Any]
FloatArray = np.ndarray[Any, Any]


def row_uniforms(frame: pd.DataFrame, seed: int) -> FloatArray:
    """One number in [0, 1) per row, a function of ``seed`` and the row's (contact, cutoff)
    only: the draw of the build query's sample (:func:`leadscore.features.sampling.row_draws`),
    so training-time and build-time sampling keep the same rows."""
    cutoffs = pd.to_datetime(frame[CUTOFF_COLUMN]).to_numpy(dtype="datetime64[us]")
    return row_draws(frame[CONTACT_COLUMN], cutoffs, seed)


@dataclass(frozen=True)
class NegativeSample:
    """Which training rows are fitted on and with which weight (arrays over the rows given)."""

    fraction: float
    seed: int
    keep: BoolArray
    weight: FloatArray
    """1 for positives (and for every row when ``fraction`` is 1), ``1 / fraction`` for the kept
    negatives, 0 for the dropped ones."""
    rows: int
    positives: int
    negatives_kept: int
    built: TableSample | None = None
    """The sample the engine took when it built the table (the weights come from the table);
    ``None``: drawn here, at training."""

    @property
    def sampled(self) -> bool:
        """Whether any negative was left out."""
        return self.fraction < 1

    def record(self) -> dict[str, Any]:
        """What a run and a model artifact record (MLflow params, the heads' records)."""
        where = {} if self.built is None else {"taken": "build", "until": str(self.built.until)}
        return where | {
            "negative_fraction": self.fraction,
            "seed": self.seed,
            "rows_before": self.rows,
            "rows_fitted": int(self.keep.sum()),
            "positives": self.positives,
            "negatives_kept": self.negatives_kept,
            "negative_weight": 1.0 / self.fraction,
        }

    def describe(self) -> str:
        """One sentence for the report."""
        if self.built is not None:
            return (
                f"{self.built.describe()} Fitted on {self.positives:,} positive and "
                f"{self.negatives_kept:,} negative rows of the training period."
            )
        if not self.sampled:
            return "Training period not sampled: every row was fitted on (weight 1)."
        negatives = self.rows - self.positives
        return (
            f"Training period sampled: all {self.positives:,} positive rows and "
            f"{self.negatives_kept:,} of {negatives:,} negative rows (fraction {self.fraction:g}, "
            f"seed {self.seed}), each kept negative weighted {1 / self.fraction:g} so "
            "probabilities stay on the full population's scale; validation and test are not "
            "sampled."
        )


def keep_fraction(uniforms: FloatArray, positive: BoolArray, fraction: float) -> BoolArray:
    """Rows kept: every positive, and the negatives whose uniform falls below ``fraction``."""
    return np.asarray(positive | (uniforms < fraction), dtype=bool)


def sample_negatives(
    frame: pd.DataFrame,
    labels: Sequence[np.ndarray[Any, Any]],
    fraction: float,
    seed: int = 0,
) -> NegativeSample:
    """Sample the rows of ``frame`` (the training period): a row positive on any of ``labels``
    is always kept with weight 1; a negative one is kept with probability ``fraction`` (seeded,
    per (contact, cutoff)) and weight ``1 / fraction``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the negative fraction must be in (0, 1], not {fraction}")
    n = len(frame)
    positive = np.zeros(n, dtype=bool)
    for y in labels:
        positive |= np.asarray(y).astype(bool)
    if fraction >= 1:
        keep = np.ones(n, dtype=bool)
    else:
        keep = keep_fraction(row_uniforms(frame, seed), positive, fraction)
    weight = np.where(positive, 1.0, 1.0 / fraction) * keep
    return NegativeSample(
        fraction=float(fraction),
        seed=int(seed),
        keep=keep,
        weight=np.asarray(weight, dtype=np.float64),
        rows=n,
        positives=int(positive.sum()),
        negatives_kept=int((keep & ~positive).sum()),
    )


def built_sample(
    train: pd.DataFrame, labels: Sequence[np.ndarray[Any, Any]], sample: TableSample
) -> NegativeSample:
    """The negative sample the engine took when it built the table: the training rows' weights
    read from the table's :data:`~leadscore.features.sampling.WEIGHT_COLUMN`."""
    positive = np.zeros(len(train), dtype=bool)
    for y in labels:
        positive |= np.asarray(y).astype(bool)
    return NegativeSample(
        fraction=sample.fraction,
        seed=sample.seed,
        keep=np.ones(len(train), dtype=bool),
        weight=train[WEIGHT_COLUMN].to_numpy(dtype=np.float64),
        rows=len(train),
        positives=int(positive.sum()),
        negatives_kept=int((~positive).sum()),
        built=sample,
    )


def refuse_sampled_evaluation(frame: pd.DataFrame, periods: pd.Series, sample: TableSample) -> None:
    """Refuse a split whose validation or test period holds rows the engine sampled (cutoffs
    before ``sample.until``): they must see the whole population."""
    cutoffs = pd.to_datetime(frame[CUTOFF_COLUMN])
    held = periods.isin(["valid", "test"]) & (cutoffs < pd.Timestamp(sample.until))
    if held.any():
        first = cutoffs[held].min()
        starts = cutoffs[periods == "valid"].min()
        raise ConfigError(
            f"The training table was sampled when built for cutoffs before "
            f"{sample.until:%Y-%m-%d}, but the split's validation or test period holds "
            f"{int(held.sum()):,} sampled row(s) (from {first:%Y-%m-%d}; validation starts "
            f"{starts:%Y-%m-%d}). Rebuild the table with --sample-until {starts:%Y-%m-%d} or "
            "earlier, or give validation and test a smaller share (split.valid_fraction, "
            "split.test_fraction)."
        )
