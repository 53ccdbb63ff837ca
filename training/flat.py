"""Flat-table mode: train on a one-row-per-lead export (CSV), no feature stage needed.

The export is read carefully (:mod:`leadscore.flat_csv`), column types inferred and IDs found by
uniqueness (:mod:`.flat_columns`), the rows split by time when a time column is given, else at
random and labelled so (:mod:`.flat_split`), and the leakage detector (:mod:`.flat_leakage`)
flags columns that give the outcome away; flagged columns are excluded unless kept. LightGBM
(settings sized from the data) and a logistic regression are fitted on training; they and the
rules (a score column or rules YAML, :mod:`.flat_rules`) are compared on validation, where the
head that ships is chosen (:mod:`.flat_choice`). The models are refitted on train + validation
to score the test period, and the shipped one on every row for the model that is saved
(:mod:`.flat_artifact`) and registered. Every
silent failure seen on real exports is a warning here: too little data, a constant model, a test
AUC near chance, a simpler model beating the shipped one, a base-rate shift.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import ConfigError, DataContractError
from leadscore.features.redundant import redundant_frame_pairs, redundant_warning
from leadscore.flat_csv import DEFAULT_NA_VALUES, how_read, read_flat_csv
from leadscore.model.inputs import FeatureKind, FeatureSpec
from leadscore.model.rules_head import rules_unit
from leadscore.safe_text import shown_value
from leadscore.training.choice import HeadChoice
from leadscore.training.evaluate import Evaluation, EvaluationConfig, MethodScores, evaluate_methods
from leadscore.training.flat_choice import choose_flat_head, rules_calibrator, shipped_flat_head
from leadscore.training.flat_columns import find_id_column, infer_columns
from leadscore.training.flat_fit import (
    adaptive_grid,
    fit_candidates,
    is_constant,
    refit_lightgbm,
    refit_logistic,
)
from leadscore.training.flat_guards import check_periods, model_warnings, require_enough_rows
from leadscore.training.flat_leakage import LeakageConfig, detect_leakage
from leadscore.training.flat_rules import FlatRules, rules_notes
from leadscore.training.flat_rules_yaml import load_flat_rules
from leadscore.training.flat_split import FlatSplit, FlatSplitConfig, flat_split
from leadscore.training.models import LightGBMParams
from leadscore.training.pipeline import Progress
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN

__all__ = [
    "FlatResult",
    "LeakageConfig",
    "detect_leakage",
    "infer_columns",
    "read_flat_table",
    "train_flat_table",
]


@dataclass
class FlatResult:
    """Flat-mode outcome: the summary, the report, what was kept, dropped and flagged, the
    warnings to print, and the models (``final``: the head refitted on every row)."""

    summary: pd.DataFrame
    report_path: Path
    features: list[FeatureSpec]
    dropped: dict[str, str]
    leakage: pd.DataFrame
    split_mode: str
    evaluation: Evaluation
    models: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    split: FlatSplit | None = None
    chosen: str = "lightgbm"
    """The candidate that ships (``choice.shipped``)."""
    choice: HeadChoice | None = None
    """Why it ships: every candidate's validation metrics (:mod:`.flat_choice`)."""
    rules: FlatRules | None = None
    id_column: str | None = None
    frame: pd.DataFrame | None = None
    y: np.ndarray[Any, Any] | None = None
    run_id: str | None = None
    model_version: str | None = None
    model_dir: Path | None = None


def binary_target(column: pd.Series, name: str) -> np.ndarray[Any, Any]:
    """The outcome as 0/1 (``DataContractError`` naming the column when it is not binary)."""
    text = column.astype("string").str.strip().str.lower()
    mapping = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "1.0": 1, "0.0": 0}
    mapped = text.map(mapping)
    if mapped.isna().any():
        bad = ", ".join(shown_value(v) for v in sorted(set(text[mapped.isna()].dropna()))[:5])
        raise DataContractError(
            [
                f"target column {name!r}: {int(mapped.isna().sum())} row(s) are not 0/1 "
                f"(e.g. {bad or 'empty'}); expected 0/1, true/false or yes/no in every row"
            ],
            header="The flat table's target is not binary:",
        )
    return mapped.to_numpy(dtype=np.int64)


def read_flat_table(
    path: Path, na_values: Sequence[str] = DEFAULT_NA_VALUES, *, columns: Sequence[str] = ()
) -> pd.DataFrame:
    """The export (``ConfigError`` when missing, or when one of ``columns`` is not in it)."""
    if not path.is_file():
        raise ConfigError(f"Flat table {path} does not exist.")
    frame = read_flat_csv(path, na_values)
    for column in columns:
        if column not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:40]))
            raise ConfigError(f"Column {column!r} is not in {path}; columns: {shown}.")
    return frame


