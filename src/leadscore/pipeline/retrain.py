"""The scheduled retrain in one step: build the table up to the latest matured cutoff, train a
challenger, compare it with the champion on the same later window (paired bootstrap), promote
only if it is better beyond noise, and record why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.pipeline.build import Every, FeaturesResult, FeaturesSpec, build_features_step
from leadscore.pipeline.defaults import DEFAULT_DEMO_CRM
from leadscore.pipeline.progress import ProgressFn, no_progress, waiting
from leadscore.pipeline.train import TrainSpec, TrainStepResult, load_training_config, train_step

if TYPE_CHECKING:
    from leadscore.crm import CrmData
    from leadscore.training import TrainingConfig
    from leadscore.training.gate import GateMetric
    from leadscore.training.retrain import RetrainDecision

__all__ = ["DEFAULT_RETRAIN_TABLE", "RetrainResult", "RetrainSpec", "retrain_step"]

DEFAULT_RETRAIN_TABLE = Path("data/retrain/training.parquet")


@dataclass(frozen=True, kw_only=True)
class RetrainSpec:
    """What a scheduled retrain reads, builds, trains and how its gate compares."""

    source: str | Path | CrmData = DEFAULT_DEMO_CRM
    table: Path = DEFAULT_RETRAIN_TABLE
    crm_config: Path | None = None
    definition: Path | None = None
    training_config: Path | TrainingConfig | None = None
    start: datetime | None = None
    """First cutoff of the training window (default: two months after the first contact)."""
    every: Every = "week"
    horizon: int = 30
    target: str = "sql"
    metric: GateMetric = "roc_auc"
    capacity_share: float = 0.1
    n_bootstrap: int = 1000
    confidence: float = 0.95
    margin: float = 0.005
    oracle_crm: Path | None = None
    model_name: str | None = None
    tracking_uri: str | None = None


@dataclass(frozen=True)
class RetrainResult:
    """The table built, the challenger trained and the gate's decision."""

    features: FeaturesResult
    training: TrainStepResult
    decision: RetrainDecision


def retrain_step(spec: RetrainSpec, *, progress: ProgressFn = no_progress) -> RetrainResult:
    """Build, train, compare with a paired bootstrap, promote only if better beyond noise."""
    from leadscore.training.retrain import GateSettings, paired_gate
    from leadscore.training.table import load_training_table

    features = build_features_step(
        FeaturesSpec(
            source=spec.source,
            out=spec.table,
            config=spec.crm_config,
            definition=spec.definition,
            start=spec.start,
            every=spec.every,
            horizon=spec.horizon,
        ),
        progress=progress,
    )
    config = load_training_config(spec.training_config)
    if spec.model_name is not None:
        config = config.model_copy(update={"model_name": spec.model_name})
    training = train_step(
        TrainSpec(
            training_table=features.path,
            config=config,
            oracle_crm=spec.oracle_crm,
            tracking_uri=spec.tracking_uri,
        ),
        progress=progress,
    )
    settings = GateSettings(
        target=spec.target,
        metric=spec.metric,
        capacity_share=spec.capacity_share,
        n_bootstrap=spec.n_bootstrap,
        confidence=spec.confidence,
        margin=spec.margin,
    )
    with waiting(progress, "Paired gate (challenger vs champion)"):
        decision = paired_gate(
            load_training_table(features.path),
            model_name=training.model_name,
            challenger=training.result.model_version,
            settings=settings,
            config=config,
            tracking_uri=spec.tracking_uri,
        )
    return RetrainResult(features=features, training=training, decision=decision)
