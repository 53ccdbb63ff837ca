"""Benchmark: the same lake of Parquet contract tables through DuckDB and Spark, side by side.

Steps timed on each engine: read + validate the CRM, build the training table (monthly
cutoffs), score the contact base with the same model (trained once on the DuckDB table, not
timed) and record the run in the score history (DuckDB: the store file; Spark: the run's
summary beside the scores). Results are compared (training tables exactly, probabilities to 1e-9, reasons
identical), then wall times and the Spark/DuckDB ratio are printed. On one machine Spark is
expected to be slower (JVM start, per-job scheduling, Arrow transfer to Python workers); it pays
off when the data no longer fit one machine. The machine may be shared: compare the ratio.

    .venv/bin/python benchmarks/spark_vs_duckdb.py --smoke
    .venv/bin/python benchmarks/spark_vs_duckdb.py --contacts 100000 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def timed(what: str, times: dict[str, float], fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = fn()
    times[what] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--cutoffs", type=int, default=12, help="Monthly cutoffs to build.")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--driver-memory",
        default="6g",
        help="Spark driver heap (local masters run the executors in the driver): the "
        "training table's batches of cutoffs are collected there.",
    )
    parser.add_argument("--smoke", action="store_true", help="2,000 contacts, 18 cutoffs (CI).")
    parser.add_argument("--work", type=Path, default=None, help="Work folder (default: temp).")
    args = parser.parse_args()
    if args.smoke:
        args.contacts, args.cutoffs = 2_000, 18
    work = args.work or Path(tempfile.mkdtemp(prefix="leadscore-spark-bench-"))
    run(work, args.contacts, args.cutoffs, args.master, args.driver_memory)


def start_session(master: str, driver_memory: str) -> Any:
    """A session on ``master`` with ``driver_memory`` (set before the JVM starts), as the CLI
    gets it with ``PYSPARK_SUBMIT_ARGS='--driver-memory 6g pyspark-shell'``."""
    from pyspark.sql import SparkSession

    from leadscore.features.spark_session import spark_session

    SparkSession.builder.master(master).config("spark.driver.memory", driver_memory).getOrCreate()
    return spark_session(master)


def run(work: Path, contacts: int, n_cutoffs: int, master: str, driver_memory: str) -> None:
    from leadscore.crm import open_crm
    from leadscore.features import CutoffSchedule, build_training_table, load_definition
    from leadscore.features.spark_crm import open_spark_crm
    from leadscore.serving import load_scorer, score_contact_base
    from leadscore.serving.spark_scoring import score_contact_base_spark
    from leadscore.synthetic import GeneratorConfig, generate_crm
    from leadscore.training import TrainingConfig, promote, train
    from leadscore.training.evaluate import EvaluationConfig

    lake = work / "lake"
    if not lake.exists():
        generate_crm(GeneratorConfig(n_contacts=contacts, seed=11), lake, fmt="parquet")
    definition = load_definition()
    duck: dict[str, float] = {}
    spark_t: dict[str, float] = {}
    crm = timed("read + validate", duck, lambda: open_crm(lake))
    end = crm.con.execute("SELECT max(changed_at) FROM stage_changes").fetchone()[0]  # type: ignore[index]
    last = date(end.year, end.month, 1)
    first = (pd.Timestamp(last) - pd.DateOffset(months=n_cutoffs + 1)).date()
    schedule = CutoffSchedule(first, last, every="month")
    duck_table = timed(
        "features build",
        duck,
        lambda: build_training_table(crm, definition, schedule, 30, work / "duck.parquet"),
    )
    session = timed("session start", spark_t, lambda: start_session(master, driver_memory))
    session.sparkContext.setLogLevel("ERROR")
    duck["session start"] = 0.0
    scrm = timed("read + validate", spark_t, lambda: open_spark_crm(session, lake))
    engine = scrm.engine()
    spark_table = timed(
        "features build",
        spark_t,
        lambda: build_training_table(
            scrm, definition, schedule, 30, work / "spark.parquet", engine=engine
        ),
    )
    left, right = pd.read_parquet(duck_table.path), pd.read_parquet(spark_table.path)
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    print(f"training tables identical: {len(left):,} rows x {left.shape[1]} columns")

    uri = f"sqlite:///{work}/mlruns/mlflow.db"
    config = TrainingConfig(
        report_dir=work / "reports",
        evaluation=EvaluationConfig(n_bootstrap=0),
        shap_rows=0,
        fit_logistic=False,
    )
    train(duck_table.path, tracking_uri=uri, config=config)
    promote(tracking_uri=uri, force=True)
    loaded = load_scorer("champion", tracking_uri=uri)
    as_of = duck_table.meta.data_end
    duck_scores = timed(
        "score",
        duck,
        lambda: score_contact_base(
            crm, loaded, work / "duck-scores.parquet", store=work / "history.duckdb", as_of=as_of
        ),
    )
    spark_scores = timed(
        "score",
        spark_t,
        lambda: score_contact_base_spark(engine, loaded, work / "spark-scores", as_of=as_of),
    )
    compare(pd.read_parquet(duck_scores.path), pd.read_parquet(spark_scores.path))
    crm.close()
    scrm.close()
    report(contacts, len(left), duck, spark_t)


def compare(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    duck = duck.sort_values("contact_id", ignore_index=True)
    spark = spark.sort_values("contact_id", ignore_index=True)
    assert duck["contact_id"].tolist() == spark["contact_id"].tolist()
    diff = float(np.max(np.abs(duck["p_sql"].to_numpy() - spark["p_sql"].to_numpy()), initial=0))
    assert diff <= 1e-9, diff
    same: Any = (
        duck["reasons_positive"].map(list).tolist() == spark["reasons_positive"].map(list).tolist()
        and duck["grade"].tolist() == spark["grade"].tolist()
    )
    assert same
    print(f"scores: {len(duck):,} leads, max |diff| p_sql {diff:.1e}, grades and reasons identical")


def report(contacts: int, rows: int, duck: dict[str, float], spark: dict[str, float]) -> None:
    print(f"\n{contacts:,} contacts, {rows:,} training rows (wall seconds)")
    print(f"{'step':<18}{'duckdb':>10}{'spark':>10}{'spark/duckdb':>14}")
    for step in ("session start", "read + validate", "features build", "score"):
        ratio = f"{spark[step] / duck[step]:.1f}x" if duck[step] > 0 else "-"
        print(f"{step:<18}{duck[step]:>10.1f}{spark[step]:>10.1f}{ratio:>14}")
    total_d, total_s = sum(duck.values()), sum(spark.values())
    print(f"{'total':<18}{total_d:>10.1f}{total_s:>10.1f}{total_s / total_d:>13.1f}x")


if __name__ == "__main__":
    main()
