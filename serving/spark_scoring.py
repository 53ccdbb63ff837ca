"""Batch scoring on Spark: the registered model's heads as an Arrow UDF over features computed
on Spark, scores written as Parquet partitioned by run.

The feature query is the one :func:`leadscore.serving.features.iter_features` runs (one cutoff,
``as_of``), executed by the :class:`~leadscore.features.engine.SparkEngine` as a DataFrame that
never reaches the driver. Each executor rebuilds the model's :class:`Scorer` once from the heads
folder's files (LightGBM text and JSON, shipped with the task) and scores Arrow batches with it:
the same code, conversion and scorer as the DuckDB batch path, so features, probabilities,
grades and reasons are the same. Output: ``<out>/run_id=<id>/part-*.parquet``
(:data:`~leadscore.serving.batch.SCORES_SCHEMA`); the score history records the run's summary
(its id, output, rows), not one row per lead.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadscore.atomic import host_name
from leadscore.clock import utc_now
from leadscore.errors import ArtifactError, ConfigError
from leadscore.features.build import conform_to_schema, output_schema
from leadscore.features.engine import SparkEngine, cutoff_table, utc_session
from leadscore.features.sql import CUTOFFS_TABLE, feature_query
from leadscore.serving.batch import SCORES_SCHEMA, BatchResult
from leadscore.serving.loading import LoadedScorer, load_scorer
from leadscore.serving.runs import new_run_id
from leadscore.serving.scorer import Scorer
from leadscore.serving.store import ScoreStore

__all__ = ["SPARK_SCORES_DDL", "heads_files", "score_contact_base_spark"]

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


def scoring_function(
    files: dict[str, bytes], features: pa.Schema, scored_at: datetime, model_version: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: feature batches in, score batches out."""
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
            table = pa.Table.from_pandas(scores, schema=SCORES_SCHEMA, preserve_index=False)
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
    store: ScoreStore | Path | str | None = None,
    as_of: datetime | None = None,
) -> BatchResult:
    """Score every eligible contact on Spark at ``as_of`` (default: now) and write the scores
    under ``out/run_id=<id>/`` (the returned ``path``); the run's summary (id, output, rows) is
    recorded in the score history ``store`` (``None``: not recorded)."""
    started = time.perf_counter()
    target = _check_out(out)
    history = (
        None if store is None else store if isinstance(store, ScoreStore) else ScoreStore(store)
    )
    if history is not None:
        history.open_check()
    loaded = (
        model_uri_or_alias
        if isinstance(model_uri_or_alias, LoadedScorer)
        else load_scorer(model_uri_or_alias, tracking_uri=tracking_uri)
    )
    definition = loaded.scorer.require_definition()
    files = heads_files(loaded)
    scored_at = utc_now()
    moment = as_of or scored_at
    run_id = new_run_id()
    sql = feature_query(definition, horizon_days=None, from_stage=loaded.scorer.spec.from_stage)
    function = scoring_function(
        files, output_schema(definition, labelled=False), scored_at, loaded.model_version
    )
    from pyspark.sql import functions as F

    with engine.dataframe(sql, {CUTOFFS_TABLE: cutoff_table([moment])}) as features:
        scores = features.mapInArrow(function, SPARK_SCORES_DDL)
        with utc_session(engine.spark):
            scores.withColumn("run_id", F.lit(run_id)).write.partitionBy("run_id").mode(
                "append"
            ).parquet(target)
    path = f"{target.rstrip('/')}/run_id={run_id}"
    with utc_session(engine.spark):
        rows = int(engine.spark.read.parquet(path).count())
    if history is not None:
        with history.connection() as con:
            con.execute(
                "INSERT INTO score_runs (run_id, state, output, pid, host, rows) "
                "VALUES (?, 'committed', ?, ?, ?, ?)",
                [run_id, path, 0, host_name(), rows],
            )
    return BatchResult(
        path=Path(path) if "://" not in path else Path(path.split("://", 1)[1]),
        rows=rows,
        model_version=loaded.model_version,
        scored_at=scored_at,
        as_of=moment,
        seconds=time.perf_counter() - started,
        store=history.path if history else None,
        run_id=run_id,
    )


def spark_scores(spark: Any, path: Path | str) -> Any:
    """The scores of one run folder as a Spark DataFrame (for checks and downstream jobs)."""
    return spark.read.parquet(str(path))
