"""The features and score steps on Spark (``--engine spark``): the CRM is read, validated and
turned into features by Spark; no DuckDB copy of the CRM is made or read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from leadscore.config import load_config
from leadscore.errors import ConfigError
from leadscore.pipeline.progress import ProgressFn, no_progress, per_task

if TYPE_CHECKING:
    from leadscore.features import CutoffSchedule
    from leadscore.features.engine import Engine
    from leadscore.features.spark_crm import SparkCrm
    from leadscore.pipeline.build import FeaturesResult, FeaturesSpec
    from leadscore.pipeline.score import ScoreSpec, ScoreStepResult

__all__ = [
    "ENGINES",
    "EngineName",
    "engine_schedule",
    "open_spark_source",
    "spark_build",
    "spark_score",
]

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")


def engine_schedule(
    engine: Engine,
    every: Literal["week", "month"] = "month",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> CutoffSchedule:
    """The default cutoff schedule (as :func:`~leadscore.pipeline.build.default_schedule`),
    with the first contact and the data end found by ``engine``."""
    from leadscore.features import CutoffSchedule, data_end_of

    data_end = data_end_of(engine)
    if start is None:
        first = engine.run("SELECT min(created_at) AS t FROM contacts", {}).column("t")[0].as_py()
        first = first.replace(tzinfo=None) if first is not None else data_end
        start = (first.replace(day=1) + timedelta(days=62)).replace(day=1)
    return CutoffSchedule(start.date(), (end or data_end).date(), every=every)


@contextmanager
def open_spark_source(
    source: object, config: Path | None, master: str | None
) -> Iterator[SparkCrm]:
    """The CRM at ``source`` (Parquet tables or ``catalog:<db>``) read and validated on Spark."""
    from leadscore.crm import CrmData
    from leadscore.features.spark_crm import SparkCrm, open_spark_crm
    from leadscore.features.spark_session import spark_session

    if isinstance(source, SparkCrm):
        yield source
        return
    if isinstance(source, CrmData) or str(source).endswith((".duckdb", ".db")):
        raise ConfigError(
            f"--engine spark reads Parquet tables (a folder with one file or folder per table) "
            f"or catalog:<database>, not {source}. Export the tables to Parquet or use "
            "--engine duckdb."
        )
    spark = spark_session(master)
    crm = open_spark_crm(spark, str(source), load_config(config).mapping)
    try:
        yield crm
    finally:
        crm.close()


def spark_build(spec: FeaturesSpec, *, progress: ProgressFn = no_progress) -> FeaturesResult:
    """:func:`~leadscore.pipeline.build.build_features_step` on Spark."""
    from leadscore.atomic import check_writable
    from leadscore.features import (
        LabelTimes,
        StageEntry,
        build_training_table,
        data_end_of,
        load_definition,
        stage_entry_label_times,
    )
    from leadscore.pipeline.build import FeaturesResult

    check_writable(spec.out, what="training table")
    definition = load_definition(spec.definition)
    with open_spark_source(spec.source, spec.config, spec.master) as crm:
        engine = crm.engine()
        label_times: LabelTimes | Path | None = spec.label_times
        if spec.at is not None:
            entry = StageEntry(spec.at, spec.entry_offset_days)
            label_times = stage_entry_label_times(engine, entry, data_end_of(engine))
        schedule = (
            None
            if label_times is not None
            else engine_schedule(engine, spec.every, start=spec.start, end=spec.end)
        )
        table = build_training_table(
            crm,
            definition,
            schedule,
            spec.horizon,
            spec.out,
            engine=engine,
            from_stage=spec.from_stage,
            label_times=label_times,
            max_age_days=spec.max_age_days,
            sample=spec.sample,
            progress=per_task(progress, "Building features on Spark (cutoffs)"),
        )
    return FeaturesResult(
        table=table,
        n_features=len(definition.features),
        horizon=spec.horizon,
        censored_cutoffs=len(table.meta.censored_cutoffs),
    )  # no check of features with the same information: it reads the table with DuckDB


def spark_score(spec: ScoreSpec) -> ScoreStepResult:
    """:func:`~leadscore.pipeline.score.score_step` on Spark: scores under ``out/run_id=<id>/``,
    the run's summary in the score history beside them (``out/_runs/``); the DuckDB score
    store (``spec.store``) is neither opened nor created."""
    from leadscore.features import data_end_of
    from leadscore.pipeline.score import ScoreStepResult
    from leadscore.serving.loading import load_scorer
    from leadscore.serving.spark_scoring import score_contact_base_spark

    # the model first: a missing alias is said before a minute of Spark start-up, not after
    loaded = load_scorer(spec.model, tracking_uri=spec.tracking_uri)
    with open_spark_source(spec.source, spec.config, spec.master) as crm:
        engine = crm.engine()
        batch = score_contact_base_spark(
            engine,
            loaded,
            spec.out,
            tracking_uri=spec.tracking_uri,
            as_of=spec.as_of,
        )
        return ScoreStepResult(batch=batch, data_end=data_end_of(engine))
