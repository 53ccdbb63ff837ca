"""Build point-in-time feature tables: for scoring (``build_features``) and training
(``build_training_table``, Parquet + metadata JSON, written atomically)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from leadscore import __version__
from leadscore.atomic import atomic_path, atomic_write_text
from leadscore.clock import utc_now as _now
from leadscore.contract import SCHEMA_VERSION
from leadscore.crm import CrmData
from leadscore.errors import ArtifactError, ConfigError
from leadscore.features.definition import FeatureDefinition, FeatureType, load_definition
from leadscore.features.engine import DuckDBEngine, Engine
from leadscore.features.labels import (
    LABELS,
    CutoffSchedule,
    FromStage,
    is_censored,
    resolve_cutoffs,
)
from leadscore.features.sql import MAX_DAY_SPAN, eligible_counts_query, feature_query

__all__ = [
    "METADATA_KIND",
    "CutoffStats",
    "Progress",
    "TrainingTable",
    "build_features",
    "build_training_table",
    "conform_to_schema",
    "cutoffs_per_query_for",
    "data_end_of",
    "metadata_path",
    "output_schema",
    "read_training_table",
]

METADATA_KIND = "leadscore.training_table"
Progress = Callable[[int, int], None]
"""``progress(done_cutoffs, total_cutoffs)``, called once per processed cutoff."""

_ARROW_TYPES = {
    FeatureType.NUMERIC: pa.int64(),
    FeatureType.CATEGORICAL: pa.string(),
    FeatureType.BOOLEAN: pa.bool_(),
}


def output_schema(definition: FeatureDefinition, *, labelled: bool) -> pa.Schema:
    """The Arrow schema of a feature table (identical for every engine)."""
    fields = [pa.field("contact_id", pa.string()), pa.field("cutoff", pa.timestamp("us"))]
    if labelled:
        fields += [pa.field(label, pa.bool_()) for label in LABELS]
    for feature in definition.features:
        kind = pa.float64() if feature.kind == "trend" else _ARROW_TYPES[feature.type]
        fields.append(pa.field(feature.name, kind))
    return pa.schema(fields)


def conform_to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast ``table`` to ``schema`` (time-zone-aware timestamps become naive UTC)."""
    columns = []
    for target in schema:
        column = table.column(target.name)
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        columns.append(column.cast(target.type))
    return pa.Table.from_arrays(columns, schema=schema)


def data_end_of(crm: CrmData) -> datetime:
    """The latest timestamp anywhere in the CRM: the end of the observed data."""
    row = crm.con.execute(
        "SELECT greatest((SELECT max(occurred_at) FROM events), "
        "(SELECT max(changed_at) FROM stage_changes), (SELECT max(created_at) FROM contacts))"
    ).fetchone()
    if not row or row[0] is None:
        raise ConfigError("The CRM holds no timestamp at all: cannot find the end of the data.")
    end: datetime = row[0]
    return end


ROWS_PER_QUERY = 4_000_000
"""Automatic batching: about this many (contact, cutoff) pairs per query."""


