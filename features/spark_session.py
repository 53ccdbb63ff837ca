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
    that master. Without it: a Spark Connect session when ``SPARK_REMOTE`` is set (the active
    Connect session if there is one), else the active session (spark-submit, Databricks, a
    notebook), else the master of the Spark configuration (``local[*]`` when none). Local
    masters run Python workers with this interpreter, so they import this leadscore.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "The Spark engine needs pyspark: pip install 'leadscore[spark]' (and a Java 17+ "
            "runtime), or use --engine duckdb."
        ) from None
    remote = os.environ.get("SPARK_REMOTE") if master is None else None
    if master is None and not remote:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
    if remote:
        return _connect(app_name, remote)
    hidden = os.environ.pop("SPARK_REMOTE", None)  # --master wins (PySpark refuses both)
    try:
        session = _classic(SparkSession, app_name, master)
    finally:
        if hidden is not None:
            os.environ["SPARK_REMOTE"] = hidden
    if master is not None and master.startswith("local"):
        # local Python workers run this interpreter (PySpark reads only PYSPARK_PYTHON, else
        # python3, which may lack leadscore and pyarrow)
        session.sparkContext.pythonExec = os.environ.get("PYSPARK_PYTHON", sys.executable)
    elif master is None:
        context = session.sparkContext
        if str(context.master).startswith("local") and "PYSPARK_PYTHON" not in os.environ:
            context.pythonExec = sys.executable
    return session


def _connect(app_name: str, remote: str) -> Any:
    """The Spark Connect session at ``remote`` (``sc://host:15002``); times in UTC. PySpark's
    functions build Connect columns from now on in this process (as ``builder.remote`` does)."""
    try:
        from pyspark.sql.connect.session import SparkSession as RemoteSession

        session = RemoteSession.builder.remote(remote).appName(app_name).getOrCreate()
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        session.conf.set("spark.sql.session.timeZone", "UTC")
    except ImportError:
        raise ConfigError(
            f"SPARK_REMOTE is set ({remote}) but Spark Connect's client libraries are missing: "
            "pip install 'pyspark[connect]', or unset SPARK_REMOTE and pass --master."
        ) from None
    except Exception as exc:
        first = _first_line(exc)
        raise LeadscoreError(
            f"Spark Connect at {remote} (SPARK_REMOTE) did not answer: {first}. Check the "
            "server is running and the URL (sc://host:15002)."
        ) from None
    return session


def _classic(session_class: Any, app_name: str, master: str | None) -> Any:
    """A classic session on ``master`` (default: the Spark configuration's); times in UTC."""
    builder: Any = session_class.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    if master is None or master.startswith("local"):
        builder = builder.config("spark.pyspark.python", sys.executable)
    builder = builder.config("spark.sql.session.timeZone", "UTC").config(
        "spark.ui.showConsoleProgress",
        "false",  # the CLI draws its own progress bars
    )
    try:
        return builder.getOrCreate()
    except Exception as exc:
        first = _first_line(exc)
        raise LeadscoreError(
            f"Spark did not start (master {master or 'from the environment'}): {first}. "
            "Check that Java 17+ is installed (java -version) and the master URL is right."
        ) from None


def _first_line(exc: BaseException) -> str:
    """The first line of an error from Spark (its JVM traces are long), at most 200 characters."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
