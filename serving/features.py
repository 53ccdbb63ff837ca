"""Current features of a CRM for scoring, streamed in chunks.

The query is the feature stage's own (:func:`leadscore.features.sql.feature_query`, the SQL
``build_features`` runs) with one cutoff, ``as_of``: serving never reimplements a feature.
DuckDB computes the result engine-side (spilling to disk when needed) and hands it over in
Arrow batches of ``chunk_size`` rows, so Python holds one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from leadscore.crm import CrmData
from leadscore.errors import ConfigError
from leadscore.features.build import output_schema
from leadscore.features.definition import FeatureDefinition
from leadscore.features.sql import CUTOFFS_TABLE, eligible_counts_query, feature_query

__all__ = ["count_eligible", "iter_features", "utc_now"]


def utc_now() -> datetime:
    """Now, as the naive UTC datetime CRM times use."""
    return datetime.now(UTC).replace(tzinfo=None)


def _as_of(as_of: datetime | None) -> datetime:
    if as_of is None:
        return utc_now()
    if as_of.tzinfo is not None:
        return as_of.astimezone(UTC).replace(tzinfo=None)
    return as_of


def _conform(batch: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for field in schema:
        column = batch.column(field.name)
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _query(
    definition: FeatureDefinition, contact_ids: Sequence[str] | None
) -> tuple[str, list[object]]:
    sql = feature_query(definition, horizon_days=None, from_stage="any")
    if contact_ids is None:
        return sql, []
    placeholders = ", ".join("?" for _ in contact_ids)
    return f"SELECT * FROM ({sql}) WHERE contact_id IN ({placeholders})", list(contact_ids)


def iter_features(
    crm: CrmData,
    definition: FeatureDefinition,
    *,
    as_of: datetime | None = None,
    chunk_size: int = 50_000,
    contact_ids: Sequence[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Feature frames (``contact_id``, ``cutoff``, features) of every eligible contact at
    ``as_of`` (default: now), ``chunk_size`` rows at a time; ``contact_ids`` restricts the
    output (account-level features still see the whole CRM)."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1 row, got {chunk_size}.")
    moment = _as_of(as_of)
    schema = output_schema(definition, labelled=False)
    sql, params = _query(definition, contact_ids)
    con = crm.con.cursor()
    try:
        cutoffs = pa.table({"cutoff": pa.array([moment], type=pa.timestamp("us"))})
        con.register(CUTOFFS_TABLE, cutoffs)
        reader = con.sql(sql, params=params or None).to_arrow_reader(chunk_size)
        for batch in reader:
            if batch.num_rows:
                yield _conform(pa.Table.from_batches([batch]), schema).to_pandas()
    finally:
        con.close()


def count_eligible(crm: CrmData, *, as_of: datetime | None = None) -> int:
    """Number of contacts the scoring covers at ``as_of`` (for progress totals)."""
    con = crm.con.cursor()
    try:
        moment = _as_of(as_of)
        con.register(
            CUTOFFS_TABLE, pa.table({"cutoff": pa.array([moment], type=pa.timestamp("us"))})
        )
        rows = con.execute(eligible_counts_query("any")).fetchall()
    finally:
        con.close()
    return int(rows[0][1]) if rows else 0
