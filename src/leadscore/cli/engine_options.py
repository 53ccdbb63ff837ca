"""Options choosing where the work runs (``--engine``, ``--master``) and how much of it leaves
the engine (the build-time negative sample)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import typer

__all__ = [
    "BuildSampleOption",
    "BuildSampleSeedOption",
    "BuildSampleUntilOption",
    "EngineOption",
    "MasterOption",
]

EngineOption = Annotated[
    Literal["duckdb", "spark"],
    typer.Option(
        "--engine",
        help="duckdb: this machine. spark: read Parquet tables (one file or folder per table) "
        "or catalog:<db> and compute on Spark; no DuckDB copy of the CRM.",
    ),
]
MasterOption = Annotated[
    str | None,
    typer.Option(
        "--master",
        help="Spark master (local[2], spark://host:7077, yarn). Default: SPARK_REMOTE (Spark "
        "Connect), else the active session (spark-submit), else the Spark configuration.",
    ),
]
BuildSampleOption = Annotated[
    float | None,
    typer.Option(
        "--sample-negatives",
        min=0.0,
        max=1.0,
        help="Keep this share (0 to 1) of the negative rows before --sample-until, in the build "
        "query (all positives and every later row kept; kept negatives weighted 1/share in a "
        "sample_weight column that training uses). For tables too large to leave the engine.",
    ),
]
BuildSampleUntilOption = Annotated[
    datetime | None,
    typer.Option(
        "--sample-until",
        help="With --sample-negatives: rows with a cutoff before this date are sampled; put it "
        "at or before where validation will start (training refuses a sampled validation or "
        "test period).",
    ),
]
BuildSampleSeedOption = Annotated[
    int, typer.Option("--sample-seed", help="Seed of the build-time negative sample.")
]
