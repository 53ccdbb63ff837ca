"""Verdicts into the next training run, point in time: a real training table (the serving
model's) with rejections applied by the policy; the pair stays readable and trainable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadscore.errors import ConfigError
from leadscore.features import read_training_table
from leadscore.pipeline.feedback import FeedbackTableSpec, feedback_table_step
from leadscore.serving.store import ScoreStore
from leadscore.training.feedback import FeedbackPolicy, feedback_masks
from tests.test_serving_support import ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def test_masks_use_only_verdicts_given_before_the_cutoff() -> None:
    cut = pd.Timestamp("2025-03-01")
    rows = pd.DataFrame(
        {
            "contact_id": ["bot", "bot", "bot", "fit", "fit", "ok"],
            "cutoff": [cut, cut + timedelta(days=7), cut + timedelta(days=14)] * 2,
        }
    )
    feedback = pd.DataFrame(
        {
            "contact_id": ["bot", "fit", "ok"],
            "given_at": [cut + timedelta(days=3), cut + timedelta(days=3), cut],
            "verdict": ["rejected", "rejected", "accepted"],
            "reason": ["spam_bot", "bad_fit", None],
            "model_version": ["1", "1", "1"],
        }
    )
    default = feedback_masks(rows, feedback)
    assert default.drop.tolist() == [False, True, True, False, False, False]
    assert not default.relabel.any() and default.excluded_contacts == 1
    strict = feedback_masks(rows, feedback, FeedbackPolicy(negative=("bad_fit",)))
    assert strict.relabel.tolist() == [False, False, False, False, True, False]
    at_cutoff = feedback.assign(given_at=[cut, cut, cut])  # given at the cutoff: not known yet
    assert not feedback_masks(rows.iloc[:1], at_cutoff).drop.any()


def test_apply_writes_a_consistent_table(model: ServingModel, tmp_path: Path) -> None:
    source = model.crm_path.parent / "train.parquet"
    frame, meta = read_training_table(source)
    counts = frame.groupby("contact_id")["cutoff"].agg(["count", "min"])
    contact = str(counts[counts["count"] >= 3].index[0])
    first = pd.Timestamp(counts.loc[contact, "min"]).tz_localize(None)
    store = ScoreStore(tmp_path / "scores.duckdb")
    store.add_feedback(contact, "rejected", reason="spam_bot", given_at=first + timedelta(days=1))
    label = next(iter(meta.labels))
    positive = frame[frame[label].fillna(False).astype(bool)]["contact_id"].iloc[0]
    store.add_feedback(positive, "rejected", reason="bad_fit", given_at=first - timedelta(days=999))
    out = tmp_path / "with-feedback.parquet"
    policy = tmp_path / "policy.yaml"
    policy.write_text("exclude: [spam_bot]\nnegative: [bad_fit]\n", encoding="utf-8")
    result = feedback_table_step(
        FeedbackTableSpec(training_table=source, out=out, store=store.path, policy=policy)
    )
    mine = frame[frame["contact_id"] == contact]
    assert result.masks.excluded_rows == len(mine) - 1  # the first cutoff came before the verdict
    assert result.rows_after == len(frame) - result.masks.excluded_rows
    written, written_meta = read_training_table(out)  # hash and metadata agree
    assert len(written) == written_meta.rows == result.rows_after
    assert len(written[written["contact_id"] == contact]) == 1
    assert not written[written["contact_id"] == positive][label].fillna(False).astype(bool).any()
    assert written_meta.excluded_rows == meta.excluded_rows + result.masks.excluded_rows
    assert sum(s.rows for s in written_meta.per_cutoff if not s.censored) == len(written)
    assert list(written.columns) == list(frame.columns)
    assert result.uncoded_rejections == 0 and "spam_bot" in result.codes
    # a misspelt code through the API changes nothing: said, never silent
    store.add_feedback(contact, "rejected", reason="spam_or_bot", given_at=first)
    store.add_feedback(contact, "rejected", reason="not interested, call in May", given_at=first)
    again = feedback_table_step(
        FeedbackTableSpec(training_table=source, out=out, store=store.path, policy=policy)
    )
    assert again.uncoded_rejections == 2 and again.masks.excluded_rows == result.masks.excluded_rows
    assert result.after_last_cutoff == 0
    # a verdict given after the last cutoff (today, on an older table) changes nothing: counted
    last = pd.Timestamp(frame["cutoff"].max()).tz_localize(None)
    store.add_feedback(contact, "rejected", reason="student", given_at=last + timedelta(days=1))
    late = feedback_table_step(
        FeedbackTableSpec(training_table=source, out=out, store=store.path, policy=policy)
    )
    assert late.after_last_cutoff == 1 and late.masks.excluded_rows == result.masks.excluded_rows
    with pytest.raises(ConfigError, match="another path"):
        feedback_table_step(FeedbackTableSpec(training_table=source, out=source, store=store.path))
    bad = tmp_path / "bad.yaml"
    bad.write_text("exclude: [spam_bot]\nexcludes: [x]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="feedback policy"):
        feedback_table_step(
            FeedbackTableSpec(training_table=source, out=out, store=store.path, policy=bad)
        )
