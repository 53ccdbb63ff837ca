"""The remembered resolution of a registered scorer (``serving.resolution_cache``): the direct
load equals MLflow's, any registry or artifact change goes back through MLflow, and a cached
``leadscore explain`` imports neither MLflow nor scikit-learn. A real MLflow sqlite registry:
a copy of the serving test model's, plus a second version whose files the tests may change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ArtifactError
from leadscore.serving import explain_contact, load_scorer
from leadscore.serving.features import iter_features
from leadscore.serving.resolution_cache import RACY_NS, cache_path, sqlite_file
from tests.test_serving_support import ServingModel, serving_model

REPO = Path(__file__).resolve().parents[1]
SCRIPT = """
import json, sys
from leadscore.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"mlflow", "sklearn"})
print("IMPORTED " + json.dumps(heavy))
sys.exit(code)
"""


@dataclass(frozen=True)
class Registry:
    uri: str
    db: Path
    model: Path
    """Version 2's model folder (a copy the tests may change)."""
    crm: Path
    as_of: pd.Timestamp


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def _settle(db: Path) -> None:
    """Date the registry files back past the racy window (as if written a while ago)."""
    old = time.time_ns() - 10 * RACY_NS
    os.utime(db, ns=(old, old))


@pytest.fixture
def registry(served: ServingModel, tmp_path: Path) -> Registry:
    """A copy of the serving registry with version 2 (a copy of version 1's files) as champion."""
    from mlflow import MlflowClient

    source_db = sqlite_file(served.tracking_uri)
    assert source_db is not None
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(source_db, db)
    model = tmp_path / "model-v2"
    shutil.copytree(served.folder, model)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    first = client.get_model_version("leadscore", "1")
    second = client.create_model_version("leadscore", source=str(model), run_id=first.run_id)
    client.set_registered_model_alias("leadscore", "champion", second.version)
    _settle(db)
    return Registry(uri, db, model, served.crm_path, pd.Timestamp(served.as_of))


def _direct(loaded: object) -> bool:
    """Whether a load skipped MLflow (its pyfunc is not loaded until asked for)."""
    return getattr(loaded, "_pyfunc", "x") is None


def _features(registry: Registry) -> pd.DataFrame:
    from leadscore.crm import open_crm

    scorer = load_scorer("champion", tracking_uri=registry.uri).scorer
    crm = open_crm(registry.crm)
    try:
        definition = scorer.require_definition()
        frames = list(iter_features(crm, definition, as_of=registry.as_of.to_pydatetime()))
    finally:
        crm.close()
    return pd.concat(frames, ignore_index=True).head(300)


def test_remembered_load_equals_mlflow_load(registry: Registry) -> None:
    cold = load_scorer("champion", tracking_uri=registry.uri)
    assert not _direct(cold) and cache_path(registry.db).is_file()
    warm = load_scorer("champion", tracking_uri=registry.uri)
    assert _direct(warm)
    assert (warm.model_version, warm.source) == (cold.model_version, cold.source)
    assert warm.model_version == "leadscore/2"
    features = _features(registry)
    a, b = cold.scorer.explain(features), warm.scorer.explain(features)
    pd.testing.assert_frame_equal(a.scores, b.scores, check_exact=True)
    assert a.contributions.tobytes() == b.contributions.tobytes()
    assert [(r.positive, r.negative) for r in a.reasons] == [
        (r.positive, r.negative) for r in b.reasons
    ]
    # the pyfunc of a direct load is MLflow's own, loaded on first use
    via_pyfunc = warm.pyfunc.unwrap_python_model().scorer.score(features)
    pd.testing.assert_frame_equal(via_pyfunc, a.scores, check_exact=True)


def test_explain_cli_is_identical_and_skips_mlflow_and_sklearn(registry: Registry) -> None:
    contact = str(_features(registry)["contact_id"].iloc[0])
    cache_path(registry.db).unlink(missing_ok=True)
    args = ["explain", contact, "--crm", str(registry.crm), "--tracking-uri", registry.uri]
    args += ["--as-of", registry.as_of.strftime("%Y-%m-%dT%H:%M:%S")]

    def run() -> tuple[str, list[str]]:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )
        assert done.returncode == 0, done.stderr
        out, _, imported = done.stdout.rpartition("IMPORTED ")
        return out, json.loads(imported)

    cold_out, cold_heavy = run()
    assert "mlflow" in cold_heavy  # the first load resolves through MLflow...
    warm_out, warm_heavy = run()
    assert warm_heavy == []  # ...the next imports neither MLflow nor scikit-learn
    assert warm_out == cold_out and f"{contact}: grade" in warm_out
    assert "leadscore/2" in warm_out


