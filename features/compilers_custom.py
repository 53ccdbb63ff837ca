"""SQL compilers of the custom feature kinds (:mod:`leadscore.features.custom_kinds`).

Point in time as every kind: an event counts at a cutoff only when strictly before it and
within the lookback; profile columns are the CRM's current values, like the built-in profile
attributes. Values are compared lower case and trimmed.
"""

from __future__ import annotations

from leadscore.errors import FeatureDefinitionError
from leadscore.features.compilers import (
    Compiled,
    Parts,
    _types,
    compiles,
    days_between,
    in_list,
    lit,
)
from leadscore.features.custom_kinds import ColumnFeature, EventPropertyFeature
from leadscore.features.feature_base import FeatureType

__all__: list[str] = []

_TRUE = ("true", "yes", "y", "t", "1", "1.0", "oui", "x")


def _norm(column: str) -> str:
    return f"lower(trim(CAST({column} AS VARCHAR)))"


def _unlearned(name: str) -> FeatureDefinitionError:
    return FeatureDefinitionError(
        f"Feature {name!r} has no values yet: they are learned when the training table is built "
        "(features build). Build the training table with this definition, or list `values`."
    )


def _bucket(value: str, values: tuple[str, ...], missing: str) -> str:
    """``value`` when one of ``values``, ``missing`` when empty, else ``other``."""
    known = f" WHEN {value} IN {in_list(values)} THEN {value}" if values else ""
    return f"CASE WHEN {value} IS NULL OR {value} = '' THEN {lit(missing)}{known} ELSE 'other' END"


@compiles("event_property")
def _event_property(f: EventPropertyFeature, parts: Parts) -> Compiled:
    if f.values is None or "{value}" in f.name:
        raise _unlearned(f.name)
    prop = f"e.{f.property}"
    if f.measure in ("count", "days_since"):
        parts.event_columns.add(f.property)
        where = f"{_norm(prop)} = {lit(f.values[0])}"
        if f.measure == "count":
            column = parts.count_in(f.event_types, f.window or parts.lookback, where=where)
            return Compiled(f"coalesce(cw.{column}, 0)")
        alias = parts.latest(f.event_types, where)
        days = days_between(f"rec.{alias}", "lt.cutoff")
        return Compiled(
            f"CASE WHEN rec.{alias} IS NULL THEN {parts.lookback} "
            f"ELSE least({days}, {parts.lookback}) END"
        )
    types = _types(f.event_types)
    order = "ASC" if f.measure == "first" else "DESC"
    lookback = parts.lookback

    def make() -> str:
        return (
            "SELECT contact_id, cutoff, v FROM (\n"
            f"    SELECT lt.contact_id, lt.cutoff, {_norm(prop)} AS v, row_number() OVER ("
            f"PARTITION BY lt.contact_id, lt.cutoff ORDER BY e.occurred_at {order}, "
            f"{_norm(prop)} {order}) AS rn\n"
            "    FROM lt JOIN events e ON e.contact_id = lt.contact_id\n"
            "    WHERE e.occurred_at < lt.cutoff"
            f" AND e.occurred_at >= lt.cutoff - INTERVAL {lookback} DAY"
            f" AND {prop} IS NOT NULL AND trim({prop}) <> ''"
            + (f" AND {types}" if types else "")
            + "\n  ) x WHERE rn = 1"
        )

    key = f"{f.property}|{f.measure}|{types}"
    alias = parts.cte(key, make)
    return Compiled(_bucket(f"{alias}.v", f.values, "none"))


@compiles("column")
def _column(f: ColumnFeature, parts: Parts) -> Compiled:
    raw = parts.raw_column(f.table, f.column)
    if f.type is FeatureType.NUMERIC:
        return Compiled(parts.profile_column(f"TRY_CAST({raw} AS DOUBLE)"), double=True)
    text = _norm(raw)
    if f.type is FeatureType.BOOLEAN:
        return Compiled(parts.profile_column(f"coalesce({text} IN {in_list(_TRUE)}, false)"))
    if f.values is None:
        raise _unlearned(f.name)
    return Compiled(parts.profile_column(_bucket(text, f.values, "unknown")))
