"""Splits of a flat export that a user controls and understands.

With a time column (dates, or a row-order number) the split is by time: the test period is the
rows from ``test_from`` on (or the latest ``test_fraction`` of rows), validation the rows just
before it, training the rest; rows sharing a time stay in one period. Without one, the split is
stratified at random with a seed and labelled so everywhere. Base-rate shifts between periods
are measured (a model fitted where 5 % convert and tested where 30 % do ranks on another
population).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import train_test_split

from leadscore.clock import utc_now
from leadscore.errors import ConfigError, DataContractError

__all__ = ["PERIODS", "FlatSplit", "FlatSplitConfig", "flat_split", "parse_time_column"]

PERIODS = ("train", "valid", "test")
_MONTHS = {
    m
    for i in range(1, 13)
    for m in (date(2000, i, 1).strftime("%b").lower(), date(2000, i, 1).strftime("%B").lower())
}


class FlatSplitConfig(BaseModel):
    """Where the test period starts (a date, or the latest fraction of rows), the validation
    fraction, and the seed of a random split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_from: date | None = None
    test_fraction: float = Field(0.2, gt=0, lt=1)
    valid_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0


@dataclass(frozen=True)
class FlatSplit:
    """The period of every row, whether it is by time, and what to print about it."""

    period: np.ndarray[Any, Any]
    by_time: bool
    description: str
    windows: dict[str, str]
    base_rates: dict[str, float]
    future_rows: int = 0
    """Rows dated after now (a date time column only)."""
    latest: str = ""
    """The latest date of the time column (a date time column only)."""

    def mask(self, name: str) -> np.ndarray[Any, Any]:
        return np.asarray(self.period == name, dtype=bool)

    def future_warning(self, time_column: str) -> str | None:
        """A sentence when rows are dated after now (placeholder dates, a clock error)."""
        if not self.future_rows:
            return None
        return (
            f"{self.future_rows:,} row(s) have {time_column} after today (latest "
            f"{self.latest}): placeholder or mistyped dates. They sit in the test period and "
            "stretch it past the data; fix or drop them in the export."
        )

    def shift_warning(self) -> str | None:
        """A sentence when the positive rate moves by half or more between periods."""
        rates = {p: r for p, r in self.base_rates.items() if np.isfinite(r)}
        low, high = min(rates.values()), max(rates.values())
        if high - low < 0.02 or high < 1.5 * max(low, 1e-9):
            return None
        shown = ", ".join(f"{p} {r:.1%}" for p, r in rates.items())
        return (
            f"The positive rate shifts between periods ({shown}): the test measures the model "
            "on another population than it was fitted on. Check how the export was made (a "
            "campaign or a definition change?), move --test-from, or train on recent rows only."
        )


def parse_time_column(column: pd.Series, name: str) -> tuple[pd.Series, bool]:
    """``(sortable values, is_date)``: dates, or numbers giving the row order. Raises
    :class:`DataContractError` for missing, unparseable or yearless (``Feb``) times."""
    missing = int(column.isna().sum())
    if missing:
        raise DataContractError(
            [f"time column {name!r}: {missing} row(s) have no value; fill them or drop them"],
            header="The flat table's time column is invalid:",
        )
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(np.float64), False
    text = column.astype(str).str.strip()
    if text.str.lower().isin(_MONTHS).mean() > 0.5:
        raise DataContractError(
            [
                f"time column {name!r} holds month names without a year (e.g. 'Feb'): rows "
                "cannot be ordered across years; give a full date (2024-02-15) or a row-order "
                "number, or leave --time-column out for a random split"
            ],
            header="The flat table's time column is invalid:",
        )
    day_first = _day_first(text, name)
    with warnings.catch_warnings():  # "could not infer format": reported below, in words
        warnings.simplefilter("ignore")
        times = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=day_first)
    bad = int(times.isna().sum())
    if bad or (times.dt.year < 1900).any():
        count = bad or int((times.dt.year < 1900).sum())
        raise DataContractError(
            [
                f"time column {name!r}: {count} row(s) are not dates (expected e.g. "
                "2024-02-15 or 2024-02-15 13:05; a year is required); fix them, or give a "
                "row-order number column"
            ],
            header="The flat table's time column is invalid:",
        )
    return times, True


_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})\b")


