"""Default locations shared by the steps, the demo and the command line (relative to the
working directory, like ``mlruns/``)."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DEFAULT_DEMO_CRM",
    "DEFAULT_FLAT_SCORES_OUT",
    "DEFAULT_SCORES_OUT",
    "DEFAULT_SCORES_STORE",
    "DEFAULT_STORE_OPTION",
    "DEFAULT_TRAINING_TABLE",
]

DEFAULT_DEMO_CRM = Path("data/demo/crm.duckdb")
DEFAULT_TRAINING_TABLE = Path("data/demo/training.parquet")
DEFAULT_SCORES_STORE = Path("data/scores.duckdb")
DEFAULT_STORE_OPTION = str(DEFAULT_SCORES_STORE)
"""The command line's ``--store`` default (a text option: a file or a PostgreSQL URL)."""
DEFAULT_SCORES_OUT = Path("scores.parquet")
DEFAULT_FLAT_SCORES_OUT = Path("flat-scores.csv")
