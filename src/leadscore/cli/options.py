"""The command line's options and arguments, declared once (types, flags, help texts), and what
the global ``--debug`` option changes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from leadscore.features.labels import FromStage
from leadscore.pipeline.defaults import STORE_ENVVAR


@dataclass
class RunOptions:
    """Global options: the root callback sets them, ``main`` reads them."""

    debug: bool = False


def quiet_third_party_logs(*, debug: bool) -> None:
    """MLflow's INFO logs and download bars drown the CLI's own progress; keep its errors."""
    if debug:
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read when mlflow is imported
    logging.getLogger("mlflow").setLevel(logging.ERROR)


Every = Literal["week", "month"]
OutputFormat = Literal["duckdb", "parquet", "csv"]

Config = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (CRM label mappings).", dir_okay=False),
]
AsOf = Annotated[
    datetime | None,
    typer.Option(
        help="Timestamps after this moment count as 'in the future' (default: now); a date "
        "alone means the end of that day.",
        parser=lambda text: as_of_moment(text),
        metavar="<date|datetime>",
    ),
]
Tracking = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)."
    ),
]
ModelName = Annotated[str, typer.Option(help="Registered model name.")]
Model = Annotated[
    str,
    typer.Option(
        help="Alias (champion, challenger) or version of the model leadscore, "
        "models:/NAME@ALIAS or models:/NAME/VERSION for another model, or a pyfunc folder."
    ),
]
Contacts = Annotated[int, typer.Option(min=10, help="Number of contacts.")]

# generate, validate
GenerateOut = Annotated[
    Path, typer.Option(help="Output: a .duckdb file, or a folder for parquet/csv.")
]
Seed = Annotated[int, typer.Option(help="Random seed (same seed, same data).")]
DriftAt = Annotated[
    datetime | None,
    typer.Option(help="Plant a drift: behaviour and conversion shift after this date."),
]
DriftStrength = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Drift strength (1: the ideal profile flips).")
]
Format = Annotated[
    OutputFormat | None,
    typer.Option("--format", help="Output format (default: from the --out suffix)."),
]
ValidateSource = Annotated[
    str, typer.Argument(help="A .duckdb file, a folder of CSV/Parquet tables or a DB URL.")
]

# features build
BuildSource = Annotated[str, typer.Argument(help="CRM source (DuckDB file, folder or DB URL).")]
TableOut = Annotated[Path, typer.Option(help="Training table (Parquet).")]
Definition = Annotated[
    Path | None,
    typer.Option(help="Feature config YAML: include, exclude, windows, add, rules, lookback_days."),
]
Start = Annotated[
    datetime | None,
    typer.Option(
        help="First cutoff (default: the first of the month two months after the first contact)."
    ),
]
End = Annotated[datetime | None, typer.Option(help="Last cutoff (default: data end).")]
EveryOption = Annotated[Every, typer.Option(help="Cutoff step.")]
Horizon = Annotated[int, typer.Option(min=1, help="Label horizon in days.")]
LabelTimesOption = Annotated[
    Path | None,
    typer.Option(
        "--label-times",
        help="CSV/Parquet of (contact_id, cutoff) pairs to build for, instead of a schedule.",
        dir_okay=False,
    ),
]
FromStageOption = Annotated[
    FromStage, typer.Option(help="Eligible contacts: all leads (any) or MQLs only (mql).")
]

# train, evaluate, promote
TrainingTableArg = Annotated[
    Path | None,
    typer.Argument(
        help="Training table from `leadscore features build` (a flat CSV export: --table)."
    ),
]
FlatTable = Annotated[
    Path | None, typer.Option("--table", help="Flat mode: a one-row-per-lead CSV export.")
]
Target = Annotated[str | None, typer.Option(help="Flat mode: the outcome column.")]
TimeColumn = Annotated[
    str | None, typer.Option(help="Flat mode: a time column for an out-of-time split.")
]
Keep = Annotated[
    list[str] | None, typer.Option(help="Flat mode: keep a column the leakage detector flags.")
]
TrainingConfig = Annotated[
    Path | None, typer.Option(help="Training config YAML (split, params, rules_path, ...).")
]
SampleNegatives = Annotated[
    float | None,
    typer.Option(
        help="Share (0 to 1] of the training period's negative rows to fit on (all positives kept, kept "
        "negatives weighted 1/share; validation and test never sampled). Default: the training "
        "config's sample_negatives.",
    ),
]
SampleSeed = Annotated[
    int | None,
    typer.Option(help="Seed of the negative sample (default: the training config's sample_seed)."),
]
OracleCrm = Annotated[
    Path | None,
    typer.Option(help="Synthetic CRM (.duckdb) whose oracle is shown in the report."),
]
FlatReport = Annotated[
    Path | None,
    typer.Option(help="Flat mode: report path (default: reports/flat-<export name>.html)."),
]
TestFrom = Annotated[
    datetime | None,
    typer.Option(help="Flat mode: the test period starts here (needs --time-column)."),
]
TestFraction = Annotated[
    float,
    typer.Option(help="Flat mode: share of rows (the latest, with --time-column) to test on."),
]
FlatSeed = Annotated[int, typer.Option(help="Flat mode: seed of a random split and of the models.")]
Drop = Annotated[list[str] | None, typer.Option(help="Flat mode: a column never to use.")]
RulesColumn = Annotated[
    str | None,
    typer.Option(
        help="Flat mode: your tool's lead-score column, the rules baseline the models are "
        "compared with (never a feature)."
    ),
]
FlatRulesFile = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Flat mode: your points rules as YAML over the export's columns (the rules "
        "baseline; write a starter with `leadscore rules init --flat EXPORT.csv`).",
    ),
]
MqlThreshold = Annotated[
    float | None,
    typer.Option(help="Flat mode: MQL bar on --rules-column (default: 50 points)."),
]
NaValues = Annotated[
    list[str] | None,
    typer.Option(
        "--na-value",
        help="Flat mode: a text read as missing (repeat it); default: '', 'Select', 'N/A', '-'...",
    ),
]
TrainModelName = Annotated[
    str | None,
    typer.Option(
        help="Registered model name (default: leadscore; with a training table, the training "
        "config's model_name)."
    ),
]
ExplainTable = Annotated[
    Path | None,
    typer.Option(
        "--table",
        help="A flat export: CONTACT_ID is then one of its rows (its id, or a row number).",
    ),
]
TestTable = Annotated[Path, typer.Argument(help="Training table to test on.")]
VersionOrAlias = Annotated[str, typer.Option(help="Version number or alias.")]
EvaluateConfig = Annotated[Path | None, typer.Option(help="Training config YAML.")]
PromoteVersion = Annotated[
    str | None, typer.Option(help="Version to promote (default: challenger).")
]
PromoteTable = Annotated[
    Path | None,
    typer.Option(help="Re-score champion and challenger on this table's test window."),
]
Metric = Annotated[
    str,
    typer.Option(
        help="Run metric compared: test_<measure>_<model>_<target>, measure roc_auc, pr_auc, "
        "brier or log_loss (lower is better), model shipped (the head that ships), lightgbm, "
        "logistic or rules, target sql or meeting (a flat model logs its target as sql). A name "
        "the version lacks lists the ones it has."
    ),
]
Margin = Annotated[
    float,
    typer.Option(
        help="How much better than the champion the challenger must be, in the metric's units "
        "(0.005: half a point of AUC); a first champion must beat the rules by it."
    ),
]
Force = Annotated[bool, typer.Option(help="Promote regardless (recorded as a tag).")]

# rules score
FeatureTable = Annotated[Path, typer.Argument(help="A training or feature table (Parquet).")]
Rules = Annotated[Path | None, typer.Option(help="Rules YAML (default: the bundled one).")]
PointsOut = Annotated[Path | None, typer.Option(help="Write points per row to this CSV.")]

# score, explain, serve, demo
ScoreSource = Annotated[
    str,
    typer.Argument(
        help="A CRM (.duckdb file, folder of tables or DB URL), or a flat export (.csv) for a "
        "flat model."
    ),
]
ScoresOut = Annotated[
    Path | None,
    typer.Option(
        help="Output file, written atomically: a CRM's scores as Parquet (default "
        "scores.parquet); a flat export's as CSV or Parquet by the suffix (default "
        "flat-scores.csv)."
    ),
]
HistoryStore = Annotated[
    str,
    typer.Option(
        envvar=STORE_ENVVAR,
        help="Score store the history is appended to: a DuckDB file or a PostgreSQL URL "
        "(postgresql://user@host/db). --engine spark keeps the history beside the scores "
        "instead (--out folder, _runs/) and opens no store.",
    ),
]
Record = Annotated[
    bool | None,
    typer.Option(
        "--record/--no-record",
        help="Append the run to the score history (the reps' current scores, the inbox, the "
        "export). Default: yes, unless --model is a registry alias other than champion "
        "(e.g. challenger).",
        show_default=False,
    ),
]
ChunkSize = Annotated[int, typer.Option(min=1, help="Contacts per chunk.")]


def as_of_moment(text: str) -> datetime:
    """An ``--as-of`` value: a date alone (``2025-12-30``, an export's date) means the end of
    that day (never after now), so the day's own activity counts; a time is taken as given."""
    from leadscore.clock import as_of_from_text

    try:
        return as_of_from_text(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date or a datetime: use YYYY-MM-DD (the end of that day) or "
            "YYYY-MM-DDTHH:MM:SS."
        ) from None


ScoreAsOf = Annotated[
    datetime | None,
    typer.Option(
        help="Score as of this moment (default: now); a date alone means the end of that day.",
        parser=as_of_moment,
        metavar="<date|datetime>",
    ),
]
ContactId = Annotated[
    str, typer.Argument(help="The contact to explain (with --table: a row id or row number).")
]
ExplainCrm = Annotated[str, typer.Option("--crm", help="CRM location.")]
ExplainAsOf = Annotated[
    datetime | None,
    typer.Option(
        help="Explain as of this moment (default: now, or the data's end when the data stop "
        "more than 30 days before now); a date alone means the end of that day.",
        parser=as_of_moment,
        metavar="<date|datetime>",
    ),
]
Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="Port.")]
ServeStore = Annotated[
    str,
    typer.Option(
        envvar=STORE_ENVVAR,
        help="Score store (history, feedback, users): a DuckDB file, or a PostgreSQL URL "
        "(postgresql://user@host/db) shared by several API workers.",
    ),
]
ServeCrm = Annotated[
    Path | None,
    typer.Option(
        help="CRM the account-level features read the leads' colleagues from (default: none; a "
        'model with such features then scores only requests that say "complete_accounts": '
        "true)."
    ),
]
FollowSeconds = Annotated[
    float,
    typer.Option(
        min=0,
        help="How often (seconds) the server checks whether the alias it serves (e.g. "
        "champion) moved; a new version is loaded in the background and scores every request "
        "that starts after. 0: keep the version loaded at start. A fixed --model (a version "
        "number, folder or models:/NAME/N) is never switched.",
    ),
]
DemoOut = Annotated[Path, typer.Option(help="Where to write the demo CRM.")]
DemoSeed = Annotated[int, typer.Option(help="Random seed.")]
DemoStore = Annotated[
    str,
    typer.Option(
        help="Score store the demo's scores go to (what `serve` reads): a DuckDB file or a "
        "PostgreSQL URL."
    ),
]
