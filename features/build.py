"""Build point-in-time feature tables: for scoring (``build_features``) and training
(``build_training_table``: Parquet + metadata JSON, committed as one unit)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from leadscore import __version__
from leadscore.atomic import atomic_path, check_writable
from leadscore.clock import utc_now as _now
from leadscore.crm import CrmData
from leadscore.errors import ConfigError
from leadscore.features.definition import FeatureDefinition, FeatureType, load_definition
from leadscore.features.engine import (
    DuckDBEngine,
    Engine,
    contact_count,
    cutoff_table,
)
from leadscore.features.engine import data_end as engine_data_end
from leadscore.features.label_times import (
    CUTOFFS_TABLE,
    LABEL_TIMES_TABLE,
    LabelTimes,
    eligible_counts_query,
)
from leadscore.features.labels import (
    LABELS,
    CutoffSchedule,
    FromStage,
    is_censored,
    resolve_cutoffs,
)
from leadscore.features.learned import learn_values
from leadscore.features.meta import (
    METADATA_KIND,
    CutoffStats,
    FeatureRecord,
    TrainingTableMeta,
    checkpoint,
    file_sha256,
    metadata_path,
    read_training_table,
    write_meta,
)
from leadscore.features.sampling import WEIGHT_COLUMN, TableSample, sampled_query
from leadscore.features.sql import MAX_DAY_SPAN, feature_query, uses_account_features

__all__ = [
    "METADATA_KIND",
    "BuildResult",
    "CutoffStats",
    "LabelTimes",
    "Progress",
    "build_features",
    "build_training_table",
    "conform_to_schema",
    "cutoffs_per_query_for",
    "data_end_of",
    "metadata_path",
    "output_schema",
    "read_training_table",
]

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
        double = (
            feature.kind == "trend"
            or (feature.kind == "column" and feature.type is FeatureType.NUMERIC)
            or (feature.kind == "burst" and feature.measure == "burst_share")
        )
        kind = pa.float64() if double else _ARROW_TYPES[feature.type]
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


def data_end_of(crm: CrmData | Engine) -> datetime:
    """The latest timestamp anywhere in the CRM: the end of the observed data."""
    return engine_data_end(DuckDBEngine(crm) if isinstance(crm, CrmData) else crm)


MANY_CUTOFFS = 4
"""From this many cutoffs per query, recency is computed as a running maximum over the
intervals between cutoffs (:func:`~leadscore.features.sql.feature_query`'s ``many_cutoffs``)."""

ROWS_PER_QUERY = 4_000_000
"""Automatic batching: about this many (contact, cutoff) pairs per query."""


def cutoffs_per_query_for(crm: CrmData | Engine, n_cutoffs: int, rows: int = ROWS_PER_QUERY) -> int:
    """How many cutoffs one query should take: all of them on small CRMs, fewer on large ones
    (each query scans the events of its cutoffs' lookback once; bounded memory per query)."""
    contacts = contact_count(DuckDBEngine(crm) if isinstance(crm, CrmData) else crm) or 1
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
    definition = learn_values(definition, engine, max(moments))
    size = cutoffs_per_query or cutoffs_per_query_for(engine, len(moments))
    sql = feature_query(
        definition,
        horizon_days=None,
        from_stage=from_stage,
        many_cutoffs=min(size, len(moments)) >= MANY_CUTOFFS,
    )
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
class BuildResult:
    """Where the training table was written, and what it holds (``meta``: its metadata)."""

    path: Path
    metadata_path: Path
    rows: int
    censored_rows: int
    per_cutoff: tuple[CutoffStats, ...]
    label_rates: dict[str, float | None]
    meta: TrainingTableMeta

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata as the JSON file holds it."""
        return self.meta.as_dict()


def _stats(table: pa.Table) -> dict[datetime, tuple[int, float, dict[str, int]]]:
    """Rows, population (rows weighted by :data:`WEIGHT_COLUMN` when the table is sampled) and
    positives per label, per cutoff of a labelled batch."""
    if table.num_rows == 0:
        return {}
    weights = (
        table.column(WEIGHT_COLUMN)
        if WEIGHT_COLUMN in table.column_names
        else pa.array(np.ones(table.num_rows))
    )
    counts = pa.table(
        {
            "cutoff": table.column("cutoff"),
            "weight": weights,
            **{
                label: pc.fill_null(table.column(label), False).cast(pa.int64()) for label in LABELS
            },
        }
    )
    grouped = counts.group_by("cutoff").aggregate(
        [("cutoff", "count"), ("weight", "sum"), *((label, "sum") for label in LABELS)]
    )
    out: dict[datetime, tuple[int, float, dict[str, int]]] = {}
    for row in grouped.to_pylist():
        positives = {label: int(row[f"{label}_sum"] or 0) for label in LABELS}
        out[_naive(row["cutoff"])] = (int(row["cutoff_count"]), float(row["weight_sum"]), positives)
    return out


_GIVEN_CUTOFFS_PER_QUERY = 1024
"""Default batch of distinct cutoffs for given label times: each distinct time of day of the
cutoffs adds a grid the events are placed on, so arbitrary moments are batched smaller."""
_MIN_GIVEN_CUTOFFS_PER_QUERY = 32
_ACCOUNT_PLACEMENTS_PER_QUERY = 8_000_000
"""With account features and given label times, a member's events are placed on the grid of
each member's cutoff in the batch: the batch is cut so that the largest account places at most
about this many (events x cutoffs) per query (~20 bytes each, measured: an account of 1,982 of
8,000 contacts placed ~32M per batch of 1,024 and took 975 MB instead of 366 MB)."""
_ACCOUNT_LOAD_QUERY = f"""
WITH p AS (
    SELECT c.account_id, count(*) AS pairs
    FROM {LABEL_TIMES_TABLE} k JOIN contacts c ON c.contact_id = k.contact_id
    WHERE c.account_id IS NOT NULL GROUP BY c.account_id
), e AS (
    SELECT c.account_id, count(*) AS events
    FROM events v JOIN contacts c ON c.contact_id = v.contact_id
    WHERE c.account_id IS NOT NULL GROUP BY c.account_id
)
SELECT max(CAST(p.pairs AS DOUBLE) * CAST(e.events AS DOUBLE)) AS load
FROM p JOIN e ON e.account_id = p.account_id
"""


def _given_batch_size(engine: Engine, given: LabelTimes, cutoffs: int) -> int:
    """Distinct cutoffs per query for given label times: :data:`_GIVEN_CUTOFFS_PER_QUERY`, fewer
    when one account's (events x label times) would place too many rows per query."""
    rows = engine.run(_ACCOUNT_LOAD_QUERY, {LABEL_TIMES_TABLE: given.table}).to_pylist()
    load = float(rows[0]["load"] or 0.0) if rows else 0.0
    if load <= 0 or cutoffs <= 0:
        return _GIVEN_CUTOFFS_PER_QUERY
    fitting = int(_ACCOUNT_PLACEMENTS_PER_QUERY * cutoffs / load)
    return max(_MIN_GIVEN_CUTOFFS_PER_QUERY, min(_GIVEN_CUTOFFS_PER_QUERY, fitting))


def _given_label_times(
    engine: Engine, label_times: LabelTimes | Path | str, end: datetime
) -> LabelTimes:
    """Read (when a path) and check user-given label times against the CRM."""
    given = (
        label_times if isinstance(label_times, LabelTimes) else LabelTimes.read(Path(label_times))
    )
    pairs = given.table.num_rows
    unknown = (
        engine.run(
            f"SELECT count(*) AS n FROM {LABEL_TIMES_TABLE} k"
            " LEFT JOIN contacts c ON c.contact_id = k.contact_id WHERE c.contact_id IS NULL",
            {LABEL_TIMES_TABLE: given.table},
        )
        .column("n")[0]
        .as_py()
    )
    if unknown:
        raise ConfigError(
            f"Label-times file {given.source}: column contact_id names a contact the CRM does not "
            f"hold in {unknown:,} of {pairs:,} rows. Keep only contacts of this CRM (same "
            "contact_id values as its contacts table)."
        )
    start = engine.run("SELECT min(created_at) AS t FROM contacts", {}).column("t")[0].as_py()
    cutoffs = given.table.column("cutoff")
    outside = pc.sum(
        pc.or_(
            pc.greater(cutoffs, pa.scalar(end, pa.timestamp("us"))),
            pc.less_equal(cutoffs, pa.scalar(start, pa.timestamp("us"))),
        ).cast(pa.int64())
    ).as_py()
    if outside:
        raise ConfigError(
            f"Label-times file {given.source}: column cutoff is outside the data in {outside:,} "
            f"of {pairs:,} rows: cutoffs must be after the first contact's creation "
            f"({start:%Y-%m-%d %H:%M}) and no later than the end of the data ({end:%Y-%m-%d %H:%M}). "
            "Remove those rows or use a CRM export that covers them."
        )
    return given


class Fingerprinted(Protocol):
    """A CRM other than DuckDB's (Spark's): only its data fingerprint is read here."""

    def fingerprint(self) -> str:
        """A content hash of the CRM's contract columns."""
        ...


def build_training_table(
    crm: CrmData | Fingerprinted,
    definition: FeatureDefinition | None,
    schedule: CutoffSchedule | Sequence[date | datetime] | None,
    horizon_days: int,
    out_path: Path,
    *,
    engine: Engine | None = None,
    from_stage: FromStage = "any",
    data_end: datetime | None = None,
    progress: Progress | None = None,
    cutoffs_per_query: int | None = None,
    label_times: LabelTimes | Path | str | None = None,
    max_age_days: int | None = None,
    sample: TableSample | None = None,
) -> BuildResult:
    """Write the labelled training table (Parquet) and its metadata JSON as one unit.

    Label times are every eligible contact at each cutoff of ``schedule``, or the eligible
    pairs of ``label_times`` (a :class:`LabelTimes` or a CSV/Parquet file with ``contact_id,
    cutoff``; give ``schedule=None`` then); ``max_age_days`` drops stale leads (created longer
    ago and inactive that long); ``sample`` keeps a seeded fraction of the negatives before its
    date, in the query (:mod:`leadscore.features.sampling`). Cutoffs whose horizon runs past ``data_end``
    (default: the latest CRM timestamp) are censored: their eligible rows are counted in the
    metadata, never written. Cutoffs are processed ``cutoffs_per_query`` at a time (default:
    sized by the number of contacts, see :func:`cutoffs_per_query_for`; bounded memory;
    ``progress`` after each query). The metadata records the Parquet file's SHA-256, so a
    crash between the two writes leaves a pair that readers refuse, never a silent mismatch.
    """
    if horizon_days < 1:
        raise ConfigError(f"horizon_days must be at least 1 day, got {horizon_days}.")
    if max_age_days is not None and max_age_days < 1:
        raise ConfigError(f"max_age_days must be at least 1 day, got {max_age_days}.")
    if label_times is not None and schedule is not None:
        raise ConfigError("Give either a cutoff schedule or label times, not both.")
    _check_batch_size(cutoffs_per_query)
    definition = definition or load_definition()
    if engine is None:
        if not isinstance(crm, CrmData):
            raise ConfigError("build_training_table needs an engine for a CRM not in DuckDB.")
        engine = DuckDBEngine(crm)
    end = data_end or data_end_of(engine)
    given = _given_label_times(engine, label_times, end) if label_times is not None else None
    if given is not None:
        moments = given.cutoffs
    else:
        moments = resolve_cutoffs(schedule, _now()) if schedule is not None else []

    def inputs(cutoffs: Sequence[datetime]) -> dict[str, pa.Table]:
        if given is not None:
            return {LABEL_TIMES_TABLE: given.at(cutoffs)}
        return {CUTOFFS_TABLE: cutoff_table(cutoffs)}

    observed = [c for c in moments if not is_censored(c, horizon_days, end)]
    censored = [c for c in moments if is_censored(c, horizon_days, end)]
    definition = learn_values(definition, engine, max(observed, default=end))
    total, done = len(moments), 0
    if progress:
        progress(0, total)
    stats: dict[datetime, CutoffStats] = {}
    if censored:
        query = eligible_counts_query(
            from_stage, given=given is not None, max_age_days=max_age_days
        )
        counts = engine.run(query, inputs(censored)).to_pylist()
        by_cutoff = {_naive(row["cutoff"]): int(row["n"]) for row in counts}
        for cutoff in censored:
            stats[cutoff] = CutoffStats(
                cutoff=cutoff,
                rows=by_cutoff.get(cutoff, 0),
                censored=True,
                label_rates=dict.fromkeys(LABELS),
            )
        done += len(censored)
        if progress:
            progress(done, total)

    out_path = Path(out_path)
    check_writable(out_path, what="training table")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    schema = output_schema(definition, labelled=True)
    size = cutoffs_per_query or cutoffs_per_query_for(engine, len(observed))
    if given is not None and cutoffs_per_query is None:
        size = min(size, _GIVEN_CUTOFFS_PER_QUERY)
        if uses_account_features(definition):
            size = min(size, _given_batch_size(engine, given, len(observed)))
    sql = feature_query(
        definition,
        horizon_days=horizon_days,
        from_stage=from_stage,
        given=given is not None,
        max_age_days=max_age_days,
        many_cutoffs=min(size, len(observed)) >= MANY_CUTOFFS,
    )
    if sample is not None:  # the engine drops the negatives it samples out
        sql = sampled_query(sql, sample, engine.name)
        schema = schema.append(pa.field(WEIGHT_COLUMN, pa.float64()))
    population = 0.0
    rows = 0
    positives = dict.fromkeys(LABELS, 0)
    with atomic_path(out_path) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            for batch in _batches(observed, size, definition.lookback_days):
                table = conform_to_schema(engine.run(sql, inputs(batch)), schema)
                writer.write_table(table)
                rows += table.num_rows
                per_cutoff_counts = _stats(table)
                for cutoff in batch:
                    n, weighted, hits = per_cutoff_counts.get(
                        cutoff, (0, 0.0, dict.fromkeys(LABELS, 0))
                    )
                    population += weighted
                    rates = {label: (hits[label] / weighted if n else None) for label in LABELS}
                    stats[cutoff] = CutoffStats(
                        cutoff=cutoff, rows=n, censored=False, label_rates=rates
                    )
                    for label in LABELS:
                        positives[label] += hits[label]
                done += len(batch)
                if progress:
                    progress(done, total)
        digest = file_sha256(tmp)
        checkpoint("table-written")
    checkpoint("table-replaced")

    per_cutoff = tuple(stats[c] for c in moments)
    censored_rows = sum(s.rows for s in per_cutoff if s.censored)
    label_rates: dict[str, float | None] = {  # of the population: a sample's rows weighted
        label: (positives[label] / population if rows else None) for label in LABELS
    }
    meta = TrainingTableMeta(
        package_version=__version__,
        created_at=_now().isoformat(timespec="seconds"),
        engine=engine.name,
        data_fingerprint=crm.fingerprint(),
        definition_hash=definition.digest(),
        definition=definition,
        features=tuple(FeatureRecord.model_validate(f) for f in definition.describe()),
        labels={
            "became_sql": "reached sql, meeting or customer in [cutoff, cutoff + horizon)",
            "booked_meeting": "reached meeting or customer in [cutoff, cutoff + horizon)",
        },
        eligibility=(
            "created before the cutoff, never sql/meeting/customer before it, not disqualified"
            + (", reached mql before it" if from_stage == "mql" else "")
            + (
                f", created or active in the {max_age_days} days before it"
                if max_age_days is not None
                else ""
            )
        ),
        from_stage=from_stage,
        max_age_days=max_age_days,
        horizon_days=horizon_days,
        lookback_days=definition.lookback_days,
        data_end=end,
        label_times="given" if given is not None else "schedule",
        label_times_file=given.source if given is not None else None,
        excluded_rows=(given.table.num_rows - rows - censored_rows) if given is not None else 0,
        cutoffs=tuple(moments),
        rows=rows,
        censored_rows=censored_rows,
        censored_cutoffs=tuple(censored),
        label_rates=label_rates,
        per_cutoff=per_cutoff,
        parquet_sha256=digest,
        sample=sample,
    )
    meta_path = write_meta(out_path, meta)
    checkpoint("meta-replaced")
    return BuildResult(
        path=out_path,
        metadata_path=meta_path,
        rows=rows,
        censored_rows=censored_rows,
        per_cutoff=per_cutoff,
        label_rates=label_rates,
        meta=meta,
    )


def _naive(value: Any) -> datetime:
    moment: datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
