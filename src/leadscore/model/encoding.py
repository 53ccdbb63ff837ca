"""Turn feature columns into the numeric matrix a model reads, with levels fixed at fit time.

Categorical levels are learned on the training period and stored in the model record, so the
same string always maps to the same code at serving time; unseen or missing values become NaN
(LightGBM's missing value), never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from leadscore.errors import ArtifactError
from leadscore.model.inputs import FeatureKind, FeatureSpec

__all__ = ["SMALL_ROWS", "FeatureEncoder", "as_float", "as_text", "numpy_number_block"]

_DICT_ROWS = 256
"""Up to this many rows, categorical text columns are encoded with a dict lookup (same codes
as ``pd.Categorical``, without its fixed cost of about 0.3 ms per column)."""

SMALL_ROWS = _DICT_ROWS
"""Up to this many rows, a frame's plain NumPy number columns are taken in one conversion
(:func:`numpy_number_block`) rather than one DataFrame column lookup each."""


def numpy_number_block(
    frame: pd.DataFrame, names: Sequence[str | None], out: np.ndarray[Any, Any]
) -> frozenset[int]:
    """Fill ``out[:, j]`` for each ``names[j]`` held in ``frame`` as plain NumPy numbers or
    booleans, in one conversion (what each column's ``to_numpy(dtype=float64)`` gives), and
    return those ``j``. ``None`` names, absent columns and other dtypes are left to the caller
    (as is everything when the frame has duplicate column names or fewer than two such
    columns). For small frames: ~70 DataFrame column lookups cost ~0.5 ms on a single lead."""
    columns = frame.columns.tolist()  # one call (iterating an Arrow-backed Index is slow)
    position = {name: i for i, name in enumerate(columns)}
    if len(position) < len(columns):  # duplicate names
        return frozenset()
    plain = _plain_columns(frame)
    if plain is None:  # pandas without the block layout read below: public calls
        plain = _plain_columns_public(frame)
    picked: list[tuple[int, int]] = []
    for j, name in enumerate(names):
        i = position.get(name) if name is not None else None
        if i is not None and plain[1][i]:
            picked.append((j, i))
    if len(picked) < 2:
        return frozenset()
    indices = [j for j, _ in picked]
    out[:, indices] = plain[0](np.asarray([i for _, i in picked], dtype=np.intp))
    return frozenset(indices)


_Plain = tuple[Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]], list[bool]]
"""A frame's plain NumPy columns: a function of column positions giving them as float64
(rows x positions), and per column whether it is one."""


def _plain_columns(frame: pd.DataFrame) -> _Plain | None:
    """:data:`_Plain` from pandas' blocks (2-D arrays of the same dtype, each with the column
    positions it holds): a few conversions instead of a column selection (~0.2 ms for one
    row); ``None`` when this pandas lays frames out otherwise."""
    try:
        blocks = [(b.values, b.mgr_locs.as_array) for b in frame._mgr.blocks]
    except AttributeError:
        return None
    width = frame.shape[1]
    flags = [False] * width
    full = np.empty((len(frame), width), dtype=np.float64)
    for values, locs in blocks:
        if not (isinstance(values, np.ndarray) and values.ndim == 2):
            continue
        if values.dtype.kind not in "biuf" or values.shape != (len(locs), len(frame)):
            continue
        full[:, locs] = values.T.astype(np.float64)
        for i in locs.tolist():
            flags[i] = True
    return (lambda positions: full[:, positions]), flags


def _plain_columns_public(frame: pd.DataFrame) -> _Plain:
    """:data:`_Plain` by pandas' public calls (a column selection)."""
    flags = [isinstance(d, np.dtype) and d.kind in "biuf" for d in frame.dtypes]

    def take(positions: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.asarray(frame.iloc[:, positions].to_numpy(dtype=np.float64))

    return take, flags


def _arrow_codes(column: pd.Series, levels: list[str]) -> np.ndarray[Any, Any] | None:
    """The level codes of an Arrow-backed string column (what ``as_text`` then
    ``pd.Categorical`` give: a value's position in ``levels``, NaN when missing or unseen) by
    Arrow's ``index_in`` (~10x faster on batch chunks: no Python string per value); ``None``
    for other columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = getattr(column.array, "_pa_array", None)  # pandas' ArrowStringArray(s)
    if not isinstance(data, pa.ChunkedArray) or not (
        pa.types.is_string(data.type) or pa.types.is_large_string(data.type)
    ):
        return None
    codes = pc.index_in(data, value_set=pa.array(levels, type=data.type))
    return np.asarray(codes.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def as_text(values: pd.Series) -> pd.Series:
    """Values as strings (missing stays missing); booleans and numbers get a stable spelling:
    whole numbers read as floats (an integer code column with a blank) are spelled as integers,
    so ``69`` and ``69.0`` are one category."""
    if pd.api.types.is_float_dtype(values) and _whole(values):
        return values.astype("Int64").astype("string")
    return values.astype("string")


def _whole(values: pd.Series) -> bool:
    """Whether every non-missing value is a finite whole number (int64 range)."""
    numbers = values.dropna().to_numpy(dtype=np.float64)
    return bool(
        np.isfinite(numbers).all()
        and (numbers == np.floor(numbers)).all()
        and (np.abs(numbers) < 2**62).all()
    )


_YES_NO = {
    **dict.fromkeys(("true", "1", "1.0", "yes", "y", "t"), 1.0),
    **dict.fromkeys(("false", "0", "0.0", "no", "n", "f"), 0.0),
}


def as_float(values: pd.Series, kind: FeatureKind) -> np.ndarray[Any, Any]:
    """A numeric or boolean column as float64 with NaN for missing."""
    if kind == "boolean" and not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string").str.strip().str.lower()
        mapped = text.map(_YES_NO)
        return mapped.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class FeatureEncoder:
    """Encodes features as a float matrix; categorical columns become level codes.

    ``max_levels`` keeps the most frequent levels of each categorical (ties broken by name);
    rarer levels share the missing code.
    """

    def __init__(self, features: list[FeatureSpec], *, max_levels: int = 50) -> None:
        self.features = features
        self.max_levels = max_levels

    def fit(self, frame: pd.DataFrame) -> Self:
        """Learn the categorical levels from ``frame``; returns ``self``."""
        levels: dict[str, list[str]] = {}
        for spec in self.features:
            if spec.kind == "categorical":
                counts = as_text(frame[spec.name]).dropna().value_counts()
                ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                levels[spec.name] = [str(k) for k, _ in ordered[: self.max_levels]]
        self.levels_ = levels
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def transform(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        """The float matrix (rows x features) in feature order."""
        missing = [f.name for f in self.features if f.name not in frame.columns]
        if missing:
            raise ArtifactError(
                f"The data lacks feature(s) the model needs: {', '.join(missing)}. "
                "Recompute the features with the model's feature definition."
            )
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        small = len(frame) <= _DICT_ROWS
        done = self._numeric_block(frame, out) if small else frozenset()
        for j, spec in enumerate(self.features):
            if j in done:
                continue
            column = frame[spec.name]
            if spec.kind == "categorical":
                looked_up = self._lookup_codes(spec.name, column) if small else None
                if looked_up is not None:
                    out[:, j] = looked_up
                    continue
                levels = self.levels_[spec.name]
                arrow = _arrow_codes(column, levels)
                if arrow is not None:
                    out[:, j] = arrow
                    continue
                text = as_text(column)
                # unseen levels become missing first (pandas deprecates them in Categorical)
                text = text.where(text.isin(levels))
                codes = pd.Categorical(text, categories=levels).codes
                out[:, j] = np.where(codes < 0, np.nan, codes.astype(np.float64))
            elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
                # plain NumPy numbers and booleans: what as_float gives, without pd.to_numeric
                out[:, j] = column.to_numpy(dtype=np.float64)
            else:
                out[:, j] = as_float(column, spec.kind)
        return out

    def _numeric_block(self, frame: pd.DataFrame, out: np.ndarray[Any, Any]) -> frozenset[int]:
        """:func:`numpy_number_block` of the non-categorical features."""
        names = [None if f.kind == "categorical" else f.name for f in self.features]
        return numpy_number_block(frame, names, out)

    def _lookup_codes(self, name: str, column: pd.Series) -> list[float] | None:
        """Level codes of a text column by dict lookup (NaN: missing or unseen level), the
        codes ``pd.Categorical`` gives; ``None`` when a value is not a plain string or missing
        (the caller then uses ``pd.Categorical``)."""
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            return None
        cache: tuple[dict[str, list[str]], dict[str, dict[str, float]]] | None
        cache = getattr(self, "_lookups", None)
        if cache is None or cache[0] is not self.levels_:
            cache = (self.levels_, {})
            self._lookups = cache
        lookup = cache[1].get(name)
        if lookup is None:
            lookup = {level: float(i) for i, level in enumerate(self.levels_[name])}
            cache[1][name] = lookup
        codes = []
        for value in column.tolist():
            if isinstance(value, str):
                codes.append(lookup.get(value, np.nan))
            elif value is None or value is pd.NA or (isinstance(value, float) and value != value):
                codes.append(np.nan)
            else:
                return None
        return codes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: features, kinds and categorical levels."""
        return {
            "features": [
                {"name": f.name, "kind": f.kind, "concept": f.concept} for f in self.features
            ],
            "categorical_levels": self.levels_,
            "max_levels": self.max_levels,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Rebuild a fitted encoder from :meth:`to_dict` output."""
        specs = [FeatureSpec(f["name"], f["kind"], f.get("concept", "")) for f in data["features"]]
        encoder = cls(specs, max_levels=int(data.get("max_levels", 50)))
        encoder.levels_ = {k: list(v) for k, v in data["categorical_levels"].items()}
        return encoder

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lookups", None)  # a cache derived from levels_
        return state
