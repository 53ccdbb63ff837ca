"""The ``leadscore`` command line: it parses arguments (:mod:`leadscore.cli.options`), calls the
pipeline steps (:mod:`leadscore.pipeline`) and prints their results (:mod:`leadscore.cli.output`).
No logic lives here."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from leadscore import __version__
from leadscore.atomic import write_failure
from leadscore.cli import engine_options as engine_opt
from leadscore.cli import flat_output, monitor, output, sales, scoring
from leadscore.cli import funnel_options as funnel_opt
from leadscore.cli import options as opt
from leadscore.cli.help_format import build_command
from leadscore.errors import ConfigError, LeadscoreError, OutputError
from leadscore.flat_csv import DEFAULT_NA_VALUES
from leadscore.pipeline.defaults import (
    DEFAULT_DEMO_CRM,
    DEFAULT_STORE_OPTION,
    DEFAULT_TRAINING_TABLE,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="leadscore",
    help="Predictive lead scoring: point-in-time features, honest evaluation, explained scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
NOT_PROMOTED_EXIT = 6
"""`leadscore promote` when the gate keeps the champion (not an error; README's exit codes)."""

features_app = typer.Typer(help="Point-in-time features and labels.", no_args_is_help=True)
rules_app = typer.Typer(help="The rule-based points baseline.", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(rules_app, name="rules")


def _version(value: bool) -> None:
    if value:
        output.console.print(f"leadscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Predictive lead scoring for B2B marketing teams."""
    ctx.ensure_object(opt.RunOptions).debug = debug
    opt.quiet_third_party_logs(debug=debug)


@app.command()
def generate(
    out: opt.GenerateOut = DEFAULT_DEMO_CRM,
    contacts: opt.Contacts = 20_000,
    seed: opt.Seed = 42,
    fmt: opt.Format = None,
    drift_at: opt.DriftAt = None,
    drift_strength: opt.DriftStrength = 1.0,
) -> None:
    """Generate a realistic synthetic CRM with a true-probability oracle kept apart."""
    from leadscore.pipeline import GenerateSpec, generate_step

    with output.Bars() as bars:
        spec = GenerateSpec(
            out=out,
            contacts=contacts,
            seed=seed,
            fmt=fmt,
            drift_at=drift_at,
            drift_strength=drift_strength,
        )
        summary = generate_step(spec, progress=bars)
    output.print_generation(summary)


@app.command()
def validate(
    source: opt.ValidateSource = str(DEFAULT_DEMO_CRM),
    config: opt.Config = None,
    as_of: opt.AsOf = None,
) -> None:
    """Validate CRM tables against the data contract and print the funnel summary."""
    from leadscore.pipeline import ValidateSpec, validate_step

    with output.Bars() as bars:
        spec = ValidateSpec(source=source, config=config, as_of=as_of)
        report = validate_step(spec, progress=bars)
    output.print_validation(report)


@features_app.command("build")
def features_build(
    source: opt.BuildSource = str(DEFAULT_DEMO_CRM),
    out: opt.TableOut = DEFAULT_TRAINING_TABLE,
    config: opt.Config = None,
    definition: opt.Definition = None,
    start: opt.Start = None,
    end: opt.End = None,
    every: opt.EveryOption = "month",
    horizon: opt.Horizon = 30,
    from_stage: opt.FromStageOption = "any",
    label_times: opt.LabelTimesOption = None,
    at: funnel_opt.AtOption = None,
    entry_offset_days: funnel_opt.EntryOffsetOption = 0,
    max_lead_age_days: funnel_opt.MaxLeadAgeOption = None,
    engine: engine_opt.EngineOption = "duckdb",
    master: engine_opt.MasterOption = None,
    sample_negatives: engine_opt.BuildSampleOption = None,
    sample_until: engine_opt.BuildSampleUntilOption = None,
    sample_seed: engine_opt.BuildSampleSeedOption = 0,
) -> None:
    """Build the point-in-time training table (one row per contact and cutoff) with labels."""
    from leadscore.pipeline import FeaturesSpec, build_features_step
    from leadscore.pipeline.build import build_sample

    spec = FeaturesSpec(
        source=source,
        out=out,
        config=config,
        definition=definition,
        start=start,
        end=end,
        every=every,
        horizon=horizon,
        from_stage=from_stage,
        label_times=label_times,
        at=at,
        entry_offset_days=entry_offset_days,
        max_lead_age_days=max_lead_age_days,
        engine=engine,
        master=master,
        sample=build_sample(sample_negatives, sample_until, sample_seed),
    )
    with output.Bars() as bars:
        built = build_features_step(spec, progress=bars)
    output.print_features(built)


@app.command()
def train(
    training_table: opt.TrainingTableArg = None,
    table: opt.FlatTable = None,
    target: opt.Target = None,
    time_column: opt.TimeColumn = None,
    keep: opt.Keep = None,
    training_config: opt.TrainingConfig = None,
    oracle_crm: opt.OracleCrm = None,
    tracking_uri: opt.Tracking = None,
    report: opt.FlatReport = None,
    test_from: opt.TestFrom = None,
    test_fraction: opt.TestFraction = 0.2,
    seed: opt.FlatSeed = 0,
    drop: opt.Drop = None,
    model_name: opt.TrainModelName = None,
    na_value: opt.NaValues = None,
    targets: funnel_opt.TargetsOption = None,
    rules_column: opt.RulesColumn = None,
    rules: opt.FlatRulesFile = None,
    mql_threshold: opt.MqlThreshold = None,
    sample_negatives: opt.SampleNegatives = None,
    sample_seed: opt.SampleSeed = None,
) -> None:
    """Train LightGBM + logistic per target, evaluate out of time against the rules, register
    the challenger (a training table, or a flat CSV export with --table)."""
    from leadscore.pipeline import FlatTrainSpec, TrainSpec, train_flat_step, train_step

    if table is not None:
        if training_config is not None:
            raise ConfigError(
                "--training-config (rules_path, params) is not read in flat mode yet: leave it "
                "out; flat mode sizes its LightGBM settings from the data."
            )
        if sample_negatives is not None or sample_seed is not None:
            raise ConfigError(
                "--sample-negatives and --sample-seed apply to a training table, not to flat "
                "mode (a flat export has one row per lead: fit on all of them)."
            )
        flat = FlatTrainSpec(
            table=table,
            target=target,
            time_column=time_column,
            test_from=test_from.date() if test_from else None,
            test_fraction=test_fraction,
            seed=seed,
            keep=keep or [],
            drop=drop or [],
            na_values=tuple(na_value) if na_value else DEFAULT_NA_VALUES,
            report=report,
            model_name=model_name or "leadscore",
            tracking_uri=tracking_uri,
            rules_column=rules_column,
            rules=rules,
            mql_threshold=mql_threshold,
        )
        with output.Bars() as bars:
            flat_result = train_flat_step(flat, progress=bars)
        flat_output.print_flat(flat_result, table.name, model_name or "leadscore")
        return
    if rules is not None:
        raise ConfigError(
            "--rules is for flat mode (--table); in CRM mode set rules_path in the training config."
        )
    if training_table is None:
        raise ConfigError(
            "Give a training table (from `leadscore features build`) or --table CSV --target "
            "COLUMN for a flat one-row-per-lead export."
        )
    spec = TrainSpec(
        training_table=training_table,
        config=training_config,
        oracle_crm=oracle_crm,
        tracking_uri=tracking_uri,
        targets=targets,
        sample_negatives=sample_negatives,
        sample_seed=sample_seed,
        model_name=model_name,
    )
    with output.Bars() as bars:
        trained = train_step(spec, progress=bars)
    output.print_training(trained)


@app.command()
def evaluate(
    training_table: opt.TestTable,
    model: opt.VersionOrAlias = "champion",
    model_name: opt.ModelName = "leadscore",
    training_config: opt.EvaluateConfig = None,
    tracking_uri: opt.Tracking = None,
) -> None:
    """Score a training table's out-of-time test period with a registered model, beside the
    rules, with the same table and confidence intervals as `leadscore train`."""
    from leadscore.pipeline import EvaluateSpec, evaluate_step

    spec = EvaluateSpec(
        training_table=training_table,
        model=model,
        model_name=model_name,
        config=training_config,
        tracking_uri=tracking_uri,
    )
    with output.Bars() as bars:
        result = evaluate_step(spec, progress=bars)
    output.print_evaluation(result, f"{model_name}@{model} on the test window of {training_table}")


@app.command()
def promote(
    version: opt.PromoteVersion = None,
    training_table: opt.PromoteTable = None,
    metric: opt.Metric = "test_roc_auc_shipped_sql",
    margin: opt.Margin = 0.005,
    force: opt.Force = False,
    model_name: opt.ModelName = "leadscore",
    tracking_uri: opt.Tracking = None,
) -> None:
    """Make the challenger the champion if it beats the current champion by the margin."""
    from leadscore.pipeline import PromoteSpec, promote_step

    spec = PromoteSpec(
        version=version,
        training_table=training_table,
        metric=metric,
        margin=margin,
        force=force,
        model_name=model_name,
        tracking_uri=tracking_uri,
    )
    decision = promote_step(spec)
    output.print_promotion(decision)
    if not decision.promoted:
        raise typer.Exit(NOT_PROMOTED_EXIT)


@app.command()
def models(model_name: opt.ModelName = "leadscore", tracking_uri: opt.Tracking = None) -> None:
    """List registered model versions with aliases and headline metrics."""
    from leadscore.pipeline import list_versions_step

    output.print_models(model_name, list_versions_step(model_name, tracking_uri=tracking_uri))


@rules_app.command("init")
def rules_init(
    out: Annotated[Path, typer.Argument(help="Where to write the rules YAML to edit.")] = Path(
        "my-rules.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    flat: Annotated[
        Path | None,
        typer.Option(help="Write a starter over the columns of this flat export (CSV) instead."),
    ] = None,
    target: opt.Target = None,
) -> None:
    """Write a copy of the bundled rules (points per behaviour and profile, MQL threshold) to
    edit so they match your marketing-automation tool; with --flat, example rules over a flat
    export's columns."""
    from leadscore.pipeline import rules_init_step

    if target is not None and flat is None:
        raise ConfigError(
            "--target goes with --flat EXPORT.csv (the outcome the rules never read)."
        )
    written = rules_init_step(out, force=force, flat=flat, target=target)
    if flat is not None:
        output.console.print(
            f"Wrote {written}: example rules over the columns of {flat.name}; replace their "
            f"points with your tool's, then train with `leadscore train --table {flat} --target "
            f"{target or 'COLUMN'} --rules {written}`.",
            highlight=False,
        )
        return
    output.console.print(
        f"Wrote {written}: edit the points and the MQL threshold, then pass "
        f"--rules {written} to `rules score` or set `rules_path: {written}` in the training config."
    )


@rules_app.command("score")
def rules_score(
    training_table: opt.FeatureTable, rules: opt.Rules = None, out: opt.PointsOut = None
) -> None:
    """Apply the rule-based points to a feature table; report MQL volume per cutoff."""
    from leadscore.pipeline import RulesSpec, rules_score_step

    output.print_rules(
        rules_score_step(RulesSpec(training_table=training_table, rules=rules, out=out))
    )


scoring.register(app)  # score, explain, serve (cli/scoring.py)


@app.command()
def demo(
    out: opt.DemoOut = DEFAULT_DEMO_CRM,
    contacts: opt.Contacts = 20_000,
    seed: opt.DemoSeed = 42,
    tracking_uri: opt.Tracking = None,
    store: opt.DemoStore = DEFAULT_STORE_OPTION,
) -> None:
    """Run the whole pipeline on a bundled synthetic CRM (DuckDB, offline)."""
    from leadscore.pipeline import DemoEvent, DemoSpec, run_demo

    with output.Bars() as bars:

        def show(event: DemoEvent) -> None:
            bars.stop()  # end the finished step's bars before printing its result
            output.print_demo_event(event)

        spec = DemoSpec(
            out=out, contacts=contacts, seed=seed, tracking_uri=tracking_uri, store=store
        )
        run_demo(spec, progress=bars, on_event=show)


sales.register(app)  # users, feedback, export (cli/sales.py)
monitor.register(app)  # monitor, retrain (cli/monitor.py)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns leadscore errors into a message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    options = opt.RunOptions()  # filled by the root callback from --debug
    try:
        build_command(app)(args=args, prog_name="leadscore", obj=options)
    except LeadscoreError as exc:
        if options.debug:
            traceback.print_exc()
        output.err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        output.err_console.print("[bold red]interrupted[/]: previous outputs are left intact.")
        raise SystemExit(130) from None
    except Exception as exc:  # a bug, not a user error: still no traceback unless --debug
        if options.debug:
            traceback.print_exc()
        why = write_failure(exc)
        if why is not None:  # a full disk deep in a library (MLflow, DuckDB): not a bug
            # a copy's error names its source first, the file written second
            filename = getattr(exc, "filename2", None) or getattr(exc, "filename", None)
            where = f" of {filename}" if filename else ""
            output.err_console.print(
                f"[bold red]error:[/] A write{where} failed: {why}. Run again with --debug "
                "for where it happened.",
                highlight=False,
                soft_wrap=True,
            )
            raise SystemExit(OutputError.exit_code) from None
        output.err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}. This is a bug in "
            "leadscore; run again with --debug for the traceback and report it.",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(70) from None
