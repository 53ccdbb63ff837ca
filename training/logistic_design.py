"""The logistic model's design matrix, built with NumPy from integer level codes.

It is, value for value, the matrix of the scikit-learn pipeline :func:`reference_columns`
(median imputation with missing indicators, signed log, scaling; one-hot categoricals with
rare levels grouped and unseen levels in the rare column), which spent most of every logistic
fit in Python: ``OneHotEncoder`` counts and looks up object columns value by value, and
``SimpleImputer`` takes medians through masked arrays. Here each text column is factorized
once (a hash table), its distinct texts are counted with ``np.bincount`` and sorted (a few
dozen strings), and the one-hot block is written from the codes; medians come from
``np.partition``. Scaling is scikit-learn's ``StandardScaler`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from leadscore.model.encoding import as_float, as_text
from leadscore.model.inputs import FeatureSpec
from leadscore.model.linear_head import MISSING_LEVEL

__all__ = [
    "CategoricalColumn",
    "LogisticDesign",
    "reference_columns",
    "reference_inputs",
    "signed_log1p",
    "text_codes",
]

FloatArray = np.ndarray[Any, Any]
IntArray = np.ndarray[Any, Any]


def signed_log1p(x: FloatArray) -> FloatArray:
    """``sign(x) * log1p(|x|)``: counts and amounts on a log scale, signs kept."""
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)), dtype=np.float64)


def _signed_log1p_inplace(x: FloatArray) -> FloatArray:
    """:func:`signed_log1p` written over ``x`` (no NaN): ``log1p(|x|)`` with the sign of
    ``x``, which is ``sign(x) * log1p(|x|)`` bit for bit (signed zeros included)."""
    logged = np.log1p(np.abs(x))
    return np.copysign(logged, x, out=x)


def text_codes(column: pd.Series) -> tuple[IntArray, list[str]]:
    """Per row an index into the distinct texts returned: the column spelled by
    :func:`~leadscore.model.encoding.as_text`, :data:`MISSING_LEVEL` for missing values. A
    column of strings is factorized as it is and only its distinct values are spelled."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    if all(isinstance(u, str) for u in uniques):
        texts = [str(u) for u in uniques]
    else:  # numbers or mixed objects: spell every value first (1 and True are two texts)
        spelled = as_text(column).astype(object).where(column.notna(), MISSING_LEVEL)
        codes, uniques = pd.factorize(spelled)
        texts = [str(u) for u in uniques]
    texts.append(MISSING_LEVEL)
    codes = np.where(codes < 0, len(texts) - 1, codes)
    # a value spelled like the missing level is that level, as in the text column
    merged, distinct = pd.factorize(np.asarray(texts, dtype=object))
    return np.asarray(merged[codes], dtype=np.int64), [str(t) for t in distinct]


@dataclass(frozen=True)
class CategoricalColumn:
    """One categorical's fitted one-hot columns."""

    name: str
    levels: list[str]
    """Its frequent levels in sorted order, one design column each."""
    infrequent: list[str] | None
    """Its rare levels (sorted), sharing the last column with unseen levels; ``None``: no rare
    level, no such column (unseen levels then have no column)."""

    @property
    def width(self) -> int:
        return len(self.levels) + (self.infrequent is not None)

    def columns(self, codes: IntArray, texts: list[str]) -> IntArray:
        """Per row (``codes`` into ``texts``, from :func:`text_codes`) its column in the block,
        -1 for none (an unseen level when there is no rare column)."""
        where = {level: j for j, level in enumerate(self.levels)}
        other = len(self.levels) if self.infrequent is not None else -1
        return np.asarray([where.get(t, other) for t in texts], dtype=np.int64)[codes]

    def write(self, column: pd.Series, out: FloatArray, offset: int) -> None:
        """Set the ones of ``column``'s block in ``out`` (zeros), starting at column ``offset``."""
        _set_ones(out, self.columns(*text_codes(column)), offset)

    @classmethod
    def fit(cls, name: str, codes: IntArray, texts: list[str], min_frequency: int) -> Self:
        """The column fitted on ``codes`` into ``texts`` (:func:`text_codes`): levels seen
        fewer than ``min_frequency`` times are rare."""
        counts = np.bincount(codes, minlength=len(texts))
        seen = sorted((t, int(c)) for t, c in zip(texts, counts, strict=True) if c > 0)
        rare = [t for t, c in seen if c < min_frequency]
        return cls(name, [t for t, c in seen if c >= min_frequency], rare or None)


def _set_ones(out: FloatArray, columns: IntArray, offset: int) -> None:
    rows = np.flatnonzero(columns >= 0)
    out[rows, offset + columns[rows]] = 1.0


def _medians(raw: FloatArray, missing: np.ndarray[Any, Any]) -> list[float]:
    """Per column the median of its present values (0 when none is): the two middle values'
    sum halved, as ``np.ma.median`` (``SimpleImputer``'s) computes it."""
    out = []
    for j in range(raw.shape[1]):
        present = raw[~missing[:, j], j]
        if not len(present):
            out.append(0.0)
            continue
        high = len(present) // 2
        low = high if len(present) % 2 else high - 1
        part = np.partition(present, [low, high])
        out.append(float((part[low] + part[high]) / 2.0))
    return out


