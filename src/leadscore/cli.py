"""The ``leadscore`` command line. It parses arguments and calls the package; no logic lives here."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadscore import __version__
from leadscore.config import load_config
from leadscore.errors import LeadscoreError

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


@contextmanager
def _progress(description: str) -> Iterator[Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
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


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to write the demo CRM.")] = DEFAULT_DEMO_CRM,
    contacts: Annotated[int, typer.Option(min=10, help="Number of contacts.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Run the whole pipeline on a bundled synthetic CRM (DuckDB, offline)."""
    console.rule("[bold]1. Synthetic CRM")
    generate(out=out, contacts=contacts, seed=seed, fmt=None)
    console.rule("[bold]2. Validation and funnel")
    _print_funnel(out, None, None)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns leadscore errors into a message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
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
