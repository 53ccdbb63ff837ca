"""Point-in-time features and labels from one declarative feature definition.

Typical use::

    from leadscore.features import CutoffSchedule, build_training_table, load_definition

    definition = load_definition()  # the built-in catalog, or load_definition("features.yaml")
    schedule = CutoffSchedule(date(2024, 1, 1), date(2024, 12, 1), every="month")
    result = build_training_table(crm, definition, schedule, 30, Path("training.parquet"))
"""

from __future__ import annotations

from leadscore.features.build import (
    CutoffStats,
    TrainingTable,
    build_features,
    build_training_table,
    data_end_of,
    metadata_path,
    read_training_table,
)
from leadscore.features.definition import (
    Concept,
    FeatureConfig,
    FeatureDefinition,
    FeatureType,
    load_definition,
)
from leadscore.features.engine import DuckDBEngine, Engine, SparkEngine
from leadscore.features.labels import DEFAULT_HORIZON_DAYS, LABELS, CutoffSchedule

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "LABELS",
    "Concept",
    "CutoffSchedule",
    "CutoffStats",
    "DuckDBEngine",
    "Engine",
    "FeatureConfig",
    "FeatureDefinition",
    "FeatureType",
    "SparkEngine",
    "TrainingTable",
    "build_features",
    "build_training_table",
    "data_end_of",
    "load_definition",
    "metadata_path",
    "read_training_table",
]
