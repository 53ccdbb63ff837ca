"""Point-in-time features and labels from one declarative feature definition.

Typical use::

    from leadscore.features import CutoffSchedule, build_training_table, load_definition

    definition = load_definition()  # the built-in catalog, or load_definition("features.yaml")
    schedule = CutoffSchedule(date(2024, 1, 1), date(2024, 12, 1), every="month")
    result = build_training_table(crm, definition, schedule, 30, Path("training.parquet"))

    # or for given label times (contact_id, cutoff), e.g. each lead when it became an MQL:
    result = build_training_table(
        crm, definition, None, 30, Path("t.parquet"), label_times=Path("mqls.csv")
    )
    frame, meta = read_training_table(Path("training.parquet"))  # meta: TrainingTableMeta

The names come from their modules on first use (:mod:`leadscore.lazy`): reading a feature
definition does not import pandas or DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadscore.lazy import lazy_names

if TYPE_CHECKING:
    from leadscore.features.build import (
        BuildResult,
        build_features,
        build_training_table,
        data_end_of,
    )
    from leadscore.features.definition import (
        Concept,
        FeatureConfig,
        FeatureDefinition,
        FeatureType,
        load_definition,
    )
    from leadscore.features.engine import DuckDBEngine, Engine, PooledDuckDBEngine, SparkEngine
    from leadscore.features.label_times import LabelTimes, label_times_query
    from leadscore.features.labels import (
        DEFAULT_HORIZON_DAYS,
        LABELS,
        CutoffSchedule,
        FromStage,
    )
    from leadscore.features.meta import (
        CutoffStats,
        TrainingTableMeta,
        metadata_path,
        read_training_table,
    )
    from leadscore.features.stage_entry import StageEntry, stage_entry_label_times

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "LABELS",
    "BuildResult",
    "Concept",
    "CutoffSchedule",
    "CutoffStats",
    "DuckDBEngine",
    "Engine",
    "FeatureConfig",
    "FeatureDefinition",
    "FeatureType",
    "FromStage",
    "LabelTimes",
    "PooledDuckDBEngine",
    "SparkEngine",
    "StageEntry",
    "TrainingTableMeta",
    "build_features",
    "build_training_table",
    "data_end_of",
    "label_times_query",
    "load_definition",
    "metadata_path",
    "read_training_table",
    "stage_entry_label_times",
]

__getattr__ = lazy_names(
    __name__,
    {
        "BuildResult": "leadscore.features.build",
        "Concept": "leadscore.features.definition",
        "CutoffSchedule": "leadscore.features.labels",
        "CutoffStats": "leadscore.features.meta",
        "DEFAULT_HORIZON_DAYS": "leadscore.features.labels",
        "DuckDBEngine": "leadscore.features.engine",
        "Engine": "leadscore.features.engine",
        "FeatureConfig": "leadscore.features.definition",
        "FeatureDefinition": "leadscore.features.definition",
        "FeatureType": "leadscore.features.definition",
        "FromStage": "leadscore.features.labels",
        "LABELS": "leadscore.features.labels",
        "LabelTimes": "leadscore.features.label_times",
        "PooledDuckDBEngine": "leadscore.features.engine",
        "SparkEngine": "leadscore.features.engine",
        "StageEntry": "leadscore.features.stage_entry",
        "TrainingTableMeta": "leadscore.features.meta",
        "build_features": "leadscore.features.build",
        "build_training_table": "leadscore.features.build",
        "data_end_of": "leadscore.features.build",
        "label_times_query": "leadscore.features.label_times",
        "load_definition": "leadscore.features.definition",
        "metadata_path": "leadscore.features.meta",
        "read_training_table": "leadscore.features.meta",
        "stage_entry_label_times": "leadscore.features.stage_entry",
    },
)
