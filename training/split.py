"""Time-based split of a training table: train < validation < test by cutoff, never random.

The test period is the latest cutoffs (whose labels are complete: the feature stage only emits
cutoffs whose horizon has fully elapsed), validation the cutoffs just before it, training the
rest. With a known label horizon, cutoffs whose label window reaches into the test period are
*purged* (as in deployment: a model trained at the first test cutoff only knows labels whose
horizon had elapsed), so no outcome observed during the test period is used for fitting; training
cutoffs whose label window reaches the validation period are purged the same way, so early
stopping and calibration on validation see outcomes the fitted trees never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from leadscore.errors import ConfigError
from leadscore.training.table import CUTOFF_COLUMN

__all__ = ["SplitConfig", "TimeSplit", "time_split"]


class SplitConfig(BaseModel):
    """How many cutoffs go to test and validation (fractions of the distinct cutoffs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_fraction: float = Field(0.2, gt=0, lt=1)
    valid_fraction: float = Field(0.2, gt=0, lt=1)
    min_cutoffs_per_period: int = Field(1, ge=1)
    purge: bool = True


@dataclass(frozen=True)
class TimeSplit:
    """Cutoffs of each period (sorted) and the period of every row (``train``/``valid``/
    ``test``/``purged``)."""

    train_cutoffs: tuple[pd.Timestamp, ...]
    valid_cutoffs: tuple[pd.Timestamp, ...]
    test_cutoffs: tuple[pd.Timestamp, ...]
    period: pd.Series

    def mask(self, name: str) -> np.ndarray[Any, Any]:
        """Boolean row mask of one period."""
        return np.asarray(self.period.to_numpy() == name, dtype=bool)

    def describe(self) -> dict[str, str]:
        """First and last cutoff of each period, as ISO dates (for reports and tags)."""
        out: dict[str, str] = {}
        for name, cutoffs in (
            ("train", self.train_cutoffs),
            ("valid", self.valid_cutoffs),
            ("test", self.test_cutoffs),
        ):
            out[f"{name}_first_cutoff"] = cutoffs[0].date().isoformat()
            out[f"{name}_last_cutoff"] = cutoffs[-1].date().isoformat()
            out[f"{name}_rows"] = str(self.mask(name).sum())
        return out


def time_split(
    frame: pd.DataFrame,
    config: SplitConfig | None = None,
    *,
    horizon: timedelta | None = None,
    time_column: str = CUTOFF_COLUMN,
) -> TimeSplit:
    """Split rows by the time in ``time_column`` into train / validation / test periods."""
    config = config or SplitConfig()
    times = pd.to_datetime(frame[time_column])
    cutoffs = np.sort(times.dropna().unique())
    n = len(cutoffs)
    n_test = max(config.min_cutoffs_per_period, round(n * config.test_fraction))
    n_valid = max(config.min_cutoffs_per_period, round(n * config.valid_fraction))
    if n - n_test - n_valid < config.min_cutoffs_per_period:
        raise ConfigError(
            f"A time split needs at least {3 * config.min_cutoffs_per_period} distinct cutoffs "
            f"(train, validation and test); the table has {n}. Add cutoffs to the feature "
            "schedule or lower min_cutoffs_per_period."
        )
    stamps = [pd.Timestamp(c) for c in cutoffs]
    test = stamps[n - n_test :]
    before = stamps[: n - n_test]
    if config.purge and horizon is not None:
        before = [c for c in before if c + horizon <= test[0]]
    if len(before) < 2 * config.min_cutoffs_per_period:
        raise ConfigError(
            f"After keeping {n_test} test cutoff(s) and purging cutoffs whose {horizon} label "
            f"window reaches the test period, {len(before)} cutoff(s) remain for training and "
            "validation; add earlier cutoffs, lower test_fraction or set purge: false."
        )
    n_valid = min(n_valid, len(before) - config.min_cutoffs_per_period)
    train, valid = before[: len(before) - n_valid], before[len(before) - n_valid :]
    if config.purge and horizon is not None:
        # the same purge gap between train and validation as between validation and test
        train = [c for c in train if c + horizon <= valid[0]]
        if len(train) < config.min_cutoffs_per_period:
            raise ConfigError(
                f"After purging training cutoffs whose {horizon} label window reaches the "
                f"validation period, {len(train)} training cutoff(s) remain; add earlier "
                "cutoffs, lower valid_fraction or test_fraction, or set purge: false."
            )
    label = {c: "train" for c in train} | {c: "valid" for c in valid} | {c: "test" for c in test}
    period = times.map(label).astype(object).fillna("purged")
    return TimeSplit(tuple(train), tuple(valid), tuple(test), period)
