"""Shared by the serving tests: one small model trained by the real pipeline, once per session.

(Holds no test; named ``test_serving_*`` only to sit with the serving tests.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

API_KEY = "test-key-0123456789"


@dataclass(frozen=True)
class ServingModel:
    crm_path: Path
    tracking_uri: str
    as_of: datetime
    folder: Path


def serving_model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    """Generate a 2,000-contact CRM, build its training table, train, register and promote a
    model (reused by every serving test module of the session)."""
    root = tmp_path_factory.getbasetemp() / "serving-model"
    done = root / "done.json"
    if not done.is_file():
        from leadscore.crm import open_crm
        from leadscore.features import (
            CutoffSchedule,
            build_training_table,
            data_end_of,
            load_definition,
        )
        from leadscore.synthetic import GeneratorConfig, generate_crm
        from leadscore.training import TrainingConfig, promote, train
        from leadscore.training.evaluate import EvaluationConfig

        root.mkdir(parents=True, exist_ok=True)
        crm_path = root / "crm.duckdb"
        generate_crm(GeneratorConfig(n_contacts=2000, seed=1), crm_path)
        crm = open_crm(crm_path)
        try:
            schedule = CutoffSchedule(date(2024, 3, 1), date(2025, 11, 1), every="month")
            build_training_table(crm, load_definition(), schedule, 30, root / "train.parquet")
            as_of = data_end_of(crm)
        finally:
            crm.close()
        uri = f"sqlite:///{root}/mlruns/mlflow.db"
        config = TrainingConfig(
            report_dir=root / "reports",
            evaluation=EvaluationConfig(n_bootstrap=0),
            shap_rows=0,
            fit_logistic=False,
        )
        result = train(root / "train.parquet", tracking_uri=uri, config=config)
        promote(tracking_uri=uri, force=True)
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        source = client.get_model_version("leadscore", str(result.model_version)).source
        record = {"as_of": as_of.isoformat(), "folder": source.removeprefix("file://")}
        done.write_text(json.dumps(record), encoding="utf-8")
    record = json.loads(done.read_text(encoding="utf-8"))
    return ServingModel(
        crm_path=root / "crm.duckdb",
        tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db",
        as_of=datetime.fromisoformat(record["as_of"]),
        folder=Path(record["folder"]),
    )


def champion_features(model: ServingModel) -> pd.DataFrame:
    """The champion's features for every contact of the serving CRM at the model's as-of."""
    from leadscore.crm import open_crm
    from leadscore.serving import load_scorer
    from leadscore.serving.features import iter_features

    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    crm = open_crm(model.crm_path)
    try:
        definition = loaded.scorer.require_definition()
        return pd.concat(list(iter_features(crm, definition, as_of=model.as_of)))
    finally:
        crm.close()
