"""Sales-loop commands: ``users add``, ``feedback report``, ``export`` (parse and print only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from leadscore.cli.output import console
from leadscore.pipeline.defaults import DEFAULT_STORE_OPTION, STORE_ENVVAR

if TYPE_CHECKING:
    from leadscore.training.feedback_compare import FeedbackComparison

__all__ = ["register"]

Store = Annotated[
    str,
    typer.Option(
        envvar=STORE_ENVVAR,
        help="Score store (scores, feedback, users): a DuckDB file or a PostgreSQL URL "
        "(postgresql://user@host/db).",
    ),
]

users_app = typer.Typer(help="People who log in to the lead inbox.", no_args_is_help=True)
feedback_app = typer.Typer(help="Reps' verdicts on scored leads.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The rep's user name (e.g. jane.doe).")],
    store: Store = DEFAULT_STORE_OPTION,
) -> None:
    """Create a user (or give them a new token) and print the token once: only its hash is kept."""
    from leadscore.pipeline.sales import add_user_step

    token = add_user_step(name, store=store)
    console.print(f"User [bold]{name}[/] can log in to the inbox with this token (shown once):")
    console.print(token, highlight=False, soft_wrap=True)


@feedback_app.command("report")
def feedback_report(store: Store = DEFAULT_STORE_OPTION) -> None:
    """Acceptance per grade, top reason, model version and rep; the reasons reps reject for."""
    import pandas as pd

    from leadscore.pipeline.sales import feedback_report_step
    from leadscore.serving.store_backend import describe_location

    report = feedback_report_step(store=store)
    if report.verdicts == 0:
        console.print(
            f"No verdict in {describe_location(store)} yet: reps give them in the inbox (`leadscore serve`, then "
            "open /) or through POST /feedback."
        )
        return
    share = f"{100 * (report.acceptance or 0):.0f}%"
    noun = "verdict" if report.verdicts == 1 else "verdicts"
    console.print(f"{report.verdicts:,} {noun}, {report.accepted:,} accepted ({share}).")
    if report.repeats:
        again = "verdict" if report.repeats == 1 else "verdicts"
        console.print(
            f"{report.repeats:,} repeated {again} not counted: a rep's latest verdict on a lead "
            "counts once per day and model version (a double click or a change of mind)."
        )
    for title, frame in report.tables().items():
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            numbers = pd.api.types.is_numeric_dtype(frame[column])
            table.add_column(str(column), justify="right" if numbers else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(str(c), v) for c, v in zip(frame.columns, row, strict=True)))
        console.print(table)


def _cell(column: str, value: object) -> str:
    """Acceptance and rejection shares as percentages (``0.5`` read as 50%)."""
    if column in ("acceptance", "share") and isinstance(value, float):
        return "\u2013" if value != value else f"{value:.0%}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


Policy = Annotated[
    Path | None,
    typer.Option(
        help="Feedback policy YAML: exclude, the rejection reasons whose leads' later rows are "
        "dropped (default: spam_bot, student, competitor, customer); negative, those whose "
        "labels become 0 (default: none)."
    ),
]
CrmFeedback = Annotated[
    str | None,
    typer.Option(
        "--crm",
        help="Also read the verdicts of this CRM's feedback table (DuckDB file, folder or DB "
        "URL); the store is then read only if it exists.",
    ),
]


@feedback_app.command("apply")
def feedback_apply(
    training_table: Annotated[Path, typer.Argument(help="The training table to start from.")],
    out: Annotated[Path, typer.Option(help="The training table to write (with its metadata).")],
    store: Store = DEFAULT_STORE_OPTION,
    policy: Policy = None,
    crm: CrmFeedback = None,
) -> None:
    """Apply reps' verdicts to a training table, point in time (then `leadscore train OUT`)."""
    from leadscore.pipeline.feedback import FeedbackTableSpec, feedback_table_step

    spec = FeedbackTableSpec(
        training_table=training_table, out=out, store=store, policy=policy, crm=crm
    )
    result = feedback_table_step(spec)
    masks = result.masks
    console.print(
        f"{masks.verdicts:,} verdicts: {masks.excluded_rows:,} rows of "
        f"{masks.excluded_contacts:,} leads excluded ({', '.join(result.policy.exclude) or 'no reason'}), "
        f"{masks.relabelled_rows:,} rows relabelled 0 "
        f"({', '.join(result.policy.negative) or 'no reason in the policy'}); "
        f"{result.rows_after:,} of {result.rows_before:,} rows written to {result.path}. Train "
        f"on it with `leadscore train {result.path}`."
    )
    if result.after_last_cutoff:
        console.print(
            f"{result.after_last_cutoff:,} of the {masks.verdicts:,} verdicts were given after "
            "the table's last cutoff: a verdict changes only the rows cut after it, so they "
            "count in a table built later (`leadscore features build`, `leadscore retrain`).",
            highlight=False,
        )
    if result.uncoded_rejections:
        console.print(
            f"[yellow]warning:[/] {result.uncoded_rejections:,} rejection(s) give a reason that "
            f"is not one of the inbox's codes ({', '.join(result.codes)}): the policy leaves "
            "their rows alone. Send a code as the reason of POST /feedback."
        )
    if masks.verdicts == 0:
        console.print(
            "[yellow]warning:[/] the store holds no verdict: the table is a copy. Reps give "
            "verdicts in the inbox (`leadscore serve`, then open /)."
        )