def test_a_promotion_between_two_loads_is_seen(registry: Registry) -> None:
    from mlflow import MlflowClient

    load_scorer("champion", tracking_uri=registry.uri)
    assert _direct(load_scorer("champion", tracking_uri=registry.uri))
    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    client.set_registered_model_alias("leadscore", "champion", "1")  # written just now
    moved = load_scorer("champion", tracking_uri=registry.uri)
    assert moved.model_version == "leadscore/1" and not _direct(moved)
    _settle(registry.db)  # older than the racy window: MLflow's answer is remembered again
    assert not _direct(load_scorer("champion", tracking_uri=registry.uri))
    again = load_scorer("champion", tracking_uri=registry.uri)
    assert again.model_version == "leadscore/1" and _direct(again)
    # a version number is remembered apart from the alias
    assert load_scorer("2", tracking_uri=registry.uri).model_version == "leadscore/2"


def test_a_changed_model_file_goes_through_mlflow_and_fails_the_same(registry: Registry) -> None:
    load_scorer("champion", tracking_uri=registry.uri)
    (spec_path,) = registry.model.glob("artifacts/**/scorer.json")
    spec = json.loads(spec_path.read_text())
    spec["schema_version"] = "99"
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(ArtifactError, match="schema 99") as remembered:
        load_scorer("champion", tracking_uri=registry.uri)
    with pytest.raises(ArtifactError) as direct:
        load_scorer(registry.model)
    assert str(remembered.value) == str(direct.value)


