"""The in-memory training pipeline: split, rules, models per target, out-of-time evaluation.

Path handling, MLflow and report writing live in :mod:`leadscore.training.api`; this module
only turns a :class:`TrainingTable` into fitted models and an :class:`Evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from leadscore.config import SegmentsConfig
from leadscore.errors import ConfigError, DataContractError
from leadscore.model.bots import BotRule
from leadscore.model.rules_head import rules_unit
from leadscore.training.bots import bot_notes, training_bot_flags
from leadscore.training.calibration import Calibrator, choose_calibrator
from leadscore.training.choice import ChoiceConfig, HeadChoice, choose_heads
from leadscore.training.crossfit import crossfit_calibrator
from leadscore.training.evaluate import Evaluation, EvaluationConfig, MethodScores, evaluate_methods
from leadscore.training.models import LightGBMModel, LightGBMParams, LogisticModel, LogisticParams
from leadscore.training.refit import RefitRows, refit_rounds, refit_rows
from leadscore.training.rules import RuleSet, default_rules, load_rules, mql_flags, score_rules
from leadscore.training.sampling import (
    NegativeSample,
    built_sample,
    refuse_sampled_evaluation,
    sample_negatives,
)
from leadscore.training.split import SplitConfig, TimeSplit, time_split
from leadscore.training.table import (
    CONTACT_COLUMN,
    CUTOFF_COLUMN,
    TARGETS,
    Target,
    TrainingTable,
)
from leadscore.training.targets import choose_targets, refuse_constant_heads, rules_notes
from leadscore.training.tuning import LightGBMSearch, TuningConfig, fit_lightgbm

__all__ = [
    "Progress",
    "TrainingConfig",
    "TrainingOutcome",
    "fit_and_evaluate",
    "fit_rules_calibrator",
    "rules_probability",
]

Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: called as long steps advance."""

TRAINING_TASK = "Training models"
"""The task fitting reports under; what it does now follows `` · `` (the detail separator of
:mod:`leadscore.pipeline.progress`): ``"Training models · sql: LightGBM candidate 2/6"``."""


def _detail(text: str) -> str:
    return f"{TRAINING_TASK} · {text}"


FloatArray = np.ndarray[Any, Any]


