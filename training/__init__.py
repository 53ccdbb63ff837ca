"""Training and honest evaluation: rules baseline, LightGBM and logistic heads per target,
out-of-time evaluation at sales capacity, HTML report, MLflow tracking and registry.

Importing this package is cheap and side-effect free: its names come from their modules on
first use (:mod:`leadscore.lazy`: ``leadscore models`` reads the registry without loading
scikit-learn), and MLflow only with the functions that log or read runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadscore.lazy import lazy_names

if TYPE_CHECKING:
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
    from leadscore.training.tracking import (
        DEFAULT_TRACKING_URI,
        ModelVersionInfo,
        PromotionDecision,
    )

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

__getattr__ = lazy_names(
    __name__,
    {
        "DEFAULT_TRACKING_URI": "leadscore.training.tracking",
        "FlatResult": "leadscore.training.flat",
        "LeakageConfig": "leadscore.training.flat",
        "ModelVersionInfo": "leadscore.training.tracking",
        "PromotionDecision": "leadscore.training.tracking",
        "RuleSet": "leadscore.training.rules",
        "TrainingConfig": "leadscore.training.pipeline",
        "TrainingOutcome": "leadscore.training.pipeline",
        "TrainingResult": "leadscore.training.api",
        "TrainingTable": "leadscore.training.table",
        "default_rules": "leadscore.training.rules",
        "evaluate": "leadscore.training.api",
        "fit_and_evaluate": "leadscore.training.pipeline",
        "flatten_metrics": "leadscore.training.api",
        "list_models": "leadscore.training.api",
        "load_rules": "leadscore.training.rules",
        "load_training_table": "leadscore.training.table",
        "mql_flags": "leadscore.training.rules",
        "promote": "leadscore.training.api",
        "score_rules": "leadscore.training.rules",
        "summary_table": "leadscore.training.api",
        "train": "leadscore.training.api",
        "train_flat_table": "leadscore.training.flat",
    },
)
