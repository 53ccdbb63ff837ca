"""``--engine spark`` over Spark Connect (``SPARK_REMOTE``): a Connect server started in the
test session's JVM, the CLI's scoring (and, slow, features build) through it, equal to DuckDB's
results, the score history written by Spark through it."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests import test_spark_cli
from tests.test_serving_support import ServingModel
from tests.test_spark_cli import AS_OF, invoke

pytestmark = pytest.mark.spark

# the CLI tests' module-scoped fixtures: the serving model and its CRM exported as Parquet
model = test_spark_cli.model
lake = test_spark_cli.lake

_MISSING = [m for m in ("grpc", "grpc_status", "zstandard") if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def remote_url(spark: Any) -> Iterator[str]:
    """A Spark Connect server in the shared session's JVM (its Python workers run this
    interpreter); the URL to set as ``SPARK_REMOTE``. Connect mode is switched off after."""
    if _MISSING:
        pytest.skip(f"Spark Connect's client is not installed ({', '.join(_MISSING)})")
    if os.environ.get("PYSPARK_PYTHON") != sys.executable:
        pytest.skip("the Spark JVM was started without PYSPARK_PYTHON set to this interpreter")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = spark._jsc.sc()
    context.conf().set("spark.connect.grpc.binding.port", str(port))
    service = spark._jvm.org.apache.spark.sql.connect.service.SparkConnectService
    service.start(context)
    saved = {k: os.environ.get(k) for k in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}
    try:
        yield f"sc://127.0.0.1:{port}"
    finally:
        from pyspark.sql.connect.session import SparkSession as RemoteSession

        active = RemoteSession.getActiveSession()
        if active is not None:
            active.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        service.stop(getattr(service, "stop$default$1")(), getattr(service, "stop$default$2")())


@pytest.fixture
def over_connect(remote_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``SPARK_REMOTE`` set for the test; the process back in classic mode after it."""
    monkeypatch.setenv("SPARK_REMOTE", remote_url)
    yield
    monkeypatch.delenv("SPARK_REMOTE")
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def test_spark_remote_wins_over_the_active_session(spark: Any, over_connect: None) -> None:
    """No --master, SPARK_REMOTE set: the Connect session, even with a classic one active;
    --master still picks the classic one."""
    from leadscore.features.spark_session import spark_session

    session = spark_session()
    assert type(session).__module__.startswith("pyspark.sql.connect")
    assert session.sql("SELECT 1 + 1 AS two").collect()[0]["two"] == 2
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    assert spark_session("local[2]") is spark
    assert os.environ["SPARK_REMOTE"].startswith("sc://")


def test_score_over_spark_connect(
    model: ServingModel, lake: Path, over_connect: None, tmp_path: Path
) -> None:
    """No --master, SPARK_REMOTE set: ``score --engine spark`` runs on the Connect session,
    its scores equal DuckDB's and its summary is written through Connect."""
    out = tmp_path / "scores"
    invoke(
        "score", str(lake), "--engine", "spark", "--tracking-uri", model.tracking_uri,
        "--out", str(out), "--as-of", AS_OF,
    )  # fmt: skip
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)

    from leadscore.serving import score_contact_base
    from leadscore.serving.spark_history import SparkScoreHistory

    expected = score_contact_base(
        model.crm_path, "champion", tmp_path / "duck.parquet", tracking_uri=model.tracking_uri,
        store=None, as_of=pd.Timestamp(AS_OF).to_pydatetime(),
    )  # fmt: skip
    want = pd.read_parquet(expected.path).sort_values("contact_id", ignore_index=True)
    (run,) = SparkScoreHistory(out).runs().itertuples()
    got = pd.read_parquet(run.output).sort_values("contact_id", ignore_index=True)
    assert run.rows == len(want) > 500
    assert run.grades == want["grade"].value_counts().to_dict()
    pd.testing.assert_frame_equal(
        got.drop(columns="scored_at"), want.drop(columns="scored_at"), rtol=0, atol=1e-9
    )


@pytest.mark.slow
def test_features_build_over_spark_connect(lake: Path, over_connect: None, tmp_path: Path) -> None:
    """``features build --engine spark`` on the Connect session: the DuckDB training table."""
    table = tmp_path / "connect.parquet"
    invoke(
        "features", "build", str(lake), "--engine", "spark", "--out", str(table),
        "--start", "2025-10-01", "--end", "2025-11-01",
    )  # fmt: skip
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)

    from leadscore.pipeline import FeaturesSpec, build_features_step

    duck = build_features_step(
        FeaturesSpec(source=lake, out=tmp_path / "duck.parquet",
                     start=pd.Timestamp("2025-10-01").to_pydatetime(),
                     end=pd.Timestamp("2025-11-01").to_pydatetime())
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        pd.read_parquet(duck.path), pd.read_parquet(table), check_exact=True
    )
