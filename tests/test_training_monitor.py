"""Monitor measures and verdict (pure functions)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from leadscore.training.monitor import (
    MonitorThresholds,
    acceptance_over_time,
    feature_drift,
    grade_calibration,
    noise_psi,
    psi,
    small_sample_warning,
    verdict,
)

RNG = np.random.default_rng(0)


def test_psi_stable_moderate_major() -> None:
    ref = pd.Series(RNG.normal(size=5000))
    assert psi(ref, pd.Series(RNG.normal(size=5000))) < 0.02
    assert 0.1 < psi(ref, pd.Series(RNG.normal(0.5, 1, size=5000))) < 0.35
    assert psi(ref, pd.Series(RNG.normal(1.5, 1, size=5000))) > 0.25
    cats = pd.Series(RNG.choice(["a", "b", "c"], size=3000, p=[0.6, 0.3, 0.1]))
    moved = pd.Series(RNG.choice(["a", "b", "d"], size=3000, p=[0.2, 0.3, 0.5]))
    assert psi(cats, moved) > 0.25
    with_missing = ref.where(RNG.random(5000) > 0.5)
    assert psi(ref, with_missing) > 0.25  # half the values going missing is a shift


def test_feature_drift_ranks_the_moved_feature_first() -> None:
    ref = pd.DataFrame({"x": RNG.poisson(1, 4000), "y": RNG.normal(size=4000)})
    cur = pd.DataFrame({"x": RNG.poisson(4, 4000), "y": RNG.normal(size=4000)})
    drift = feature_drift(ref, cur, ["x", "y", "absent"])
    assert list(drift["feature"]) == ["x", "y"]
    assert drift.loc[0, "psi"] > 0.25 > drift.loc[1, "psi"]
    assert drift.loc[0, "current_mean"] > drift.loc[0, "reference_mean"]


def _cohort(rate_a: float, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A cohort of grade A (predicted 30 %) and D leads; its own seed, so what a test sees does
    not depend on which tests ran before it."""
    rng = np.random.default_rng(seed)
    grades = np.array(["A"] * n + ["D"] * n)
    p = np.where(grades == "A", 0.30, 0.02)
    y = np.where(grades == "A", rng.random(2 * n) < rate_a, rng.random(2 * n) < 0.02)
    return pd.DataFrame(
        {
            "as_of": datetime(2025, 6, 1),
            "model_version": "leadscore/1",
            "grade": grades,
            "p_sql": p,
            "became_sql": y.astype(int),
        }
    )


def test_grade_calibration_flags_a_grade_that_no_longer_converts() -> None:
    good = grade_calibration(_cohort(0.30))
    assert not good["off"].any()
    bad = grade_calibration(_cohort(0.05))
    a = bad[bad["grade"] == "A"].iloc[0]
    assert a["off"] and a["high"] < a["predicted"]
    small = grade_calibration(_cohort(0.05, n=10), min_rows=30)
    assert not small["off"].any()  # too few leads to judge


def _verdict(**kw: object) -> object:
    base: dict[str, object] = {
        "score_psi": 0.01,
        "features": feature_drift(pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [1, 2]}), ["x"]),
        "calibration": grade_calibration(_cohort(0.30)),
        "weekly_feedback": acceptance_over_time(pd.DataFrame(columns=["given_at", "verdict"])),
        "champion_version": "leadscore/1",
        "model_trained_until": datetime(2025, 5, 1),
        "as_of": datetime(2025, 7, 1),
    }
    return verdict(**(base | kw))  # type: ignore[arg-type]


def test_verdicts() -> None:
    ok = _verdict()
    assert ok.status == "ok" and not ok.reasons
    drifted = _verdict(score_psi=0.4)
    assert drifted.status == "retrain recommended" and "score distribution" in drifted.reasons[0]
    miscalibrated = _verdict(calibration=grade_calibration(_cohort(0.05)))
    assert miscalibrated.status == "retrain recommended"
    assert "grade A" in miscalibrated.reasons[0]
    other_model = grade_calibration(_cohort(0.05)).assign(model_version="leadscore/0")
    assert _verdict(calibration=other_model).status == "ok"  # an old model's cohort
    stale = _verdict(model_trained_until=datetime(2024, 1, 1))
    assert stale.status == "stale" and "days before" in stale.reasons[0]
    short = _verdict(
        model_trained_until=datetime(2025, 6, 1), thresholds=MonitorThresholds(stale_after_days=10)
    )
    assert short.status == "stale"


