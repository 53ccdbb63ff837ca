"""Flat-mode steps: train and register on a one-row-per-lead export, score an export, explain
one of its rows. The same registry, aliases and promotion gate as CRM mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.errors import ConfigError
from leadscore.flat_csv import DEFAULT_NA_VALUES
from leadscore.pipeline.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from leadscore.serving.flat_batch import FlatBatchResult, FlatRowExplanation
    from leadscore.training import FlatResult

__all__ = [
    "FlatExplainSpec",
    "FlatScoreSpec",
    "FlatTrainSpec",
    "explain_flat_step",
    "is_flat_file",
    "score_flat_step",
    "train_flat_step",
]

FLAT_SUFFIXES = (".csv", ".tsv", ".txt")


def is_flat_file(source: str | Path) -> bool:
    """Whether a scoring source is a single export file (CSV/TSV), not a CRM."""
    path = Path(str(source))
    return path.suffix.lower() in FLAT_SUFFIXES and not path.is_dir()


@dataclass(frozen=True, kw_only=True)
class FlatTrainSpec:
    """Flat mode: a one-row-per-lead CSV export and its outcome column; an optional time column
    (dates or a row-order number) for an out-of-time split, where the test starts (a date, or
    the latest fraction of rows), the seed of a random split; columns kept despite the leakage
    detector or dropped; placeholder texts read as missing; the report path (default:
    ``reports/flat-<table>.html``); where to register (``track``: log an MLflow run and
    register a version as challenger)."""

    table: Path
    target: str | None
    time_column: str | None = None
    test_from: date | None = None
    test_fraction: float = 0.2
    seed: int = 0
    keep: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    na_values: tuple[str, ...] = DEFAULT_NA_VALUES
    report: Path | None = None
    model_name: str = "leadscore"
    tracking_uri: str | None = None
    track: bool = True
    rules_column: str | None = None
    rules: Path | None = None
    """Points rules in YAML over the export's columns (instead of ``rules_column``)."""
    mql_threshold: float | None = None


def train_flat_step(spec: FlatTrainSpec, *, progress: ProgressFn = no_progress) -> FlatResult:
    """Train and evaluate on a flat export (leaky columns excluded unless kept), save the model
    beside the report and register it (``spec.track``)."""
    from leadscore.training.flat import train_flat_table
    from leadscore.training.flat_artifact import register_flat
    from leadscore.training.flat_rules import FlatRules
    from leadscore.training.flat_split import FlatSplitConfig

    if spec.target is None:
        from leadscore.features.meta import metadata_path

        if metadata_path(spec.table).is_file():
            raise ConfigError(
                f"{spec.table.name} is a training table from `leadscore features build`, not a "
                f"flat export: give it without --table (leadscore train {spec.table})."
            )
        raise ConfigError("Flat mode needs --target COLUMN (the converted flag).")
    if not 0 < spec.test_fraction < 0.8:
        raise ConfigError(f"--test-fraction must be between 0 and 0.8; got {spec.test_fraction}.")
    if spec.rules is not None and spec.rules_column is not None:
        raise ConfigError(
            "Give either --rules-column (your tool's score) or --rules (points rules YAML), "
            "not both."
        )
    if spec.mql_threshold is not None and spec.rules_column is None:
        raise ConfigError(
            "--mql-threshold applies to --rules-column: name the column holding your tool's "
            "lead score" + (" (a rules YAML sets its own mql_threshold)." if spec.rules else ".")
        )
    split = FlatSplitConfig(
        test_from=spec.test_from, test_fraction=spec.test_fraction, seed=spec.seed
    )
    rules = FlatRules(spec.rules_column, spec.mql_threshold) if spec.rules_column else None
    result = train_flat_table(
        spec.table,
        spec.target,
        spec.time_column,
        keep_columns=spec.keep,
        drop_columns=spec.drop,
        report_path=spec.report or Path("reports") / f"flat-{spec.table.stem}.html",
        split=split,
        na_values=spec.na_values,
        rules=rules,
        rules_path=spec.rules,
        progress=progress,
    )
    return register_flat(
        result,
        spec.table,
        spec.target,
        time_column=spec.time_column,
        na_values=spec.na_values,
        model_name=spec.model_name,
        tracking_uri=spec.tracking_uri,
        track=spec.track,
    )


@dataclass(frozen=True, kw_only=True)
class FlatScoreSpec:
    """Score every row of a flat export with a flat model (alias, version, ``models:/`` URI or
    pyfunc folder) into a CSV or Parquet file (by its suffix)."""

    table: Path
    model: str = "champion"
    out: Path = Path("scores/flat-scores.csv")
    tracking_uri: str | None = None


def score_flat_step(spec: FlatScoreSpec) -> FlatBatchResult:
    """Scores, grades and reasons of every row of the export, written atomically."""
    from leadscore.serving.flat_batch import score_flat_file

    return score_flat_file(spec.table, spec.model, spec.out, tracking_uri=spec.tracking_uri)


@dataclass(frozen=True, kw_only=True)
class FlatExplainSpec:
    """One row of a flat export (by the model's id column, else its 1-based row number)."""

    row_id: str
    table: Path
    model: str = "champion"
    tracking_uri: str | None = None


def explain_flat_step(spec: FlatExplainSpec) -> FlatRowExplanation:
    """One row's probability, grade and reasons in words."""
    from leadscore.serving.flat_batch import explain_flat_row

    return explain_flat_row(spec.table, spec.row_id, spec.model, tracking_uri=spec.tracking_uri)
