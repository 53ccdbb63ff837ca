"""Printing of the flat-mode commands: what was excluded and why, every warning with what to
do, the held-out metrics, the head that ships and why, the registered version, scores and
reasons. Progress while training is :class:`leadscore.cli.output.Bars`, as in CRM mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadscore.cli.output import console, err_console, print_summary

if TYPE_CHECKING:
    from leadscore.serving.flat_batch import FlatBatchResult, FlatRowExplanation
    from leadscore.training import FlatResult

__all__ = ["print_flat", "print_flat_explanation", "print_flat_score"]

_METHOD_WORDS = {"lightgbm": "LightGBM", "logistic": "logistic regression", "rules": "the rules"}


def print_flat(result: FlatResult, table_name: str, model_name: str = "leadscore") -> None:
    console.print(f"Split: {result.split_mode}", highlight=False)
    leaks = result.leakage
    flagged = leaks[leaks["flag"] != ""] if not leaks.empty else leaks
    kept = {f.name for f in result.features}
    for row in flagged.itertuples():
        verdict = "kept (--keep)" if row.column in kept else "excluded"
        err_console.print(
            f"[yellow]leak?[/] {row.column} {verdict}: {row.flag}", highlight=False, soft_wrap=True
        )
    if len(flagged) and not set(flagged["column"]) <= kept:
        err_console.print(
            "  Keep a flagged column with --keep COLUMN only if its value is known before the "
            "outcome.",
            highlight=False,
        )
    for column, why in result.dropped.items():
        console.print(f"[dim]not used[/] {column}: {why}", highlight=False)
    said_later = {f"Shipped: {result.choice.why}."} if result.choice is not None else set()
    for note in result.notes[1:]:
        if note not in said_later:  # which head ships is said after the table
            console.print(note, highlight=False)
    print_summary(result.summary, f"Flat table {table_name}: models on the held-out test period")
    shipped = result.chosen
    if result.choice is not None:
        why, name = result.choice.why, result.choice.shipped
        if why.startswith(name):  # "LightGBM ships ...", not "Lightgbm ships ..."
            why = _METHOD_WORDS.get(name, name) + why[len(name) :]
        console.print(f"[bold]{why[:1].upper()}{why[1:]}[/].", highlight=False)
    if not result.evaluation.headline.empty:
        from leadscore.training.report import headline_sentences

        # the registered model serves the shipped head; with the rules shipped, the models'
        # comparison at the MQL volume is still what the reader needs
        shown = [shipped] if shipped != "rules" else ["lightgbm", "logistic"]
        for method in shown:
            for sentence in headline_sentences(result.evaluation, method, flat=True):
                console.print(f"• {sentence}", highlight=False)
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning[/]: {warning}", highlight=False, soft_wrap=True)
    console.print(f"Report: {result.report_path}", highlight=False)
    if result.model_version:
        console.print(
            f"Registered {model_name} version {result.model_version} as challenger (run "
            f"{result.run_id}; model kind: flat, serving {_METHOD_WORDS[shipped]}"
            + (", refitted on every row" if shipped != "rules" else "")
            + "). Promote it with `leadscore promote"
            + ("" if model_name == "leadscore" else f" --model-name {model_name}")
            + "` (the gate reads the shipped head's test AUC).",
            highlight=False,
        )


def print_flat_score(result: FlatBatchResult) -> None:
    grades = ", ".join(f"{g}: {n:,}" for g, n in result.grades.items())
    console.print(
        f"{result.rows:,} rows scored (p_{result.target}) with model {result.model_version} in "
        f"{result.seconds:.1f} s -> {result.path}"
        + (f"; grades {grades}" if grades else "")
        + (f" (read as {result.read_as})" if result.read_as else ""),
        highlight=False,
    )
    for note in result.notes:
        console.print(f"[yellow]warning:[/] {note}", highlight=False)


def print_flat_explanation(e: FlatRowExplanation) -> None:
    console.print(
        f"[bold]{e.row_id}[/]: grade [bold]{e.grade}[/], {e.target} {e.probability:.1%} "
        f"(model {e.model_version})",
        highlight=False,
    )
    for text in e.positive:
        console.print(f"  [green]+[/] {text}", highlight=False)
    for text in e.negative:
        console.print(f"  [red]-[/] {text}", highlight=False)
