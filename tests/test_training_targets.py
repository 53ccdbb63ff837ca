"""One or both targets: a target without positives is skipped with a note (or refused when
asked for), a copy of another target is never trained, and serving gives no probability for a
target the model does not have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import DataContractError
from leadscore.serving.scorer import Scorer
from leadscore.training import TrainingConfig, fit_and_evaluate
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.heads import save_heads
from leadscore.training.table import TrainingTable
from leadscore.training.targets import parse_targets
from tests.simulate import simulate_training_table

FAST = TrainingConfig(evaluation=EvaluationConfig(n_bootstrap=20), shap_rows=0, fit_logistic=False)


@pytest.fixture(scope="module")
def simulated() -> TrainingTable:
    return simulate_training_table(1500, 10, seed=3)[0]


def _with_meeting(table: TrainingTable, meeting: pd.Series) -> TrainingTable:
    frame = table.frame.assign(booked_meeting=meeting.to_numpy())
    return TrainingTable(
        frame=frame,
        features=table.features,
        horizon_days=table.horizon_days,
        meta=table.meta,
    )


def test_a_target_without_positives_is_skipped_with_a_note(
    simulated: TrainingTable, tmp_path: Path
) -> None:
    no_meetings = _with_meeting(simulated, pd.Series(False, index=simulated.frame.index))
    outcome = fit_and_evaluate(no_meetings, FAST)
    assert list(outcome.lightgbm) == ["sql"]
    assert set(outcome.evaluation.metrics["target"]) == {"sql"}
    assert any(
        "'meeting' skipped" in n and "positives per period: train 0 of" in n for n in outcome.notes
    )
    save_heads(tmp_path / "heads", no_meetings, outcome, {})
    scorer = Scorer.from_folder(tmp_path / "heads")
    p = scorer.probabilities(no_meetings.frame.head(20))
    assert p["p_sql"].between(0, 1).all() and p["p_meeting"].isna().all()
    with pytest.raises(DataContractError, match="requested target"):
        fit_and_evaluate(no_meetings, FAST.model_copy(update={"targets": ("meeting",)}))


def test_a_test_period_emptied_by_drift_is_said_with_counts_and_a_split_that_works(
    simulated: TrainingTable,
) -> None:
    """Meetings stop in the latest cutoffs (a funnel change): the default split's test period
    holds 2 of them. The target is skipped (refused when asked for) with every period's counts
    and a split whose periods all hold enough; that split trains it."""
    import re

    frame = simulated.frame
    cutoffs = pd.to_datetime(frame["cutoff"])
    late = cutoffs >= sorted(cutoffs.unique())[-2]
    meeting = frame["became_sql"].astype(bool) & ~late
    meeting[late[late].index[:2]] = True
    drifted = _with_meeting(simulated, meeting)
    outcome = fit_and_evaluate(drifted, FAST)
    (note,) = [n for n in outcome.notes if "'meeting' skipped" in n]
    assert "the test period(s) have fewer than 5 positives" in note
    assert re.search(r"test 2 of [\d,]+", note), note
    with pytest.raises(DataContractError, match="positives per period"):
        fit_and_evaluate(drifted, FAST.model_copy(update={"targets": ("meeting",)}))
    found = re.search(r"test_fraction: ([\d.]+), valid_fraction: ([\d.]+)", note)
    assert found, note
    split = FAST.split.model_copy(
        update={"test_fraction": float(found[1]), "valid_fraction": float(found[2])}
    )
    fixed = fit_and_evaluate(
        drifted, FAST.model_copy(update={"split": split, "targets": ("meeting",)})
    )
    assert list(fixed.lightgbm) == ["meeting"]


def test_a_history_without_enough_positives_says_so() -> None:
    from leadscore.training.period_counts import suggest_split

    cutoffs = pd.Series(pd.date_range("2024-01-01", periods=6, freq="MS").repeat(10))
    labels = pd.Series(np.zeros(60, dtype=bool))
    labels[:7] = True  # 7 positives in all: test, validation and training cannot have 5 each
    assert "no split gives test, validation and training 5 each" in suggest_split(cutoffs, labels)


def test_a_copy_of_another_target_is_never_trained(simulated: TrainingTable) -> None:
    copy = _with_meeting(simulated, simulated.frame["became_sql"])
    outcome = fit_and_evaluate(copy, FAST)
    assert list(outcome.lightgbm) == ["sql"]
    assert any("would be a copy" in n for n in outcome.notes)


def test_one_target_on_request(simulated: TrainingTable) -> None:
    outcome = fit_and_evaluate(simulated, FAST.model_copy(update={"targets": ("meeting",)}))
    assert list(outcome.lightgbm) == ["meeting"]
    assert outcome.notes == []


def test_no_trainable_target_is_a_clear_error(simulated: TrainingTable) -> None:
    frame = simulated.frame.assign(became_sql=False, booked_meeting=False)
    empty = _with_meeting(
        TrainingTable(frame=frame, features=simulated.features, horizon_days=30),
        pd.Series(np.zeros(len(frame), dtype=bool)),
    )
    with pytest.raises(DataContractError, match="No target can be trained"):
        fit_and_evaluate(empty, FAST)


def test_targets_are_parsed_strictly() -> None:
    assert parse_targets("meeting, sql") == ("sql", "meeting")
    assert parse_targets(None) is None
    with pytest.raises(DataContractError, match="Unknown targets"):
        parse_targets("won")


def test_a_constant_model_is_refused_and_silent_rules_are_reported() -> None:
    from leadscore.training.targets import refuse_constant_heads, rules_notes

    refuse_constant_heads({"sql": np.array([0.1, 0.2])})
    with pytest.raises(DataContractError, match="came out constant"):
        refuse_constant_heads({"sql": np.array([0.1, 0.2]), "meeting": np.full(5, 0.03)})
    (note,) = rules_notes(np.array([10.0, 35.0]), 50)
    assert "No lead reaches the rules' MQL threshold (50 points; the best has 35)" in note
    assert rules_notes(np.array([10.0, 60.0]), 50) == []