class LogisticDesign:
    """The design matrix of the logistic model: numeric block (imputed, missing indicators,
    signed log, scaled), then each categorical's one-hot block."""

    def __init__(self, features: list[FeatureSpec], min_frequency: int) -> None:
        self.features = features
        self.min_frequency = min_frequency
        self.numeric = [f for f in features if f.kind != "categorical"]

    def _raw(self, frame: pd.DataFrame) -> FloatArray:
        """The numeric columns as floats (NaN: missing), one contiguous column each."""
        raw = np.empty((len(frame), len(self.numeric)), dtype=np.float64, order="F")
        for j, spec in enumerate(self.numeric):
            raw[:, j] = as_float(frame[spec.name], spec.kind)
        if np.isinf(raw).any():  # as scikit-learn's input check
            raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
        return raw

    def _logged(self, raw: FloatArray, missing: np.ndarray[Any, Any]) -> FloatArray:
        """Imputed numbers and the missing indicators, on the signed log scale, in the memory
        order scikit-learn's pipeline held them in, so that the scaler's sums add up in the same
        order: ``SimpleImputer`` fills a column-major copy of the input and ``np.hstack`` keeps
        that order when indicator columns are appended, row-major when there are none."""
        k = raw.shape[1]
        order: Literal["C", "F"] = "F" if self.indicators_ else "C"
        block = np.empty((len(raw), k + len(self.indicators_)), dtype=np.float64, order=order)
        block[:, :k] = raw
        np.copyto(block[:, :k], np.asarray(self.medians_, dtype=np.float64), where=missing)
        block[:, k:] = missing[:, self.indicators_]
        return _signed_log1p_inplace(block)

    def fit_matrix(self, frame: pd.DataFrame) -> FloatArray:
        """Learn medians, indicators, scales and levels on ``frame``; return its matrix."""
        raw = self._raw(frame)
        missing = np.isnan(raw)
        self.medians_ = _medians(raw, missing)
        self.indicators_ = [int(j) for j in np.flatnonzero(missing.any(axis=0))]
        self.scaler_: StandardScaler | None = None
        numeric = None
        if self.numeric:
            numeric = self._logged(raw, missing)
            self.scaler_ = StandardScaler().fit(numeric)
        del raw, missing
        coded = [
            (spec.name, *text_codes(frame[spec.name]))
            for spec in self.features
            if spec.kind == "categorical"
        ]
        self.categorical_ = [
            CategoricalColumn.fit(name, codes, texts, self.min_frequency)
            for name, codes, texts in coded
        ]
        out = self._empty(len(frame))
        offset = self._write_numeric(numeric, out)
        for column, (_, codes, texts) in zip(self.categorical_, coded, strict=True):
            _set_ones(out, column.columns(codes, texts), offset)
            offset += column.width
        return out

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """The design matrix of ``frame`` with the fitted numbers and levels."""
        out = self._empty(len(frame))
        numeric = None
        if self.scaler_ is not None:
            raw = self._raw(frame)
            numeric = self._logged(raw, np.isnan(raw))
        offset = self._write_numeric(numeric, out)
        for column in self.categorical_:
            column.write(frame[column.name], out, offset)
            offset += column.width
        return out

    def _empty(self, rows: int) -> FloatArray:
        numeric = len(self.numeric) + len(self.indicators_) if self.numeric else 0
        return np.zeros((rows, numeric + sum(c.width for c in self.categorical_)))

    def _write_numeric(self, numeric: FloatArray | None, out: FloatArray) -> int:
        """Scale ``numeric`` (in place) into ``out``'s first columns; return their count."""
        if numeric is None or self.scaler_ is None:
            return 0
        out[:, : numeric.shape[1]] = self.scaler_.transform(numeric, copy=False)
        return int(numeric.shape[1])


def reference_inputs(features: list[FeatureSpec], frame: pd.DataFrame) -> pd.DataFrame:
    """The input frame :func:`reference_columns` reads (categoricals as text)."""
    columns: dict[str, Any] = {}
    for spec in features:
        column = frame[spec.name]
        if spec.kind == "categorical":
            text = as_text(column).astype(object)
            columns[spec.name] = text.where(column.notna(), MISSING_LEVEL)
        else:
            columns[spec.name] = as_float(column, spec.kind)
    return pd.DataFrame(columns, index=frame.index)


def reference_columns(features: list[FeatureSpec], min_frequency: int) -> ColumnTransformer:
    """The scikit-learn transformer :class:`LogisticDesign` equals (the logistic model's former
    preprocessing, kept for tests and benchmarks), to fit on :func:`reference_inputs`."""
    numeric = [f.name for f in features if f.kind != "categorical"]
    categorical = [f.name for f in features if f.kind == "categorical"]
    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(signed_log1p),
        StandardScaler(),
    )
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=min_frequency, sparse_output=False
    )
    return ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", encoder, categorical)],
        remainder="drop",
    )
