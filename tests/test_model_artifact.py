"""The model artifact (leadscore.model): heads predict what training's boosters predict, the
heads folder round-trips as one unit, and artifacts from an older layout fail clearly."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ArtifactError
from leadscore.features.definition import load_definition
from leadscore.model import (
    Calibrator,
    HeadToWrite,
    ModelHead,
    ScorerSpec,
    fit_grades,
    read_heads,
    write_heads,
)
from leadscore.training.models import LightGBMModel, LightGBMParams
from leadscore.training.split import time_split
from tests.simulate import simulate_training_table


@pytest.fixture(scope="module")
def fitted() -> tuple[LightGBMModel, pd.DataFrame]:
    table, _ = simulate_training_table(2000, 10, seed=5)
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, horizon=horizon)
    train, valid = table.frame[split.mask("train")], table.frame[split.mask("valid")]
    y = table.labels("sql")
    params = LightGBMParams(early_stopping_rounds=5, max_rounds=300)
    model = LightGBMModel(table.features, params).fit(
        train, y[train.index].to_numpy(), valid, y[valid.index].to_numpy()
    )
    return model, table.frame[split.mask("test")]


def test_the_head_predicts_exactly_what_the_trained_booster_predicts(
    fitted: tuple[LightGBMModel, pd.DataFrame],
) -> None:
    model, test = fitted
    head = model.head_
    assert head.model_text == model.booster_.model_to_string(num_iteration=model.best_iteration_)
    matrix = model.encoder_.transform(test)
    before = model.booster_.predict(matrix, num_iteration=model.best_iteration_)
    np.testing.assert_array_equal(head.predict_raw(test), before)
    np.testing.assert_array_equal(model.predict_proba(test), model.calibrator_.predict(before))
    contrib = model.booster_.predict(matrix, num_iteration=model.best_iteration_, pred_contrib=True)
    np.testing.assert_array_equal(head.contributions(test), contrib)


def test_heads_folder_round_trip_with_spec_and_definition_check(
    fitted: tuple[LightGBMModel, pd.DataFrame], tmp_path: Path
) -> None:
    model, test = fitted
    definition = load_definition()
    spec = ScorerSpec(
        definition=definition.model_dump(mode="json"),
        definition_hash=definition.digest(),
        grades=fit_grades(model.predict_proba(test), 0.1),
    )
    heads = {"sql": HeadToWrite(model.head_, metrics={"test_roc_auc_lightgbm_sql": 0.8})}
    paths = write_heads(
        tmp_path, heads, data_fingerprint="fp", definition_hash=definition.digest(), spec=spec
    )
    assert sorted(p.name for p in paths) == ["scorer.json", "sql.json", "sql.lgb.txt"]
    artifact = read_heads(tmp_path)
    assert artifact.spec == spec.model_copy(update={"created_at": artifact.spec.created_at})
    assert artifact.records["sql"].metrics == {"test_roc_auc_lightgbm_sql": 0.8}
    np.testing.assert_array_equal(
        artifact.heads["sql"].predict_proba(test), model.predict_proba(test)
    )
    # heads trained on another definition than the spec's: refused
    other = tmp_path / "other"
    write_heads(other, heads, data_fingerprint="fp", definition_hash="elsewhere", spec=spec)
    with pytest.raises(ArtifactError, match="not the one its heads were trained with"):
        read_heads(other)
    # a malformed record names the file
    record = json.loads((tmp_path / "sql.json").read_text())
    (tmp_path / "sql.json").write_text(json.dumps(record | {"surprise": 1}))
    with pytest.raises(ArtifactError, match=r"sql\.json is malformed"):
        read_heads(tmp_path)


def test_a_head_built_from_its_text_is_the_same_head(
    fitted: tuple[LightGBMModel, pd.DataFrame],
) -> None:
    model, test = fitted
    head = model.head_
    again = ModelHead(
        head.model_text,
        head.encoder,
        Calibrator.from_dict(head.calibrator.to_dict()),
        best_iteration=head.best_iteration,
    )
    np.testing.assert_array_equal(again.predict_proba(test), head.predict_proba(test))
    with pytest.raises(ArtifactError, match="Unknown calibration method 'magic'"):
        Calibrator.from_dict({"method": "magic"})


def test_a_pyfunc_saved_by_an_older_leadscore_fails_clearly(
    fitted: tuple[LightGBMModel, pd.DataFrame], tmp_path: Path
) -> None:
    from leadscore.model.pyfunc import ENTRY_SCRIPT, save_pyfunc
    from leadscore.serving import load_scorer

    model, _ = fitted
    heads = tmp_path / "heads"
    write_heads(heads, {"sql": HeadToWrite(model.head_)}, data_fingerprint="f", definition_hash="d")
    saved = save_pyfunc(heads, tmp_path)
    # the entry script of a model registered before the pyfunc moved to serving
    # (not the leadscore code that travels with the model, under code/)
    (entry,) = (
        p
        for p in saved.rglob("*.py")
        if "LeadscoreScorer" in p.read_text() and "code" not in p.relative_to(saved).parts
    )
    old = ENTRY_SCRIPT.replace("leadscore.serving.pyfunc", "leadscore.training.pyfunc")
    entry.write_text(old, encoding="utf-8")
    with pytest.raises(ArtifactError, match="saved by an older leadscore"):
        load_scorer(saved)
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    assert load_scorer(saved).scorer.heads["sql"].model_text == model.head_.model_text
