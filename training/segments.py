"""Models per segment: the minimum-data check, one LightGBM model per qualifying segment next to
the global one, and the fallback that says why.

A segment (a value of a categorical feature, ``segments.column`` in the training config) gets
its own heads only when, for every target, it has at least the configured rows and positives in
both the training and the validation period, its model is not constant, and (by default) it is
not worse than the global model on the segment's validation rows. Every other declared segment
is scored by the global model, with the reason kept for the terminal, the report, the MLflow run
and ``segments.json``. When the global heads are refitted on train + validation
(:mod:`leadscore.training.refit`), a segment's own heads are too, on the segment's share of the
same rows with its validated rounds, so the test compares like with like. The per-segment
evaluation is in :mod:`leadscore.training.segments_eval`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadscore.config import SegmentsConfig
from leadscore.errors import ConfigError
from leadscore.model.grades import GradeThresholds, fit_grades
from leadscore.model.segments import segment_keys
from leadscore.training.evaluate import weighted_auc
from leadscore.training.models import LightGBMModel
from leadscore.training.pipeline import TrainingConfig, TrainingOutcome
from leadscore.training.refit import RefitRows, refit_rounds
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.table import CONTACT_COLUMN, Target, TrainingTable
from leadscore.training.tuning import fit_lightgbm

__all__ = [
    "SegmentFit",
    "fit_segment_models",
    "refuse_segment_column",
    "segment_column_problem",
    "shortfall",
]

Progress = Callable[[str, int, int], None]


@dataclass
class SegmentFit:
    """One declared segment: its row and positive counts, and its own models or why not."""

    value: str
    counts: dict[str, int]
    models: dict[Target, LightGBMModel] = field(default_factory=dict)
    reason: str = ""
    """Why the segment falls back to the global model ('' when it has its own models)."""
    grades: GradeThresholds | None = None
    validation_auc: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Target -> (global, segment) AUC on the segment's validation rows."""
    fitted_rows: int = 0
    """Training-period rows the heads were fitted on (after any negative sample)."""
    refit: dict[str, object] = field(default_factory=dict)
    """What the segment's heads were refitted on (rows, rounds per target); empty: not refitted."""

    @property
    def own_model(self) -> bool:
        return bool(self.models)


def segment_column_problem(table: TrainingTable, column: str) -> str | None:
    """Why ``column`` cannot define segments of ``table`` (``None`` when it can)."""
    kinds = {f.name: f.kind for f in table.features}
    if kinds.get(column) == "categorical":
        return None
    usable = sorted(n for n, k in kinds.items() if k == "categorical")
    what = "not a feature of the training table" if column not in kinds else "not categorical"
    return (
        f"segments.column {column!r} is {what}; segment by a categorical feature of the table "
        f"({', '.join(usable) or 'none'}), or declare your own column (e.g. a business unit) as "
        "an attribute feature in the feature YAML and rebuild the table."
    )


def refuse_segment_column(table: TrainingTable, column: str) -> None:
    """:class:`ConfigError` when ``column`` cannot define segments of ``table``."""
    problem = segment_column_problem(table, column)
    if problem:
        raise ConfigError(problem)


def shortfall(counts: dict[str, int], config: SegmentsConfig, targets: list[Target]) -> str:
    """What the segment lacks against the minimum-data rule ('' when nothing)."""
    missing = []
    for period, rows_min, pos_min in (
        ("train", config.min_rows_train, config.min_positives_train),
        ("valid", config.min_rows_valid, config.min_positives_valid),
    ):
        name = "training" if period == "train" else "validation"
        if counts[f"{period}_rows"] < rows_min:
            missing.append(f"{counts[f'{period}_rows']} {name} rows (minimum {rows_min})")
        for t in targets:
            got = counts[f"{period}_{t}_positives"]
            if got < pos_min:
                missing.append(f"{got} {t} positives in {name} (minimum {pos_min})")
    return "too little data: " + "; ".join(missing) if missing else ""


def _counts(
    table: TrainingTable, masks: dict[str, np.ndarray[Any, Any]], targets: list[Target]
) -> dict[str, int]:
    out: dict[str, int] = {}
    for period, mask in masks.items():
        out[f"{period}_rows"] = int(mask.sum())
        for t in targets:
            out[f"{period}_{t}_positives"] = int(table.labels(t).to_numpy()[mask].sum())
    return out


def declared_values(
    keys: np.ndarray[Any, Any], train: np.ndarray[Any, Any], config: SegmentsConfig
) -> list[str]:
    """The configured values, or every value seen in the training period (most rows first)."""
    if config.values is not None:
        return list(dict.fromkeys(config.values))
    seen = pd.Series(keys[train]).dropna().value_counts(sort=True)
    return [str(v) for v in seen.index]


