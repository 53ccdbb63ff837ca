"""Logistic and rules heads (issue 14 item 5): served exactly as evaluated, exact reasons,
stored without pickles; the choice on validation picks the better candidate."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.model.bots import BotRule
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.heads import HeadToWrite, read_heads, write_heads
from leadscore.model.inputs import FeatureSpec
from leadscore.model.linear_head import LogisticHead
from leadscore.model.rules_head import RulesHead
from leadscore.training.bots import bot_notes, training_bot_flags
from leadscore.training.choice import ChoiceConfig, choice_table, choose_heads
from leadscore.training.heads import shipped_heads
from leadscore.training.models import LogisticModel
from leadscore.training.pipeline import (
    TrainingConfig,
    TrainingOutcome,
    fit_and_evaluate,
    rules_probability,
)
from leadscore.training.rules import score_rules
from leadscore.training.split import time_split
from leadscore.training.table import TrainingTable
from tests.simulate import simulate_training_table

BURSTS = ("max_events_in_an_hour_90d", "max_events_in_a_day_90d")


@pytest.fixture(scope="module")
def table() -> TrainingTable:
    return simulate_training_table(2500, 10, seed=5)[0]


def _periods(table: TrainingTable) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, horizon=horizon)
    return tuple(table.frame[split.mask(p)] for p in ("train", "valid", "test"))  # type: ignore[return-value]


def _odd_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a missing number, a missing category and a level never seen in training."""
    odd = frame.head(3).copy()
    odd.loc[odd.index[0], "days_since_last_visit"] = np.nan
    odd.loc[odd.index[1], "seniority"] = None
    odd.loc[odd.index[2], "industry"] = "never-seen-industry"
    return pd.concat([frame, odd])


def test_logistic_head_replays_the_pipeline_and_explains_exactly(
    table: TrainingTable, tmp_path: Path
) -> None:
    train, valid, test = _periods(table)
    y = table.labels("sql")
    model = LogisticModel(table.features).fit(
        train, y[train.index].to_numpy(), valid, y[valid.index].to_numpy()
    )
    head = model.head(FeatureEncoder(table.features).fit(train))
    rows = _odd_rows(test)
    np.testing.assert_allclose(head.predict_raw(rows), model.predict_raw(rows), rtol=1e-9)
    np.testing.assert_allclose(head.predict_proba(rows), model.predict_proba(rows), rtol=1e-9)
    contributions = head.contributions(rows)
    assert contributions.shape == (len(rows), len(table.features) + 1)
    raw = model.predict_raw(rows)
    np.testing.assert_allclose(contributions.sum(axis=1), np.log(raw / (1 - raw)), atol=1e-9)
    # a feature's contribution moves with it alone: change one feature, only its column moves
    changed = rows.copy()
    changed["pricing_visits_30d"] = changed["pricing_visits_30d"] + 5
    delta = head.contributions(changed) - contributions
    moved = [n for j, n in enumerate(head.feature_names) if np.abs(delta[:, j]).max() > 1e-12]
    assert moved == ["pricing_visits_30d"]

    write_heads(tmp_path, {"sql": HeadToWrite(head)}, data_fingerprint="f", definition_hash="h")
    assert (tmp_path / "sql.logistic.json").is_file()
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.lgb.txt"))
    folder = read_heads(tmp_path)
    assert folder.records["sql"].kind == "logistic"
    again = folder.heads["sql"]
    assert isinstance(again, LogisticHead)
    np.testing.assert_array_equal(again.predict_proba(rows), head.predict_proba(rows))
    np.testing.assert_array_equal(again.contributions(rows), contributions)


@pytest.fixture(scope="module")
def bursty() -> tuple[TrainingTable, TrainingOutcome]:
    """A simulated table with burst columns (a few rows bot-like), trained once."""
    table = simulate_training_table(2000, 10, seed=7)[0]
    rng = np.random.default_rng(1)
    frame = table.frame.copy()
    frame["max_events_in_an_hour_90d"] = rng.integers(0, 5, len(frame))
    frame["max_events_in_a_day_90d"] = frame["max_events_in_an_hour_90d"] * 2
    frame.loc[rng.random(len(frame)) < 0.02, "max_events_in_an_hour_90d"] = 400
    specs = [*table.features, *(FeatureSpec(n, "numeric", "engagement") for n in BURSTS)]
    table = dataclasses.replace(table, frame=frame, features=specs)
    config = TrainingConfig(shap_rows=0, evaluation={"n_bootstrap": 0}, tuning={"enabled": False})
    return table, fit_and_evaluate(table, config)


