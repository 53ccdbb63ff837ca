"""Where Spark runs: the usual conventions (``--master``, ``SPARK_REMOTE``, an active session
under spark-submit or a notebook), with clear errors when Spark cannot start."""

from __future__ import annotations

import os
import sys
from typing import Any

from leadscore.errors import ConfigError, LeadscoreError

__all__ = ["spark_session"]


def spark_session(master: str | None = None, *, app_name: str = "leadscore") -> Any:
    """The Spark session to run on.

    ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``...) starts or reuses a session on
    that master. Without it: the active session (spark-submit, Databricks, a notebook), else a
    Spark Connect session when ``SPARK_REMOTE`` is set, else the master of the Spark
    configuration (``local[*]`` when none). Local masters run Python workers with this
    interpreter, so they import this leadscore.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "The Spark engine needs pyspark: pip install 'leadscore[spark]' (and a Java 17+ "
            "runtime), or use --engine duckdb."
        ) from None
    if master is None:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
    builder: Any = SparkSession.builder.appName(app_name)
    if master is None and os.environ.get("SPARK_REMOTE"):
        builder = builder.remote(os.environ["SPARK_REMOTE"])
    else:
        if master is not None:
            builder = builder.master(master)
        if master is None or master.startswith("local"):
            builder = builder.config("spark.pyspark.python", sys.executable)
    builder = builder.config("spark.sql.session.timeZone", "UTC").config(
        "spark.ui.showConsoleProgress",
        "false",  # the CLI draws its own progress bars
    )
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise LeadscoreError(
            f"Spark did not start (master {master or 'from the environment'}): "
            f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}. "
            "Check that Java 17+ is installed (java -version) and the master URL is right."
        ) from None
    if master is not None and master.startswith("local"):
        # local Python workers run this interpreter (PySpark reads only PYSPARK_PYTHON, else
        # python3, which may lack leadscore and pyarrow)
        session.sparkContext.pythonExec = os.environ.get("PYSPARK_PYTHON", sys.executable)
    elif master is None and not os.environ.get("SPARK_REMOTE"):
        context = session.sparkContext
        if str(context.master).startswith("local") and "PYSPARK_PYTHON" not in os.environ:
            context.pythonExec = sys.executable
    return session
