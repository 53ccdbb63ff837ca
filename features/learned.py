"""Values of custom features learned from the data when a training table is built.

A categorical custom feature (event property ``first``/``last``, categorical column) keeps the
``top_k`` most frequent values (by number of contacts); a per-value family (``{value}`` in its
name) becomes one feature per value. Only data known before ``until`` is read (the build uses
its latest observed cutoff), and the learned values are written into the definition the
training table and the model keep: serving never learns anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from leadscore.errors import FeatureDefinitionError
from leadscore.features.compilers import _types, in_list
from leadscore.features.custom_kinds import (
    ColumnFeature,
    EventPropertyFeature,
    expand_values,
    needs_learning,
)
from leadscore.features.definition import FeatureDefinition
from leadscore.features.engine import Engine

__all__ = ["check_columns", "learn_values"]

_UNTIL = "_ls_learn_until"


def _norm(column: str) -> str:
    return f"lower(trim(CAST({column} AS VARCHAR)))"


def check_columns(definition: FeatureDefinition, engine: Engine) -> None:
    """Refuse a column feature whose column the CRM's contacts or accounts table lacks."""
    wanted = [f for f in definition.features if isinstance(f, ColumnFeature)]
    present: dict[str, set[str]] = {}
    for feature in wanted:
        if feature.table not in present:
            table = engine.run(f"SELECT * FROM {feature.table} LIMIT 0", {})
            present[feature.table] = set(table.column_names)
        if feature.column not in present[feature.table]:
            raise FeatureDefinitionError(
                f"Feature {feature.name!r} reads column {feature.column!r} of table "
                f"{feature.table}, which the CRM does not have ({len(present[feature.table])} "
                "columns). Add the column to the export (extra columns of contacts and accounts "
                "are kept) or fix `column` in the feature YAML."
            )


def _top_query(feature: Any) -> str:
    if isinstance(feature, EventPropertyFeature):
        value = _norm(f"e.{feature.property}")
        types = _types(feature.event_types)
        source = (
            "FROM events e, _until u WHERE e.occurred_at < u.t"
            f" AND e.{feature.property} IS NOT NULL" + (f" AND {types}" if types else "")
        )
        who = "e.contact_id"
    else:
        alias = "c" if feature.table == "contacts" else "a"
        value = _norm(f'{alias}."{feature.column}"')
        source = (
            "FROM contacts c LEFT JOIN accounts a ON a.account_id = c.account_id, _until u"
            " WHERE c.created_at < u.t"
        )
        who = "c.contact_id"
    return (
        f"WITH _until AS (SELECT max(t) AS t FROM {_UNTIL}), vals AS (\n"
        f"  SELECT {value} AS v, count(DISTINCT {who}) AS n {source}\n"
        "  GROUP BY 1\n)\n"
        f"SELECT v, n FROM vals WHERE v IS NOT NULL AND v <> ''"
        f" AND v NOT IN {in_list(['other', 'none', 'unknown'])}"
        f" ORDER BY n DESC, v ASC LIMIT {feature.top_k}"
    )


def learn_values(
    definition: FeatureDefinition, engine: Engine, until: datetime
) -> FeatureDefinition:
    """``definition`` with every value to learn learned from data before ``until``; unchanged
    when nothing waits for values."""
    check_columns(definition, engine)
    if not any(needs_learning(f) for f in definition.features):
        return definition
    tables = {_UNTIL: pa.table({"t": pa.array([until], type=pa.timestamp("us"))})}
    features: list[Any] = []
    for feature in definition.features:
        if not needs_learning(feature):
            features.append(feature)
            continue
        rows = engine.run(_top_query(feature), tables).to_pylist()
        learned = feature.model_copy(update={"values": tuple(str(r["v"]) for r in rows)})
        if isinstance(learned, EventPropertyFeature):
            features.extend(expand_values(learned))
        else:
            features.append(learned)
    names = [f.name for f in features]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FeatureDefinitionError(
            f"Learned values give duplicate feature names: {', '.join(duplicates)}. Rename the "
            "per-value family (the '{value}' part) so it cannot meet another feature's name."
        )
    if not features:
        raise FeatureDefinitionError(
            "The feature definition selects no feature once values are learned: the event "
            "properties it reads are empty before the last cutoff."
        )
    return definition.model_copy(update={"features": tuple(features)})
