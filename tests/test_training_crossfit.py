"""The refitted LightGBM head's calibrator, fitted on cross-fitted validation scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadscore.training.crossfit import crossfit_calibrator, crossfit_folds
from leadscore.training.pipeline import fit_and_evaluate
from leadscore.training.table import CONTACT_COLUMN
from tests.simulate import simulate_training_table
from tests.test_training_refit import CONFIG


def _inputs(table: Any, outcome: Any) -> tuple[pd.DataFrame, Any, Any, Any]:
    refit = outcome.refit
    rows = table.frame[refit.mask]
    period = outcome.split.period.to_numpy()[refit.mask]
    return rows, table.labels("sql")[rows.index].to_numpy(), period, refit.weight


def test_the_refitted_head_ships_the_cross_fitted_calibrator_and_keeps_its_ranking() -> None:
    table, _ = simulate_training_table(3000, 12, seed=1)
    crossfit = fit_and_evaluate(table, CONFIG.model_copy(update={"refit_calibration": "crossfit"}))
    kept = fit_and_evaluate(table, CONFIG)  # the default keeps validation's calibrator
    head, validated = crossfit.lightgbm["sql"], crossfit.validated["sql"]
    assert kept.lightgbm["sql"].calibrator_ == validated.calibrator_
    rows, y, period, weight = _inputs(table, crossfit)
    replayed, _, _ = crossfit_calibrator(
        validated,
        rows,
        y,
        crossfit.refit_rounds["sql"][1],
        period == "valid",
        period == "purged",
        rows[CONTACT_COLUMN].to_numpy(),
        sample_weight=weight,
    )
    assert head.calibrator_ == replayed != validated.calibrator_
    assert head.head_.calibrator == replayed  # the registered head predicts with it
    test = table.frame[crossfit.split.mask("test")]
    mine, theirs = crossfit.evaluation.methods[-1], kept.evaluation.methods[-1]
    assert mine.name == theirs.name == "lightgbm"
    np.testing.assert_array_equal(mine.score["sql"], theirs.score["sql"])  # ranking unchanged
    np.testing.assert_allclose(
        mine.proba["sql"], replayed.predict(head.predict_raw(test)), rtol=1e-12
    )
    aucs = [
        o.evaluation.metrics.set_index(["method", "target"])["roc_auc"] for o in (crossfit, kept)
    ]
    assert aucs[0][("lightgbm", "sql")] == aucs[1][("lightgbm", "sql")]
    assert any("cross-fitted validation scores" in n for n in crossfit.info)
    assert not any("cross-fitted" in n for n in kept.info)


def test_each_fold_leaves_out_its_contacts_validation_and_gap_rows_only() -> None:
    table, _ = simulate_training_table(2000, 12, seed=4)
    outcome = fit_and_evaluate(table, CONFIG)
    rows, y, period, weight = _inputs(table, outcome)
    # monthly cutoffs leave no purged gap here: the last training cutoff stands in for it
    cutoffs = rows["cutoff"].to_numpy()
    scored = period == "valid"
    near = (period == "train") & (cutoffs == cutoffs[period == "train"].max())
    assert near.any() and scored.any()
    contacts = rows[CONTACT_COLUMN].to_numpy()
    codes = pd.factorize(contacts)[0]
    folds = crossfit_folds(scored, near, codes, 3)
    assert len(folds) == 3
    left_out: set[str] = set()
    for keep, held in folds:
        assert keep[(period == "train") & ~near].all()  # the rest of training always is
        out = ~keep
        assert not out[~(scored | near)].any()
        out_contacts = set(contacts[out])
        assert set(contacts[held]) == out_contacts & set(contacts[scored])
        assert scored[held].all()
        # a fold's contacts lose all their validation and gap rows
        assert not (keep & (scored | near) & np.isin(contacts, list(out_contacts))).any()
        assert not left_out & out_contacts  # folds are disjoint: no contact left out twice
        left_out |= out_contacts
    assert set(contacts[scored]) <= left_out  # every validation contact scored out of fold
    validated = outcome.validated["sql"]
    calibrator, losses, raw = crossfit_calibrator(
        validated, rows, y, 20, scored, near, contacts, sample_weight=weight, folds=3
    )
    assert len(raw) == scored.sum() and set(losses) == {"platt", "isotonic"}
    assert calibrator.method in ("platt", "isotonic")
    # out of fold: not the scores of a model boosted on every row (which has seen them)
    inside = validated.refit(rows, y, 20, sample_weight=weight).predict_raw(rows[scored])
    assert not np.allclose(raw, inside)
