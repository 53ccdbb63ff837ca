"""`monitor` on the session's small model (real CRM, MLflow store and score store): the
verdict, the realised conversion of a matured cohort with real labels, the page, exit codes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore.pipeline.monitor import MonitorSpec, monitor_step
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore
from leadscore.training.monitor import MonitorThresholds
from tests.test_cli import run_cli
from tests.test_serving_support import ServingModel, serving_model

COHORT = datetime(2025, 9, 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def _champion(model: ServingModel) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=model.tracking_uri, registry_uri=model.tracking_uri)
    return f"leadscore/{client.get_model_version_by_alias('leadscore', 'champion').version}"


def _store(path: Path, model: ServingModel) -> ScoreStore:
    """A cohort as of COHORT (real contact ids, made-up scores: grade A promised 60 %) plus a
    legacy row without as-of date and a few weeks of verdicts."""
    with duckdb.connect(str(model.crm_path), read_only=True) as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT contact_id FROM contacts WHERE created_at < ? ORDER BY contact_id LIMIT 600",
                [COHORT],
            ).fetchall()
        ]
    grades = np.array(["A"] * 200 + ["D"] * (len(ids) - 200))
    rows = pd.DataFrame(
        {
            "contact_id": ids,
            "scored_at": COHORT + timedelta(hours=3),
            "model_version": _champion(model),
            "p_sql": np.where(grades == "A", 0.6, 0.01),
            "p_meeting": 0.01,
            "grade": grades,
            "fit_score": 50.0,
            "engagement_score": 50.0,
            "reasons_positive": [["r"]] * len(ids),
            "reasons_negative": [[]] * len(ids),
        },
        columns=list(HISTORY_COLUMNS),
    )
    store = ScoreStore(path)
    store.record_scores(rows.assign(as_of=COHORT))
    store.record_scores(rows.head(3))  # a row of an older leadscore: no as-of date
    for week in range(6):
        for i in range(6):
            store.add_feedback(
                ids[i],
                "accepted" if (i + week) % 3 else "rejected",
                given_at=datetime(2025, 10, 6) + timedelta(days=7 * week, hours=i),
            )
    return store


@pytest.mark.slow  # two monitor runs (~60 s loaded); test_training_monitor.py is the fast variant
def test_monitor_flags_a_grade_that_broke_its_promise(model: ServingModel, tmp_path: Path) -> None:
    store = _store(tmp_path / "scores.duckdb", model)
    spec = MonitorSpec(
        source=model.crm_path,
        store=store.path,
        out=tmp_path / "page" / "monitor.html",
        tracking_uri=model.tracking_uri,
        reference_cutoffs=2,
        sample_rows=2_000,
        thresholds=MonitorThresholds(stale_after_days=5_000),
    )
    result = monitor_step(spec)
    cal = result.calibration
    a = cal[cal["grade"] == "A"].iloc[0]
    assert a["n"] >= 30 and a["off"] and a["realised"] < 0.3  # real labels, not 60 %
    assert result.verdict.status == "retrain recommended" and result.exit_code == 7
    assert any("grade A" in r and "predicted 60.0%" in r for r in result.verdict.reasons)
    assert any("no as-of date" in w for w in result.verdict.warnings)
    assert result.legacy_rows == 3
    assert result.acceptance["verdicts"].sum() == 36
    assert result.features["psi"].notna().all() and len(result.features) > 10
    page = spec.out.read_text(encoding="utf-8")
    assert "Realised conversion per grade" in page and page.count("base64,") == 4
    assert not list(spec.out.parent.glob("*.tmp*"))  # written atomically, nothing left over

    stale = monitor_step(
        MonitorSpec(
            source=model.crm_path,
            store=tmp_path / "empty.duckdb",
            out=tmp_path / "stale.html",
            tracking_uri=model.tracking_uri,
            reference_cutoffs=2,
            sample_rows=2_000,
            thresholds=MonitorThresholds(stale_after_days=30),
        )
    )
    assert stale.verdict.status == "stale" and stale.exit_code == 8
    assert any("no matured cohort" in w for w in stale.verdict.warnings)


@pytest.mark.slow  # a real process (~30 s on a loaded machine); the step's test above is fast
def test_monitor_command_exit_code(model: ServingModel, tmp_path: Path) -> None:
    store = _store(tmp_path / "scores.duckdb", model)
    page = tmp_path / "monitor.html"
    run = run_cli(
        "monitor",
        "--crm", str(model.crm_path),
        "--store", str(store.path),
        "--tracking-uri", model.tracking_uri,
        "--out", str(page),
        "--stale-after", "5000",
    )  # fmt: skip
    assert run.returncode == 7, run.stderr
    assert "MONITOR: RETRAIN RECOMMENDED" in run.stdout and "grade A" in run.stdout
    assert page.is_file()


def test_the_reference_tags_are_those_of_the_model_loaded(tmp_path: Path) -> None:
    """`monitor --model models:/NAME@champion` reads NAME's version tags (its training window:
    the drift reference), not those of the same version number of --model-name's model; a
    pyfunc folder has none, whatever its path ends with."""
    from leadscore.pipeline.monitor import _registered_tags
    from leadscore.training.tracking import log_training_run

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (tmp_path / "heads").mkdir()
    (tmp_path / "heads" / "head.txt").write_text("model")
    (tmp_path / "report.html").write_text("<html></html>")
    for name, first in (("leadscore", "2024-01-01"), ("crm-leads", "2025-06-01")):
        log_training_run(
            tracking_uri=uri, model_name=name, params={}, metrics={"m": 1.0},
            tags={"test_first_cutoff": first}, heads=tmp_path / "heads",
            report=tmp_path / "report.html", features=[], targets=["sql"],
        )  # fmt: skip
    tags = _registered_tags("crm-leads/1", "models:/m-0123", uri)
    assert tags["test_first_cutoff"] == "2025-06-01"
    assert _registered_tags("leadscore/1", "models:/m-4567", uri)["test_first_cutoff"] == (
        "2024-01-01"
    )
    folder = str(tmp_path / "exported" / "1")
    assert _registered_tags(folder, folder, uri) == {}
