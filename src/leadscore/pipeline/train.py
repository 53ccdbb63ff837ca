"""Training steps: fit and evaluate against the rules, and the registry (evaluate a
version, promote the challenger, list versions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from leadscore.config import format_validation_error, read_yaml_mapping
from leadscore.errors import ConfigError
from leadscore.pipeline.progress import ProgressFn, no_progress, waiting

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.training import (
        ModelVersionInfo,
        PromotionDecision,
        TrainingConfig,
        TrainingResult,
    )
    from leadscore.training.split import SplitConfig

__all__ = [
    "EvaluateSpec",
    "EvaluateStepResult",
    "PromoteSpec",
    "TrainSpec",
    "TrainStepResult",
    "evaluate_step",
    "list_versions_step",
    "load_training_config",
    "oracle_for_table",
    "promote_step",
    "train_step",
]


def load_training_config(config: Path | TrainingConfig | None) -> TrainingConfig:
    """The training config from a YAML file (``None``: the defaults). Raises
    :class:`~leadscore.errors.ConfigError` naming every unknown or invalid key."""
    from leadscore.training import TrainingConfig

    if config is None:
        return TrainingConfig()
    if isinstance(config, TrainingConfig):
        return config
    try:
        return TrainingConfig.model_validate(read_yaml_mapping(config, "Training config"))
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(
                exc,
                f"Invalid training config {config}:",
                "Unknown keys are not allowed; see TrainingConfig in leadscore.training.",
            )
        ) from None


def oracle_for_table(
    crm_path: Path,
    table: Path,
    *,
    split: SplitConfig | None = None,
    progress: ProgressFn = no_progress,
) -> pd.DataFrame | None:
    """True probabilities for a synthetic CRM's training table (``None`` for a real CRM): of
    every row, or with ``split`` of the test period's rows only (all training evaluates; the
    values are the same)."""
    import duckdb
    import pandas as pd

    from leadscore.features import read_training_table
    from leadscore.synthetic import true_probabilities
    from leadscore.training.split import time_split

    with duckdb.connect(str(crm_path), read_only=True) as con:
        has_oracle = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'oracle'"
        ).fetchone()
    if not has_oracle or not has_oracle[0]:
        return None
    frame, metadata = read_training_table(table)
    cutoffs = sorted(pd.to_datetime(frame["cutoff"].unique()).to_pydatetime())
    only = None
    if split is not None:
        horizon = timedelta(days=metadata.horizon_days) if metadata.horizon_days else None
        test = time_split(frame, split, horizon=horizon).mask("test")
        only = frame.loc[test, ["contact_id", "cutoff"]]
    with waiting(progress, "Computing the oracle's true probabilities..."):
        return true_probabilities(crm_path, cutoffs, metadata.horizon_days, only=only)


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    """Train on a training table: with a training config (YAML, or the object; default: the
    defaults), the synthetic CRM whose oracle the report shows, the MLflow tracking URI."""

    training_table: Path
    config: Path | TrainingConfig | None = None
    oracle_crm: Path | None = None
    tracking_uri: str | None = None
    targets: str | None = None
    """Targets to train, comma-separated (``sql``, ``meeting``); default: the config's, or
    every target with positives."""
    sample_negatives: float | None = None
    """Share of the training period's negatives fitted on (default: the config's)."""
    sample_seed: int | None = None
    """Seed of the negative sample (default: the config's)."""
    model_name: str | None = None
    """Registered model name (default: the config's ``model_name``)."""


@dataclass(frozen=True)
class TrainStepResult:
    """The training outcome and the registered model name it was logged under."""

    result: TrainingResult
    model_name: str


def train_step(spec: TrainSpec, *, progress: ProgressFn = no_progress) -> TrainStepResult:
    """Train LightGBM and logistic heads per target, evaluate them out of time against the rules
    (and the oracle, for a synthetic CRM), write the report, register the challenger."""
    from leadscore.training import train

    config = load_training_config(spec.config)
    if spec.model_name is not None:
        config = config.model_copy(update={"model_name": spec.model_name})
    if spec.targets is not None:
        from leadscore.training.targets import parse_targets

        config = config.model_copy(update={"targets": parse_targets(spec.targets)})
    sampling = {"sample_negatives": spec.sample_negatives, "sample_seed": spec.sample_seed}
    if any(v is not None for v in sampling.values()):
        from leadscore.training import TrainingConfig

        merged = config.model_dump() | {k: v for k, v in sampling.items() if v is not None}
        try:
            config = TrainingConfig.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(
                    exc, "Invalid negative sample:", "--sample-negatives takes a share in (0, 1]."
                )
            ) from None
    oracle = (
        oracle_for_table(
            spec.oracle_crm, spec.training_table, split=config.split, progress=progress
        )
        if spec.oracle_crm
        else None
    )
    result = train(
        spec.training_table,
        tracking_uri=spec.tracking_uri,
        config=config,
        oracle=oracle,
        progress=progress,
    )
    return TrainStepResult(result=result, model_name=config.model_name)