def test_rules_head_serves_the_calibrated_rules_with_points_reasons(
    bursty: tuple[TrainingTable, TrainingOutcome], tmp_path: Path
) -> None:
    table, trained = bursty
    sql = trained.choices["sql"]
    outcome = dataclasses.replace(
        trained, choices={"sql": dataclasses.replace(sql, shipped="rules")}
    )
    head = shipped_heads(table, outcome)["sql"]
    assert isinstance(head, RulesHead)
    test = table.frame[outcome.split.mask("test")]
    points = score_rules(test, outcome.rules).to_numpy()
    calibrator = outcome.rules_calibrators["sql"]
    expected = rules_probability(points, outcome.rules.mql_threshold, calibrator)
    np.testing.assert_array_equal(head.predict_proba(test), expected)
    contributions = head.contributions(test)
    z = (points - outcome.rules.mql_threshold) / 20.0
    np.testing.assert_allclose(contributions.sum(axis=1), z, atol=1e-9)
    assert set(head.feature_names) == set(outcome.rules.features)
    write_heads(tmp_path, {"sql": HeadToWrite(head)}, data_fingerprint="f", definition_hash="h")
    again = read_heads(tmp_path).heads["sql"]
    assert isinstance(again, RulesHead)
    np.testing.assert_array_equal(again.predict_proba(test), expected)


def test_choice_ships_the_best_candidate_on_validation() -> None:
    rng = np.random.default_rng(0)
    cutoffs = pd.Series(np.repeat(pd.date_range("2025-01-01", periods=4, freq="W"), 250))
    y = (rng.random(1000) < 0.05).astype(int)
    good = y + rng.normal(0, 0.5, 1000)
    noise = rng.normal(0, 1, 1000)
    mql = rng.random(1000) < 0.1
    scores = {"lightgbm": {"sql": noise}, "logistic": {"sql": good}, "rules": {"sql": noise}}
    for metric in ("found_at_mql", "pr_auc", "roc_auc"):
        chosen = choose_heads(cutoffs, {"sql": y}, scores, mql, ChoiceConfig(metric=metric))
        assert chosen["sql"].shipped == "logistic"
        assert (
            chosen["sql"].validation["logistic"][metric]
            > chosen["sql"].validation["lightgbm"][metric]
        )
        assert "logistic ships for sql" in chosen["sql"].why
    # equal scores everywhere: the order of the candidates decides
    same = {"lightgbm": {"sql": noise}, "logistic": {"sql": noise}}
    assert choose_heads(cutoffs, {"sql": y}, same, mql)["sql"].shipped == "lightgbm"
    order = ChoiceConfig(candidates=("logistic", "lightgbm"))
    assert choose_heads(cutoffs, {"sql": y}, same, mql, order)["sql"].shipped == "logistic"
    frame = choice_table(choose_heads(cutoffs, {"sql": y}, scores, mql))
    assert frame.loc[frame["shipped"] == "yes", "candidate"].tolist() == ["logistic"]


def test_training_ships_the_best_on_validation_without_bot_rows(
    bursty: tuple[TrainingTable, TrainingOutcome],
) -> None:
    table, outcome = bursty
    assert set(outcome.choices) == set(outcome.lightgbm)
    for choice in outcome.choices.values():
        values = choice.validation
        best = max(v[choice.metric] for v in values.values())
        assert values[choice.shipped][choice.metric] == best
        assert set(values) == {"lightgbm", "logistic", "rules"}
    flagged = table.frame["max_events_in_an_hour_90d"].to_numpy() >= 60
    np.testing.assert_array_equal(outcome.excluded, flagged)
    valid = outcome.split.mask("valid")
    assert outcome.choices["sql"].rows == int((valid & ~flagged).sum()) < int(valid.sum())
    assert outcome.bots is not None
    assert any(n.startswith("Bot rule (60+ interactions in one hour") for n in outcome.info)
    assert not outcome.fit_mask("train")[flagged].any()


def test_the_bot_rule_warns_when_the_table_lacks_its_features(table: TrainingTable) -> None:
    flags, runs = training_bot_flags(table.frame, BotRule())
    assert not runs and not flags.any()
    notes = bot_notes(table.frame, flags, {}, BotRule(), runs)
    assert notes[0].startswith("WARNING: the bot rule cannot run")
    assert "max_events_in_an_hour_90d" in notes[0]