@feedback_app.command("compare")
def feedback_compare(
    training_table: Annotated[
        Path, typer.Argument(help="Training table from `leadscore features build`.")
    ],
    store: Store = DEFAULT_STORE_OPTION,
    crm: CrmFeedback = None,
    policy: Policy = None,
    training_config: Annotated[
        Path | None, typer.Option(help="Training config YAML (split, params, bots, ...).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(min=1, help="Paired contact-bootstrap draws for the CIs.")
    ] = 1000,
) -> None:
    """Train with and without reps' verdicts and compare both on the same test rows (paired CIs)."""
    from leadscore.cli import output
    from leadscore.pipeline.feedback import FeedbackCompareSpec, feedback_compare_step

    spec = FeedbackCompareSpec(
        training_table=training_table,
        store=store,
        crm=crm,
        policy=policy,
        config=training_config,
        n_bootstrap=bootstrap,
    )
    with output.Bars() as bars:
        result = feedback_compare_step(spec, progress=bars)
    _print_comparison(result)


def _print_comparison(result: FeedbackComparison) -> None:
    masks, policy = result.masks, result.policy
    split = result.split
    console.print(
        f"{masks.verdicts} verdicts; policy: exclude {', '.join(policy.exclude) or 'nothing'}, "
        f"relabel 0 {', '.join(policy.negative) or 'nothing'}. Fitted on "
        f"{result.fitted_rows[0]:,} training + validation rows without feedback, "
        f"{result.fitted_rows[1]:,} with ({result.relabelled_rows:,} relabelled 0). Both scored "
        f"on the same test rows ({split.get('test_first_cutoff')} to "
        f"{split.get('test_last_cutoff')})."
    )
    if masks.verdicts == 0:
        console.print(
            "[yellow]warning:[/] no verdict found: both models are the same. Give --crm (a CRM "
            "with a feedback table) or a store with verdicts."
        )
    level = next(iter(result.comparisons.values())).confidence if result.comparisons else 0.95
    table = Table(
        title=f"With feedback vs without (paired contact bootstrap, {level:.0%} CI of the "
        "difference)",
        title_justify="left",
    )
    for column in ("target", "test rows", "metric", "without", "with", "difference", "CI"):
        table.add_column(column, justify="left" if column in ("target", "test rows") else "right")
    capacity = "found@MQL vol."
    for (target, population, metric), c in result.comparisons.items():
        digits = 4 if metric == "roc_auc" else 1
        table.add_row(
            target,
            population,
            "ROC AUC" if metric == "roc_auc" else capacity,
            f"{c.champion:.{digits}f}",
            f"{c.challenger:.{digits}f}",
            f"{c.difference:+.{digits}f}",
            f"[{c.low:+.{digits}f}, {c.high:+.{digits}f}]",
        )
    console.print(table)
    console.print(
        "all: every test row; open: test rows of leads no verdict had excluded by their cutoff. "
        f"found@MQL vol.: SQLs (meetings) among the top {100 * result.capacity_share:.1f}% of "
        "each cutoff's leads (the rules' MQL share, the sales capacity)."
    )
    for target in dict.fromkeys(key[0] for key in result.comparisons):
        console.print(result.verdict(target))
    for note in result.notes:
        console.print(f"note: {note}")


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
    rank_tolerance: Annotated[
        int,
        typer.Option(
            min=0,
            max=100,
            help="Rank points (of 1-100) a lead's rank may move before the delta re-sends it: "
            "ranks are relative, so other leads move an unchanged lead's rank. 0 re-sends any "
            "move, 100 never re-sends for the rank alone.",
        ),
    ] = 5,
    store: Store = DEFAULT_STORE_OPTION,
) -> None:
    """Write the latest scores as a file the CRM imports (by default only changed leads).

    Changed since what was last sent: grade, chance of SQL by a quarter or more, or rank by more
    than --rank-tolerance points."""
    from leadscore.pipeline.sales import ExportSpec, export_step

    result = export_step(
        ExportSpec(store=store, target=target, out=out, full=full, rank_tolerance=rank_tolerance)
    )
    what = (
        f"{result.changed:,} new or changed since last sent, {result.rank_moved:,} whose rank "
        f"moved by more than {result.rank_tolerance} points"
        if result.delta
        else "all"
    )
    console.print(
        f"Wrote {result.rows:,} of {result.leads:,} leads ({what}) for {result.target} to "
        f"{result.path}."
    )
    if result.rank_unrecorded:
        console.print(
            f"note: {result.rank_unrecorded:,} more lead(s) were re-sent once with their current "
            "rank: an older leadscore sent them without recording the rank it sent."
        )
    if result.rewritten:
        console.print(
            f"note: {result.rewritten:,} more lead(s) were re-sent: the file it replaces held "
            "a rank or grade of theirs the store never recorded as sent (an export stopped "
            "between writing its file and recording it)."
        )
    if result.carried:
        console.print(
            f"note: {result.carried:,} row(s) of the file it replaces were kept (leads not "
            "changed since): move or delete the file once the CRM has imported it."
        )
    if result.departed:
        console.print(
            f"note: {result.departed:,} lead(s) the latest scoring run did not rescore (converted, "
            "disqualified or stale) are not exported; the CRM keeps the score it was sent last."
        )


def register(app: typer.Typer) -> None:
    """Add the sales-loop commands to the ``leadscore`` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(feedback_app, name="feedback")
    app.command("export")(export)
