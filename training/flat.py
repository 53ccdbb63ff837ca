"""Flat-table mode: train on a one-row-per-lead export (CSV), no feature stage needed.

Column types are inferred, ID-like and free-text columns dropped, and a leakage detector flags
columns that give the answer away (single-column AUC suspiciously high, or filled only after
the outcome: mostly missing for negatives, always filled for positives). Flagged columns are
excluded unless the caller keeps them explicitly. The split is by time when a time column is
given, otherwise stratified at random (stated in the report).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from leadscore.errors import ConfigError, DataContractError
from leadscore.model.encoding import as_float
from leadscore.training.evaluate import (
    Evaluation,
    EvaluationConfig,
    MethodScores,
    evaluate_methods,
    weighted_auc,
)
from leadscore.training.models import LightGBMModel, LightGBMParams, LogisticModel, LogisticParams
from leadscore.training.pipeline import Progress
from leadscore.training.report import ReportContext, write_report
from leadscore.training.split import SplitConfig, time_split
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN, FeatureKind, FeatureSpec

__all__ = ["FlatResult", "LeakageConfig", "detect_leakage", "infer_columns", "train_flat_table"]

_ID_NAME = re.compile(
    r"(^id$|_id$|^id_|uuid|guid|hash|^e?mail$|email_?address|phone|^name$|first_?name|last_?name)",
    re.IGNORECASE,
)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}")
_TRUE_FALSE = {"true", "false", "yes", "no", "0", "1", "y", "n", "t", "f"}


@dataclass(frozen=True)
class LeakageConfig:
    """Thresholds of the leakage detector."""

    max_auc: float = 0.95
    dominance: float = 3.0
    dominance_min_auc: float = 0.85
    filled_positive: float = 0.95
    filled_negative: float = 0.2


@dataclass
class FlatResult:
    """Flat-mode outcome: the summary, the report, what was kept, dropped and flagged."""

    summary: pd.DataFrame
    report_path: Path
    features: list[FeatureSpec]
    dropped: dict[str, str]
    leakage: pd.DataFrame
    split_mode: str
    evaluation: Evaluation
    models: dict[str, Any] = field(default_factory=dict)


def infer_columns(
    frame: pd.DataFrame, *, exclude: Sequence[str] = (), max_levels: int = 200
) -> tuple[list[FeatureSpec], dict[str, str]]:
    """Feature specs of usable columns, and ``{dropped column: why}`` for the others."""
    specs: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    n = len(frame)
    for name in frame.columns:
        if name in exclude:
            continue
        column = frame[name]
        non_null = column.dropna()
        unique = non_null.nunique()
        if non_null.empty or unique <= 1:
            dropped[name] = "constant or empty"
            continue
        if _ID_NAME.search(str(name)):
            dropped[name] = "ID-like name"
            continue
        kind: FeatureKind
        if pd.api.types.is_bool_dtype(column) or (
            set(non_null.astype(str).str.lower()) <= _TRUE_FALSE and unique == 2
        ):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(column):
            if pd.api.types.is_integer_dtype(column) and unique > 0.95 * n:
                dropped[name] = "ID-like (unique integers)"
                continue
            kind = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(column):
            dropped[name] = "date column (not the time column)"
            continue
        else:
            numbers = pd.to_numeric(non_null, errors="coerce")
            if non_null.astype(str).str.match(_DATE_TEXT).mean() > 0.95:
                dropped[name] = "date column (not the time column)"
                continue
            if numbers.notna().mean() > 0.95:
                kind = "numeric"
            elif unique > 0.5 * len(non_null) or unique > max_levels:
                dropped[name] = f"ID-like or free text ({unique} distinct values)"
                continue
            else:
                kind = "categorical"
        specs.append(FeatureSpec(str(name), kind, "flat"))
    return specs, dropped


def _single_auc(values: pd.Series, kind: FeatureKind, y: np.ndarray[Any, Any]) -> float:
    if kind == "categorical":
        rate = (
            pd.Series(y, index=values.index)
            .groupby(values.astype("string").fillna("__missing__"))
            .transform("mean")
        )
        score = rate.to_numpy(dtype=np.float64)
    else:
        x = as_float(values, kind)
        fill = np.nanmin(x) - 1 if np.isfinite(x).any() else 0.0
        score = np.where(np.isnan(x), fill, x)
    auc = weighted_auc(score, y)
    return max(auc, 1 - auc)


def detect_leakage(
    frame: pd.DataFrame,
    y: np.ndarray[Any, Any],
    features: list[FeatureSpec],
    config: LeakageConfig | None = None,
) -> pd.DataFrame:
    """One row per feature: single-column AUC, fill rates by class, and the reason if flagged."""
    config = config or LeakageConfig()
    y = np.asarray(y, dtype=np.int64)
    rows = []
    for spec in features:
        filled = frame[spec.name].notna().to_numpy()
        rows.append(
            {
                "column": spec.name,
                "kind": spec.kind,
                "single_column_auc": _single_auc(frame[spec.name], spec.kind, y),
                "filled_positives": float(filled[y == 1].mean()) if (y == 1).any() else np.nan,
                "filled_negatives": float(filled[y == 0].mean()) if (y == 0).any() else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    gaps = (table["single_column_auc"] - 0.5).to_numpy()
    reasons = []
    for i, r in table.iterrows():
        others = np.delete(gaps, int(i))  # type: ignore[call-overload]
        why = []
        if r["single_column_auc"] > config.max_auc:
            why.append(f"single-column AUC {r['single_column_auc']:.3f} > {config.max_auc}")
        elif (
            len(others)
            and r["single_column_auc"] > config.dominance_min_auc
            and gaps[int(i)] > config.dominance * max(float(others.max()), 1e-9)  # type: ignore[call-overload]
        ):
            why.append(
                f"single-column AUC {r['single_column_auc']:.3f} far above every other column"
            )
        if (
            r["filled_positives"] >= config.filled_positive
            and r["filled_negatives"] <= config.filled_negative
        ):
            why.append(
                f"filled for {r['filled_positives']:.0%} of positives but {r['filled_negatives']:.0%} "
                "of negatives (likely filled after the outcome)"
            )
        reasons.append("; ".join(why))
    table["flag"] = reasons
    return table.sort_values("single_column_auc", ascending=False).reset_index(drop=True)


def _binary_target(column: pd.Series, name: str) -> np.ndarray[Any, Any]:
    text = column.astype("string").str.strip().str.lower()
    mapping = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "1.0": 1, "0.0": 0}
    mapped = text.map(mapping)
    if mapped.isna().any():
        bad = sorted(set(text[mapped.isna()].dropna().unique()))[:5]
        raise DataContractError(
            [f"target column {name!r}: {int(mapped.isna().sum())} row(s) are not 0/1 (e.g. {bad})"],
            header="The flat table's target is not binary:",
        )
    return mapped.to_numpy(dtype=np.int64)


def train_flat_table(
    csv_path: Path,
    target: str,
    time_column: str | None = None,
    *,
    keep_columns: Sequence[str] = (),
    drop_columns: Sequence[str] = (),
    report_path: Path | None = None,
    lightgbm: LightGBMParams | None = None,
    logistic: LogisticParams | None = None,
    evaluation: EvaluationConfig | None = None,
    leakage: LeakageConfig | None = None,
    progress: Progress | None = None,
) -> FlatResult:
    """Train and evaluate LightGBM and logistic regression on a one-row-per-lead CSV export."""
    if not csv_path.is_file():
        raise ConfigError(f"Flat table {csv_path} does not exist.")
    frame = pd.read_csv(csv_path)
    for column in (target, time_column, *keep_columns, *drop_columns):
        if column is not None and column not in frame.columns:
            raise ConfigError(
                f"Column {column!r} is not in {csv_path}; columns: {', '.join(map(str, frame.columns))}."
            )
    y_all = _binary_target(frame[target], target)
    exclude = [target, *drop_columns] + ([time_column] if time_column else [])
    features, dropped = infer_columns(frame, exclude=exclude)
    for name in drop_columns:
        dropped[name] = "dropped by the user"
    for name in keep_columns:  # the user's word beats the ID heuristics
        if name in dropped:
            dropped.pop(name)
            kind: FeatureKind = (
                "numeric" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical"
            )
            features.append(FeatureSpec(name, kind, "flat"))

    rows = pd.DataFrame({CONTACT_COLUMN: np.arange(len(frame)).astype(str)}, index=frame.index)
    if time_column:
        times = pd.to_datetime(frame[time_column], errors="coerce")
        if times.isna().any():
            raise DataContractError(
                [f"time column {time_column!r}: {int(times.isna().sum())} row(s) are not dates"],
                header="The flat table's time column is invalid:",
            )
        rows[CUTOFF_COLUMN] = times
        split = time_split(rows, SplitConfig(purge=False))
        period = split.period.to_numpy()
        split_mode = (
            f"by time on {time_column!r} (test = latest {split.describe()['test_rows']} rows)"
        )
        rows[CUTOFF_COLUMN] = times.dt.to_period("M").dt.to_timestamp()
    else:
        index = np.arange(len(frame))
        rest, test_idx = train_test_split(index, test_size=0.2, stratify=y_all, random_state=0)
        train_idx, valid_idx = train_test_split(
            rest, test_size=0.25, stratify=y_all[rest], random_state=0
        )
        period = np.empty(len(frame), dtype=object)
        period[train_idx], period[valid_idx], period[test_idx] = "train", "valid", "test"
        split_mode = (
            "stratified random 60/20/20 (no time column given: NOT an out-of-time evaluation)"
        )
        rows[CUTOFF_COLUMN] = pd.Timestamp("2000-01-01")
    train, valid, test = (frame[period == p] for p in ("train", "valid", "test"))
    y_train, y_valid, y_test = (y_all[period == p] for p in ("train", "valid", "test"))
    for p, part in (("train", y_train), ("valid", y_valid), ("test", y_test)):
        if len(np.unique(part)) < 2:
            raise DataContractError(
                [f"{p} period: target {target!r} has a single class"],
                header="The flat table cannot be evaluated honestly:",
            )

    leaks = detect_leakage(train, y_train, features, leakage)
    flagged = set(leaks.loc[leaks["flag"] != "", "column"]) - set(keep_columns)
    kept = [f for f in features if f.name not in flagged]
    if not kept:
        raise ConfigError("No usable column is left after dropping ID-like and leaky columns.")
    step = progress or (lambda _s, _d, _t: None)
    step("LightGBM", 0, 2)
    gbm = LightGBMModel(kept, lightgbm).fit(train, y_train, valid, y_valid)
    step("logistic regression", 1, 2)
    lr = LogisticModel(kept, logistic).fit(train, y_train, valid, y_valid)
    step("models", 2, 2)
    methods = [
        MethodScores("logistic", {target: lr.predict_raw(test)}, {target: lr.predict_proba(test)}),
        MethodScores(
            "lightgbm", {target: gbm.predict_raw(test)}, {target: gbm.predict_proba(test)}
        ),
    ]
    result = evaluate_methods(
        rows[period == "test"],
        {target: y_test},
        methods,
        mql=None,
        config=evaluation,
        progress=progress,
    )
    notes = [f"Split: {split_mode}."]
    if flagged:
        notes.append(
            f"Excluded as likely leakage: {', '.join(sorted(flagged))} (keep them with keep_columns)."
        )
    kept_leaky = set(leaks.loc[leaks["flag"] != "", "column"]) & set(keep_columns)
    if kept_leaky:
        notes.append(f"Flagged but kept at the user's request: {', '.join(sorted(kept_leaky))}.")
    context = ReportContext(
        title=f"leadscore flat-table mode: {csv_path.name}, target {target!r}",
        data_fingerprint="flat:" + csv_path.name,
        definition_hash="flat",
        split_description={p: str(int((period == p).sum())) for p in ("train", "valid", "test")},
        split_mode=split_mode,
        notes=notes,
        shap={
            target: (gbm.contributions(test.head(2000)), test.head(2000)[[f.name for f in kept]])
        },
        extra_tables={
            "Leakage detector (computed on the training rows)": leaks,
            "Dropped columns": pd.DataFrame(
                {"column": list(dropped), "reason": list(dropped.values())}
            ),
        },
    )
    path = write_report(
        result, context, report_path or Path("reports") / f"flat-{csv_path.stem}.html"
    )
    summary = result.metrics[
        ["method", "target", "roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc", "brier"]
    ]
    return FlatResult(
        summary=summary,
        report_path=path,
        features=kept,
        dropped=dropped,
        leakage=leaks,
        split_mode=split_mode,
        evaluation=result,
        models={"lightgbm": gbm, "logistic": lr},
    )
