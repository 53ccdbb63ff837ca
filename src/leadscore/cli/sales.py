"""Sales-loop commands: ``users add``, ``feedback report``, ``export`` (parse and print only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadscore.cli.output import console
from leadscore.pipeline.defaults import DEFAULT_SCORES_STORE

__all__ = ["register"]

Store = Annotated[Path, typer.Option(help="Score store DuckDB file (scores, feedback, users).")]

users_app = typer.Typer(help="People who log in to the lead inbox.", no_args_is_help=True)
feedback_app = typer.Typer(help="Reps' verdicts on scored leads.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The rep's user name (e.g. jane.doe).")],
    store: Store = DEFAULT_SCORES_STORE,
) -> None:
    """Create a user (or give them a new token) and print the token once: only its hash is kept."""
    from leadscore.pipeline.sales import add_user_step

    token = add_user_step(name, store=store)
    console.print(f"User [bold]{name}[/] can log in to the inbox with this token (shown once):")
    console.print(token, highlight=False, soft_wrap=True)


@feedback_app.command("report")
def feedback_report(store: Store = DEFAULT_SCORES_STORE) -> None:
    """Acceptance per grade, top reason, model version and rep; the reasons reps reject for."""
    from leadscore.pipeline.sales import feedback_report_step

    report = feedback_report_step(store=store)
    if report.verdicts == 0:
        console.print(
            f"No verdict in {store} yet: reps give them in the inbox (`leadscore serve`, then "
            "open /) or through POST /feedback."
        )
        return
    share = f"{100 * (report.acceptance or 0):.0f}%"
    console.print(f"{report.verdicts} verdicts, {report.accepted} accepted ({share}).")
    for title, frame in report.tables().items():
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        console.print(table)


@feedback_app.command("apply")
def feedback_apply(
    training_table: Annotated[Path, typer.Argument(help="The training table to start from.")],
    out: Annotated[Path, typer.Option(help="The training table to write (with its metadata).")],
    store: Store = DEFAULT_SCORES_STORE,
    policy: Annotated[
        Path | None, typer.Option(help="Feedback policy YAML (keys: exclude, negative).")
    ] = None,
) -> None:
    """Apply reps' verdicts to a training table, point in time (then `leadscore train OUT`)."""
    from leadscore.pipeline.feedback import FeedbackTableSpec, feedback_table_step

    spec = FeedbackTableSpec(training_table=training_table, out=out, store=store, policy=policy)
    result = feedback_table_step(spec)
    masks = result.masks
    console.print(
        f"{masks.verdicts} verdicts: {masks.excluded_rows} rows of {masks.excluded_contacts} "
        f"leads excluded ({', '.join(result.policy.exclude) or 'no reason'}), "
        f"{masks.relabelled_rows} rows relabelled 0 "
        f"({', '.join(result.policy.negative) or 'no reason'}); {result.rows_after} of "
        f"{result.rows_before} rows written to {result.path}. Train on it with "
        f"`leadscore train {result.path}`."
    )
    if masks.verdicts == 0:
        console.print(
            "[yellow]warning:[/] the store holds no verdict: the table is a copy. Reps give "
            "verdicts in the inbox (`leadscore serve`, then open /)."
        )


def export(
    target: Annotated[
        str, typer.Option(help="generic, hubspot, salesforce or dynamics (Dynamics 365).")
    ] = "generic",
    out: Annotated[
        Path | None, typer.Option(help="File to write (default exports/<target>-scores.csv).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Every lead, not only those changed since the last export."),
    ] = False,
    store: Store = DEFAULT_SCORES_STORE,
) -> None:
    """Write the latest scores as a file the CRM imports (by default only changed leads)."""
    from leadscore.pipeline.sales import ExportSpec, export_step

    result = export_step(ExportSpec(store=store, target=target, out=out, full=full))
    what = "changed since the last export" if result.delta else "all"
    console.print(
        f"Wrote {result.rows} of {result.leads} leads ({what}) for {result.target} to "
        f"{result.path}."
    )


def register(app: typer.Typer) -> None:
    """Add the sales-loop commands to the ``leadscore`` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(feedback_app, name="feedback")
    app.command("export")(export)