@dataclass(frozen=True, kw_only=True)
class EvaluateSpec:
    """A registered version (number or alias) to test on a training table's test period."""

    training_table: Path
    model: str = "champion"
    model_name: str = "leadscore"
    config: Path | TrainingConfig | None = None
    tracking_uri: str | None = None


@dataclass(frozen=True)
class EvaluateStepResult:
    """A registered version against the rules on a test window: the same table and headline
    sentences as ``train`` prints, and the flat metrics (``test_roc_auc_lightgbm_sql``)."""

    summary: pd.DataFrame
    headline: list[str]
    metrics: dict[str, float]
    test_rows: int


def evaluate_step(spec: EvaluateSpec, *, progress: ProgressFn = no_progress) -> EvaluateStepResult:
    """A registered version and the rules on the table's out-of-time test period, with CIs."""
    from leadscore.training import flatten_metrics, summary_table
    from leadscore.training.registered_eval import evaluate_registered
    from leadscore.training.report import headline_sentences

    config = load_training_config(spec.config)
    with waiting(progress, f"Scoring the test window with {spec.model_name}@{spec.model}..."):
        scored = evaluate_registered(
            spec.training_table,
            model_name=spec.model_name,
            ref=spec.model,
            tracking_uri=spec.tracking_uri,
            config=config,
        )
    return EvaluateStepResult(
        summary=summary_table(scored.evaluation),
        headline=headline_sentences(scored.evaluation, scored.method),
        metrics=flatten_metrics(scored.evaluation),
        test_rows=scored.test_rows,
    )


@dataclass(frozen=True, kw_only=True)
class PromoteSpec:
    """The champion/challenger gate: which version (default: the challenger), compared on which
    metric (re-scored on ``training_table``'s test window when given), by which margin."""

    version: str | None = None
    training_table: Path | None = None
    metric: str = "test_roc_auc_shipped_sql"
    margin: float = 0.005
    force: bool = False
    model_name: str = "leadscore"
    tracking_uri: str | None = None


def promote_step(spec: PromoteSpec) -> PromotionDecision:
    """Make the challenger the champion if it beats the champion by the margin (or ``force``)."""
    from leadscore.training import promote

    return promote(
        spec.model_name,
        tracking_uri=spec.tracking_uri,
        version=spec.version,
        metric=spec.metric,
        margin=spec.margin,
        force=spec.force,
        training_table=spec.training_table,
    )


def list_versions_step(
    model_name: str = "leadscore", *, tracking_uri: str | None = None
) -> list[ModelVersionInfo]:
    """Registered versions of ``model_name`` with their aliases and headline metrics (a local
    sqlite registry's listing is remembered while it is unchanged:
    :mod:`leadscore.pipeline.versions_cache`)."""
    from leadscore.pipeline.versions_cache import cached_versions, remember_versions
    from leadscore.registry import resolve_tracking_uri
    from leadscore.serving.resolution_cache import snapshot

    uri = resolve_tracking_uri(tracking_uri)
    remembered = cached_versions(uri, model_name)
    if remembered is not None:
        return remembered
    from leadscore.training.tracking import list_versions  # the registry only: a fast start

    before = snapshot(uri)
    versions = list_versions(model_name, tracking_uri=uri)
    if versions:
        remember_versions(uri, model_name, before, versions)
    return versions
