"""Options choosing where the work runs: ``--engine`` and ``--master``."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

__all__ = ["EngineOption", "MasterOption"]

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
