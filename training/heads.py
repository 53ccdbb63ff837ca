"""Training's side of the model artifact: the scorer spec it fits, and the one call that writes
a run's heads folder (:func:`leadscore.model.heads.write_heads`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from leadscore.model.grades import fit_grades
from leadscore.model.heads import HeadToWrite, write_heads
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

__all__ = ["save_heads", "scorer_spec"]


def scorer_spec(table: TrainingTable, outcome: TrainingOutcome) -> ScorerSpec | None:
    """The served scorer's spec: the training table's feature definition and grade thresholds
    fitted on the validation period (A: the share of leads the rules make MQLs there, i.e. what
    sales works today). ``None`` (a probabilities-only scorer) when the table carries no feature
    definition (simulated or flat tables)."""
    if table.definition is None or not outcome.lightgbm:
        return None
    reason_target = "sql" if "sql" in outcome.lightgbm else next(iter(outcome.lightgbm))
    valid = table.frame[outcome.split.mask("valid")]
    p_valid = outcome.lightgbm[reason_target].predict_proba(valid)
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
    )


def _to_write(
    models: Mapping[Target, LightGBMModel], metrics: Mapping[str, float]
) -> dict[Target, HeadToWrite]:
    return {
        target: HeadToWrite(
            model.head_,
            params=model.params.model_dump(mode="json"),
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
    """Write the LightGBM heads of ``outcome`` (each with its settings and test metrics) and the
    scorer spec into ``folder``, and with ``segments`` each segment's own heads and
    ``segments.json`` (:mod:`leadscore.model.segments`); returns the paths written."""
    spec = scorer_spec(table, outcome)
    if segments is not None and spec is not None:
        spec = spec.model_copy(
            update={"format": SEGMENTED_SPEC_FORMAT, "segment_column": segments.column}
        )
    ids = {"data_fingerprint": table.data_fingerprint, "definition_hash": table.definition_hash}
    paths = write_heads(folder, _to_write(outcome.lightgbm, metrics), spec=spec, **ids)
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
        paths += write_heads(folder / sub, _to_write(fit.models, {}), spec=own, **ids)
        entries.append(SegmentEntry(value=fit.value, folder=sub))
    record = SegmentsRecord(column=segments.column, segments=tuple(entries))
    paths.append(write_segments_record(folder, record))
    return paths
