"""Batch scoring on Spark: the registered model's heads as an Arrow UDF over features computed
on Spark, scores written as Parquet partitioned by run.

The feature query is the one :func:`leadscore.serving.features.iter_features` runs (one cutoff,
``as_of``), executed by the :class:`~leadscore.features.engine.SparkEngine` as a DataFrame that
never reaches the driver. Each executor rebuilds the model's :class:`Scorer` once from the heads
folder's files (LightGBM text and JSON, shipped with the task) and scores Arrow batches with it:
the same code, conversion and scorer as the DuckDB batch path, so features, probabilities,
grades and reasons are the same. Output: ``<out>/run_id=<id>/part-*.parquet``
(:data:`~leadscore.serving.batch.SCORES_SCHEMA`, plus ``scored_by`` for a model per segment, as
the DuckDB path); then, last, the run's summary in the score history kept beside the scores,
``<out>/_runs/run_id=<id>/`` (:mod:`leadscore.serving.spark_history`): written by Spark, no
DuckDB file on the way.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadscore.atomic import fault_point, host_name
from leadscore.clock import utc_now
from leadscore.errors import ArtifactError, ConfigError
from leadscore.features.build import conform_to_schema, output_schema
from leadscore.features.engine import SparkEngine, cutoff_table, utc_session
from leadscore.features.label_times import eligible_counts_query
from leadscore.features.sql import CUTOFFS_TABLE, feature_query
from leadscore.model.segments import GLOBAL_MODEL
from leadscore.serving.batch import SCORES_SCHEMA, BatchResult
from leadscore.serving.loading import LoadedScorer, load_scorer
from leadscore.serving.runs import new_run_id
from leadscore.serving.scorer import Scorer
from leadscore.serving.segments import SCORED_BY
from leadscore.serving.spark_history import RUNS_FOLDER, SPARK_RUNS_DDL

__all__ = ["SPARK_SCORES_DDL", "heads_files", "score_contact_base_spark", "scores_schema"]

SPARK_SCORES_DDL = (
    "contact_id string, scored_at timestamp_ntz, model_version string, p_sql double, "
    "p_meeting double, grade string, fit_score double, engagement_score double, "
    "reasons_positive array<string>, reasons_negative array<string>"
)
""":data:`~leadscore.serving.batch.SCORES_SCHEMA` in Spark's DDL."""

_SCORERS: dict[str, Scorer] = {}
"""Scorers rebuilt in this (executor) process, by the digest of their files."""


def heads_files(loaded: LoadedScorer) -> dict[str, bytes]:
    """The files of the loaded model's heads folder (LightGBM text and JSON), by relative
    path: what executors need to rebuild the scorer."""
    folder = getattr(loaded.pyfunc.unwrap_python_model(), "heads_folder", None)
    if folder is None:
        raise ArtifactError(
            f"Model {loaded.model_version} does not expose its heads folder: retrain and register "
            "it with this leadscore (`leadscore train`)."
        )
    root = Path(folder)
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _scorer(files: dict[str, bytes], key: str) -> Scorer:
    """The scorer of ``files``, rebuilt once per process."""
    if key not in _SCORERS:
        folder = Path(tempfile.mkdtemp(prefix="leadscore-heads-"))
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        _SCORERS[key] = Scorer.from_folder(folder)
    return _SCORERS[key]


def scores_schema(segmented: bool) -> tuple[pa.Schema, str]:
    """The scores' Arrow schema and Spark DDL: :data:`SCORES_SCHEMA`, plus ``scored_by`` for
    a model per segment (as the DuckDB batch output)."""
    if not segmented:
        return SCORES_SCHEMA, SPARK_SCORES_DDL
    return SCORES_SCHEMA.append(pa.field(SCORED_BY, pa.string())), (
        f"{SPARK_SCORES_DDL}, {SCORED_BY} string"
    )


