"""Default locations shared by the steps, the demo and the command line (relative to the
working directory, like ``mlruns/``)."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DEFAULT_DEMO_CRM",
    "DEFAULT_FLAT_SCORES_OUT",
    "DEFAULT_MAX_LEAD_AGE_DAYS",
    "DEFAULT_SCORES_OUT",
    "DEFAULT_SCORES_STORE",
    "DEFAULT_STORE_OPTION",
    "DEFAULT_TRAINING_TABLE",
    "STORE_ENVVAR",
]

DEFAULT_DEMO_CRM = Path("data/demo/crm.duckdb")
DEFAULT_TRAINING_TABLE = Path("data/demo/training.parquet")
DEFAULT_SCORES_STORE = Path("data/scores.duckdb")
DEFAULT_STORE_OPTION = str(DEFAULT_SCORES_STORE)
"""The command line's ``--store`` default (a text option: a file or a PostgreSQL URL)."""
STORE_ENVVAR = "LEADSCORE_STORE"
"""Environment variable a ``--store`` option falls back to before its default (not ``demo``'s):
a PostgreSQL URL with its password stays out of ``ps`` and the shell history."""
DEFAULT_SCORES_OUT = Path("scores.parquet")
DEFAULT_FLAT_SCORES_OUT = Path("flat-scores.csv")
DEFAULT_MAX_LEAD_AGE_DAYS = 180
"""Default maximum lead age of ``features build`` on a schedule of cutoffs (days): at a cutoff,
leads created longer ago and without an event or stage change in that many days leave the
population. Chosen by measurement (``benchmarks/lead_age.py``: on the synthetic CRM and a
real-shaped funnel, the AUC on the leads every value keeps moved by -0.003 and -0.001, inside
noise, while 20 % and 42 % of the rows left; numbers in docs/custom-features.md)."""
