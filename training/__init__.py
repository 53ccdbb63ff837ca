"""Training and honest evaluation: rules baseline, LightGBM and logistic heads per target,
out-of-time evaluation at sales capacity, HTML report, MLflow tracking and registry.

Importing this package is cheap and side-effect free: MLflow is imported only by the functions
that log or read runs.
"""

from __future__ import annotations

from leadscore.training.api import (
    TrainingResult,
    evaluate,
    flatten_metrics,
    list_models,
    promote,
    summary_table,
    train,
)
from leadscore.training.flat import FlatResult, LeakageConfig, train_flat_table
from leadscore.training.pipeline import TrainingConfig, TrainingOutcome, fit_and_evaluate
from leadscore.training.rules import RuleSet, default_rules, load_rules, mql_flags, score_rules
from leadscore.training.table import TrainingTable, load_training_table
from leadscore.training.tracking import DEFAULT_TRACKING_URI, ModelVersionInfo, PromotionDecision

__all__ = [
    "DEFAULT_TRACKING_URI",
    "FlatResult",
    "LeakageConfig",
    "ModelVersionInfo",
    "PromotionDecision",
    "RuleSet",
    "TrainingConfig",
    "TrainingOutcome",
    "TrainingResult",
    "TrainingTable",
    "default_rules",
    "evaluate",
    "fit_and_evaluate",
    "flatten_metrics",
    "list_models",
    "load_rules",
    "load_training_table",
    "mql_flags",
    "promote",
    "score_rules",
    "summary_table",
    "train",
    "train_flat_table",
]
