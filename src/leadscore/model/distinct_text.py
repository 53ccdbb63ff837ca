"""Text columns of large frames read once per distinct value, not once per row.

A batch chunk holds 100,000 rows of a categorical feature with a few dozen distinct values.
Reading such a column value by value in Python (what a single lead's path does, cheapest for a
few rows) costs seconds per chunk; :func:`coded_text` hashes it once (``pandas.factorize``) and
returns the codes and the distinct strings, so a function of the text runs once per distinct
value and its results are spread back with the codes: the same values by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MANY_ROWS", "coded_text"]

MANY_ROWS = 2_048
"""From this many rows a text column is read through its distinct values."""


def coded_text(
    values: pd.Series, *, float_nan_only: bool = False
) -> tuple[np.ndarray[Any, Any], list[str]] | None:
    """``(codes, distinct)`` of a column of strings and missing values: ``distinct[codes[i]]``
    is row ``i``'s string, code ``-1`` a missing value; ``None`` when another value is present
    (or the column is neither object nor pandas string dtype).

    Missing values are ``None``, ``pd.NA`` and NaN-like values (``v != v``: NaN, NaT);
    ``float_nan_only``: NaN must be a float (``None`` when a NaT or other NA-like is found).
    """
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
        return None
    array = values.to_numpy(dtype=object)
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    distinct = uniques.tolist()
    if not all(isinstance(u, str) for u in distinct):
        return None
    if float_nan_only:
        kinds = {type(v) for v in array[codes == -1]}
        if not all(k is type(None) or k is type(pd.NA) or issubclass(k, float) for k in kinds):
            return None
    return np.asarray(codes, dtype=np.int64), distinct
