"""Column types of a flat export: which columns a model may read, and why the others are not.

IDs are found by uniqueness, never by name (a 495-level category named ``*_id`` is a real
feature); an integer column named like an id or a code is read as a category (its numbers are
labels, not amounts); only columns named like personal data (email, phone, person names) are
dropped by name, so that reasons in words never quote them. Dates other than the time column are dropped
(their meaning changes with the export date).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from leadscore.model.inputs import FeatureKind, FeatureSpec

__all__ = ["MAX_LEVELS", "column_kind", "find_id_column", "infer_columns"]

MAX_LEVELS = 500
"""A text column with more distinct values than this (or than half its rows) is free text."""

_PERSONAL = re.compile(
    r"(^(contact_?|work_?|business_?)?e-?mail(_?addr(ess)?)?$|phone|mobile|^name$|full_?name|first_?name|"
    r"last_?name|surname|contact_?name|^address|street|postcode|zip_?code|^ip$|ip_address)",
    re.IGNORECASE,
)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")
_TRUE_FALSE = {"true", "false", "yes", "no", "0", "1", "y", "n", "t", "f", "0.0", "1.0"}


def _is_boolean(column: pd.Series, non_null: pd.Series, unique: int) -> bool:
    return pd.api.types.is_bool_dtype(column) or (
        unique == 2 and set(non_null.astype(str).str.strip().str.lower()) <= _TRUE_FALSE
    )


def column_kind(column: pd.Series) -> FeatureKind:
    """How a column's values are compared: yes/no, numbers, or text (any other column)."""
    non_null = column.dropna()
    if _is_boolean(column, non_null, int(non_null.nunique())):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    text = non_null.astype(str)
    if len(text) and pd.to_numeric(text, errors="coerce").notna().mean() > 0.95:
        return "numeric"
    return "categorical"


_CODE_NAME = re.compile(r"(^|[_\s])(id|code)$|[a-z](Id|ID|Code)$", re.IGNORECASE)


def _is_code(name: str, column: pd.Series, unique: int, max_levels: int) -> bool:
    """An integer column named like an id or a code (``segment_id``, ``region_code``): labels
    of a category whose numbers mean no order ("segment 69" is not "more" than segment 12)."""
    integers = pd.api.types.is_integer_dtype(column) or (
        pd.api.types.is_float_dtype(column) and bool((column.dropna() % 1 == 0).all())
    )  # a code column with a blank is read as floats: 69.0 is code 69
    return integers and unique <= max_levels and _CODE_NAME.search(name) is not None


def _is_unique_key(column: pd.Series) -> bool:
    non_null = column.dropna()
    return len(non_null) > 20 and non_null.nunique() >= 0.98 * len(column)


def find_id_column(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> str | None:
    """The row id column: the first column unique over (almost) every row, preferring integer
    or text columns named like an id (``None`` when there is none). An export that repeats a
    few leads (copied rows) keeps its id column: scores carry it, and the repeats are noted."""
    candidates = [
        c
        for c in frame.columns
        if c not in exclude
        and not pd.api.types.is_float_dtype(frame[c])
        and (
            (frame[c].notna().all() and frame[c].is_unique and len(frame) > 1)
            or _is_unique_key(frame[c])
        )
    ]
    named = [c for c in candidates if re.search(r"id|key|number|code", str(c), re.IGNORECASE)]
    pick = named or candidates
    return str(pick[0]) if pick else None


def infer_columns(
    frame: pd.DataFrame, *, exclude: Sequence[str] = (), max_levels: int = MAX_LEVELS
) -> tuple[list[FeatureSpec], dict[str, str]]:
    """Feature specs of usable columns, and ``{dropped column: why}`` for the others."""
    specs: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    for name in frame.columns:
        if name in exclude:
            continue
        column = frame[name]
        non_null = column.dropna()
        unique = non_null.nunique()
        if non_null.empty or unique <= 1:
            dropped[name] = "constant or empty"
            continue
        if _PERSONAL.search(str(name)):
            dropped[name] = "personal data (by its name): never a model input"
            continue
        kind: FeatureKind
        if _is_boolean(column, non_null, unique):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(column):
            if _is_unique_key(column) and pd.api.types.is_integer_dtype(column):
                dropped[name] = f"ID-like ({unique:,} distinct integers, one per row)"
                continue
            kind = "categorical" if _is_code(str(name), column, unique, max_levels) else "numeric"
        elif pd.api.types.is_datetime64_any_dtype(column):
            dropped[name] = "date column (not the time column)"
            continue
        else:
            text = non_null.astype(str)
            if text.str.match(_DATE_TEXT).mean() > 0.95:
                dropped[name] = "date column (not the time column)"
                continue
            if pd.to_numeric(text, errors="coerce").notna().mean() > 0.95:
                kind = "numeric"
            elif _is_unique_key(column):
                dropped[name] = f"ID-like ({unique:,} distinct values, one per row)"
                continue
            elif unique > 0.5 * len(non_null) or unique > max_levels:
                dropped[name] = f"free text ({unique:,} distinct values)"
                continue
            else:
                kind = "categorical"
        specs.append(FeatureSpec(str(name), kind, "flat"))
    return specs, dropped