def test_a_models_age_counts_from_the_end_of_its_test_period() -> None:
    """A fresh model's newest validation cutoff is a test window and a horizon before the data's
    end (186 days on the demo): counted from it, every new model was stale on day one."""
    from leadscore.pipeline.monitor import data_end_of_model

    tags = {"valid_last_cutoff": "2025-06-27", "test_last_cutoff": "2025-11-28T00:00:00"}
    assert data_end_of_model(tags) == datetime(2025, 11, 28)
    assert data_end_of_model({"valid_last_cutoff": "2025-06-27"}) == datetime(2025, 6, 27)
    assert data_end_of_model({}) is None
    fresh = _verdict(model_trained_until=data_end_of_model(tags), as_of=datetime(2025, 12, 30))
    assert fresh.status != "stale"
    old = _verdict(model_trained_until=datetime(2025, 6, 1), as_of=datetime(2025, 12, 30))
    assert old.status == "stale" and "its test period's last cutoff" in old.reasons[0]


def test_acceptance_drop_is_a_reason() -> None:
    days = pd.date_range("2025-01-06", periods=70, freq="D")
    rng = np.random.default_rng(7)  # its own draws, whichever tests ran before
    rows = []
    for i, day in enumerate(days):
        share = 0.7 if i < 42 else 0.2
        rows += [
            {"given_at": day, "verdict": "accepted" if rng.random() < share else "rejected"}
            for _ in range(5)
        ]
    weekly = acceptance_over_time(pd.DataFrame(rows))
    assert weekly["verdicts"].sum() == 350
    v = _verdict(weekly_feedback=weekly)
    assert v.status == "retrain recommended" and "accept fewer" in v.reasons[0]
    steady = acceptance_over_time(
        pd.DataFrame(
            [
                {"given_at": d, "verdict": "accepted" if j % 2 else "rejected"}
                for d in days
                for j in range(4)
            ]
        )
    )
    assert _verdict(weekly_feedback=steady).status == "ok"


def test_acceptance_groups_counted_verdicts_by_week() -> None:
    """The verdicts come counted (the store's ``feedback(counted=True)``, tested in
    test_sales_store.py): each one counts, grouped by the week it was given in."""
    start = pd.Timestamp("2025-03-03 09:00")  # a Monday: weeks run Monday to Sunday
    feedback = pd.DataFrame(
        {
            "given_at": [start, start + pd.Timedelta(days=6), start + pd.Timedelta(days=7)],
            "verdict": ["accepted", "rejected", "accepted"],
        }
    )
    weekly = acceptance_over_time(feedback)
    week = start.normalize()
    assert weekly["period"].tolist() == [week, week + pd.Timedelta(days=7)]
    assert weekly[["verdicts", "accepted"]].values.tolist() == [[2, 1], [1, 1]]
    assert weekly["share"].tolist() == [0.5, 1.0]


def test_drift_is_measured_against_the_test_window() -> None:
    """The reference is the newest period the model was judged on: against the training period
    a CRM that only ages showed drift on every fresh model (contact_age_days PSI 0.31 on the
    demo right after training), and a retrain kept the same reference."""
    from leadscore.pipeline.monitor import _reference_moments

    tags = {
        "train_first_cutoff": "2024-03-01",
        "valid_last_cutoff": "2025-06-27",
        "test_first_cutoff": "2025-08-01",
        "test_last_cutoff": "2025-11-28",
    }
    name, moments = _reference_moments(tags, 4)
    assert name == "test window"
    assert moments[0] == datetime(2025, 8, 1) and moments[-1] == datetime(2025, 11, 28)
    old = {k: v for k, v in tags.items() if not k.startswith("test_")}
    name, moments = _reference_moments(old, 2)  # a run that records no test window
    assert name == "training period" and moments == [datetime(2024, 3, 1), datetime(2025, 6, 27)]


def test_noise_psi_is_what_sampling_alone_gives() -> None:
    """Two samples of one population: their PSI averages about the noise level the small-sample
    warning quotes, and the warning fires on few leads only."""
    rng = np.random.default_rng(11)
    n = 300
    values = [psi(pd.Series(rng.normal(size=n)), pd.Series(rng.normal(size=n))) for _ in range(200)]
    assert np.mean(values) == pytest.approx(noise_psi(n, n), rel=0.3)
    t = MonitorThresholds()
    few = small_sample_warning(n, n, 4, t)
    assert few is not None and "300 reference and 300 current" in few and "0.06" in few
    assert small_sample_warning(20_000, 20_000, 4, t) is None
    assert "single moment" in (small_sample_warning(20_000, 20_000, 1, t) or "")
