"""Training's side of the model artifact: the scorer spec it fits, and the one call that writes
a run's heads folder (:func:`leadscore.model.heads.write_heads`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from leadscore.model.encoding import FeatureEncoder
from leadscore.model.grades import fit_grades
from leadscore.model.heads import AnyHead, HeadToWrite, write_heads
from leadscore.model.rules_head import RulesHead
from leadscore.model.segments import (
    SegmentEntry,
    SegmentsRecord,
    segment_folder,
    write_segments_record,
)
from leadscore.model.spec import SEGMENTED_SPEC_FORMAT, ScorerSpec
from leadscore.training.models import LightGBMModel
from leadscore.training.pipeline import TrainingOutcome
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.segments_eval import SegmentsOutcome
from leadscore.training.table import Target, TrainingTable

__all__ = ["save_heads", "scorer_spec", "shipped_heads"]


def _rules_head(table: TrainingTable, outcome: TrainingOutcome, target: str) -> RulesHead:
    train = table.frame[outcome.fit_mask("train")]
    names = outcome.rules.features
    specs = [f for f in table.features if f.name in names]
    encoder = FeatureEncoder(specs).fit(train)
    mean = {
        name: float(
            sum(r.points_for(train[name]).mean() for r in outcome.rules.rules if r.feature == name)
        )
        for name in names
    }
    return RulesHead(outcome.rules, mean, encoder, outcome.rules_calibrators[target])


def shipped_heads(table: TrainingTable, outcome: TrainingOutcome) -> dict[Target, AnyHead]:
    """Per target, the head of the candidate chosen on validation (LightGBM without a choice)."""
    out: dict[Target, AnyHead] = {}
    for target, model in outcome.lightgbm.items():
        choice = outcome.choices.get(target)
        kind = choice.shipped if choice is not None else "lightgbm"
        if kind == "logistic":
            out[target] = outcome.logistic[target].head(model.head_.encoder)
        elif kind == "rules":
            out[target] = _rules_head(table, outcome, target)
        else:
            out[target] = model.head_
    return out


def scorer_spec(
    table: TrainingTable, outcome: TrainingOutcome, heads: dict[Target, AnyHead] | None = None
) -> ScorerSpec | None:
    """The served scorer's spec: the training table's feature definition and grade thresholds
    fitted on the validation period (A: the share of leads the rules make MQLs there, i.e. what
    sales works today), on the served heads' probabilities: with the refit (:mod:`.refit`),
    a head that has seen those rows, measured on the demo to match the capacity on test better
    than the training-period model's (whose scores sit lower). ``None`` (a probabilities-only
    scorer) when the table carries no feature definition (simulated or flat tables)."""
    if table.definition is None or not outcome.lightgbm:
        return None
    heads = heads if heads is not None else shipped_heads(table, outcome)
    reason_target = "sql" if "sql" in outcome.lightgbm else next(iter(outcome.lightgbm))
    valid = table.frame[outcome.fit_mask("valid")]
    p_valid = heads[reason_target].predict_proba(valid)
    flags = mql_flags(score_rules(valid, outcome.rules), outcome.rules)
    share = float(np.mean(flags.to_numpy(dtype=bool))) if len(valid) else 0.0
    return ScorerSpec(
        definition=table.definition.model_dump(mode="json"),
        definition_hash=table.definition_hash,
        data_fingerprint=table.data_fingerprint,
        horizon_days=table.horizon_days,
        from_stage=table.from_stage,
        grades=fit_grades(p_valid, share if share > 0 else 0.05),
        reason_target=reason_target,
        bots=outcome.bots,
        max_lead_age_days=table.meta.max_age_days if table.meta is not None else None,
    )


def _sample_params(outcome: TrainingOutcome) -> dict[str, object]:
    """The training period's negative sample (fraction, seed, rows), in every head's record."""
    return {"training_sample": outcome.sample.record()} if outcome.sample is not None else {}


def _refit_params(outcome: TrainingOutcome, target: str, kind: str) -> dict[str, object]:
    """The rows (and LightGBM's rounds) the shipped head was refitted on, in its record."""
    if outcome.refit is None or kind == "rules":
        return {}
    record: dict[str, object] = {"train_valid": True, **outcome.refit.record()}
    if kind == "lightgbm" and target in outcome.refit_rounds:
        record["validated_rounds"], record["rounds"] = outcome.refit_rounds[target]
    return {"refit": record}


def _segment_refit(refit: Mapping[str, object]) -> dict[str, object]:
    """A segment's refit (rows, rounds per target), in its heads' records."""
    return {"refit": dict(refit)} if refit else {}


def _to_write(
    models: Mapping[Target, LightGBMModel],
    metrics: Mapping[str, float],
    extra: Mapping[str, object],
) -> dict[Target, HeadToWrite]:
    return {
        target: HeadToWrite(
            model.head_,
            params=model.params.model_dump(mode="json") | dict(extra),
            metrics={k: v for k, v in metrics.items() if k.endswith(f"_lightgbm_{target}")},
        )
        for target, model in models.items()
    }


def save_heads(
    folder: Path,
    table: TrainingTable,
    outcome: TrainingOutcome,
    metrics: Mapping[str, float],
    *,
    segments: SegmentsOutcome | None = None,
) -> list[Path]:
    """Write the shipped head of each target of ``outcome`` (the candidate chosen on
    validation, with its settings, test metrics and the choice) and the scorer spec into
    ``folder``, and with ``segments`` each segment's own (LightGBM) heads and ``segments.json``
    (:mod:`leadscore.model.segments`); returns the paths written."""
    shipped = shipped_heads(table, outcome)
    heads: dict[Target, HeadToWrite] = {}
    for target, head in shipped.items():
        choice = outcome.choices.get(target)
        params: dict[str, object] = {}
        if head.kind == "lightgbm":
            params = outcome.lightgbm[target].params.model_dump(mode="json")
        elif head.kind == "logistic":
            params = outcome.logistic[target].params.model_dump(mode="json")
        params |= _sample_params(outcome) | _refit_params(outcome, target, head.kind)
        heads[target] = HeadToWrite(
            head,
            params=params,
            metrics={k: v for k, v in metrics.items() if k.endswith(f"_{head.kind}_{target}")},
            choice=choice.to_dict() if choice is not None else {},
        )
    spec = scorer_spec(table, outcome, shipped)
    if segments is not None and spec is not None:
        spec = spec.model_copy(
            update={"format": SEGMENTED_SPEC_FORMAT, "segment_column": segments.column}
        )
    ids = {"data_fingerprint": table.data_fingerprint, "definition_hash": table.definition_hash}
    paths = write_heads(folder, heads, spec=spec, **ids)
    if segments is None or spec is None:
        return paths
    entries: list[SegmentEntry] = []
    for fit in segments.fits:
        if not fit.own_model:
            entries.append(SegmentEntry(value=fit.value, reason=fit.reason))
            continue
        sub = segment_folder(fit.value, [e.folder for e in entries if e.folder])
        own = spec.model_copy(
            update={"format": "leadscore-scorer/1", "segment_column": None, "grades": fit.grades}
        )
        paths += write_heads(
            folder / sub,
            _to_write(fit.models, {}, _sample_params(outcome) | _segment_refit(fit.refit)),
            spec=own,
            **ids,
        )
        entries.append(SegmentEntry(value=fit.value, folder=sub))
    record = SegmentsRecord(column=segments.column, segments=tuple(entries))
    paths.append(write_segments_record(folder, record))
    return paths
