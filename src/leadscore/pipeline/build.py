"""The features step: the default cutoff schedule and the point-in-time training table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from leadscore.errors import ConfigError
from leadscore.pipeline.data import open_mapped_crm
from leadscore.pipeline.defaults import (
    DEFAULT_DEMO_CRM,
    DEFAULT_MAX_LEAD_AGE_DAYS,
    DEFAULT_TRAINING_TABLE,
)
from leadscore.pipeline.progress import ProgressFn, no_progress, per_task

if TYPE_CHECKING:
    from leadscore.crm import CrmData
    from leadscore.features import BuildResult, CutoffSchedule
    from leadscore.features.labels import FromStage
    from leadscore.features.sampling import TableSample
    from leadscore.features.stage_entry import EntryStage

__all__ = [
    "FeaturesResult",
    "FeaturesSpec",
    "build_features_step",
    "build_sample",
    "default_schedule",
]

Every = Literal["week", "month"]


def default_schedule(
    crm: CrmData,
    every: Every = "month",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> CutoffSchedule:
    """Cutoffs every week or month from ``start`` (default: the first of the month two months
    after the first contact) to ``end`` (default: the end of the data)."""
    from leadscore.features import CutoffSchedule, data_end_of

    data_end = data_end_of(crm)
    if start is None:
        row = crm.con.execute("SELECT min(created_at) FROM contacts").fetchone()
        first = row[0] if row and row[0] is not None else data_end
        start = (first.replace(day=1) + timedelta(days=62)).replace(day=1)
        last = end or data_end
        if last < start:
            raise ConfigError(
                f"The data end on {last:%Y-%m-%d}, before the first default cutoff "
                f"({start:%Y-%m-%d}: the first of the month two months after the first contact, "
                "so that every lead has some history). Export a longer history, or pass --start "
                "(or --at mql / --label-times to score leads at their own moments)."
            )
    return CutoffSchedule(start.date(), (end or data_end).date(), every=every)


@dataclass(frozen=True, kw_only=True)
class FeaturesSpec:
    """A training table to build: from which CRM (and label-mapping config), with which feature
    config (YAML; default: the built-in catalog), cutoffs, horizon and eligible population."""

    source: str | Path | CrmData = DEFAULT_DEMO_CRM
    out: Path = DEFAULT_TRAINING_TABLE
    config: Path | None = None
    definition: Path | None = None
    start: datetime | None = None
    end: datetime | None = None
    every: Every = "month"
    horizon: int = 30
    from_stage: FromStage = "any"
    label_times: Path | None = None
    """CSV/Parquet of (contact_id, cutoff) pairs to build for, instead of the schedule."""
    at: EntryStage | None = None
    """Score each lead once, at its creation or MQL entry (plus ``entry_offset_days``),
    instead of the schedule."""
    entry_offset_days: int = 0
    max_lead_age_days: int | None = None
    """Leads created longer ago and inactive that long leave the population; ``None``: the
    measured default (:data:`DEFAULT_MAX_LEAD_AGE_DAYS`) with a schedule, no maximum with label
    times (``at``, ``label_times``: the pairs asked for); ``0``: no maximum."""

    @property
    def max_age_days(self) -> int | None:
        """The maximum lead age the build applies (``None``: none)."""
        if self.max_lead_age_days is None:
            given = self.at is not None or self.label_times is not None
            return None if given else DEFAULT_MAX_LEAD_AGE_DAYS
        return self.max_lead_age_days or None

    engine: Literal["duckdb", "spark"] = "duckdb"
    """Where the CRM is read and the features computed: DuckDB on this machine, or Spark
    (Parquet tables or ``catalog:<db>``; no DuckDB copy of the CRM)."""
    master: str | None = None
    """Spark master (``--master``); default: the active session, ``SPARK_REMOTE`` or the Spark
    configuration."""
    sample: TableSample | None = None
    """Negatives sampled in the build query (:mod:`leadscore.features.sampling`)."""


def build_sample(
    fraction: float | None, until: datetime | None, seed: int = 0
) -> TableSample | None:
    """The build-time negative sample of ``--sample-negatives/--sample-until/--sample-seed``
    (``None`` when no fraction, or a fraction of 1, is given)."""
    from leadscore.errors import ConfigError
    from leadscore.features.sampling import TableSample

    if fraction is None or fraction >= 1:
        if until is not None:
            raise ConfigError("--sample-until goes with --sample-negatives (a share below 1).")
        return None
    if fraction <= 0:
        raise ConfigError(
            f"--sample-negatives must be above 0 (a share of the negatives), got {fraction}."
        )
    if until is None:
        raise ConfigError(
            "--sample-negatives needs --sample-until DATE: only cutoffs before it are sampled "
            "(the future training period); validation and test must see every row."
        )
    return TableSample(fraction=fraction, until=until, seed=seed)


@dataclass(frozen=True)
class FeaturesResult:
    """The training table written, with the numbers worth showing."""

    table: BuildResult
    n_features: int
    horizon: int
    censored_cutoffs: int
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return self.table.path


def build_features_step(
    spec: FeaturesSpec, *, progress: ProgressFn = no_progress
) -> FeaturesResult:
    """Build the point-in-time training table (one row per contact and cutoff, with labels);
    progress is reported per cutoff under ``"Building features (cutoffs)"``."""
    from leadscore.atomic import check_writable
    from leadscore.errors import ConfigError
    from leadscore.features import (
        DuckDBEngine,
        LabelTimes,
        StageEntry,
        build_training_table,
        data_end_of,
        load_definition,
        stage_entry_label_times,
    )

    if spec.at is not None and spec.label_times is not None:
        raise ConfigError("Give either --label-times FILE or --at created|mql, not both.")
    if spec.engine == "spark":
        from leadscore.pipeline.spark_steps import spark_build

        return spark_build(spec, progress=progress)
    check_writable(spec.out, what="training table")  # before any work, not after it
    definition = load_definition(spec.definition)
    with open_mapped_crm(spec.source, spec.config) as crm:
        label_times: LabelTimes | Path | None = spec.label_times
        if spec.at is not None:
            entry = StageEntry(spec.at, spec.entry_offset_days)
            label_times = stage_entry_label_times(DuckDBEngine(crm), entry, data_end_of(crm))
        schedule = (
            None
            if label_times is not None
            else default_schedule(crm, spec.every, start=spec.start, end=spec.end)
        )
        table = build_training_table(
            crm,
            definition,
            schedule,
            spec.horizon,
            spec.out,
            from_stage=spec.from_stage,
            label_times=label_times,
            max_age_days=spec.max_age_days,
            sample=spec.sample,
            progress=per_task(progress, "Building features (cutoffs)"),
        )
    return FeaturesResult(
        table=table,
        n_features=len(definition.features),
        horizon=spec.horizon,
        censored_cutoffs=len(table.meta.censored_cutoffs),
        warnings=redundancy_warnings(table.path, [f.name for f in definition.features]),
    )


def redundancy_warnings(table: Path, features: list[str]) -> tuple[str, ...]:
    """A warning naming the built table's features that carry the same information."""
    import duckdb

    from leadscore.features.redundant import no_progress_bar, redundant_pairs, redundant_warning
    from leadscore.sql import quote_literal

    con = duckdb.connect()
    try:
        no_progress_bar(con)
        relation = f"read_parquet({quote_literal(str(table))})"
        rows = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
        pairs = redundant_pairs(con, relation, features)
    finally:
        con.close()
    warning = redundant_warning(
        pairs,
        int(rows[0]) if rows else 0,
        where="keep one of each pair (list the other under `exclude:` in the feature YAML given "
        "to --definition)",
    )
    return () if warning is None else (warning,)