class TrainingConfig(BaseModel):
    """Everything a training run can be told (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules_path: Path | None = None
    split: SplitConfig = SplitConfig()
    lightgbm: LightGBMParams = LightGBMParams()
    tuning: TuningConfig = TuningConfig()
    logistic: LogisticParams = LogisticParams()
    evaluation: EvaluationConfig = EvaluationConfig()
    model_name: str = "leadscore"
    report_dir: Path = Path("reports")
    shap_rows: int = Field(2000, ge=0)
    fit_logistic: bool = True
    targets: tuple[Target, ...] | None = None
    """Targets to fit; ``None``: every target with positives in each period, never a copy."""
    segments: SegmentsConfig | None = Field(
        None,
        description="Models per segment: column, values, min_rows_train, min_positives_train, "
        "min_rows_valid, min_positives_valid, fallback_when_worse (docs/segments.md).",
    )
    bots: BotRule = BotRule()
    """The bot rule (:mod:`leadscore.model.bots`): bot-like rows out of fitting, grade cap."""
    choice: ChoiceConfig = ChoiceConfig()
    """Which head ships per target, chosen on validation (:mod:`leadscore.training.choice`)."""
    sample_negatives: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of the training period's negative rows fitted on (all positives of "
        "any target are kept; kept negatives weigh 1/share so probabilities stay calibrated on "
        "the full population). Validation and test are never sampled. 1 (the default): no "
        "sampling (on the demo's CRM, 0.2 took 0.68x the CPU time and moved neither head's "
        "normalised AUC down, one run: sql +0.012, meeting +0.005; benchmarks/training.py "
        "--sampling 1,0.2).",
    )
    sample_seed: int = Field(
        0,
        description="Seed of the negative sample (a row's draw depends on it and on the row's "
        "contact and cutoff only).",
    )
    refit: bool = Field(
        True,
        description="Refit the heads on train + validation (every row labelled before the test "
        "period) once validation has chosen the head, its settings, LightGBM's rounds and the "
        "calibrators; the refitted heads are the ones evaluated on test and registered. false: "
        "ship the models fitted on the training period only.",
    )

    refit_calibration: Literal["validation", "crossfit"] = Field(
        "validation",
        description="With refit: the refitted LightGBM head's calibrator. validation (the "
        "default): the training-period model's validation calibrator, kept. crossfit: chosen "
        "and fitted on cross-fitted validation scores of models boosted like the refit (5 folds "
        "of validation contacts, each left out of one; training/crossfit.py), which matches "
        "the refitted head's scores: over 14 synthetic CRMs (5,000 and 20,000 contacts) it "
        "brought most of the refit's test ECE rise back (-0.021 pp, se 0.010) at nearly the "
        "same ranking, for about a third more training CPU "
        "(benchmarks/refit_calibration.py).",
    )

    def load_rules(self, features: list[str]) -> RuleSet:
        """The configured rules (or the package default), checked against ``features``."""
        if self.rules_path is None:
            return default_rules(features=features)
        return load_rules(self.rules_path, features=features)


@dataclass
class TrainingOutcome:
    """Fitted models, split, rules and the out-of-time evaluation."""

    table: TrainingTable
    split: TimeSplit
    rules: RuleSet
    lightgbm: dict[Target, LightGBMModel]
    logistic: dict[Target, LogisticModel]
    evaluation: Evaluation
    shap: dict[str, tuple[FloatArray, pd.DataFrame]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Warnings and caveats: what may make a number wrong or misleading."""
    info: list[str] = field(default_factory=list)
    """Information: how the heads were fitted (a negative sample, the refit, the bot rule)."""
    excluded: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per row of the table: left out of fitting by the bot rule (empty: none)."""
    choices: dict[str, HeadChoice] = field(default_factory=dict)
    """Per target: the candidate that ships, chosen on validation."""
    rules_calibrators: dict[str, Calibrator] = field(default_factory=dict)
    bots: BotRule | None = None
    """The bot rule scoring applies (``None``: off, or the table lacks its features)."""
    sample: NegativeSample | None = None
    """The training period's negative sample, over the rows of :meth:`fit_mask` ``("train")``."""
    validated: dict[Target, LightGBMModel] = field(default_factory=dict)
    """Per target: the LightGBM model fitted on the training period only, whose validation
    scores chose the head (``lightgbm`` when not refitted)."""
    refit: RefitRows | None = None
    """The rows the heads were refitted on (``None``: not refitted, the training period's)."""
    refit_rounds: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per target: LightGBM's validated best iteration and the refit's rounds."""

    def sample_weights(self) -> FloatArray | None:
        """Per row of the table: its weight in fitting under the negative sample (0: a training
        negative left out, ``1 / fraction``: a kept one, 1: every other row); ``None``: not
        sampled."""
        if self.sample is None or not self.sample.sampled:
            return None
        weights = np.ones(len(self.table.frame), dtype=np.float64)
        weights[np.flatnonzero(self.fit_mask("train"))] = self.sample.weight
        return weights

    def fit_mask(self, period: str) -> FloatArray:
        """Rows of ``period`` the models were fitted on (the bot rule's rows left out)."""
        mask = self.split.mask(period)
        return mask & ~self.excluded if len(self.excluded) else mask


_rules_unit = rules_unit  # one map for training and the served rules head


def fit_rules_calibrator(
    points: FloatArray, labels: np.ndarray[Any, Any], groups: np.ndarray[Any, Any], threshold: float
) -> Calibrator:
    """The rules' calibrator (``train``'s, and ``evaluate``'s on a registered model): fitted on
    the validation window's rows the models were fitted on (bot-like rows left out when training
    leaves them out), their ``points`` mapped by :func:`rules_unit`, Platt or isotonic as the
    contact-grouped (``groups``) cross-validation prefers."""
    calibrator, _ = choose_calibrator(
        _rules_unit(points, threshold), labels, groups, methods=("platt", "isotonic")
    )
    return calibrator


def rules_probability(points: FloatArray, threshold: float, calibrator: Calibrator) -> FloatArray:
    """Rules points turned into probabilities by a calibrator fitted on validation."""
    return calibrator.predict(_rules_unit(points, threshold))


def _oracle_for(rows: pd.DataFrame, oracle: pd.DataFrame) -> pd.DataFrame:
    needed = [CONTACT_COLUMN, CUTOFF_COLUMN, "p_sql", "p_meeting"]
    missing = [c for c in needed if c not in oracle.columns]
    if missing:
        raise DataContractError(
            [f"oracle: column {c!r} is missing" for c in missing], header="Invalid oracle frame:"
        )
    right = oracle[needed].assign(**{CUTOFF_COLUMN: pd.to_datetime(oracle[CUTOFF_COLUMN])})
    merged = rows[[CONTACT_COLUMN, CUTOFF_COLUMN]].merge(
        right, on=[CONTACT_COLUMN, CUTOFF_COLUMN], how="left", validate="one_to_one"
    )
    lacking = int(merged["p_sql"].isna().sum())
    if lacking:
        raise DataContractError(
            [f"oracle: {lacking} test row(s) have no true probability"],
            header="The oracle does not cover the test period:",
        )
    return merged


def fit_and_evaluate(
    table: TrainingTable,
    config: TrainingConfig | None = None,
    *,
    oracle: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> TrainingOutcome:
    """Split by time, fit rules calibration and both model families per target, evaluate all
    of them (and the oracle, when given) on the out-of-time test period."""
    config = config or TrainingConfig()
    step = progress or (lambda _s, _d, _t: None)
    features = table.feature_names
    rules = config.load_rules(features)
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, config.split, horizon=horizon)
    frame = table.frame
    flags, bot_rule_runs = training_bot_flags(frame, config.bots)
    excluded = flags & config.bots.exclude_from_training
    masks = {p: split.mask(p) & ~excluded for p in ("train", "valid")}  # test keeps every row
    masks["test"] = split.mask("test")
    train, valid, test = (frame[masks[p]] for p in ("train", "valid", "test"))
    targets, target_notes = choose_targets(
        table, {"train": train, "valid": valid, "test": test}, config.targets
    )
    info: list[str] = []
    train_labels = [table.labels(t)[train.index].to_numpy() for t in TARGETS]
    built = table.meta.sample if table.meta is not None else None
    if built is not None:  # the engine sampled the table when it built it: its weights
        refuse_sampled_evaluation(frame, split.period, built)
        if config.sample_negatives < 1:
            raise ConfigError(
                "The training table was already sampled when built (features build "
                "--sample-negatives); leave training.sample_negatives at 1."
            )
        negatives = built_sample(train, train_labels, built)
    else:
        negatives = sample_negatives(
            train, train_labels, config.sample_negatives, config.sample_seed
        )
    w_train = None
    if negatives.sampled:
        train, w_train = train[negatives.keep], negatives.weight[negatives.keep]
        info.append(negatives.describe())
    valid_groups = pd.factorize(valid[CONTACT_COLUMN])[0]

    points = score_rules(frame, rules).to_numpy()
    mql = mql_flags(pd.Series(points[split.mask("test")]), rules).to_numpy()

    lightgbm: dict[Target, LightGBMModel] = {}
    logistic: dict[Target, LogisticModel] = {}
    rules_calibrators: dict[str, Calibrator] = {}
    valid_scores: dict[str, dict[str, FloatArray]] = {"rules": {}, "logistic": {}, "lightgbm": {}}
    scores: dict[str, dict[str, FloatArray]] = {"rules": {}, "logistic": {}, "lightgbm": {}}
    probas: dict[str, dict[str, FloatArray]] = {"rules": {}, "logistic": {}, "lightgbm": {}}
    labels: dict[str, np.ndarray[Any, Any]] = {
        t: table.labels(t)[test.index].to_numpy() for t in targets
    }
    n_candidates = len(LightGBMSearch([], config.lightgbm, config.tuning).candidates())
    per_model = 2 if config.refit else 1
    per_target = n_candidates + per_model - 1 + (per_model if config.fit_logistic else 0)
    total = len(targets) * per_target
    refit = None
    if config.refit:
        positive = np.zeros(len(frame), dtype=bool)
        for t in TARGETS:
            positive |= table.labels(t).to_numpy().astype(bool)
        refit = refit_rows(
            frame,
            split,
            excluded,
            positive,
            fraction=config.sample_negatives,
            seed=config.sample_seed,
            built=built,
        )
    refit_frame = frame[refit.mask] if refit is not None else train
    refit_period = split.period.to_numpy()[refit.mask] if refit is not None else np.array([])
    validated: dict[Target, LightGBMModel] = {}
    rounds: dict[str, tuple[int, int]] = {}
    for k, t in enumerate(targets):
        done = k * per_target
        y_train = table.labels(t)[train.index].to_numpy()
        y_valid = table.labels(t)[valid.index].to_numpy()
        calib = fit_rules_calibrator(
            points[masks["valid"]], y_valid, valid_groups, rules.mql_threshold
        )
        rules_calibrators[t] = calib
        valid_scores["rules"][t] = points[masks["valid"]]
        scores["rules"][t] = points[split.mask("test")]
        probas["rules"][t] = rules_probability(scores["rules"][t], rules.mql_threshold, calib)

        def candidate(i: int, n: int, t: str = t, done: int = done) -> None:
            step(_detail(f"{t}: LightGBM candidate {i + 1}/{n}"), done + i, total)

        model = fit_lightgbm(
            list(table.features),
            train,
            y_train,
            valid,
            y_valid,
            params=config.lightgbm,
            tuning=config.tuning,
            valid_groups=valid_groups,
            sample_weight=w_train,
            on_candidate=candidate,
        )
        validated[t] = model
        valid_scores["lightgbm"][t] = model.predict_raw(valid)
        done += n_candidates
        y_refit = table.labels(t)[refit_frame.index].to_numpy()
        if refit is not None:
            step(_detail(f"{t}: LightGBM refitted on train + validation"), done, total)
            n = refit_rounds(model.best_iteration_, len(train), len(refit_frame))
            rounds[t] = (model.best_iteration_, n)
            validated_model = model
            model = model.refit(refit_frame, y_refit, n, sample_weight=refit.weight)
            if config.refit_calibration == "crossfit":
                step(_detail(f"{t}: LightGBM calibrator cross-fitted"), done, total)
                calibrator, losses, _ = crossfit_calibrator(
                    validated_model,
                    refit_frame,
                    y_refit,
                    n,
                    np.asarray(refit_period == "valid"),
                    np.asarray(refit_period == "purged"),
                    refit_frame[CONTACT_COLUMN].to_numpy(),
                    sample_weight=refit.weight,
                )
                model = model.recalibrate(calibrator, losses)
            done += 1
        lightgbm[t] = model
        scores["lightgbm"][t] = model.predict_raw(test)  # ranking without isotonic ties
        probas["lightgbm"][t] = model.calibrator_.predict(scores["lightgbm"][t])
        if config.fit_logistic:
            step(_detail(f"{t}: logistic regression"), done, total)
            lr = LogisticModel(list(table.features), config.logistic).fit(
                train, y_train, valid, y_valid, valid_groups=valid_groups, sample_weight=w_train
            )
            if refit is not None:
                step(_detail(f"{t}: logistic refitted on train + validation"), done + 1, total)
                lr = lr.refit(refit_frame, y_refit, sample_weight=refit.weight)
            logistic[t] = lr
            scores["logistic"][t] = lr.predict_raw(test)
            probas["logistic"][t] = lr.calibrator_.predict(scores["logistic"][t])
            valid_scores["logistic"][t] = lr.valid_raw_
    step(_detail("done"), total, total)
    refuse_constant_heads(probas["lightgbm"])
    target_notes += rules_notes(points, rules.mql_threshold)
    if refit is not None:
        info.append(refit.describe(rounds, crossfit=config.refit_calibration == "crossfit"))
    if table.definition is not None or bot_rule_runs:  # else: no graded scorer to cap
        info += bot_notes(
            frame,
            flags,
            {p: split.mask(p) for p in ("train", "valid", "test")},
            config.bots,
            bot_rule_runs,
        )
    choices = choose_heads(
        valid[CUTOFF_COLUMN],
        {t: table.labels(t)[valid.index].to_numpy() for t in targets},
        valid_scores,
        mql_flags(pd.Series(points[masks["valid"]]), rules).to_numpy(),
        config.choice,
        groups=valid[CONTACT_COLUMN].to_numpy(),
    )

    methods = [MethodScores("rules", scores["rules"], probas["rules"])]
    if config.fit_logistic:
        methods.append(MethodScores("logistic", scores["logistic"], probas["logistic"]))
    methods.append(MethodScores("lightgbm", scores["lightgbm"], probas["lightgbm"]))
    oracle_name = None
    if oracle is not None:
        truth = _oracle_for(test, oracle)
        p: dict[str, FloatArray] = {t: truth[f"p_{t}"].to_numpy(dtype=np.float64) for t in targets}
        methods.append(MethodScores("oracle", p, p))
        oracle_name = "oracle"
    evaluation = evaluate_methods(
        test[[CONTACT_COLUMN, CUTOFF_COLUMN]],
        labels,
        methods,
        mql=mql,
        baseline="rules",
        oracle=oracle_name,
        config=config.evaluation,
        progress=progress,
    )
    shap: dict[str, tuple[FloatArray, pd.DataFrame]] = {}
    if config.shap_rows:
        sample = test.sample(min(config.shap_rows, len(test)), random_state=0)
        for t in targets:
            shap[t] = (lightgbm[t].contributions(sample), sample[features])
    return TrainingOutcome(
        table,
        split,
        rules,
        lightgbm,
        logistic,
        evaluation,
        shap,
        notes=target_notes,
        info=info,
        excluded=excluded,
        choices=choices,
        rules_calibrators=rules_calibrators,
        bots=config.bots if bot_rule_runs else None,
        sample=negatives,
        validated=validated,
        refit=refit,
        refit_rounds=rounds,
    )