_ID_NAME = re.compile(r"(^|[_\s])id$|[a-z](Id|ID)$", re.IGNORECASE)
_SCIENTIFIC = re.compile(r"[+-]?\d(\.\d+)?[eE]\+\d+")
_MANGLED_IDS = (
    "ids written like 1.23E+05 (Excel's scientific notation lost their digits, so leads share "
    "ids): no signal and no key back to the CRM; re-export the column formatted as text"
)


def _scientific_ids(path: Path, frame: pd.DataFrame, na_values: Sequence[str]) -> list[str]:
    """Columns named like an id that were read as numbers from text such as ``1.23E+05``."""
    named = [
        str(c)
        for c in frame.columns
        if _ID_NAME.search(str(c)) and pd.api.types.is_float_dtype(frame[c])
    ]
    if not named:
        return []
    text = read_flat_csv(path, na_values, text_columns=named)
    return [c for c in named if text[c].dropna().astype(str).str.fullmatch(_SCIENTIFIC).any()]


def _features(
    frame: pd.DataFrame, exclude: list[str], keep: Sequence[str], drop: Sequence[str]
) -> tuple[list[FeatureSpec], dict[str, str]]:
    features, dropped = infer_columns(frame, exclude=exclude)
    for name in drop:
        dropped[name] = "dropped by the user"
    for name in keep:  # the user's word beats the ID and text heuristics
        if dropped.pop(name, None) is not None:
            kind: FeatureKind = (
                "numeric" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical"
            )
            features.append(FeatureSpec(name, kind, "flat"))
    return features, dropped


