"""``leadscore monitor`` and ``leadscore retrain`` (parse and print only)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from leadscore.cli import options as opt
from leadscore.cli import output
from leadscore.cli.output import console
from leadscore.pipeline.defaults import DEFAULT_DEMO_CRM, DEFAULT_STORE_OPTION, STORE_ENVVAR
from leadscore.pipeline.monitor import DEFAULT_MONITOR_PAGE
from leadscore.pipeline.retrain import DEFAULT_RETRAIN_TABLE

if TYPE_CHECKING:
    from leadscore.pipeline.monitor import MonitorResult
    from leadscore.pipeline.retrain import RetrainResult

__all__ = ["NOT_PROMOTED_EXIT", "register"]

NOT_PROMOTED_EXIT = 6
"""`leadscore retrain` when the gate keeps the champion (as `leadscore promote`)."""

Source = Annotated[str, typer.Option("--crm", help="CRM location (file, folder or URL).")]
Store = Annotated[
    str,
    typer.Option(
        envvar=STORE_ENVVAR,
        help="Score store (history and feedback): a DuckDB file or a PostgreSQL URL.",
    ),
]
SparkHistory = Annotated[
    str | None,
    typer.Option(
        "--history",
        help="Scored cohorts from the runs of `score --engine spark` (its --out folder, local or "
        "a lake URI) instead of the store's history; feedback still comes from --store.",
    ),
]
Model = Annotated[str, typer.Option(help="Registered model alias or version to monitor.")]
MonitorAsOf = Annotated[
    datetime | None,
    typer.Option(
        help="Monitor as of this moment (default: the data's end); a date alone means the end "
        "of that day.",
        parser=lambda text: opt.as_of_moment(text),
        metavar="<date|datetime>",
    ),
]
Page = Annotated[Path, typer.Option("--out", help="HTML page to write.")]
StaleAfter = Annotated[
    int,
    typer.Option(
        min=1,
        help="Days after its test period's last cutoff (the end of the data it was trained and "
        "tested on) a model is stale.",
    ),
]
PsiRetrain = Annotated[
    float, typer.Option(min=0.0, help="PSI above which drift recommends a retrain.")
]
TableOut = Annotated[Path, typer.Option("--table", help="Training table to (re)build.")]
Start = Annotated[
    datetime | None,
    typer.Option(help="First cutoff of the training window (default: the whole history)."),
]
Every = Annotated[Literal["week", "month"], typer.Option(help="Cutoff frequency.")]
Horizon = Annotated[int, typer.Option(min=1, help="Label horizon in days.")]
Target = Annotated[str, typer.Option(help="Target the gate compares (sql or meeting).")]
GateMetricOpt = Annotated[
    Literal["roc_auc", "found_at_capacity"],
    typer.Option("--metric", help="Paired metric: AUC, or positives found at the capacity share."),
]
Capacity = Annotated[
    float,
    typer.Option(min=0.001, max=1.0, help="Share of each cutoff's leads sales can work."),
]
Bootstrap = Annotated[int, typer.Option(min=100, help="Paired bootstrap draws.")]
Confidence = Annotated[float, typer.Option(min=0.5, max=0.999, help="CI level.")]
TrainingConfigOpt = Annotated[
    Path | None, typer.Option("--training-config", help="Training config YAML.")
]
RetrainModelName = Annotated[
    str | None,
    typer.Option(
        "--model-name",
        help="Registered model name (default: the training config's model_name, leadscore "
        "unless it names another).",
    ),
]


def print_monitor(result: MonitorResult) -> None:
    """The verdict loudly, its reasons, the top drifting features and calibration per grade."""
    from leadscore.training.monitor_report import readable_mean  # loaded by the step already

    v = result.verdict
    style = {"ok": "bold green", "retrain recommended": "bold yellow", "stale": "bold red"}
    console.print(
        f"[{style[v.status]}]MONITOR: {v.status.upper()}[/] ({result.champion}, as of "
        f"{result.as_of:%Y-%m-%d}; reference {result.reference}; score PSI "
        f"{result.score_psi:.3f})"
    )
    for reason in v.reasons:
        console.print(f"[{style[v.status]}]  reason[/]: {reason}", highlight=False)
    for warning in v.warnings:
        console.print(f"[yellow]  warning[/]: {warning}", highlight=False)
    table = Table(title="Top drifting features (PSI)", title_justify="left")
    for column in ("feature", "PSI", "mean then", "mean now"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for r in result.features.head(5).itertuples():
        table.add_row(
            str(r.feature),
            f"{r.psi:.3f}",
            readable_mean(float(r.reference_mean)),  # type: ignore[arg-type]
            readable_mean(float(r.current_mean)),  # type: ignore[arg-type]
        )
    console.print(table)
    if not result.calibration.empty:
        cal = Table(title="Realised conversion per grade (matured cohorts)", title_justify="left")
        for column in ("as of", "model", "grade", "leads", "predicted", "realised (95% CI)"):
            cal.add_column(column)
        for r in result.calibration.itertuples():
            flag = " [red]off[/]" if r.off else ""
            cal.add_row(
                str(r.as_of)[:10],
                str(r.model_version),
                str(r.grade),
                str(r.n),
                f"{r.predicted:.1%}",
                f"{r.realised:.1%} ({r.low:.1%}-{r.high:.1%}){flag}",
            )
        console.print(cal)
    console.print(f"Monitor page: {result.page} (exit code {result.exit_code})")


def monitor(
    crm: Source = str(DEFAULT_DEMO_CRM),
    store: Store = DEFAULT_STORE_OPTION,
    history: SparkHistory = None,
    model: Model = "champion",
    as_of: MonitorAsOf = None,
    out: Page = DEFAULT_MONITOR_PAGE,
    stale_after: StaleAfter = 180,
    psi_retrain: PsiRetrain = 0.25,
    config: opt.Config = None,
    model_name: opt.ModelName = "leadscore",
    tracking_uri: opt.Tracking = None,
) -> None:
    """Drift, realised conversion per grade and rep acceptance of the champion; a verdict
    (exit 0 ok, 7 retrain recommended, 8 stale) and an HTML page."""
    from leadscore.pipeline.monitor import MonitorSpec, monitor_step
    from leadscore.training.monitor import MonitorThresholds

    spec = MonitorSpec(
        source=crm,
        store=store,
        history=history,
        model=model,
        as_of=as_of,
        out=out,
        config=config,
        model_name=model_name,
        tracking_uri=tracking_uri,
        thresholds=MonitorThresholds(stale_after_days=stale_after, psi_retrain=psi_retrain),
    )
    with output.Bars() as bars:
        result = monitor_step(spec, progress=bars)
    print_monitor(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def print_retrain(result: RetrainResult) -> None:
    """What was built and trained, then the gate's decision and every reason, loudly."""
    d = result.decision
    console.print(
        f"Built {result.features.path} ({result.features.table.rows:,} rows); trained version "
        f"{d.challenger_version} (report {result.training.result.report_path})."
    )
    for warning in result.training.result.warnings:
        console.print(f"[yellow]warning[/]: {warning}", highlight=False)
    verdict = "[bold green]PROMOTED[/]" if d.promoted else "[bold yellow]NOT PROMOTED[/]"
    champion = d.champion_version or "none"
    console.print(
        f"{verdict}: version {d.challenger_version} vs champion {champion} on the test window "
        f"{d.test_window[0]}..{d.test_window[1]}"
    )
    for reason in d.reasons:
        console.print(f"  reason: {reason}", highlight=False)
    for note in d.checks.notes:
        console.print(f"  note: {note}", highlight=False)
    console.print("The decision is recorded as gate_* tags on the version and its MLflow run.")
    if d.promoted:
        console.print(
            "A running `leadscore serve` of the champion switches to version "
            f"{d.challenger_version} within its --follow-seconds (5 s by default; GET /health "
            "names the version served): no restart needed."
        )


