"""Python evaluators of the ``burst``, ``event_property`` and ``column`` kinds, each the mirror
of its SQL compiler (:mod:`leadscore.features.compilers_burst`,
:mod:`leadscore.features.compilers_custom`)."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from leadscore.features.burst import BurstFeature
from leadscore.features.compilers_custom import _TRUE, _unlearned
from leadscore.features.custom_kinds import ColumnFeature, EventPropertyFeature
from leadscore.features.definition import FeatureDefinition
from leadscore.features.feature_base import FeatureType
from leadscore.features.python_eval import Context, Lead, RowFunction, evaluates, type_mask
from leadscore.features.python_kinds import norm
from leadscore.features.python_text import Unmirrored, duck_trim

__all__: list[str] = []

_US_PER_HOUR = 3_600_000_000


# --- burst ----------------------------------------------------------------------------------


def _burst_measures(
    ctx: Context, lead: Lead, types: np.ndarray, window: int, threshold: int
) -> tuple[int, int, int, int]:
    """``(max per hour, max per day, events in burst hours, events)`` in the window."""
    key = ("burst", window, threshold, types.tobytes())
    if key not in lead.cache:
        chosen = lead.occurred[ctx.window(lead, window) & types[lead.codes]]
        if chosen.size == 0:
            lead.cache[key] = (0, 0, 0, 0)
        else:
            hours, per_hour = np.unique(chosen // _US_PER_HOUR, return_counts=True)
            days, at = np.unique(hours // 24, return_inverse=True)
            per_day = np.bincount(at, weights=per_hour, minlength=days.size)
            burst = int(per_hour[per_hour >= threshold].sum())
            lead.cache[key] = (int(per_hour.max()), int(per_day.max()), burst, int(chosen.size))
    measures: tuple[int, int, int, int] = lead.cache[key]
    return measures


@evaluates("burst")
def _burst(f: BurstFeature, definition: FeatureDefinition) -> RowFunction:
    types, window = type_mask(f.event_types), f.window or definition.lookback_days
    threshold = f.burst_hour_events
    if f.measure == "burst_share":

        def share(ctx: Context, lead: Lead) -> float:
            _, _, burst, events = _burst_measures(ctx, lead, types, window, threshold)
            return 0.0 if events == 0 else float(burst) / float(events)

        return share
    which = 0 if f.measure == "max_per_hour" else 1
    return lambda ctx, lead: _burst_measures(ctx, lead, types, window, threshold)[which]


# --- event_property -------------------------------------------------------------------------


def _matching(lead: Lead, prop: str, value: str) -> np.ndarray:
    """Events whose ``lower(trim(prop))`` is ``value``."""
    key = ("prop", prop, value)
    if key not in lead.cache:
        lead.cache[key] = np.fromiter(
            (v is not None and norm(v) == value for v in lead.props[prop]),
            bool,
            len(lead.props[prop]),
        )
    mask: np.ndarray = lead.cache[key]
    return mask


def _first_or_last(
    ctx: Context, lead: Lead, types: np.ndarray, prop: str, last: bool
) -> str | None:
    """The normalised value of the first (last) event of the lookback with a non-blank
    ``prop``, ties broken by the value (ascending, descending for the last)."""
    selected = ctx.window(lead, ctx.lookback) & types[lead.codes]
    values = lead.props[prop]
    candidates = [
        (int(lead.occurred[i]), norm(values[i]))
        for i in np.flatnonzero(selected).tolist()
        if values[i] is not None and duck_trim(values[i]) != ""
    ]
    if not candidates:
        return None
    return (max(candidates) if last else min(candidates))[1]


def _bucket(value: str | None, values: tuple[str, ...], missing: str) -> str:
    """``value`` when one of ``values``, ``missing`` when null or empty, else ``other``."""
    if value is None or value == "":
        return missing
    return value if value in values else "other"


@evaluates("event_property")
def _event_property(f: EventPropertyFeature, definition: FeatureDefinition) -> RowFunction:
    if f.values is None or "{value}" in f.name:
        raise _unlearned(f.name)
    types, prop, values = type_mask(f.event_types), f.property, f.values
    lookback = definition.lookback_days
    if f.measure == "count":
        days = f.window or lookback

        def count(ctx: Context, lead: Lead) -> int:
            selected = ctx.window(lead, days) & types[lead.codes] & _matching(lead, prop, values[0])
            return int(np.count_nonzero(selected))

        return count
    if f.measure == "days_since":

        def days_since(ctx: Context, lead: Lead) -> int:
            latest = ctx.latest(lead, types[lead.codes] & _matching(lead, prop, values[0]))
            return lookback if latest is None else min(ctx.days_between(latest), lookback)

        return days_since
    last = f.measure == "last"
    return lambda ctx, lead: _bucket(_first_or_last(ctx, lead, types, prop, last), values, "none")


# --- column ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_MAYBE_NUMBER = re.compile(r"\d|inf|nan", re.IGNORECASE)


def _as_double(value: Any) -> float | None:
    """``TRY_CAST(value AS DOUBLE)`` for the values this module mirrors."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Unmirrored("a boolean column")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            return number
    if isinstance(value, str) and not _MAYBE_NUMBER.search(value):
        return None  # no digit, no inf, no nan: not a number to DuckDB either
    raise Unmirrored("a text DuckDB may read as a number in its own way")


def _as_text(value: Any) -> str | None:
    """``CAST(value AS VARCHAR)`` for text and whole numbers."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Unmirrored(f"a {type(value).__name__} column read as text")


def _raw(f: ColumnFeature) -> Any:
    def read(lead: Lead) -> Any:
        row = lead.contact if f.table == "contacts" else lead.account
        if row is None:
            return None
        if f.column not in row:
            raise Unmirrored(f"column {f.column} not in the posted {f.table}")
        return row[f.column]

    return read


@evaluates("column")
def _column(f: ColumnFeature, definition: FeatureDefinition) -> RowFunction:
    raw = _raw(f)
    if f.type is FeatureType.NUMERIC:
        return lambda ctx, lead: _as_double(raw(lead))
    if f.type is FeatureType.BOOLEAN:
        return lambda ctx, lead: norm(_as_text(raw(lead))) in _TRUE
    if f.values is None:
        raise _unlearned(f.name)
    values = f.values
    return lambda ctx, lead: _bucket(norm(_as_text(raw(lead))), values, "unknown")
