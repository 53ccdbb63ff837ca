"""Which head a flat model ships: LightGBM, logistic or the rules, chosen on validation.

As in CRM mode (:mod:`leadscore.training.choice`): every candidate ranks the validation rows by
its uncalibrated score (the models fitted on training rows, the rules' points); with a rules
baseline the metric is the positives found at the rules' MQL volume (what sales can work
today), ties going to PR AUC then ROC AUC; without one, PR AUC. The test period stays for the
honest comparison. The winner is then refitted on every row (the models) and served: a
LightGBM head, a logistic head replayed in NumPy, or the points rules with their calibrator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.encoding import FeatureEncoder
from leadscore.model.heads import AnyHead
from leadscore.model.inputs import FeatureSpec
from leadscore.model.rules_head import RulesHead, rules_unit
from leadscore.training.calibration import Calibrator, choose_calibrator
from leadscore.training.choice import ChoiceConfig, HeadChoice, choose_heads
from leadscore.training.flat_fit import FittedCandidates, refit_lightgbm, refit_logistic
from leadscore.training.flat_rules import FlatRules, typed_rule_rows

__all__ = ["choose_flat_head", "rules_calibrator", "shipped_flat_head"]

FloatArray = np.ndarray[Any, Any]


def choose_flat_head(
    target: str,
    y_valid: np.ndarray[Any, Any],
    valid_scores: dict[str, FloatArray],
    mql_valid: np.ndarray[Any, Any] | None,
    *,
    constant_lightgbm: bool = False,
) -> HeadChoice:
    """The candidate that ships for ``target`` from its validation ranking scores
    (``mql_valid``: the rules' MQL flags of the validation rows, ``None`` without rules). A
    constant LightGBM (no split found) never ships; with no MQL on validation, PR AUC decides
    (the count at a volume of zero says nothing)."""
    candidates = tuple(
        c
        for c in ("lightgbm", "logistic", "rules")
        if c in valid_scores and not (c == "lightgbm" and constant_lightgbm)
    )
    mql = np.zeros(len(y_valid), dtype=bool) if mql_valid is None else np.asarray(mql_valid, bool)
    metric = "found_at_mql" if mql.any() else "pr_auc"
    config = ChoiceConfig(metric=metric, candidates=candidates)
    cutoffs = pd.Series(np.zeros(len(y_valid), dtype=np.int64))  # one period, one volume
    scores = {name: {target: np.asarray(s, dtype=np.float64)} for name, s in valid_scores.items()}
    return choose_heads(cutoffs, {target: np.asarray(y_valid)}, scores, mql, config)[target]


def rules_calibrator(
    points_valid: FloatArray, y_valid: np.ndarray[Any, Any], bar: float
) -> Calibrator:
    """The rules' points mapped to probabilities, fitted on the validation rows."""
    calibrator, _ = choose_calibrator(
        rules_unit(points_valid, bar), np.asarray(y_valid), np.arange(len(y_valid))
    )
    return calibrator


def _rules_head(rules: FlatRules, frame: pd.DataFrame, calibrator: Calibrator) -> RulesHead:
    kinds = rules.column_kinds
    specs = [FeatureSpec(name, kind, "flat") for name, kind in kinds.items()]
    rows = typed_rule_rows(frame, kinds)
    ruleset = rules.as_ruleset()
    mean = {
        name: float(
            sum(r.points_for(rows[name]).mean() for r in ruleset.rules if r.feature == name)
        )
        for name in kinds
    }
    return RulesHead(ruleset, mean, FeatureEncoder(specs).fit(rows), calibrator)


def shipped_flat_head(
    choice: HeadChoice,
    fitted: FittedCandidates,
    frame: pd.DataFrame,
    y: np.ndarray[Any, Any],
    *,
    fitted_rows: int,
    rules: FlatRules | None = None,
    calibrator: Calibrator | None = None,
) -> AnyHead:
    """The shipped candidate refitted on ``frame`` (every row) with its validation calibrator;
    the rules need no refit (their points are the team's), only ``calibrator``."""
    if choice.shipped == "rules":
        if rules is None or calibrator is None:
            raise ValueError("the rules ship without rules or their calibrator")
        return _rules_head(rules, frame, calibrator)
    if choice.shipped == "logistic":
        logistic = refit_logistic(fitted.logistic, frame, y)
        encoder = FeatureEncoder(list(fitted.logistic.features)).fit(frame)
        return logistic.head(encoder)
    return refit_lightgbm(fitted.lightgbm, frame, y, fitted_rows=fitted_rows)
