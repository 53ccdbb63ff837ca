"""``--engine spark`` from the command line: Parquet contract tables in, the same validation,
training table and scores as the DuckDB path out, and no DuckDB copy of the CRM on the way."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.contract import TABLE_NAMES
from leadscore.errors import DataContractError
from tests.crm_tables import tiny_crm_tables
from tests.test_segments import Segmented, segmented_model
from tests.test_serving_support import ServingModel, serving_model

pytestmark = pytest.mark.spark

AS_OF = "2025-12-31T00:00:00"  # a time: a date alone is the end of that day


def export_parquet(crm_file: Path, folder: Path) -> Path:
    """The raw tables of a DuckDB CRM as one Parquet file per table (a lake export)."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(crm_file), read_only=True) as con:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table in TABLE_NAMES:
            if table in present:
                con.execute(f"COPY main.{table} TO '{folder / table}.parquet' (FORMAT parquet)")
    return folder


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def lake(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_parquet(model.crm_path, tmp_path_factory.mktemp("lake") / "crm")


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Segmented:
    return segmented_model(tmp_path_factory)


@pytest.fixture
def no_duckdb(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """DuckDB cannot open anything, not even in memory (``monkeypatch.undo()`` lifts it)."""
    opened: list[str] = []

    def refuse(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        raise AssertionError(f"DuckDB opened on the Spark path: {database}")

    monkeypatch.setattr(duckdb, "connect", refuse)
    yield opened


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_validation_on_spark_gives_the_duckdb_messages(spark: Any, tmp_path: Path) -> None:
    from leadscore.crm import open_crm
    from leadscore.features.spark_crm import open_spark_crm

    tables = tiny_crm_tables()
    tables["contacts"].loc[1, "email_domain"] = "someone@acme.com"
    tables["contacts"].loc[2, "contact_id"] = "C1"  # duplicated key
    tables["stage_changes"].loc[0, "stage"] = "Sales Accepted"  # unknown without a mapping
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, frame in tables.items():
        if name == "feedback":
            continue
        frame = frame.copy()
        for column in [c for c in frame.columns if c.endswith("_at")]:
            frame[column] = pd.to_datetime(frame[column])
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    with pytest.raises(DataContractError) as on_duckdb:
        open_crm(folder).close()
    with pytest.raises(DataContractError) as on_spark:
        open_spark_crm(spark, folder)
    expected = [str(p) for p in on_duckdb.value.problems]
    assert len(expected) >= 3
    assert [str(p) for p in on_spark.value.problems] == expected


@pytest.mark.slow
def test_catalog_tables_and_the_active_session(spark: Any, lake: Path) -> None:
    """``catalog:<database>`` reads the contract tables from the session's catalog; without
    ``--master`` the active session (spark-submit, a notebook) is used."""
    from leadscore.crm import open_crm
    from leadscore.features.spark_crm import open_spark_crm
    from leadscore.features.spark_session import spark_session

    assert spark_session() is spark
    for table in TABLE_NAMES:
        if (lake / f"{table}.parquet").exists():
            frame = spark.read.parquet(str(lake / f"{table}.parquet"))
            frame.createOrReplaceGlobalTempView(table)
    crm = open_spark_crm(spark, "catalog:global_temp")
    try:
        counts = crm.row_counts()
        assert crm.description == "Spark: catalog database global_temp"
    finally:
        crm.close()
        for table in TABLE_NAMES:
            spark.catalog.dropGlobalTempView(table)
    duck = open_crm(lake)
    try:
        assert counts == {k: v for k, v in duck.row_counts().items() if k in counts}
    finally:
        duck.close()


def test_features_build_on_spark_equals_duckdb_without_duckdb(
    spark: Any, lake: Path, tmp_path: Path, no_duckdb: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "spark.parquet"
    built = invoke(
        "features", "build", str(lake), "--engine", "spark", "--master", "local[2]",
        "--out", str(out), "--start", "2025-09-01", "--end", "2025-11-01",
    )  # fmt: skip
    assert "Training table:" in built.output
    assert no_duckdb == []
    assert not list(tmp_path.rglob("*.duckdb")) and not list(lake.rglob("*.duckdb"))
    monkeypatch.undo()

    from leadscore.features.meta import read_meta
    from leadscore.pipeline import FeaturesSpec, build_features_step

    duck = build_features_step(
        FeaturesSpec(source=lake, out=tmp_path / "duck.parquet",
                     start=pd.Timestamp("2025-09-01").to_pydatetime(),
                     end=pd.Timestamp("2025-11-01").to_pydatetime())
    )  # fmt: skip
    left, right = pd.read_parquet(duck.path), pd.read_parquet(out)
    assert len(left) > 1000
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    spark_meta, duck_meta = read_meta(out), duck.table.meta
    assert spark_meta.engine == "spark" and duck_meta.engine == "duckdb"
    for field in ("data_end", "cutoffs", "censored_cutoffs", "per_cutoff", "label_rates"):
        assert getattr(spark_meta, field) == getattr(duck_meta, field), field
    assert spark_meta.data_fingerprint != "unknown"


def test_a_table_sampled_on_spark_trains_from_the_cli(
    spark: Any, lake: Path, tmp_path: Path, no_duckdb: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 3 from the command line: Spark keeps every positive and 30 % of the
    negatives before --sample-until (with their weights), no DuckDB on the way; `train` fits
    on the weighted sample and says so."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sampled.parquet"
    invoke(
        "features", "build", str(lake), "--engine", "spark", "--master", "local[2]",
        "--out", str(out), "--start", "2024-06-01", "--sample-negatives", "0.3",
        "--sample-until", "2025-03-01", "--sample-seed", "1",
    )  # fmt: skip
    assert no_duckdb == [] and not list(tmp_path.rglob("*.duckdb"))
    monkeypatch.undo()
    frame = pd.read_parquet(out)
    early = frame["cutoff"] < pd.Timestamp("2025-03-01")
    assert set(frame.loc[~early, "sample_weight"]) == {1.0}
    assert set(frame.loc[early, "sample_weight"]) == {1.0, 1 / 0.3}
    config = tmp_path / "training.yaml"
    config.write_text("evaluation:\n  n_bootstrap: 0\nshap_rows: 0\nfit_logistic: false\n")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    trained = invoke("train", str(out), "--tracking-uri", uri, "--training-config", str(config))
    assert "Registered leadscore version 1" in trained.output
    assert "sampled when built" in trained.output.replace("\n", " ")


def test_score_on_spark_equals_duckdb(
    spark: Any, model: ServingModel, lake: Path, tmp_path: Path, no_duckdb: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Scores equal to DuckDB's, and the run's summary in the history beside them, written by
    Spark: no DuckDB file opened or created (not even the default score store)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "scores"
    scored = invoke(
        "score", str(lake), "--engine", "spark", "--master", "local[2]",
        "--tracking-uri", model.tracking_uri, "--out", str(out), "--as-of", AS_OF,
    )  # fmt: skip
    assert "leads scored with model leadscore/1" in scored.output
    assert f"history in {out / '_runs'}" in " ".join(scored.output.split())
    assert no_duckdb == []
    assert not list(tmp_path.rglob("*.duckdb"))
    runs = [p for p in out.iterdir() if p.name.startswith("run_id=")]
    assert len(runs) == 1
    monkeypatch.undo()

    from leadscore.serving import score_contact_base
    from leadscore.serving.spark_history import SparkScoreHistory

    expected = score_contact_base(
        model.crm_path, "champion", tmp_path / "duck.parquet", tracking_uri=model.tracking_uri,
        store=tmp_path / "duck.duckdb", as_of=pd.Timestamp(AS_OF).to_pydatetime(),
    )  # fmt: skip
    want = pd.read_parquet(expected.path).sort_values("contact_id", ignore_index=True)
    got = pd.read_parquet(runs[0]).sort_values("contact_id", ignore_index=True)
    assert len(want) > 500 and len(got) == len(want)
    assert list(got.columns) == list(want.columns)
    assert got["contact_id"].tolist() == want["contact_id"].tolist()
    for column in ("p_sql", "p_meeting", "fit_score", "engagement_score"):
        np.testing.assert_allclose(got[column], want[column], rtol=0, atol=1e-9)
    assert got["grade"].tolist() == want["grade"].tolist()
    for column in ("reasons_positive", "reasons_negative"):
        assert [list(r) for r in got[column]] == [list(r) for r in want[column]]

    history = SparkScoreHistory(out)
    (run,) = history.runs().itertuples()
    assert run.run_id == runs[0].name.removeprefix("run_id=")
    assert run.rows == len(want) and run.output == str(runs[0])
    assert run.as_of == pd.Timestamp(AS_OF) and run.model_version == "leadscore/1"
    assert run.grades == want["grade"].value_counts().to_dict() and run.scored_by == {}
    # what the monitor reads: the same cohort as the DuckDB store's
    from leadscore.serving import ScoreStore

    store = ScoreStore(tmp_path / "duck.duckdb")
    left, right = history.scoring_runs(), store.scoring_runs()
    assert left[["model_version", "as_of", "contacts"]].values.tolist() == (
        right[["model_version", "as_of", "contacts"]].values.tolist()
    )
    moment = pd.Timestamp(AS_OF).to_pydatetime()
    spark_cohort = history.scores_as_of("leadscore/1", moment)
    duck_cohort = store.scores_as_of("leadscore/1", moment)
    assert spark_cohort["contact_id"].tolist() == duck_cohort["contact_id"].tolist()
    assert spark_cohort["grade"].tolist() == duck_cohort["grade"].tolist()
    np.testing.assert_allclose(spark_cohort["p_sql"], duck_cohort["p_sql"], rtol=0, atol=1e-9)
    lead = str(want["contact_id"].iloc[0])
    trend = history.history(lead)
    assert len(trend) == 1 and trend["p_sql"].iloc[0] == pytest.approx(want["p_sql"].iloc[0])
    assert history.count() == len(want)


def test_a_run_is_in_the_history_with_its_summary_or_not_at_all(
    spark: Any, model: ServingModel, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the rows are written and before the summary: the run is not in the
    history (its rows are ignored); the next run is, alone; a missing folder is a clear error."""
    from leadscore.atomic import FAULT_ENV
    from leadscore.errors import SourceError
    from leadscore.features.spark_crm import open_spark_crm
    from leadscore.serving.loading import load_scorer
    from leadscore.serving.spark_history import SparkScoreHistory
    from leadscore.serving.spark_scoring import score_contact_base_spark

    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    out = tmp_path / "scores"
    crm = open_spark_crm(spark, lake)
    try:
        engine = crm.engine()
        monkeypatch.setenv(FAULT_ENV, "spark.score.rows_written:enospc")
        with pytest.raises(OSError):
            score_contact_base_spark(engine, loaded, out, as_of=model.as_of)
        monkeypatch.delenv(FAULT_ENV)
        assert len(list(out.glob("run_id=*"))) == 1
        assert SparkScoreHistory(out).runs().empty and SparkScoreHistory(out).count() == 0
        done = score_contact_base_spark(engine, loaded, out, as_of=model.as_of)
    finally:
        crm.close()
    history = SparkScoreHistory(out)
    assert history.runs()["run_id"].tolist() == [done.run_id]
    assert history.count() == done.rows > 0
    counted = history.scoring_runs()
    assert counted["contacts"].tolist() == [done.rows]
    assert len(history.scores_as_of(done.model_version, model.as_of)) == done.rows
    with pytest.raises(SourceError, match="No scores folder"):
        SparkScoreHistory(tmp_path / "nowhere").runs()


@pytest.mark.slow
def test_monitor_measures_the_cohorts_of_spark_runs(
    spark: Any, model: ServingModel, lake: Path, tmp_path: Path
) -> None:
    """``monitor --history <spark scores>``: the realised conversion per grade of a matured
    Spark run equals the one measured on the DuckDB store after the same scoring."""
    from datetime import timedelta

    from leadscore.features.spark_crm import open_spark_crm
    from leadscore.pipeline.monitor import MonitorSpec, monitor_step
    from leadscore.serving import score_contact_base
    from leadscore.serving.spark_scoring import score_contact_base_spark

    moment = model.as_of - timedelta(days=60)
    uri = model.tracking_uri
    crm = open_spark_crm(spark, lake)
    try:
        score_contact_base_spark(
            crm.engine(), "champion", tmp_path / "scores", tracking_uri=uri, as_of=moment
        )
    finally:
        crm.close()
    store = tmp_path / "store.duckdb"
    score_contact_base(
        model.crm_path, "champion", tmp_path / "d.parquet", tracking_uri=uri, store=store,
        as_of=moment,
    )  # fmt: skip
    common: dict[str, Any] = {
        "source": model.crm_path, "tracking_uri": uri, "sample_rows": 500, "reference_cutoffs": 1,
    }  # fmt: skip
    history = tmp_path / "scores"
    spec = MonitorSpec(
        store=tmp_path / "none.duckdb", history=history, out=tmp_path / "s.html", **common
    )
    on_spark = monitor_step(spec)
    on_duckdb = monitor_step(MonitorSpec(store=store, out=tmp_path / "duck.html", **common))
    assert not on_spark.calibration.empty
    pd.testing.assert_frame_equal(on_spark.calibration, on_duckdb.calibration)


def test_segment_models_on_spark_say_which_model_scored(
    spark: Any, segmented: Segmented, lake: Path, tmp_path: Path
) -> None:
    """A model per segment on Spark: each lead routed to its segment's model, ``scored_by``
    and the scores equal to the DuckDB batch's, the leads per model in the run's summary."""
    from leadscore.features.spark_crm import open_spark_crm
    from leadscore.serving import load_scorer, score_contact_base
    from leadscore.serving.spark_history import SparkScoreHistory
    from leadscore.serving.spark_scoring import score_contact_base_spark
    from leadscore.serving.store import FACET_COLUMNS

    s = segmented
    # a maximum lead age (as a schedule-built model has) leaves stale leads out on both engines
    loaded = load_scorer(s.model)
    scorer = copy.copy(loaded.scorer)
    scorer.spec = scorer.spec.model_copy(update={"max_lead_age_days": 60})
    model = loaded.with_scorer(scorer)
    crm = open_spark_crm(spark, lake)
    try:
        done = score_contact_base_spark(
            crm.engine(), model, tmp_path / "scores", as_of=s.base.as_of
        )
    finally:
        crm.close()
    expected = score_contact_base(
        s.base.crm_path, model, tmp_path / "duck.parquet", store=None, as_of=s.base.as_of
    )
    want = pd.read_parquet(expected.path).sort_values("contact_id", ignore_index=True)
    # the inbox's owner/segment filter columns are the DuckDB store's (the inbox does not read
    # a lake's history: docs/scale.md); every other column is the same on both engines
    want = want.drop(columns=[c for c in FACET_COLUMNS if c in want.columns])
    got = pd.read_parquet(done.path).sort_values("contact_id", ignore_index=True)
    assert list(got.columns) == list(want.columns) and list(got.columns)[-1] == "scored_by"
    assert set(got["scored_by"]) == {"global", f"region={s.big}"}
    assert got["scored_by"].tolist() == want["scored_by"].tolist()
    np.testing.assert_allclose(got["p_sql"], want["p_sql"], rtol=0, atol=1e-9)
    assert got["grade"].tolist() == want["grade"].tolist()
    assert got["reasons_positive"].map(list).tolist() == want["reasons_positive"].map(list).tolist()
    (run,) = SparkScoreHistory(tmp_path / "scores").runs().itertuples()
    assert run.scored_by == want["scored_by"].value_counts().to_dict()
    assert done.stale_left_out == expected.stale_left_out > 0  # told, as on DuckDB


@pytest.mark.slow
def test_parquet_lake_to_scores_from_the_cli(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acceptance path: features build --engine spark -> train -> promote -> score --engine
    spark on local[2], from a generated lake (one parts folder per table), equal to DuckDB,
    with ``duckdb.connect`` refusing every call on the way."""
    from leadscore.crm import open_crm
    from leadscore.serving import score_contact_base
    from leadscore.serving.spark_history import SparkScoreHistory
    from leadscore.synthetic import GeneratorConfig, generate_crm

    lake = tmp_path / "lake"
    generate_crm(GeneratorConfig(n_contacts=2000, seed=3), lake, fmt="parquet")
    monkeypatch.chdir(tmp_path)
    opened: list[str] = []

    def refuse(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        raise AssertionError(f"DuckDB opened on the Spark path: {database}")

    monkeypatch.setattr(duckdb, "connect", refuse)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    table = tmp_path / "training.parquet"
    invoke(
        "features", "build", str(lake), "--engine", "spark", "--master", "local[2]",
        "--out", str(table), "--start", "2024-03-01",
    )  # fmt: skip
    config = tmp_path / "training.yaml"
    config.write_text("evaluation:\n  n_bootstrap: 0\nshap_rows: 0\n")
    trained = invoke("train", str(table), "--tracking-uri", uri, "--training-config", str(config))
    assert "Registered leadscore version 1" in trained.output
    invoke("promote", "--tracking-uri", uri, "--force")
    out = tmp_path / "scores"
    invoke(
        "score", str(lake), "--engine", "spark", "--master", "local[2]", "--tracking-uri", uri,
        "--out", str(out), "--as-of", AS_OF,
    )  # fmt: skip
    assert opened == [] and not list(tmp_path.rglob("*.duckdb"))
    monkeypatch.undo()
    (run,) = [p for p in out.iterdir() if p.name.startswith("run_id=")]
    (summary,) = SparkScoreHistory(out).runs().itertuples()
    assert summary.output == str(run)
    crm = open_crm(lake)
    try:
        expected = score_contact_base(
            crm, "champion", tmp_path / "duck.parquet", tracking_uri=uri, store=None,
            as_of=pd.Timestamp(AS_OF).to_pydatetime(),
        )  # fmt: skip
    finally:
        crm.close()
    want = pd.read_parquet(expected.path).sort_values("contact_id", ignore_index=True)
    got = pd.read_parquet(run).sort_values("contact_id", ignore_index=True)
    assert len(got) == len(want) > 500
    np.testing.assert_allclose(got["p_sql"], want["p_sql"], rtol=0, atol=1e-9)
    assert got["reasons_positive"].map(list).tolist() == want["reasons_positive"].map(list).tolist()
    assert got["grade"].tolist() == want["grade"].tolist()
    assert summary.rows == len(want) and summary.grades == want["grade"].value_counts().to_dict()
