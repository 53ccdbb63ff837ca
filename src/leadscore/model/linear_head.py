"""A logistic-regression head: the fitted pipeline as plain numbers, exact linear reasons.

Training fits the pipeline (:class:`leadscore.training.models.LogisticModel`: median
imputation with missing indicators, signed log, scaling, one-hot categoricals with rare levels
grouped) and hands its fitted numbers to :class:`LogisticParts`. The head
replays that pipeline with NumPy (no pickle, no scikit-learn at serving) and is stored as JSON.

Contributions are exact: the model is linear in its design columns, so a feature's effect in
log-odds is the sum over its columns of ``coef * (x - mean)`` (the training mean of the
column): the interventional SHAP value of a linear model. The bias is the logit at the means;
bias plus contributions is the row's logit, as for LightGBM's TreeSHAP.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.calibration import Calibrator
from leadscore.model.distinct_text import MANY_ROWS, coded_text
from leadscore.model.encoding import (
    SMALL_ROWS,
    FeatureEncoder,
    as_float,
    as_text,
    numpy_number_block,
)
from leadscore.model.head_base import HeadBase
from leadscore.model.inputs import FeatureKind

__all__ = ["MISSING_LEVEL", "LogisticHead", "LogisticParts"]

FloatArray = np.ndarray[Any, Any]
MISSING_LEVEL = "__missing__"


@dataclass(frozen=True)
class LogisticParts:
    """The fitted numbers of the pipeline, in design-column order (numeric block, then each
    categorical's frequent levels and its ``infrequent`` column when it has rare levels)."""

    numeric: list[str]
    medians: list[float]
    indicators: list[int]
    """Indices into ``numeric`` of the columns with a missing indicator."""
    scale_mean: list[float]
    scale_std: list[float]
    categorical: list[str]
    levels: list[list[str]]
    """Per categorical: its frequent levels (one column each)."""
    infrequent: list[list[str] | None]
    """Per categorical: the rare levels sharing one column (``None``: no such column)."""
    coef: list[float]
    intercept: float
    column_means: list[float]
    """Training mean of every design column (the reference of the contributions)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LogisticHead(HeadBase):
    """Raw and calibrated probabilities and exact linear contributions of one target."""

    kind = "logistic"

    def __init__(self, parts: LogisticParts, encoder: FeatureEncoder, calibrator: Calibrator):
        super().__init__(json.dumps(parts.to_dict(), sort_keys=True), encoder, calibrator)
        self._parts = parts
        self._coef = np.asarray(parts.coef, dtype=np.float64)
        self._means = np.asarray(parts.column_means, dtype=np.float64)
        owner: list[int] = []  # design column -> index of its feature in self.features
        index = {f.name: i for i, f in enumerate(encoder.features)}
        owner += [index[n] for n in parts.numeric]
        owner += [index[parts.numeric[i]] for i in parts.indicators]
        for name, levels, rare in zip(
            parts.categorical, parts.levels, parts.infrequent, strict=True
        ):
            owner += [index[name]] * (len(levels) + (rare is not None))
        if len(owner) != len(self._coef):
            raise ValueError("logistic head: coefficients do not match the design columns")
        self._owner = np.asarray(owner, dtype=np.int64)

    @classmethod
    def from_text(cls, text: str, encoder: FeatureEncoder, calibrator: Calibrator) -> LogisticHead:
        """The head of a stored parameters text (:attr:`model_text`)."""
        return cls(LogisticParts(**json.loads(text)), encoder, calibrator)

    @property
    def parts(self) -> LogisticParts:
        return self._parts

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """The design matrix (rows x design columns) the coefficients multiply."""
        p = self._parts
        kinds = {f.name: f.kind for f in self._encoder.features}
        raw = np.empty((len(frame), len(p.numeric)), dtype=np.float64)
        taken = numpy_number_block(frame, p.numeric, raw) if len(frame) <= SMALL_ROWS else ()
        for j, name in enumerate(p.numeric):
            if j not in taken:
                raw[:, j] = _numbers(frame[name], kinds[name])
        missing = np.isnan(raw)
        filled = np.where(missing, np.asarray(p.medians, dtype=np.float64), raw)
        numeric = np.hstack([filled, missing[:, p.indicators].astype(np.float64)])
        numeric = np.sign(numeric) * np.log1p(np.abs(numeric))
        numeric = (numeric - np.asarray(p.scale_mean)) / np.asarray(p.scale_std)
        blocks = [numeric]
        for name, levels, rare in zip(p.categorical, p.levels, p.infrequent, strict=True):
            coded = coded_text(frame[name]) if len(frame) >= MANY_ROWS else None
            if coded is not None and _plain_levels(levels):  # a batch: one-hot from the codes
                blocks.append(_one_hot(*coded, levels, rare is not None))
                continue
            values = _levels(frame[name])
            block = (  # no level of its own: every level rare (all in the infrequent column)
                np.column_stack([values == level for level in levels])
                if levels
                else np.zeros((len(frame), 0), dtype=bool)
            )
            block = block.reshape(len(frame), len(levels)).astype(np.float64)
            if rare is not None:  # rare and unseen levels share the infrequent column
                other = ~np.isin(values, np.asarray(levels, dtype=object))
                block = np.hstack([block, other[:, None].astype(np.float64)])
            blocks.append(block)
        return np.hstack(blocks)

    def raw_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Uncalibrated probabilities of a design matrix."""
        logit = matrix @ self._coef + self._parts.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)

    def contributions_from_matrix(self, matrix: FloatArray) -> FloatArray:
        """Exact contributions in log-odds (rows x (features + 1), last column = bias)."""
        per_column = (matrix - self._means) * self._coef
        out = np.zeros((len(matrix), len(self._encoder.features) + 1))
        np.add.at(out.T, self._owner, per_column.T)
        out[:, -1] = self._parts.intercept + float(self._means @ self._coef)
        return out