def test_requirement_drift_is_told_on_both_paths(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    pins = registry.model / "requirements.txt"
    pins.write_text(pins.read_text().rstrip() + "\nduckdb==0.0.1\n")
    warned = []
    for direct in (False, True):
        caplog.clear()
        with caplog.at_level("WARNING", logger="leadscore.serving.requirements_drift"):
            loaded = load_scorer("champion", tracking_uri=registry.uri)
        assert _direct(loaded) is direct
        warned.append([r.getMessage() for r in caplog.records])
    assert warned[0] == warned[1] and "duckdb 0.0.1 at training" in warned[0][0]


@pytest.mark.parametrize(
    "damage",
    ["not json {", '{"format": "someone-else/1"}', "heads", "digest", "environment"],
)
def test_a_corrupt_or_changed_cache_is_ignored(registry: Registry, damage: str) -> None:
    first = load_scorer("champion", tracking_uri=registry.uri)
    path = cache_path(registry.db)
    raw = json.loads(path.read_text())
    entry = raw["entries"]["leadscore@champion"]
    if damage == "heads":  # pointing outside the model folder
        entry["heads"] = str(registry.db.parent)
    elif damage == "digest":
        entry["digest"] = "0" * 64
    elif damage == "environment":
        raw["environment"]["leadscore"] = "0.0.0 elsewhere"
    text = damage if damage.startswith(("not", "{")) else json.dumps(raw)
    path.write_text(text)
    loaded = load_scorer("champion", tracking_uri=registry.uri)
    assert not _direct(loaded) and loaded.model_version == first.model_version
    # rewritten by MLflow's path: the next load is direct again
    assert _direct(load_scorer("champion", tracking_uri=registry.uri))
    assert json.loads(path.read_text())["entries"]["leadscore@champion"]["digest"] != "0" * 64


def test_a_training_run_that_lost_its_process_is_failed_first(registry: Registry) -> None:
    from mlflow import MlflowClient

    from leadscore.atomic import host_name
    from leadscore.run_status import HOST_TAG, PID_TAG

    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        experiment = client.get_experiment_by_name("Default") or client.search_experiments()[0]
        run = client.create_run(
            experiment.experiment_id, tags={PID_TAG: str(sleeper.pid), HOST_TAG: host_name()}
        )
        _settle(registry.db)
        load_scorer("champion", tracking_uri=registry.uri)  # remembers the live owner
        assert _direct(load_scorer("champion", tracking_uri=registry.uri))
    finally:
        sleeper.kill()
        sleeper.wait()
    loaded = load_scorer("champion", tracking_uri=registry.uri)
    assert not _direct(loaded)
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_contact_explanations_are_equal(registry: Registry) -> None:
    contact = str(_features(registry)["contact_id"].iloc[1])
    cache_path(registry.db).unlink(missing_ok=True)
    kwargs = {"tracking_uri": registry.uri, "as_of": registry.as_of.to_pydatetime()}
    cold = explain_contact(registry.crm, contact, "champion", **kwargs)  # type: ignore[arg-type]
    warm = explain_contact(registry.crm, contact, "champion", **kwargs)  # type: ignore[arg-type]
    assert _direct(load_scorer("champion", tracking_uri=registry.uri))
    assert cold == warm
    assert np.isfinite(warm.p_sql)


ORDER_SCRIPT = """
import hashlib, sys
from leadscore.model.lgb_import import lightgbm

def serve():
    lgb = lightgbm()
    return lgb.compat.SKLEARN_INSTALLED

def train():
    from datetime import timedelta
    from leadscore.training.models import LightGBMModel
    from leadscore.training.split import time_split
    from tests.simulate import simulate_training_table

    table, _ = simulate_training_table(1500, 8, seed=5)
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, horizon=horizon)
    train, valid = table.frame[split.mask("train")], table.frame[split.mask("valid")]
    y = table.labels("sql")
    model = LightGBMModel(table.features).fit(
        train, y[train.index].to_numpy(), valid, y[valid.index].to_numpy()
    )
    head = model.head_
    p = head.predict_proba(valid)
    return hashlib.sha256(head.model_text.encode() + p.tobytes()).hexdigest()

if sys.argv[1] == "serve-first":
    full = serve()
    assert "sklearn" not in sys.modules
    digest = train()
else:
    digest = train()
    full = serve()
print(full, digest)
"""


def test_lightgbm_without_sklearn_then_training_in_one_process() -> None:
    outputs = {}
    for order in ("serve-first", "train-first"):
        done = subprocess.run(
            [sys.executable, "-c", ORDER_SCRIPT, order],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        outputs[order] = done.stdout.split()
    assert outputs["serve-first"][0] == "False" and outputs["train-first"][0] == "True"
    assert outputs["serve-first"][1] == outputs["train-first"][1]  # same model, same scores


@pytest.mark.slow
def test_cli_start_benchmark_smoke(registry: Registry) -> None:
    contact = str(_features(registry)["contact_id"].iloc[0])
    args = ["--runs", "1", "--contact", contact, "--crm", str(registry.crm)]
    args += ["--tracking-uri", registry.uri]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "cli_start.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "identical explanation, cold and cached: yes" in done.stdout
    assert "cold / cached" in done.stdout and "models" in done.stdout


def test_the_models_listing_is_remembered_until_the_registry_changes(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``leadscore models`` lists from the remembered listing while the registry is unchanged
    (no MLflow), equal to MLflow's; a promotion, a corrupt file or another model name goes
    through MLflow again."""
    from mlflow import MlflowClient

    import leadscore.training.tracking as tracking
    from leadscore.pipeline import list_versions_step
    from leadscore.pipeline.versions_cache import cache_path as versions_path

    cold = list_versions_step(tracking_uri=registry.uri)
    assert [v.version for v in cold] == ["2", "1"] and versions_path(registry.db).is_file()
    calls: list[str] = []
    real = tracking.list_versions

    def counted(name: str, *, tracking_uri: str | None = None) -> list[object]:
        calls.append(name)
        return real(name, tracking_uri=tracking_uri)  # type: ignore[return-value]

    monkeypatch.setattr(tracking, "list_versions", counted)
    assert list_versions_step(tracking_uri=registry.uri) == cold and calls == []
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "models", "--tracking-uri", registry.uri],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "mlflow" not in json.loads(run.stdout.split("IMPORTED ")[1]) and "champion" in run.stdout

    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    client.set_registered_model_alias("leadscore", "champion", "1")  # a promotion
    promoted = list_versions_step(tracking_uri=registry.uri)
    assert calls == ["leadscore"] and "champion" in promoted[1].aliases
    _settle(registry.db)
    list_versions_step(tracking_uri=registry.uri)  # remembered again
    versions_path(registry.db).write_text("{not json", encoding="utf-8")
    assert list_versions_step(tracking_uri=registry.uri) == promoted
    assert calls == ["leadscore", "leadscore", "leadscore"]
