"""The ``leadscore`` command line. It parses arguments and calls the package; no logic lives here."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from leadscore import __version__
from leadscore.config import format_validation_error, load_config, read_yaml_mapping
from leadscore.errors import ConfigError, LeadscoreError

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.crm import CrmData
    from leadscore.features import BuildResult as TrainingTableResult
    from leadscore.features import CutoffSchedule
    from leadscore.serving.batch import BatchResult
    from leadscore.training import (
        ModelVersionInfo,
        PromotionDecision,
        TrainingConfig,
        TrainingResult,
    )

__all__ = ["app", "main"]

app = typer.Typer(
    name="leadscore",
    help="Predictive lead scoring: point-in-time features, honest evaluation, explained scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DEFAULT_DEMO_CRM = Path("data/demo/crm.duckdb")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (CRM label mappings).", dir_okay=False),
]
Every = Literal["week", "month"]
FromStage = Literal["any", "mql"]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(help="Timestamps after this moment count as 'in the future' (default: now)."),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"leadscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Predictive lead scoring for B2B marketing teams."""


def _make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@contextmanager
def _progress(description: str) -> Iterator[Progress]:
    with _make_progress() as progress:
        yield progress


@app.command()
def generate(
    out: Annotated[
        Path, typer.Option(help="Output: a .duckdb file, or a folder for parquet/csv.")
    ] = DEFAULT_DEMO_CRM,
    contacts: Annotated[int, typer.Option(min=10, help="Number of contacts.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    fmt: Annotated[
        Literal["duckdb", "parquet", "csv"] | None,
        typer.Option("--format", help="Output format (default: from the --out suffix)."),
    ] = None,
) -> None:
    """Generate a realistic synthetic CRM with a true-probability oracle kept apart."""
    from leadscore.synthetic import GeneratorConfig, generate_crm

    config = GeneratorConfig(n_contacts=contacts, seed=seed)
    with _progress("Generating contacts") as progress:
        task = progress.add_task("Generating contacts", total=contacts)
        summary = generate_crm(
            config, out, fmt=fmt, progress=lambda done, total: progress.update(task, completed=done)
        )
    table = Table(title=f"Synthetic CRM written to {out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"Generated in {summary.elapsed_seconds:.1f} s.")


def _print_funnel(location: Path | str, config_path: Path | None, as_of: datetime | None) -> None:
    from leadscore.crm import open_crm
    from leadscore.funnel import funnel_summary

    config = load_config(config_path)
    with err_console.status(f"Validating {location}..."):
        crm = open_crm(location, config.mapping, as_of=as_of)
    try:
        counts = crm.row_counts()
        console.print(
            f"[green]Valid[/]: {crm.description}: "
            + ", ".join(f"{n:,} {t}" for t, n in counts.items())
            + f" (fingerprint {crm.fingerprint()})"
        )
        for problem in crm.problems:
            console.print(f"[yellow]warning[/]: {problem}")
        summary = funnel_summary(crm)
    finally:
        crm.close()
    monthly = Table(title="Contacts entering each stage, per month")
    for column in summary.monthly.columns:
        monthly.add_column(str(column), justify="right")
    for row in summary.monthly.itertuples(index=False):
        monthly.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(monthly)
    rates = Table(title="Funnel conversion (contacts ever reaching the next stage)")
    rates.add_column("step")
    rates.add_column("contacts", justify="right")
    rates.add_column("rate", justify="right")
    for step, rate in summary.conversion.items():
        before = step.split("→")[0]
        rates.add_row(step, f"{summary.reached[before]:,}", f"{rate:.1%}")
    console.print(rates)
    console.print(
        f"Leads becoming SQL within 90 days of creation: {summary.sql_within_quarter:.1%}"
    )


@app.command()
def validate(
    source: Annotated[
        str, typer.Argument(help="A .duckdb file, a folder of CSV/Parquet tables or a DB URL.")
    ] = str(DEFAULT_DEMO_CRM),
    config: ConfigOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Validate CRM tables against the data contract and print the funnel summary."""
    _print_funnel(source, config, as_of)


features_app = typer.Typer(help="Point-in-time features and labels.", no_args_is_help=True)
rules_app = typer.Typer(help="The rule-based points baseline.", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(rules_app, name="rules")

DEFAULT_TRAINING_TABLE = Path("data/demo/training.parquet")
TrackingOption = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)."
    ),
]
ModelNameOption = Annotated[str, typer.Option(help="Registered model name.")]


def _load_training_config(path: Path | None) -> TrainingConfig:
    from leadscore.training import TrainingConfig

    if path is None:
        return TrainingConfig()
    try:
        return TrainingConfig.model_validate(read_yaml_mapping(path, "Training config"))
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(
                exc,
                f"Invalid training config {path}:",
                "Unknown keys are not allowed; see TrainingConfig in leadscore.training.",
            )
        ) from None


def _default_schedule(crm: CrmData, every: str) -> CutoffSchedule:
    """Monthly/weekly cutoffs from two months after the first contact to the end of the data."""
    from leadscore.features import CutoffSchedule, data_end_of

    row = crm.con.execute("SELECT min(created_at) FROM contacts").fetchone()
    first = row[0] if row and row[0] is not None else data_end_of(crm)
    start = (first.replace(day=1) + timedelta(days=62)).replace(day=1)
    return CutoffSchedule(start.date(), data_end_of(crm).date(), every=every)  # type: ignore[arg-type]


def _build_table(
    source: str | Path,
    out: Path,
    *,
    config_path: Path | None,
    definition_path: Path | None,
    start: datetime | None,
    end: datetime | None,
    every: Every,
    horizon: int,
    from_stage: FromStage,
    label_times: Path | None = None,
) -> TrainingTableResult:
    from leadscore.crm import open_crm
    from leadscore.features import (
        CutoffSchedule,
        build_training_table,
        data_end_of,
        load_definition,
    )

    definition = load_definition(definition_path)
    crm = open_crm(source, load_config(config_path).mapping)
    try:
        schedule = _default_schedule(crm, every)
        if start is not None or end is not None:
            schedule = CutoffSchedule(
                (start or datetime.combine(schedule.start, datetime.min.time())).date(),
                (end or data_end_of(crm)).date(),
                every=every,
            )
        with _progress("Building features") as progress:
            task = progress.add_task("Building features (cutoffs)", total=None)
            result = build_training_table(
                crm,
                definition,
                None if label_times else schedule,
                horizon,
                out,
                from_stage=from_stage,
                label_times=label_times,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    finally:
        crm.close()
    n_features = len(definition.features)
    console.print(
        f"Training table: {result.rows:,} rows x {n_features} features, "
        f"{len(result.per_cutoff)} cutoffs, {horizon}-day horizon -> {result.path}"
    )
    console.print(
        "Label rates: "
        + ", ".join(f"{k} {v:.2%}" for k, v in result.label_rates.items() if v is not None)
    )
    censored = result.metadata.get("censored_cutoffs", [])
    console.print(
        f"Censored (horizon runs past the end of the data, excluded): "
        f"{result.censored_rows:,} rows in {len(censored)} cutoff(s)"
    )
    return result


@features_app.command("build")
def features_build(
    source: Annotated[
        str, typer.Argument(help="CRM source (DuckDB file, folder or DB URL).")
    ] = str(DEFAULT_DEMO_CRM),
    out: Annotated[Path, typer.Option(help="Training table (Parquet).")] = DEFAULT_TRAINING_TABLE,
    config: ConfigOption = None,
    definition: Annotated[
        Path | None,
        typer.Option(
            help="Feature config YAML: include, exclude, windows, add, rules, lookback_days."
        ),
    ] = None,
    start: Annotated[datetime | None, typer.Option(help="First cutoff (default: auto).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Last cutoff (default: data end).")] = None,
    every: Annotated[Every, typer.Option(help="Cutoff step.")] = "month",
    horizon: Annotated[int, typer.Option(min=1, help="Label horizon in days.")] = 30,
    from_stage: Annotated[
        FromStage, typer.Option(help="Eligible contacts: all leads (any) or MQLs only (mql).")
    ] = "any",
    label_times: Annotated[
        Path | None,
        typer.Option(
            help="CSV/Parquet of (contact_id, cutoff) pairs to build for, instead of a schedule.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Build the point-in-time training table (one row per contact and cutoff) with labels."""
    _build_table(
        source,
        out,
        config_path=config,
        definition_path=definition,
        start=start,
        end=end,
        every=every,
        horizon=horizon,
        from_stage=from_stage,
        label_times=label_times,
    )


def _oracle_for_table(crm_path: Path, table: Path) -> pd.DataFrame | None:
    """True probabilities for a synthetic CRM's training table (None for a real CRM)."""
    import duckdb
    import pandas as pd

    from leadscore.features import read_training_table
    from leadscore.synthetic import true_probabilities

    with duckdb.connect(str(crm_path), read_only=True) as con:
        has_oracle = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'oracle'"
        ).fetchone()
    if not has_oracle or not has_oracle[0]:
        return None
    frame, metadata = read_training_table(table)
    cutoffs = sorted(pd.to_datetime(frame["cutoff"].unique()).to_pydatetime())
    with err_console.status("Computing the oracle's true probabilities..."):
        return true_probabilities(crm_path, cutoffs, metadata.horizon_days)


_SUMMARY_HEADERS = {
    "roc_auc": "AUC",
    "roc_auc_95ci": "AUC CI",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "found_at_mql_volume": "found@MQL",
    "normalized_auc": "norm.AUC",
}


def _print_summary(summary: pd.DataFrame, title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in summary.columns:
        table.add_column(
            _SUMMARY_HEADERS.get(str(column), str(column)),
            justify="left" if column in {"method", "target"} else "right",
        )
    for row in summary.itertuples(index=False):
        table.add_row(*(f"{v:,.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def _train_progress() -> tuple[Progress, Callable[[str, int, int], None]]:
    progress = _make_progress()
    tasks: dict[str, TaskID] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total)
        progress.update(tasks[step], completed=done, total=total)

    return progress, update


@app.command()
def train(
    training_table: Annotated[
        Path | None, typer.Argument(help="Training table from `leadscore features build`.")
    ] = None,
    table: Annotated[
        Path | None, typer.Option("--table", help="Flat mode: a one-row-per-lead CSV export.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Flat mode: the outcome column.")] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Flat mode: a time column for an out-of-time split.")
    ] = None,
    keep: Annotated[
        list[str] | None, typer.Option(help="Flat mode: keep a column the leakage detector flags.")
    ] = None,
    training_config: Annotated[
        Path | None, typer.Option(help="Training config YAML (split, params, rules_path, ...).")
    ] = None,
    oracle_crm: Annotated[
        Path | None,
        typer.Option(help="Synthetic CRM (.duckdb) whose oracle is shown in the report."),
    ] = None,
    tracking_uri: TrackingOption = None,
    report: Annotated[Path | None, typer.Option(help="Flat mode: report path.")] = None,
) -> None:
    """Train LightGBM + logistic per target, evaluate out of time against the rules, register."""
    if table is not None:
        _train_flat(table, target, time_column, keep or [], report)
        return
    if training_table is None:
        raise ConfigError(
            "Give a training table (from `leadscore features build`) or --table CSV --target "
            "COLUMN for a flat one-row-per-lead export."
        )
    _train_table(training_table, training_config, oracle_crm, tracking_uri)


def _train_table(
    training_table: Path,
    config_path: Path | None,
    oracle_crm: Path | None,
    tracking_uri: str | None,
) -> TrainingResult:
    from leadscore.training import train as train_models

    config = _load_training_config(config_path)
    oracle = _oracle_for_table(oracle_crm, training_table) if oracle_crm else None
    progress, update = _train_progress()
    with progress:
        result = train_models(
            training_table, tracking_uri=tracking_uri, config=config, oracle=oracle, progress=update
        )
    _print_summary(result.summary, "Out-of-time test: rules vs models")
    for sentence in result.headline:
        console.print(f"• {sentence}")
    console.print(f"Report: {result.report_path}")
    if result.model_version:
        console.print(
            f"Registered {config.model_name} version {result.model_version} as challenger "
            f"(run {result.run_id})."
        )
    return result


def _train_flat(
    table: Path, target: str | None, time_column: str | None, keep: list[str], report: Path | None
) -> None:
    from leadscore.training import train_flat_table

    if target is None:
        raise ConfigError("Flat mode needs --target COLUMN (the converted flag).")
    progress, update = _train_progress()
    with progress:
        result = train_flat_table(
            table,
            target,
            time_column,
            keep_columns=keep,
            report_path=report or Path("reports") / f"flat-{table.stem}.html",
            progress=update,
        )
    console.print(f"Split: {result.split_mode}")
    for column, why in result.dropped.items():
        console.print(f"[yellow]excluded[/] {column}: {why}")
    _print_summary(result.summary, f"Flat table {table.name}: models on the held-out split")
    console.print(f"Report: {result.report_path}")


@app.command()
def evaluate(
    training_table: Annotated[Path, typer.Argument(help="Training table to test on.")],
    model: Annotated[str, typer.Option(help="Version number or alias.")] = "champion",
    model_name: ModelNameOption = "leadscore",
    training_config: Annotated[Path | None, typer.Option(help="Training config YAML.")] = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Score a training table's out-of-time test period with a registered model."""
    from leadscore.training import evaluate as evaluate_model

    metrics = evaluate_model(
        training_table,
        model_name=model_name,
        ref=model,
        tracking_uri=tracking_uri,
        config=_load_training_config(training_config),
    )
    table = Table(title=f"{model_name}@{model} on {training_table}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        table.add_row(key, f"{value:.4f}")
    console.print(table)


@app.command()
def promote(
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: challenger).")
    ] = None,
    training_table: Annotated[
        Path | None,
        typer.Option(help="Re-score champion and challenger on this table's test window."),
    ] = None,
    metric: Annotated[str, typer.Option(help="Metric compared.")] = "test_roc_auc_lightgbm_sql",
    margin: Annotated[float, typer.Option(help="Required improvement over the champion.")] = 0.005,
    force: Annotated[bool, typer.Option(help="Promote regardless (recorded as a tag).")] = False,
    model_name: ModelNameOption = "leadscore",
    tracking_uri: TrackingOption = None,
) -> None:
    """Make the challenger the champion if it beats the current champion by the margin."""
    from leadscore.training import promote as promote_model

    decision = promote_model(
        model_name,
        tracking_uri=tracking_uri,
        version=version,
        metric=metric,
        margin=margin,
        force=force,
        training_table=training_table,
    )
    verdict = "[green]promoted[/]" if decision.promoted else "[yellow]not promoted[/]"
    console.print(
        f"Version {decision.challenger_version} {verdict}: {decision.reason} "
        f"({decision.metric}: challenger {decision.challenger_value:.4f}, champion "
        f"{_fmt(decision.champion_value)}, margin {margin:g})."
    )
    if not decision.promoted:
        raise typer.Exit(1)


@app.command()
def models(
    model_name: ModelNameOption = "leadscore",
    tracking_uri: TrackingOption = None,
) -> None:
    """List registered model versions with aliases and headline metrics."""
    from leadscore.training import list_models

    versions = list_models(model_name, tracking_uri=tracking_uri)
    if not versions:
        console.print(f"No version of {model_name} is registered yet: run `leadscore train`.")
        return
    table = Table(title=f"Registered versions of {model_name}")
    for column in ("version", "aliases", "AUC sql", "AUC meeting", "gain at MQL volume", "run"):
        table.add_column(column)
    for info in versions:
        m = info.metrics
        table.add_row(
            info.version,
            ", ".join(info.aliases),
            _fmt(m.get("test_roc_auc_lightgbm_sql")),
            _fmt(m.get("test_roc_auc_lightgbm_meeting")),
            _fmt(m.get("gain_at_mql_lightgbm_sql"), percent=True),
            info.run_id[:8],
        )
    console.print(table)


def _fmt(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if percent else f"{value:.3f}"


@rules_app.command("score")
def rules_score(
    training_table: Annotated[Path, typer.Argument(help="A training or feature table (Parquet).")],
    rules: Annotated[
        Path | None, typer.Option(help="Rules YAML (default: the bundled one).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write points per row to this CSV.")] = None,
) -> None:
    """Apply the rule-based points to a feature table; report MQL volume per cutoff."""
    import pandas as pd

    from leadscore.features import read_training_table
    from leadscore.training import default_rules, load_rules, mql_flags, score_rules

    frame, metadata = read_training_table(training_table)
    features = [f.name for f in metadata.features]
    ruleset = load_rules(rules, features=features) if rules else default_rules(features=features)
    points = score_rules(frame, ruleset)
    mql = mql_flags(points, ruleset)
    scored = pd.DataFrame(
        {"contact_id": frame["contact_id"], "cutoff": frame["cutoff"], "points": points, "mql": mql}
    )
    per_cutoff = scored.groupby("cutoff")["mql"].agg(["size", "sum"])
    console.print(
        f"{int(mql.sum()):,} MQL rows out of {len(scored):,} ({mql.mean():.1%}); threshold "
        f"{ruleset.mql_threshold:g} points; {per_cutoff['sum'].mean():.0f} MQLs per cutoff on average."
    )
    if out is not None:
        from leadscore.atomic import atomic_write_text

        atomic_write_text(out, scored.to_csv(index=False))
        console.print(f"Points written to {out}")


DEFAULT_SCORES_STORE = Path("data/scores.duckdb")
ModelOption = Annotated[
    str, typer.Option(help="Alias (champion, challenger), version, models:/ URI or pyfunc folder.")
]


@app.command()
def score(
    source: Annotated[str, typer.Argument(help="CRM: .duckdb file, folder or DB URL.")] = str(
        DEFAULT_DEMO_CRM
    ),
    model: ModelOption = "champion",
    out: Annotated[Path, typer.Option(help="Output Parquet (written atomically).")] = Path(
        "scores.parquet"
    ),
    store: Annotated[
        Path, typer.Option(help="Score history DuckDB file (appended).")
    ] = DEFAULT_SCORES_STORE,
    chunk_size: Annotated[int, typer.Option(min=1, help="Contacts per chunk.")] = 50_000,
    as_of: Annotated[
        datetime | None, typer.Option(help="Score as of this moment (default: now).")
    ] = None,
    config: ConfigOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Score the whole contact base with grades and reasons; append to the score history."""
    with _mapped_crm(source, config) as crm:
        _score_base(crm, model, out, store=store, chunk_size=chunk_size, as_of=as_of,
                    tracking_uri=tracking_uri)  # fmt: skip


@contextmanager
def _mapped_crm(source: str | Path, config_path: Path | None) -> Iterator[CrmData]:
    """The CRM validated once, with the config's label mapping."""
    from leadscore.crm import open_crm

    crm = open_crm(source, load_config(config_path).mapping)
    try:
        yield crm
    finally:
        crm.close()


def _score_base(
    source: CrmData,
    model: str,
    out: Path,
    *,
    store: Path,
    chunk_size: int,
    as_of: datetime | None,
    tracking_uri: str | None,
) -> BatchResult:
    from leadscore.serving import score_contact_base

    with _progress("Scoring") as progress:
        task = progress.add_task("Scoring contacts", total=None)
        result = score_contact_base(
            source,
            model,
            out,
            tracking_uri=tracking_uri,
            chunk_size=chunk_size,
            store=store,
            as_of=as_of,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    _warn_if_stale(source, result.as_of)
    console.print(
        f"{result.rows:,} leads scored with model {result.model_version} as of "
        f"{result.as_of:%Y-%m-%d %H:%M} in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s) -> {result.path}; history in {result.store}"
    )
    return result


def _warn_if_stale(crm: CrmData, as_of: datetime) -> None:
    """Scoring long after the data ends makes every lead look cold: say so."""
    from leadscore.features import data_end_of

    end = data_end_of(crm)
    if as_of - end > timedelta(days=30):
        err_console.print(
            f"[yellow]warning[/]: scored as of {as_of:%Y-%m-%d}, {(as_of - end).days} days after "
            f"the data ends ({end:%Y-%m-%d}): recency features make every lead look cold. "
            "Pass --as-of to score as of the export date."
        )


def _print_top_leads(scores_path: Path, top: int) -> str | None:
    import pandas as pd

    scores = pd.read_parquet(scores_path)
    if scores.empty:
        console.print("No eligible lead to score.")
        return None
    best = scores.nlargest(top, "p_sql")
    table = Table(title=f"Top {len(best)} leads by SQL probability")
    for column in ("contact", "grade", "SQL", "meeting", "fit", "engagement", "top reasons"):
        table.add_column(column, justify="right" if column in {"SQL", "meeting"} else "left")
    for row in best.itertuples(index=False):
        reasons: list[str] = [str(text) for text in row.reasons_positive[:3]]  # type: ignore[index]
        table.add_row(
            str(row.contact_id),
            str(row.grade),
            f"{row.p_sql:.1%}",
            f"{row.p_meeting:.1%}",
            f"{row.fit_score:.0f}",
            f"{row.engagement_score:.0f}",
            "\n".join(reasons),
        )
    console.print(table)
    return str(best.iloc[0]["contact_id"])


@app.command()
def explain(
    contact_id: Annotated[str, typer.Argument(help="The contact to explain.")],
    source: Annotated[str, typer.Option("--crm", help="CRM location.")] = str(DEFAULT_DEMO_CRM),
    model: ModelOption = "champion",
    as_of: Annotated[
        datetime | None, typer.Option(help="Explain as of this moment (default: now).")
    ] = None,
    config: ConfigOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """One lead's score, grade and top reasons, in words."""
    with _mapped_crm(source, config) as crm:
        _explain(crm, contact_id, model, as_of=as_of, tracking_uri=tracking_uri)


def _explain(
    source: CrmData,
    contact_id: str,
    model: str,
    *,
    as_of: datetime | None,
    tracking_uri: str | None,
) -> None:
    from leadscore.serving import explain_contact

    e = explain_contact(source, contact_id, model, tracking_uri=tracking_uri, as_of=as_of)
    console.print(
        f"[bold]{e.contact_id}[/]: grade [bold]{e.grade}[/], SQL {e.p_sql:.1%}, meeting "
        f"{e.p_meeting:.1%} (fit {e.fit_score:.0f}/100, engagement {e.engagement_score:.0f}/100; "
        f"model {e.model_version}, as of {e.as_of:%Y-%m-%d})",
        highlight=False,
    )
    for reason in e.positive:
        console.print(f"  [green]+[/] {reason.text}", highlight=False)
    for reason in e.negative:
        console.print(f"  [red]-[/] {reason.text}", highlight=False)


@app.command()
def serve(
    model: ModelOption = "champion",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    store: Annotated[Path, typer.Option(help="Score history DuckDB file.")] = DEFAULT_SCORES_STORE,
    tracking_uri: TrackingOption = None,
    crm: Annotated[
        Path | None,
        typer.Option(help="CRM the account-level features read the leads' colleagues from."),
    ] = None,
) -> None:
    """Run the HTTP scorer (API key from $LEADSCORE_API_KEY; OpenAPI docs at /docs)."""
    from leadscore.serving.api import serve as run_server

    run_server(model, host=host, port=port, tracking_uri=tracking_uri, store=store, crm=crm)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to write the demo CRM.")] = DEFAULT_DEMO_CRM,
    contacts: Annotated[int, typer.Option(min=10, help="Number of contacts.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    tracking_uri: TrackingOption = None,
) -> None:
    """Run the whole pipeline on a bundled synthetic CRM (DuckDB, offline)."""
    console.rule("[bold]1. Synthetic CRM")
    generate(out=out, contacts=contacts, seed=seed, fmt=None)
    console.rule("[bold]2. Validation and funnel")
    _print_funnel(out, None, None)
    console.rule("[bold]3. Point-in-time features and labels")
    table = out.parent / "training.parquet"
    _build_table(
        out,
        table,
        config_path=None,
        definition_path=None,
        start=None,
        end=None,
        every="week",
        horizon=30,
        from_stage="any",
    )
    console.rule("[bold]4. Training and out-of-time evaluation")
    result = _train_table(table, None, out, tracking_uri)
    model = "champion"
    if result.model_version and not any(
        "champion" in v.aliases for v in _list_versions(tracking_uri)
    ):
        decision = _promote_first(tracking_uri)
        if decision.promoted:
            console.print(
                f"Version {decision.challenger_version} is the champion: {decision.reason}."
            )
        else:  # the gate refused it: show what the challenger would do, without promoting it
            model = "challenger"
            console.print(
                f"[yellow]Not promoted[/]: {decision.reason}; scoring with the challenger."
            )
    console.print("Browse the runs: mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db")
    from leadscore.features import data_end_of

    console.rule(f"[bold]5. Batch scoring of the contact base with the {model}")
    with _mapped_crm(out, None) as crm:
        # the synthetic history ends on its last day: score as of then, not as of today
        as_of = data_end_of(crm)
        scores = _score_base(
            crm,
            model,
            out.parent / "scores.parquet",
            store=out.parent / "scores.duckdb",
            chunk_size=50_000,
            as_of=as_of,
            tracking_uri=tracking_uri,
        )
        best = _print_top_leads(scores.path, 10)
        if best is not None:
            console.rule(f"[bold]6. leadscore explain {best}")
            _explain(crm, best, model, as_of=as_of, tracking_uri=tracking_uri)


def _list_versions(tracking_uri: str | None) -> list[ModelVersionInfo]:
    from leadscore.training import list_models

    return list_models(tracking_uri=tracking_uri)


def _promote_first(tracking_uri: str | None) -> PromotionDecision:
    from leadscore.training import promote as promote_model

    return promote_model(tracking_uri=tracking_uri)


def _quiet_third_party_logs(*, debug: bool) -> None:
    """MLflow's INFO logs and download bars drown the CLI's own progress; keep its errors."""
    if debug:
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read when mlflow is imported
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns leadscore errors into a message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    _quiet_third_party_logs(debug="--debug" in args)
    try:
        app(args=args, prog_name="leadscore")
    except LeadscoreError as exc:
        if "--debug" in args:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]: previous outputs are left intact.")
        raise SystemExit(130) from None
    except Exception as exc:  # a bug, not a user error: still no traceback unless --debug
        if "--debug" in args:
            traceback.print_exc()
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}. This is a bug in "
            "leadscore; run again with --debug for the traceback and report it.",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(70) from None
