"""Fixtures shared by several test modules."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

_SPARK_SKIP = (
    "pyspark is not installed (pip install 'pyspark>=4.0,<4.4' 'sqlglot<30.18')"
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("sqlglot") is None
    else "java is not on PATH (Spark needs a JDK 17+)"
    if shutil.which("java") is None
    else None
)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole run (skips with the reason when unavailable)."""
    if _SPARK_SKIP:
        pytest.skip(_SPARK_SKIP)
    import os

    from pyspark.sql import SparkSession

    # the JVM's Python workers run this interpreter (Spark Connect's read only this variable)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("leadscore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.pyspark.python", sys.executable)
        # tiny data: interpreted execution beats code generation on start-up cost
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # Python UDF workers must run this interpreter
    session.sparkContext.pythonExec = sys.executable
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One throw-away PostgreSQL server for the whole run (tests/postgres_support.py); skips
    with the reason when the server binaries are not installed."""
    from tests.postgres_support import SKIP_REASON, postgres_bindir, start_server

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    with start_server(bindir) as server:
        yield server


@pytest.fixture
def pg_store_url(postgres: Any) -> str:
    """The URL of a new, empty PostgreSQL database for a score store."""
    from tests.postgres_support import new_database

    return str(new_database(postgres))


@pytest.fixture(params=["duckdb", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A new score store's location on each backend: a DuckDB file, a PostgreSQL database."""
    if request.param == "duckdb":
        return tmp_path / "scores.duckdb"
    return request.getfixturevalue("pg_store_url")


@pytest.fixture(autouse=True, scope="session")
def _validation_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The validated-CRM cache of the test run lives in its temporary folder, not ~/.cache."""
    import os

    from leadscore.validation_cache import CACHE_ENV

    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("validation-cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
