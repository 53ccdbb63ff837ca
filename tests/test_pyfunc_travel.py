"""The MLflow model travels: signature, input example, CRM-shaped leads in and ``contact_id``
out, the leadscore code inside the model, pinned requirements, run name, git commit, dataset and
logged model. The slow test loads and serves it in a fresh virtual environment."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.errors import DataContractError
from leadscore.model.pyfunc_schema import SCORER_REQUIREMENTS, example_params
from leadscore.serving import load_scorer
from leadscore.serving.features import iter_features
from tests.posted_leads import lead_from_crm
from tests.test_serving_support import ServingModel, serving_model

PREDICT_SCRIPT = """
import importlib.util, json, sys
assert importlib.util.find_spec("leadscore") is None, "leadscore must come from the model"
import mlflow.pyfunc
from mlflow.models import Model
path = sys.argv[1]
model = mlflow.pyfunc.load_model(path)
meta = Model.load(path)
out = model.predict(meta.load_input_example(path), params=meta.load_input_example_params(path))
import leadscore
print(json.dumps({"leadscore": leadscore.__file__, "rows": out.to_dict("records")}))
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def _example_scores(folder: Path) -> pd.DataFrame:
    import mlflow.pyfunc
    from mlflow.models import Model

    meta = Model.load(str(folder))
    example = meta.load_input_example(str(folder))
    params = meta.load_input_example_params(str(folder))
    out: pd.DataFrame = mlflow.pyfunc.load_model(str(folder)).predict(example, params=params)
    return out


def test_the_model_has_a_lead_signature_an_example_code_and_pinned_requirements(
    model: ServingModel,
) -> None:
    from mlflow.models import Model

    meta = Model.load(str(model.folder))
    assert meta.signature is not None
    assert meta.signature.inputs.input_names() == ["contact", "account", "events", "stage_changes"]
    assert meta.signature.outputs.input_names()[:4] == [
        "contact_id",
        "scored",
        "p_sql",
        "p_meeting",
    ]
    assert {p.name for p in meta.signature.params} == {"as_of", "complete_accounts"}
    assert meta.load_input_example_params(str(model.folder)) == example_params()
    assert (model.folder / "code" / "leadscore" / "serving" / "pyfunc.py").is_file()
    assert (model.folder / "code" / "leadscore" / "features" / "catalog.yaml").is_file()
    pins = (model.folder / "requirements.txt").read_text(encoding="utf-8").split()
    assert [p.split("==")[0] for p in pins] == list(SCORER_REQUIREMENTS)
    assert all("==" in p for p in pins) and not any(p.startswith("leadscore") for p in pins)


def test_the_example_scores_in_posted_order_with_contact_ids(model: ServingModel) -> None:
    out = _example_scores(model.folder)
    assert list(out["contact_id"]) == ["lead-example-1", "lead-example-2"]
    assert out["scored"].all()
    assert out["p_sql"].between(0, 1, inclusive="neither").all()
    assert set(out["grade"]) <= {"A", "B", "C", "D"}
    assert all(isinstance(r, list) for r in out["reasons_positive"])
    # the hot lead (pricing page, webinar, VP) outscores the cold one
    assert out["p_sql"].iloc[0] > out["p_sql"].iloc[1]