def cutoffs_per_query_for(crm: CrmData, n_cutoffs: int, rows: int = ROWS_PER_QUERY) -> int:
    """How many cutoffs one query should take: all of them on small CRMs, fewer on large ones
    (each query scans the events of its cutoffs' lookback once; bounded memory per query)."""
    found = crm.con.execute("SELECT count(*) FROM contacts").fetchall()
    contacts = int(found[0][0]) if found and found[0][0] else 1
    return max(1, min(max(n_cutoffs, 1), rows // max(contacts, 1)))


def _batches(moments: Sequence[datetime], size: int, lookback: int) -> list[list[datetime]]:
    """Consecutive cutoffs, ``size`` at a time, as evenly as possible."""
    if not moments:
        return []
    span = (max(moments) - min(moments)).days + lookback + 2
    if span >= MAX_DAY_SPAN:
        raise ConfigError(
            f"Cutoffs spanning {span - lookback - 2} days with a {lookback}-day lookback exceed "
            f"the {MAX_DAY_SPAN:,} days one feature query covers."
        )
    count = -(-len(moments) // size)
    base, extra = divmod(len(moments), count)
    out, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        out.append(list(moments[start:stop]))
        start = stop
    return out


def _check_batch_size(cutoffs_per_query: int | None) -> None:
    if cutoffs_per_query is not None and cutoffs_per_query < 1:
        raise ConfigError(f"cutoffs_per_query must be at least 1, got {cutoffs_per_query}.")


def build_features(
    crm: CrmData,
    definition: FeatureDefinition | None = None,
    cutoffs: CutoffSchedule | Sequence[date | datetime] | None = None,
    *,
    engine: Engine | None = None,
    from_stage: FromStage = "any",
    cutoffs_per_query: int | None = None,
) -> pd.DataFrame:
    """Features of every eligible contact at each cutoff (default: a single cutoff, now).

    No labels: this is the scoring path. Same definition, same SQL as the training table.
    Cutoffs are computed ``cutoffs_per_query`` at a time (default: sized by the number of
    contacts, see :func:`cutoffs_per_query_for`); rows are ordered by cutoff, contact.
    """
    _check_batch_size(cutoffs_per_query)
    definition = definition or load_definition()
    moments = resolve_cutoffs(cutoffs, _now())
    engine = engine or DuckDBEngine(crm)
    size = cutoffs_per_query or cutoffs_per_query_for(crm, len(moments))
    sql = feature_query(definition, horizon_days=None, from_stage=from_stage)
    schema = output_schema(definition, labelled=False)
    tables = [
        conform_to_schema(engine.run(sql, batch), schema)
        for batch in _batches(moments, size, definition.lookback_days)
    ]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    del tables
    frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True)
    return frame


@dataclass(frozen=True)
class CutoffStats:
    """Rows and label rates of one cutoff (censored cutoffs have no labels)."""

    cutoff: datetime
    rows: int
    censored: bool
    label_rates: dict[str, float | None]


@dataclass(frozen=True)
class TrainingTable:
    """Where the training table was written, and what it holds."""

    path: Path
    metadata_path: Path
    rows: int
    censored_rows: int
    per_cutoff: tuple[CutoffStats, ...]
    label_rates: dict[str, float | None]
    metadata: dict[str, Any]


def metadata_path(out_path: Path) -> Path:
    """The metadata JSON written beside a training table."""
    return out_path.with_name(out_path.name + ".meta.json")


def _positives(column: pa.ChunkedArray) -> int:
    """Number of true values (nulls are not positive)."""
    return int(pc.sum(pc.fill_null(column, False).cast(pa.int64())).as_py() or 0)


def _rates(table: pa.Table) -> dict[str, float | None]:
    if table.num_rows == 0:
        return dict.fromkeys(LABELS)
    return {label: _positives(table.column(label)) / table.num_rows for label in LABELS}


def build_training_table(
    crm: CrmData,
    definition: FeatureDefinition | None,
    schedule: CutoffSchedule | Sequence[date | datetime],
    horizon_days: int,
    out_path: Path,
    *,
    engine: Engine | None = None,
    from_stage: FromStage = "any",
    data_end: datetime | None = None,
    progress: Progress | None = None,
    cutoffs_per_query: int | None = None,
) -> TrainingTable:
    """Write the labelled training table (Parquet) and its metadata JSON, atomically.

    Cutoffs whose horizon runs past ``data_end`` (default: the latest CRM timestamp) are
    censored: their eligible rows are counted in the metadata, never written. Cutoffs are
    processed ``cutoffs_per_query`` at a time (default: sized by the number of contacts, see
    :func:`cutoffs_per_query_for`; bounded memory; ``progress`` after each query).
    """
    if horizon_days < 1:
        raise ConfigError(f"horizon_days must be at least 1 day, got {horizon_days}.")
    _check_batch_size(cutoffs_per_query)
    definition = definition or load_definition()
    engine = engine or DuckDBEngine(crm)
    moments = resolve_cutoffs(schedule, _now()) if schedule is not None else []
    end = data_end or data_end_of(crm)
    observed = [c for c in moments if not is_censored(c, horizon_days, end)]
    censored = [c for c in moments if is_censored(c, horizon_days, end)]
    total, done = len(moments), 0
    if progress:
        progress(0, total)
    stats: dict[datetime, CutoffStats] = {}
    if censored:
        counts = engine.run(eligible_counts_query(from_stage), censored).to_pylist()
        by_cutoff = {_naive(row["cutoff"]): int(row["n"]) for row in counts}
        for cutoff in censored:
            stats[cutoff] = CutoffStats(
                cutoff, by_cutoff.get(cutoff, 0), True, dict.fromkeys(LABELS)
            )
        done += len(censored)
        if progress:
            progress(done, total)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    schema = output_schema(definition, labelled=True)
    sql = feature_query(definition, horizon_days=horizon_days, from_stage=from_stage)
    rows = 0
    rate_sums = dict.fromkeys(LABELS, 0)
    with atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        size = cutoffs_per_query or cutoffs_per_query_for(crm, len(observed))
        for batch in _batches(observed, size, definition.lookback_days):
            table = conform_to_schema(engine.run(sql, batch), schema)
            writer.write_table(table)
            rows += table.num_rows
            for cutoff in batch:
                mask = pc.equal(table.column("cutoff"), pa.scalar(cutoff, pa.timestamp("us")))
                part = table.filter(mask)
                stats[cutoff] = CutoffStats(cutoff, part.num_rows, False, _rates(part))
                for label in LABELS:
                    rate_sums[label] += _positives(part.column(label))
            done += len(batch)
            if progress:
                progress(done, total)

    per_cutoff = tuple(stats[c] for c in moments)
    censored_rows = sum(s.rows for s in per_cutoff if s.censored)
    rates: dict[str, float | None] = {
        label: (rate_sums[label] / rows if rows else None) for label in LABELS
    }
    metadata = {
        "kind": METADATA_KIND,
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "created_at": _now().isoformat(timespec="seconds"),
        "engine": engine.name,
        "data_fingerprint": crm.fingerprint(),
        "definition_hash": definition.digest(),
        "definition": definition.model_dump(mode="json"),
        "features": definition.describe(),
        "labels": {
            "became_sql": "reached sql, meeting or customer in [cutoff, cutoff + horizon)",
            "booked_meeting": "reached meeting or customer in [cutoff, cutoff + horizon)",
        },
        "eligibility": (
            "created before the cutoff, never sql/meeting/customer before it, not disqualified"
            + (", reached mql before it" if from_stage == "mql" else "")
        ),
        "from_stage": from_stage,
        "horizon_days": horizon_days,
        "lookback_days": definition.lookback_days,
        "data_end": end.isoformat(),
        "cutoffs": [c.isoformat() for c in moments],
        "rows": rows,
        "censored_rows": censored_rows,
        "censored_cutoffs": [c.isoformat() for c in censored],
        "label_rates": rates,
        "per_cutoff": [
            {
                "cutoff": s.cutoff.isoformat(),
                "rows": s.rows,
                "censored": s.censored,
                "label_rates": s.label_rates,
            }
            for s in per_cutoff
        ],
    }
    meta_path = metadata_path(out_path)
    atomic_write_text(meta_path, json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    return TrainingTable(
        path=out_path,
        metadata_path=meta_path,
        rows=rows,
        censored_rows=censored_rows,
        per_cutoff=per_cutoff,
        label_rates=rates,
        metadata=metadata,
    )


def _naive(value: Any) -> datetime:
    moment: datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def read_training_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a training table and its metadata; refuse incompatible or foreign artifacts."""
    path = Path(path)
    meta_path = metadata_path(path)
    if not path.is_file() or not meta_path.is_file():
        raise ArtifactError(f"Training table {path} or its metadata {meta_path.name} is missing.")
    try:
        metadata: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"Metadata {meta_path} is not valid JSON: {exc}") from None
    if metadata.get("kind") != METADATA_KIND:
        raise ArtifactError(f"{meta_path} is not a leadscore training-table metadata record.")
    if metadata.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            f"Training table {path} was built for data-contract schema version "
            f"{metadata.get('schema_version')!r}; this leadscore uses {SCHEMA_VERSION!r}. "
            "Rebuild it with `build_training_table`."
        )
    return pd.read_parquet(path), metadata
