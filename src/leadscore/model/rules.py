"""The points rules as data (conditions, rules, rule sets), shared by training and serving.

Training (:mod:`leadscore.training.rules`) loads, validates and evaluates them as the baseline;
a rules head (:mod:`leadscore.model.rules_head`) serves them when they are the best candidate
on validation. Each rule gives points on one feature, either per unit of a count
(``per_unit``) or when a condition holds (``when``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadscore.errors import FeatureDefinitionError
from leadscore.model.distinct_text import MANY_ROWS, coded_text

__all__ = ["Condition", "Rule", "RuleSet"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Strict):
    """When a rule applies. All given tests must hold (AND); missing values never match
    except with ``is_missing: true``."""

    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None
    equals: str | float | bool | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    is_missing: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError(
                "a condition needs at least one test (gte, gt, lte, lt, equals, in, not_in, is_missing)"
            )
        return self

    def mask(self, values: pd.Series) -> np.ndarray[Any, Any]:
        """Rows where the condition holds."""
        plain = isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf"
        if plain:  # plain NumPy numbers: missing is NaN only (what isna gives, cheaper)
            plain_values = values.to_numpy()
            missing = (
                np.isnan(plain_values)
                if plain_values.dtype.kind == "f"
                else np.zeros(len(values), bool)
            )
        else:
            missing = values.isna().to_numpy()
        if self.is_missing is not None:
            return missing if self.is_missing else ~missing
        out = ~missing
        numeric_tests = [(self.gte, np.greater_equal), (self.gt, np.greater)]
        numeric_tests += [(self.lte, np.less_equal), (self.lt, np.less)]
        if any(bound is not None for bound, _ in numeric_tests):
            numbers = _numbers(values)
            with np.errstate(invalid="ignore"):
                for bound, op in numeric_tests:
                    if bound is not None:
                        out &= op(numbers, bound)
        if self.equals is not None:
            if isinstance(self.equals, bool) and plain:  # missing rows are out already
                out &= (plain_values != 0) == self.equals
            elif isinstance(self.equals, bool):
                out &= values.fillna(not self.equals).astype(bool).to_numpy() == self.equals
            elif isinstance(self.equals, float | int):
                out &= _numbers(values) == float(self.equals)
            else:
                out &= values.astype("string").eq(self.equals).fillna(False).to_numpy(dtype=bool)
        if self.in_ is None and self.not_in is None:
            return out
        coded = _ascii_lower_coded(values) if len(values) >= MANY_ROWS else None
        if coded is not None:  # a batch: each distinct text looked up once (same rows)
            codes, distinct = coded
            if self.in_ is not None:
                out &= _among_coded(codes, distinct, {v.lower() for v in self.in_})
            if self.not_in is not None:
                out &= ~_among_coded(codes, distinct, {v.lower() for v in self.not_in})
            return out
        lowered = _ascii_lower(values)
        if lowered is not None:  # plain ASCII text: Python's lower is pandas' (the general path)
            if self.in_ is not None:
                out &= _among(lowered, {v.lower() for v in self.in_})
            if self.not_in is not None:
                out &= ~_among(lowered, {v.lower() for v in self.not_in})
            return out
        text = values.astype("string").str.lower()
        if self.in_ is not None:
            out &= text.isin([v.lower() for v in self.in_]).fillna(False).to_numpy(dtype=bool)
        if self.not_in is not None:
            out &= ~text.isin([v.lower() for v in self.not_in]).fillna(False).to_numpy(dtype=bool)
        return out


def _numbers_mask(when: Condition, numbers: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """:meth:`Condition.mask` of a plain NumPy number or boolean column given as float64
    (``to_numpy(dtype=float64)``: NaN exactly where it is missing), or ``None`` when the
    condition compares text (the caller then passes the column)."""
    if when.in_ is not None or when.not_in is not None:
        return None
    if when.equals is not None and not isinstance(when.equals, bool | float | int):
        return None
    missing: np.ndarray[Any, Any] = np.isnan(numbers)
    if when.is_missing is not None:
        return missing if when.is_missing else ~missing
    out: np.ndarray[Any, Any] = ~missing
    with np.errstate(invalid="ignore"):
        for bound, op in (
            (when.gte, np.greater_equal),
            (when.gt, np.greater),
            (when.lte, np.less_equal),
            (when.lt, np.less),
        ):
            if bound is not None:
                out &= op(numbers, bound)
    if isinstance(when.equals, bool):  # missing rows are out already
        out &= (numbers != 0) == when.equals
    elif when.equals is not None:
        out &= numbers == float(when.equals)
    return out


def _ascii_lower(values: pd.Series) -> list[str | None] | None:
    """A text column's values lower-cased (``None``: missing) when every value is an ASCII
    string or missing, else ``None`` (the caller then uses pandas' string methods)."""
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
        return None
    out: list[str | None] = []
    for value in values.tolist():
        if isinstance(value, str):
            if not value.isascii():
                return None
            out.append(value.lower())
        elif value is None or value is pd.NA or (isinstance(value, float) and value != value):
            out.append(None)
        else:
            return None
    return out


def _ascii_lower_coded(values: pd.Series) -> tuple[np.ndarray[Any, Any], list[str]] | None:
    """:func:`_ascii_lower` through the distinct values: ``(codes, lower-cased distinct)``
    (code ``-1``: missing), ``None`` when :func:`_ascii_lower` would give ``None``."""
    coded = coded_text(values, float_nan_only=True)
    if coded is None:
        return None
    codes, distinct = coded
    if not all(v.isascii() for v in distinct):
        return None
    return codes, [v.lower() for v in distinct]


def _among_coded(
    codes: np.ndarray[Any, Any], distinct: list[str], wanted: set[str]
) -> np.ndarray[Any, Any]:
    """:func:`_among` of coded lower-cased text (missing: never)."""
    hits = np.fromiter((v in wanted for v in distinct), dtype=bool, count=len(distinct))
    return np.asarray(np.append(hits, False)[codes], dtype=bool)


def _among(lowered: list[str | None], wanted: set[str]) -> np.ndarray[Any, Any]:
    """Rows whose lower-cased text is one of ``wanted`` (missing: never)."""
    return np.fromiter(
        (v is not None and v in wanted for v in lowered), dtype=bool, count=len(lowered)
    )


def _numbers(values: pd.Series) -> np.ndarray[Any, Any]:
    """``values`` as float64, NaN where missing or not a number (``pd.to_numeric`` with
    ``errors="coerce"``); plain NumPy numbers and booleans converted directly (same values,
    without its fixed cost on a single lead)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return values.to_numpy(dtype=np.float64)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


class Rule(_Strict):
    """Points on one feature: ``points`` per unit (``per_unit: true``, capped by ``max_points``)
    or ``points`` once when ``when`` holds."""

    name: str
    feature: str
    points: float
    per_unit: bool = False
    max_points: float | None = None
    when: Condition | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> Rule:
        if self.per_unit == (self.when is not None):
            raise ValueError(
                f"rule {self.name!r}: give exactly one of 'per_unit: true' or a 'when' condition"
            )
        return self

    def points_for(self, values: pd.Series) -> np.ndarray[Any, Any]:
        """Points this rule gives to each row."""
        if self.per_unit:
            return self._per_unit(_numbers(values))
        assert self.when is not None  # guaranteed by the validator
        return np.where(self.when.mask(values), self.points, 0.0)

    def points_for_numbers(self, numbers: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
        """:meth:`points_for` of a plain NumPy number or boolean column given as float64
        (``to_numpy(dtype=float64)``); ``None`` when the rule compares text (then pass the
        column to :meth:`points_for`)."""
        if self.per_unit:
            return self._per_unit(numbers)
        assert self.when is not None  # guaranteed by the validator
        mask = _numbers_mask(self.when, numbers)
        return None if mask is None else np.where(mask, self.points, 0.0)

    def _per_unit(self, numbers: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Points per unit of a float64 column (missing: no units), capped."""
        units = np.where(np.isnan(numbers), 0.0, numbers)
        points = np.clip(units, 0.0, None) * self.points
        if self.max_points is not None:
            points = (
                np.minimum(points, self.max_points)
                if self.points >= 0
                else np.maximum(points, self.max_points)
            )
        return np.asarray(points, dtype=np.float64)


class RuleSet(_Strict):
    """A whole points scheme: rules and the MQL threshold."""

    mql_threshold: float = 50.0
    rules: list[Rule]

    @property
    def features(self) -> list[str]:
        """Features the rules read, in first-use order."""
        return list(dict.fromkeys(rule.feature for rule in self.rules))

    def check_features(self, available: Iterable[str]) -> None:
        """Raise :class:`FeatureDefinitionError` when a rule names a feature that does not exist."""
        allowed = sorted(set(available))
        unknown = [f for f in self.features if f not in set(allowed)]
        if unknown:
            raise FeatureDefinitionError(
                f"The scoring rules use unknown feature(s): {', '.join(unknown)}. "
                f"Allowed features: {', '.join(allowed) or '(none)'}. "
                "Fix the 'feature' entries of the rules YAML."
            )