def _day_first(text: pd.Series, name: str) -> bool:
    """Whether ``12/06/2025``-style dates put the day first (Europe) or the month (US): read
    from the values (a first field above 12 is a day, a second one a day too); refused when
    the file gives no way to tell, rather than guessed (pandas reads month first where it can
    and day first elsewhere: one column, two conventions, a shuffled time split)."""
    parts = text.str.extract(_NUMERIC_DATE)
    if parts[0].isna().mean() > 0.5:
        return False  # ISO and other shapes: no ambiguity
    first, second = parts[0].astype(float), parts[1].astype(float)
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first != month_first:
        return day_first
    raise DataContractError(
        [
            f"time column {name!r} holds dates such as 03/04/2025 and "
            + (
                "both a first and a second field above 12"
                if day_first
                else "no field above 12 to tell 3 April from 4 March"
            )
            + ": export the dates as 2025-04-03 (ISO), or give a row-order number column"
        ],
        header="The flat table's time column is invalid:",
    )


def _describe(values: pd.Series, is_date: bool) -> str:
    first, last = values.min(), values.max()
    if is_date:
        return f"{pd.Timestamp(first).date()}..{pd.Timestamp(last).date()}"
    return f"{first:g}..{last:g}"


def flat_split(
    frame: pd.DataFrame,
    y: np.ndarray[Any, Any],
    time_column: str | None,
    config: FlatSplitConfig | None = None,
) -> FlatSplit:
    """Split rows into train / valid / test, by time when ``time_column`` is given."""
    config = config or FlatSplitConfig()
    n = len(frame)
    if time_column is None:
        if config.test_from is not None:
            raise ConfigError("--test-from needs --time-column (a date column of the export).")
        index = np.arange(n)
        rest, test = train_test_split(
            index, test_size=config.test_fraction, stratify=y, random_state=config.seed
        )
        share = config.valid_fraction / (1 - config.test_fraction)
        train, valid = train_test_split(
            rest, test_size=share, stratify=y[rest], random_state=config.seed
        )
        period = np.empty(n, dtype=object)
        period[train], period[valid], period[test] = "train", "valid", "test"
        text = (
            f"random split (stratified, seed {config.seed}; no time column given): NOT an "
            "out-of-time evaluation, expect the test AUC to flatter the model"
        )
        return FlatSplit(period, False, text, {"split_mode": "random"}, _rates(y, period))
    values, is_date = parse_time_column(frame[time_column], time_column)
    ordered = np.sort(values.to_numpy())
    if config.test_from is not None:
        if not is_date:
            raise ConfigError(f"--test-from needs a date column; {time_column!r} holds numbers.")
        boundary: Any = pd.Timestamp(config.test_from)
    else:
        boundary = ordered[min(n - 1, round(n * (1 - config.test_fraction)))]
    test = (values >= boundary).to_numpy()
    rest_sorted = np.sort(values[~test].to_numpy())
    if len(rest_sorted) < 2 or test.all():
        raise ConfigError(
            f"The test period from {boundary} leaves {len(rest_sorted)} row(s) to train and "
            "validate on: move --test-from later or lower --test-fraction."
        )
    keep = 1 - config.valid_fraction / (1 - config.test_fraction)
    valid_from = rest_sorted[min(len(rest_sorted) - 1, round(len(rest_sorted) * keep))]
    valid = ~test & (values >= valid_from).to_numpy()
    if valid.all() or not valid.any() or (~test & ~valid).sum() == 0:
        raise ConfigError(
            f"Time column {time_column!r} has too few distinct values to split into train, "
            "validation and test periods: give a finer time column or leave it out."
        )
    period = np.where(test, "test", np.where(valid, "valid", "train")).astype(object)
    windows = {"split_mode": "time"}
    for p in PERIODS:
        windows[f"{p}_window"] = _describe(values[period == p], is_date)
    windows["test_first_cutoff"], windows["test_last_cutoff"] = windows["test_window"].split("..")
    text = (
        f"by time on {time_column!r}: train {windows['train_window']}, validation "
        f"{windows['valid_window']}, test {windows['test_window']}"
    )
    future, latest = 0, ""
    if is_date:
        future = int((values > pd.Timestamp(utc_now())).sum())
        latest = f"{pd.Timestamp(values.max()):%Y-%m-%d}"
    return FlatSplit(period, True, text, windows, _rates(y, period), future, latest)


def _rates(y: np.ndarray[Any, Any], period: np.ndarray[Any, Any]) -> dict[str, float]:
    return {p: float(np.mean(y[period == p])) if (period == p).any() else np.nan for p in PERIODS}