def retrain(
    crm: Source = str(DEFAULT_DEMO_CRM),
    table: TableOut = DEFAULT_RETRAIN_TABLE,
    start: Start = None,
    every: Every = "week",
    horizon: Horizon = 30,
    target: Target = "sql",
    metric: GateMetricOpt = "roc_auc",
    capacity: Capacity = 0.1,
    n_bootstrap: Bootstrap = 1000,
    confidence: Confidence = 0.95,
    margin: opt.Margin = 0.005,
    training_config: TrainingConfigOpt = None,
    config: opt.Config = None,
    model_name: RetrainModelName = None,
    tracking_uri: opt.Tracking = None,
) -> None:
    """The scheduled job: build up to the latest matured cutoff, train a challenger, promote it
    only if a paired bootstrap CI beats the champion (exit 6 when the champion stays)."""
    from leadscore.pipeline.retrain import RetrainSpec, retrain_step

    spec = RetrainSpec(
        source=crm,
        table=table,
        crm_config=config,
        training_config=training_config,
        start=start,
        every=every,
        horizon=horizon,
        target=target,
        metric=metric,
        capacity_share=capacity,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        margin=margin,
        model_name=model_name,
        tracking_uri=tracking_uri,
    )
    with output.Bars() as bars:
        result = retrain_step(spec, progress=bars)
    print_retrain(result)
    if not result.decision.promoted:
        raise typer.Exit(NOT_PROMOTED_EXIT)


def register(app: typer.Typer) -> None:
    """Add ``monitor`` and ``retrain`` to the ``leadscore`` app."""
    app.command("monitor")(monitor)
    app.command("retrain")(retrain)