def fit_segment_models(
    table: TrainingTable,
    outcome: TrainingOutcome,
    config: TrainingConfig,
    *,
    progress: Progress | None = None,
) -> tuple[str, list[SegmentFit]]:
    """The segment column and, per declared segment, its own models or its fallback reason."""
    seg = config.segments
    if seg is None:
        raise ConfigError("No segments are configured (segments: in the training config).")
    refuse_segment_column(table, seg.column)
    frame = table.frame
    keys = segment_keys(frame, seg.column)
    period = {p: outcome.split.mask(p) for p in ("train", "valid", "test")}
    targets: list[Target] = list(outcome.lightgbm)
    values = declared_values(keys, period["train"], seg)
    reason_target: Target = "sql" if "sql" in targets else targets[0]
    fits: list[SegmentFit] = []
    for i, value in enumerate(values):
        if progress is not None:
            progress(f"segment models ({seg.column})", i, len(values))
        in_seg = keys == value
        masks = {p: m & in_seg for p, m in period.items()}
        fit = SegmentFit(value, _counts(table, masks, targets))
        fit.reason = shortfall(fit.counts, seg, targets)
        if not fit.reason:
            _fit_one(fit, table, outcome, config, masks, targets)
        if fit.own_model and outcome.refit is not None:
            _refit(fit, table, outcome.refit, in_seg, fitted_rows=fit.fitted_rows)
        if fit.own_model:
            valid = frame[masks["valid"]]
            p_valid = fit.models[reason_target].predict_proba(valid)
            share = float(mql_flags(score_rules(valid, outcome.rules), outcome.rules).mean())
            fit.grades = fit_grades(p_valid, share if share > 0 else 0.05)
        fits.append(fit)
    if progress is not None:
        progress(f"segment models ({seg.column})", len(values), len(values))
    return seg.column, fits


def _fit_one(
    fit: SegmentFit,
    table: TrainingTable,
    outcome: TrainingOutcome,
    config: TrainingConfig,
    masks: dict[str, np.ndarray[Any, Any]],
    targets: list[Target],
) -> None:
    """Fit the segment's heads; on a constant model or (by default) no validation gain, leave
    ``fit.models`` empty and say why in ``fit.reason``."""
    seg = config.segments
    assert seg is not None  # checked by the caller
    sampled = outcome.sample_weights()  # the global fit's negative sample, if any
    fitted = masks["train"] if sampled is None else masks["train"] & (sampled > 0)
    weight = None if sampled is None else sampled[fitted]
    train, valid = table.frame[fitted], table.frame[masks["valid"]]
    groups = pd.factorize(valid[CONTACT_COLUMN])[0]
    models: dict[Target, LightGBMModel] = {}
    for t in targets:
        y_train = table.labels(t).to_numpy()[fitted]
        y_valid = table.labels(t).to_numpy()[masks["valid"]]
        model = fit_lightgbm(
            list(table.features),
            train,
            y_train,
            valid,
            y_valid,
            params=config.lightgbm,
            tuning=config.tuning,
            valid_groups=groups,
            sample_weight=weight,
        )
        raw = model.predict_raw(valid)
        if np.ptp(raw) == 0:
            fit.reason = f"its {t} model is constant (it learned nothing from the segment's rows)"
            return
        # the global model fitted on train only: the refitted one has seen these rows
        validated = outcome.validated.get(t, outcome.lightgbm[t])
        global_auc = weighted_auc(validated.predict_raw(valid), y_valid)
        own_auc = weighted_auc(raw, y_valid)
        fit.validation_auc[t] = (global_auc, own_auc)
        if seg.fallback_when_worse and own_auc < global_auc:
            fit.reason = (
                f"its {t} model is not better than the global model on the segment's "
                f"validation rows (AUC {own_auc:.3f} vs {global_auc:.3f})"
            )
            return
        models[t] = model
    fit.models = models
    fit.fitted_rows = int(fitted.sum())


def _refit(
    fit: SegmentFit,
    table: TrainingTable,
    refit: RefitRows,
    in_segment: np.ndarray[Any, Any],
    *,
    fitted_rows: int,
) -> None:
    """Refit the segment's heads on its share of the global refit's rows (same draw, same
    weights) with their validated settings, rounds and calibrators."""
    rows = refit.mask & in_segment
    weight = None
    if refit.weight is not None:
        every = np.zeros(len(refit.mask), dtype=np.float64)
        every[refit.mask] = refit.weight
        weight = every[rows]
    frame = table.frame[rows]
    rounds: dict[str, tuple[int, int]] = {}
    for t, model in fit.models.items():
        y = table.labels(t).to_numpy()[rows]
        n = refit_rounds(model.best_iteration_, fitted_rows, int(rows.sum()))
        fit.models[t] = model.refit(frame, y, n, sample_weight=weight)
        rounds[t] = (model.best_iteration_, n)
    fit.refit = {"train_valid": True, "rows": int(rows.sum()), "rounds": rounds}