def _plain_levels(levels: Sequence[Any]) -> bool:
    """Distinct strings: a level's column is found by dictionary lookup."""
    return all(isinstance(v, str) for v in levels) and len(set(levels)) == len(levels)


def _one_hot(
    codes: np.ndarray[Any, Any], distinct: list[str], levels: Sequence[str], rare: bool
) -> FloatArray:
    """The categorical block of coded text (:func:`~leadscore.model.distinct_text.coded_text`,
    code ``-1``: missing, i.e. :data:`MISSING_LEVEL`): a 1 in the column of the row's level,
    else (``rare``) in the infrequent column; what ``values == level`` and ``isin`` give."""
    column = {level: j for j, level in enumerate(levels)}
    of_code = np.asarray(
        [column.get(v, -1) for v in distinct] + [column.get(MISSING_LEVEL, -1)], dtype=np.int64
    )
    columns = of_code[codes]
    block = np.zeros((len(codes), len(levels) + rare), dtype=np.float64)
    known = columns >= 0
    block[np.flatnonzero(known), columns[known]] = 1.0
    if rare:
        block[:, len(levels)] = (~known).astype(np.float64)
    return block


def _numbers(values: pd.Series, kind: FeatureKind) -> FloatArray:
    """:func:`~leadscore.model.encoding.as_float` of a column; plain NumPy numbers and booleans
    (the feature query's usual columns) converted directly, with the same values."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return values.to_numpy(dtype=np.float64)
    return as_float(values, kind)


def _levels(values: pd.Series) -> np.ndarray[Any, Any]:
    """A categorical column as an object array of its text, :data:`MISSING_LEVEL` for missing
    values (what ``as_text(...).where(notna, MISSING_LEVEL)`` gives); a column of strings and
    missing values is read as a list (pandas' string conversion costs a fixed ~0.3 ms per
    column, a single lead's whole encoding), any other through :func:`as_text`."""
    if len(values) >= MANY_ROWS:  # a batch: once per distinct value (same text)
        coded = coded_text(values)
        if coded is not None:
            codes, distinct = coded
            table = np.asarray([*distinct, MISSING_LEVEL], dtype=object)
            return np.asarray(table[codes], dtype=object)
    items = values.tolist()
    if all(isinstance(v, str) or v is None or v is pd.NA or v != v for v in items):
        return np.asarray(
            [v if isinstance(v, str) else MISSING_LEVEL for v in items], dtype=object
        ).reshape(len(items))
    text = as_text(values).astype(object).where(values.notna(), MISSING_LEVEL)
    return np.asarray(text.to_numpy(), dtype=object)