def _single_contact_accounts(crm_path: Path, n: int) -> list[str]:
    with duckdb.connect(str(crm_path), read_only=True) as con:
        rows = con.execute(
            "SELECT min(contact_id) FROM contacts GROUP BY account_id HAVING count(*) = 1 "
            "ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows[: n * 4]]


def test_crm_shaped_leads_score_as_batch_scoring_does(model: ServingModel) -> None:
    """A lead posted from its CRM rows (its account's only contact, so account features are
    whole) gets the batch scorer's probabilities; an ineligible lead comes back unscored."""
    import mlflow.pyfunc

    ids = _single_contact_accounts(model.crm_path, 10)
    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    crm = open_crm(model.crm_path)
    try:
        definition = loaded.scorer.require_definition()
        batch = pd.concat(list(iter_features(crm, definition, as_of=model.as_of, contact_ids=ids)))
    finally:
        crm.close()
    eligible = list(batch["contact_id"])[:8]
    ineligible = [c for c in ids if c not in set(batch["contact_id"])][:1]
    posted = ineligible + eligible[::-1]  # the output follows the posted order
    with duckdb.connect(str(model.crm_path), read_only=True) as con:
        leads = [lead_from_crm(con, c, before=model.as_of) for c in posted]
    pyfunc = mlflow.pyfunc.load_model(str(model.folder))
    params: dict[str, Any] = {"as_of": model.as_of.isoformat(), "complete_accounts": True}
    out = pyfunc.predict(pd.DataFrame(leads), params=params)
    assert list(out["contact_id"]) == posted
    expected = loaded.scorer.score(batch.set_index("contact_id").loc[eligible[::-1]].reset_index())
    got = out[out["scored"]].reset_index(drop=True)
    np.testing.assert_allclose(got["p_sql"], expected["p_sql"], rtol=1e-9)
    assert list(got["grade"]) == list(expected["grade"])
    if ineligible:
        row = out.iloc[0]
        assert not row["scored"] and np.isnan(row["p_sql"]) and row["grade"] is None


def test_a_broken_lead_is_named_without_its_values(model: ServingModel) -> None:
    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model(str(model.folder))
    lead = {
        "contact": {"contact_id": "c-1", "created_at": "not a time", "job_title": "Secret Title"},
        "account": {"account_id": "a-1", "created_at": "2025-01-01T00:00:00"},
        "events": [{"occurred_at": "2025-02-01T00:00:00", "event_type": "teleport"}],
    }
    with pytest.raises(DataContractError) as caught:
        pyfunc.predict(pd.DataFrame([lead]), params={"as_of": "2025-03-01T00:00:00"})
    message = str(caught.value)
    assert "contact.created_at" in message and "events.0.event_type" in message
    assert "not a time" not in message and "teleport" not in message
    assert "Secret Title" not in message


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def test_the_model_loads_with_its_own_code_when_leadscore_is_not_installed(
    model: ServingModel, tmp_path: Path
) -> None:
    """The project's venv without its .pth files (so without the editable leadscore): the
    model imports leadscore from its own ``code/`` folder and scores its example."""
    folder = tmp_path / "model"
    shutil.copytree(model.folder, folder)
    done = subprocess.run(
        [sys.executable, "-S", "-c", PREDICT_SCRIPT, str(folder)],
        env={"PYTHONPATH": _site_packages(), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["leadscore"].startswith(str(folder / "code" / "leadscore"))
    expected = _example_scores(model.folder)
    got = pd.DataFrame(result["rows"])
    assert list(got["contact_id"]) == list(expected["contact_id"])
    np.testing.assert_allclose(got["p_sql"], expected["p_sql"], rtol=1e-12)


def test_the_run_is_named_and_carries_commit_dataset_and_logged_model(
    model: ServingModel,
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=model.tracking_uri, registry_uri=model.tracking_uri)
    version = client.get_model_version_by_alias("leadscore", "champion")
    run = client.get_run(version.run_id)
    assert run.info.run_name.startswith("train-leadscore-test")
    if shutil.which("git") and (Path(__file__).parents[1] / ".git").exists():
        assert len(run.data.tags["mlflow.source.git.commit"]) == 40
        assert run.data.tags["git_dirty"] in {"true", "false"}
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name.startswith("training-table-")
    assert json.loads(dataset_input.dataset.source)["uri"].endswith("train.parquet")
    assert json.loads(dataset_input.dataset.profile)["num_rows"] > 1000
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"
    experiment = client.get_experiment_by_name("leadscore")
    logged = client.search_logged_models([experiment.experiment_id])
    assert version.run_id in {m.source_run_id for m in logged}