def scoring_function(
    files: dict[str, bytes],
    features: pa.Schema,
    scored_at: datetime,
    model_version: str,
    schema: pa.Schema = SCORES_SCHEMA,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: feature batches in, score batches (``schema``) out."""
    key = _digest(files)

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = _scorer(files, key)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = conform_to_schema(pa.Table.from_batches([batch]), features).to_pandas()
            scores = scorer.score(frame)
            scores.insert(0, "contact_id", frame["contact_id"].to_numpy())
            scores.insert(1, "scored_at", scored_at)
            scores.insert(2, "model_version", model_version)
            table = pa.Table.from_pandas(scores, schema=schema, preserve_index=False)
            yield from table.to_batches()

    return score


def _check_out(out: Path | str) -> str:
    text = str(out)
    if "://" not in text and Path(text).is_file():
        raise ConfigError(
            f"{text} is a file: Spark writes the scores as a folder of Parquet parts partitioned "
            "by run. Pass --out with a folder (e.g. scores/)."
        )
    return text


def score_contact_base_spark(
    engine: SparkEngine,
    model_uri_or_alias: str | Path | LoadedScorer,
    out: Path | str,
    *,
    tracking_uri: str | None = None,
    as_of: datetime | None = None,
) -> BatchResult:
    """Score every eligible contact on Spark at ``as_of`` (default: now) and write the scores
    under ``out/run_id=<id>/`` (the returned ``path``), then the run's summary under
    ``out/_runs/run_id=<id>/`` (the returned ``store``): the run is in the score history
    (:class:`~leadscore.serving.spark_history.SparkScoreHistory`) once both are written."""
    started = time.perf_counter()
    target = _check_out(out).rstrip("/")
    loaded = (
        model_uri_or_alias
        if isinstance(model_uri_or_alias, LoadedScorer)
        else load_scorer(model_uri_or_alias, tracking_uri=tracking_uri)
    )
    definition = loaded.scorer.require_definition()
    files = heads_files(loaded)
    scored_at = utc_now()
    moment = as_of or scored_at
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    run_id = new_run_id()
    segmented = loaded.scorer.segments is not None
    schema, ddl = scores_schema(segmented)
    spec = loaded.scorer.spec
    sql = feature_query(
        definition,
        horizon_days=None,
        from_stage=spec.from_stage,
        max_age_days=spec.max_lead_age_days,
    )
    function = scoring_function(
        files, output_schema(definition, labelled=False), scored_at, loaded.model_version, schema
    )
    from pyspark.sql import functions as F

    with engine.dataframe(sql, {CUTOFFS_TABLE: cutoff_table([moment])}) as features:
        scores = features.mapInArrow(function, ddl)
        with utc_session(engine.spark):
            scores.withColumn("run_id", F.lit(run_id)).write.partitionBy("run_id").mode(
                "append"
            ).parquet(target)
    path = f"{target}/run_id={run_id}"
    fault_point("spark.score.rows_written")
    grades, by_model = _counts(engine.spark, path, segmented)
    rows = sum(grades.values())
    stale = _stale_left_out(engine, spec.from_stage, spec.max_lead_age_days, moment, rows)
    summary = {
        "run_id": run_id,
        "scored_at": scored_at,
        "as_of": moment,
        "model_version": loaded.model_version,
        "rows": rows,
        "grades": grades,
        "scored_by": by_model,
        "output": path,
        "host": host_name(),
        "seconds": time.perf_counter() - started,
    }
    runs = f"{target}/{RUNS_FOLDER}"
    with utc_session(engine.spark):
        engine.spark.createDataFrame([summary], SPARK_RUNS_DDL).coalesce(1).write.partitionBy(
            "run_id"
        ).mode("append").parquet(runs)
    return BatchResult(
        path=_local(path),
        rows=rows,
        model_version=loaded.model_version,
        scored_at=scored_at,
        as_of=moment,
        seconds=time.perf_counter() - started,
        store=_local(runs),
        run_id=run_id,
        stale_left_out=stale,
    )


def _stale_left_out(
    engine: SparkEngine, from_stage: Any, max_age_days: int | None, moment: datetime, rows: int
) -> int:
    """Leads eligible but for the model's maximum lead age (as the DuckDB batch counts them)."""
    if max_age_days is None:
        return 0
    counted = engine.run(
        eligible_counts_query(from_stage), {CUTOFFS_TABLE: cutoff_table([moment])}
    ).to_pylist()
    return max(0, (int(counted[0]["n"]) if counted else 0) - rows)


def _local(location: str) -> Path:
    return Path(location) if "://" not in location else Path(location.split("://", 1)[1])


def _counts(spark: Any, path: str, segmented: bool) -> tuple[dict[str, int], dict[str, int]]:
    """Leads per grade and (models per segment) per model that scored them, of one run's
    written rows: one small aggregation job, only the counts reach the driver."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    by = ["grade", SCORED_BY] if segmented else ["grade"]
    try:
        with utc_session(spark):
            written = spark.read.parquet(path)
            counted = written.groupBy(*by).agg(F.count(F.lit(1)).alias("n")).collect()
    except AnalysisException as exc:  # no eligible lead: Spark wrote no run folder
        if "PATH_NOT_FOUND" not in str(exc):
            raise
        counted = []
    grades: dict[str, int] = {}
    models: dict[str, int] = {}
    for row in counted:
        grade = str(row["grade"]) if row["grade"] is not None else "none"
        grades[grade] = grades.get(grade, 0) + int(row["n"])
        if segmented:
            model = str(row[SCORED_BY] or GLOBAL_MODEL)
            models[model] = models.get(model, 0) + int(row["n"])
    return dict(sorted(grades.items())), dict(sorted(models.items()))


def spark_scores(spark: Any, path: Path | str) -> Any:
    """The scores of one run folder as a Spark DataFrame (for checks and downstream jobs)."""
    return spark.read.parquet(str(path))
