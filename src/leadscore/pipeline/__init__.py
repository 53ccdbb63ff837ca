"""The pipeline steps as library functions: the command line and notebooks call the same ones.

Each step takes a typed spec (a frozen dataclass whose defaults are the CLI's) and returns a typed
result; none prints. Progress goes through one callback, ``progress(task, done, total)``.

>>> from leadscore.pipeline import GenerateSpec, generate_step
>>> summary = generate_step(GenerateSpec(out=Path("crm.duckdb"), contacts=500))  # doctest: +SKIP

This package sits above ``features``, ``training`` and ``serving`` and below the CLI: it imports
them (lazily, inside the steps), and nothing but the CLI imports it.
"""

from __future__ import annotations

from leadscore.pipeline.build import (
    FeaturesResult,
    FeaturesSpec,
    build_features_step,
    default_schedule,
)
from leadscore.pipeline.data import (
    GenerateSpec,
    ValidateSpec,
    ValidationReport,
    generate_step,
    open_mapped_crm,
    validate_step,
)
from leadscore.pipeline.defaults import (
    DEFAULT_DEMO_CRM,
    DEFAULT_SCORES_OUT,
    DEFAULT_SCORES_STORE,
    DEFAULT_TRAINING_TABLE,
)
from leadscore.pipeline.demo import (
    DemoEvent,
    DemoResult,
    DemoSpec,
    DemoStage,
    TopLeads,
    run_demo,
)
from leadscore.pipeline.flat import (
    FlatExplainSpec,
    FlatScoreSpec,
    FlatTrainSpec,
    explain_flat_step,
    is_flat_file,
    score_flat_step,
    train_flat_step,
)
from leadscore.pipeline.progress import ProgressFn, no_progress
from leadscore.pipeline.rules import RulesResult, RulesSpec, rules_init_step, rules_score_step
from leadscore.pipeline.score import (
    ExplainSpec,
    ScoreSpec,
    ScoreStepResult,
    explain_step,
    score_step,
    top_leads,
)
from leadscore.pipeline.train import (
    EvaluateSpec,
    EvaluateStepResult,
    PromoteSpec,
    TrainSpec,
    TrainStepResult,
    evaluate_step,
    list_versions_step,
    load_training_config,
    oracle_for_table,
    promote_step,
    train_step,
)

__all__ = [
    "DEFAULT_DEMO_CRM",
    "DEFAULT_SCORES_OUT",
    "DEFAULT_SCORES_STORE",
    "DEFAULT_TRAINING_TABLE",
    "DemoEvent",
    "DemoResult",
    "DemoSpec",
    "DemoStage",
    "EvaluateSpec",
    "EvaluateStepResult",
    "ExplainSpec",
    "FeaturesResult",
    "FeaturesSpec",
    "FlatExplainSpec",
    "FlatScoreSpec",
    "FlatTrainSpec",
    "GenerateSpec",
    "ProgressFn",
    "PromoteSpec",
    "RulesResult",
    "RulesSpec",
    "ScoreSpec",
    "ScoreStepResult",
    "TopLeads",
    "TrainSpec",
    "TrainStepResult",
    "ValidateSpec",
    "ValidationReport",
    "build_features_step",
    "default_schedule",
    "evaluate_step",
    "explain_flat_step",
    "explain_step",
    "generate_step",
    "is_flat_file",
    "list_versions_step",
    "load_training_config",
    "no_progress",
    "open_mapped_crm",
    "oracle_for_table",
    "promote_step",
    "rules_init_step",
    "rules_score_step",
    "run_demo",
    "score_flat_step",
    "score_step",
    "top_leads",
    "train_flat_step",
    "train_step",
    "validate_step",
]