def train_flat_table(
    csv_path: Path,
    target: str,
    time_column: str | None = None,
    *,
    keep_columns: Sequence[str] = (),
    drop_columns: Sequence[str] = (),
    report_path: Path | None = None,
    split: FlatSplitConfig | None = None,
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
    lightgbm: Sequence[LightGBMParams] | None = None,
    evaluation: EvaluationConfig | None = None,
    leakage: LeakageConfig | None = None,
    rules: FlatRules | None = None,
    rules_path: Path | None = None,
    progress: Progress | None = None,
) -> FlatResult:
    """Train and evaluate LightGBM and logistic regression on a one-row-per-lead CSV export,
    against the rules (``rules``: the team's score column, or ``rules_path``: points rules in
    YAML over the export's columns) when given; the candidate best on validation ships
    (``result.choice``), refitted on every row (``models["final"]``) for the registry."""
    from leadscore.training.flat_report import write_flat_report

    if rules is not None and rules_path is not None:
        raise ConfigError("Give either a rules column or a rules YAML file, not both.")
    config = split or FlatSplitConfig()
    report = progress or (lambda _s, _d, _t: None)
    task = "Training on the flat table"
    reading = f"Reading {csv_path.name}"
    report(reading, 0, 1)
    rules_column = rules.column if rules else None
    given = [target, time_column, rules_column, *keep_columns, *drop_columns]
    frame = read_flat_table(csv_path, na_values, columns=[c for c in given if c])
    read_note = f"Read {csv_path.name}: {how_read(frame)}, {len(frame):,} rows."
    if rules_path is not None:
        rules = load_flat_rules(rules_path, frame, target=target)
    y_all = binary_target(frame[target], target)
    require_enough_rows(y_all, target, csv_path.name)
    split_ = flat_split(frame, y_all, time_column, config)
    check_periods(y_all, split_, target, csv_path.name)
    id_column = find_id_column(frame, exclude=[target])
    exclude = [target, *drop_columns, *(c for c in (time_column, rules_column) if c)]
    features, dropped = _features(frame, exclude, keep_columns, drop_columns)
    if id_column and id_column not in keep_columns:
        features = [f for f in features if f.name != id_column]
        distinct = int(frame[id_column].nunique())
        dropped[id_column] = (
            "row id (one distinct value per row)"
            if distinct == len(frame)
            else f"row id ({distinct:,} distinct values for {len(frame):,} rows)"
        )
    mangled = [
        c for c in _scientific_ids(csv_path, frame, na_values) if c not in (*keep_columns, *exclude)
    ]
    for name in mangled:  # Excel's 1.23E+05: a lost id, never a feature
        features = [f for f in features if f.name != name]
        dropped[name] = _MANGLED_IDS
    id_column = id_column or (mangled[0] if mangled else None)
    train, valid, test = (frame[split_.mask(p)] for p in ("train", "valid", "test"))
    y_train, y_valid, y_test = (y_all[split_.mask(p)] for p in ("train", "valid", "test"))

    grid = list(lightgbm or []) or adaptive_grid(len(train), int(np.sum(y_train)), config.seed)
    report(reading, 1, 1)
    # the leakage detector, the grid, logistic, the refits, the evaluation, the final refit
    total = len(grid) + 5
    report(task, 0, total)
    leaks = detect_leakage(train, y_train, features, leakage)
    report(task, 1, total)
    flagged = set(leaks.loc[leaks["flag"] != "", "column"])
    kept = [f for f in features if f.name not in flagged - set(keep_columns)]
    if not kept:
        raise ConfigError(
            "No usable column is left after dropping IDs and columns flagged as leakage; "
            "keep a flagged column with --keep COLUMN if you are sure it is known before the "
            "outcome."
        )

    def fitted_one(done: int) -> None:
        report(task, 1 + done, total)

    fitted = fit_candidates(
        kept, train, y_train, valid, y_valid, seed=config.seed, grid=grid, progress=fitted_one
    )
    valid_scores = {
        "lightgbm": fitted.lightgbm.predict_raw(valid),
        "logistic": fitted.logistic.predict_raw(valid),
    }
    mql_valid = None
    calibrator = None
    if rules is not None:
        points_valid = rules.points(valid)
        valid_scores["rules"] = points_valid
        mql_valid = points_valid >= rules.bar
        calibrator = rules_calibrator(points_valid, y_valid, rules.bar)
    choice = choose_flat_head(
        target, y_valid, valid_scores, mql_valid, constant_lightgbm=fitted.constant
    )
    fit_rows = pd.concat([train, valid])
    y_fit = np.concatenate([y_train, y_valid])
    gbm_head = refit_lightgbm(fitted.lightgbm, fit_rows, y_fit, fitted_rows=len(train))
    logistic = refit_logistic(fitted.logistic, fit_rows, y_fit)
    report(task, len(grid) + 3, total)
    methods = [
        MethodScores(
            "logistic", {target: logistic.predict_raw(test)}, {target: logistic.predict_proba(test)}
        ),
        MethodScores(
            "lightgbm", {target: gbm_head.predict_raw(test)}, {target: gbm_head.predict_proba(test)}
        ),
    ]
    mql: np.ndarray[Any, Any] | None = None
    rule_notes: list[str] = []
    if rules is not None and calibrator is not None:
        points = rules.points(test)
        proba = calibrator.predict(rules_unit(points, rules.bar))
        methods.insert(0, MethodScores("rules", {target: points}, {target: proba}))
        mql = points >= rules.bar
        rule_notes = rules_notes(rules, points, frame)
    rows = pd.DataFrame(
        {CONTACT_COLUMN: np.arange(len(test)).astype(str), CUTOFF_COLUMN: pd.Timestamp(0)}
    )
    result = evaluate_methods(
        rows, {target: y_test}, methods, mql=mql, config=evaluation, progress=progress
    )
    report(task, len(grid) + 4, total)
    final = shipped_flat_head(
        choice, fitted, frame, y_all, fitted_rows=len(train), rules=rules, calibrator=calibrator
    )
    report(task, total, total)
    constant = fitted.constant or is_constant(gbm_head.predict_raw(test))
    warnings, notes = model_warnings(result, fitted, choice, constant)
    same = redundant_warning(
        redundant_frame_pairs(frame, [f.name for f in kept]),
        len(frame),
        where="keep one of each pair (--drop COLUMN for the other)",
    )
    if same:
        warnings.append(same)
    future = split_.future_warning(time_column or "")
    if future:
        warnings.append(future)
    copies = int(frame.duplicated().sum())
    if copies:
        warnings.append(
            f"{copies:,} of {len(frame):,} rows are exact copies of other rows (every column "
            "equal): an export that repeated leads counts them twice, and a copy in test of a "
            "training row flatters the test. Remove the copies if they are the same leads."
        )
    shift = split_.shift_warning()
    if shift:
        warnings.append(shift)
    notes = [f"Split: {split_.description}.", read_note, *fitted.notes, *notes, *rule_notes]
    metrics = result.metrics
    summary = pd.DataFrame(
        {
            "method": metrics["method"],
            "target": metrics["target"],
            "roc_auc": metrics["roc_auc"].round(4),
            "roc_auc_95ci": [
                f"{lo:.3f}-{hi:.3f}"
                for lo, hi in zip(metrics["roc_auc_low"], metrics["roc_auc_high"], strict=True)
            ],
            "pr_auc": metrics["pr_auc"].round(4),
            "brier": metrics["brier"].round(5),
            "shipped": ["yes" if m == choice.shipped else "" for m in metrics["method"]],
        }
    )
    out = FlatResult(
        summary=summary,
        report_path=report_path or Path("reports") / f"flat-{csv_path.stem}.html",
        features=kept,
        dropped=dropped,
        leakage=leaks,
        split_mode=split_.description,
        evaluation=result,
        models={"lightgbm": fitted.lightgbm, "logistic": fitted.logistic, "final": final},
        warnings=warnings,
        notes=notes,
        split=split_,
        chosen=choice.shipped,
        choice=choice,
        rules=rules,
        id_column=id_column,
        frame=frame,
        y=y_all,
    )
    # "what drives the score": the served model's own contributions (LightGBM's beside rules)
    drivers = final if final.kind != "rules" else gbm_head
    out.report_path = write_flat_report(out, csv_path, keep_columns, drivers, test)
    return out
