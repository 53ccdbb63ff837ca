"""Training's side of the model artifact: the scorer spec it fits, and the one call that writes
a run's heads folder (:func:`leadscore.model.heads.write_heads`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from leadscore.model.grades import fit_grades
from leadscore.model.heads import HeadToWrite, write_heads
from leadscore.model.spec import ScorerSpec
from leadscore.training.pipeline import TrainingOutcome
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.table import TrainingTable

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


def save_heads(
    folder: Path,
    table: TrainingTable,
    outcome: TrainingOutcome,
    metrics: Mapping[str, float],
) -> list[Path]:
    """Write the LightGBM heads of ``outcome`` (each with its settings and test metrics) and the
    scorer spec into ``folder``; returns the paths written."""
    heads = {
        target: HeadToWrite(
            model.head_,
            params=model.params.model_dump(mode="json"),
            metrics={k: v for k, v in metrics.items() if k.endswith(f"_lightgbm_{target}")},
        )
        for target, model in outcome.lightgbm.items()
    }
    return write_heads(
        folder,
        heads,
        data_fingerprint=table.data_fingerprint,
        definition_hash=table.definition_hash,
        spec=scorer_spec(table, outcome),
    )
