"""The retrain gate: the challenger against the champion on the newest table's test window.

:func:`paired_gate` re-scores both registered versions on the test rows of one training table
(the challenger's own, later than its validation window), runs the paired bootstrap of
:mod:`leadscore.training.gate`, and promotes only when the paired interval excludes zero in the
challenger's favour *and* the existing gate (:func:`~leadscore.training.tracking.promote_version`:
margin on the AUC measured on this window) agrees. Why it promoted or not is recorded as tags on
the challenger's model version and run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from leadscore.errors import ArtifactError, ConfigError
from leadscore.model.heads import read_heads
from leadscore.registry import resolve_tracking_uri
from leadscore.training.gate import (
    GateChecks,
    GateMetric,
    PairedComparison,
    gate_checks,
    paired_bootstrap,
)
from leadscore.training.pipeline import TrainingConfig
from leadscore.training.split import time_split
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN, TARGETS, TrainingTable
from leadscore.training.tracking import (
    CHALLENGER,
    CHAMPION,
    PromotionDecision,
    download_heads,
    list_versions,
    promote_version,
)

__all__ = ["GateSettings", "RetrainDecision", "paired_gate", "record_gate"]


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    """Which target and metric the paired gate compares, and how."""

    target: str = "sql"
    metric: GateMetric = "roc_auc"
    capacity_share: float = 0.1
    n_bootstrap: int = 1000
    confidence: float = 0.95
    margin: float = 0.005
    seed: int = 0


@dataclass(frozen=True)
class RetrainDecision:
    """The gate's outcome: promoted or not, every reason, the paired comparison (``None`` when
    there was no champion to compare with or a check failed first)."""

    promoted: bool
    reasons: list[str]
    challenger_version: str
    champion_version: str | None
    comparison: PairedComparison | None
    checks: GateChecks
    existing_gate: PromotionDecision | None
    test_window: tuple[str, str]


def _predict(
    model_name: str, ref: str, table: TrainingTable, rows: Any, target: str, uri: str
) -> np.ndarray[Any, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        heads_dir, _ = download_heads(model_name, ref, Path(tmp), tracking_uri=uri)
        heads = read_heads(heads_dir).heads
        if target not in heads:
            raise ArtifactError(
                f"Version {ref} of {model_name!r} has no {target!r} head; pick a target both "
                "versions were trained for (--target)."
            )
        return np.asarray(heads[target].predict_proba(rows), dtype=np.float64)


def paired_gate(
    table: TrainingTable,
    *,
    model_name: str = "leadscore",
    challenger: str | None = None,
    settings: GateSettings | None = None,
    config: TrainingConfig | None = None,
    tracking_uri: str | None = None,
) -> RetrainDecision:
    """Compare the challenger (default: the ``challenger`` alias) with the champion on
    ``table``'s test window and promote it only if the paired CI excludes zero in its favour,
    the window and hash checks pass and the existing margin gate agrees; record why."""
    settings = settings or GateSettings()
    if settings.target not in TARGETS:
        raise ConfigError(
            f"Unknown gate target {settings.target!r}; use one of {', '.join(TARGETS)}."
        )
    config = config or TrainingConfig()
    uri = resolve_tracking_uri(tracking_uri)
    versions = {v.version: v for v in list_versions(model_name, tracking_uri=uri)}
    champion = next((v for v in versions.values() if CHAMPION in v.aliases), None)
    version = challenger or next(
        (v.version for v in versions.values() if CHALLENGER in v.aliases), None
    )
    if version is None or version not in versions:
        raise ArtifactError(f"Model {model_name!r} has no challenger to compare: train first.")
    chal = versions[version]
    horizon = timedelta(days=table.horizon_days) if table.horizon_days else None
    split = time_split(table.frame, config.split, horizon=horizon)
    window = (
        split.test_cutoffs[0].date().isoformat(),
        split.test_cutoffs[-1].date().isoformat(),
    )
    checks = GateChecks()
    if champion is None or champion.version == version:
        existing = promote_version(  # the first champion faces the rules on the gate's target
            model_name,
            tracking_uri=uri,
            version=version,
            metric=f"test_roc_auc_shipped_{settings.target}",
            margin=settings.margin,
        )
        reasons = [f"existing gate: {existing.reason}"]
        decision = RetrainDecision(
            existing.promoted, reasons, version, existing.champion_version, None, checks,
            existing, window,
        )  # fmt: skip
        record_gate(model_name, decision, tracking_uri=uri)
        return decision
    checks = gate_checks(
        chal.tags,
        champion.tags,
        test_first=split.test_cutoffs[0].date(),
        table_definition_hash=table.definition_hash,
    )
    if not checks.ok:
        decision = RetrainDecision(
            False, [f"check failed: {p}" for p in checks.problems], version, champion.version,
            None, checks, None, window,
        )  # fmt: skip
        record_gate(model_name, decision, tracking_uri=uri)
        return decision
    test = table.frame[split.mask("test")]
    y = table.labels(settings.target)[test.index].to_numpy()
    p_chal = _predict(model_name, version, table, test, settings.target, uri)
    p_champ = _predict(model_name, champion.version, table, test, settings.target, uri)
    comparison = paired_bootstrap(
        y,
        p_chal,
        p_champ,
        test[CONTACT_COLUMN],
        test[CUTOFF_COLUMN],
        metric=settings.metric,
        capacity_share=settings.capacity_share,
        n_bootstrap=settings.n_bootstrap,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    reasons = [comparison.describe()]
    gate: PromotionDecision | None = None
    if not comparison.excludes_zero_for_challenger:
        reasons.append(
            "the paired CI does not exclude zero in the challenger's favour: the champion stays"
        )
        promoted = False
    else:
        auc = {
            version: _auc(y, p_chal),
            champion.version: _auc(y, p_champ),
        }
        gate = promote_version(
            model_name,
            tracking_uri=uri,
            version=version,
            metric=f"test_roc_auc_shipped_{settings.target}",  # the heads compared ship
            margin=settings.margin,
            recomputed=auc,
        )
        promoted = gate.promoted
        reasons.append(f"existing gate (AUC on this window): {gate.reason}")
    decision = RetrainDecision(
        promoted, reasons, version, champion.version, comparison, checks, gate, window
    )
    record_gate(model_name, decision, tracking_uri=uri)
    return decision


def _auc(y: np.ndarray[Any, Any], p: np.ndarray[Any, Any]) -> float:
    from leadscore.training.evaluate import weighted_auc

    return weighted_auc(p, y)


def record_gate(
    model_name: str, decision: RetrainDecision, *, tracking_uri: str | None = None
) -> dict[str, str]:
    """Write the decision as ``gate_*`` tags on the challenger's model version and its run;
    returns the tags."""
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    tags = {
        "gate_decision": "promoted" if decision.promoted else "kept champion",
        "gate_reason": " | ".join(decision.reasons)[:5000],
        "gate_champion_version": decision.champion_version or "",
        "gate_test_window": f"{decision.test_window[0]}..{decision.test_window[1]}",
    }
    if decision.comparison is not None:
        c = decision.comparison
        tags |= {
            "gate_metric": c.metric,
            "gate_difference": f"{c.difference:.6f}",
            "gate_ci_low": f"{c.low:.6f}",
            "gate_ci_high": f"{c.high:.6f}",
            "gate_n_bootstrap": str(c.n_bootstrap),
        }
    mv = client.get_model_version(model_name, decision.challenger_version)
    for key, value in tags.items():
        client.set_model_version_tag(model_name, decision.challenger_version, key, value)
        if mv.run_id:
            client.set_tag(str(mv.run_id), key, value)
    return tags
