"""Printing of the flat-mode commands: what was excluded and why, every warning with what to
do, the held-out metrics, the registered version, scores and reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadscore.cli.output import console, err_console, print_summary

if TYPE_CHECKING:
    from leadscore.serving.flat_batch import FlatBatchResult, FlatRowExplanation
    from leadscore.training import FlatResult

__all__ = ["print_flat", "print_flat_explanation", "print_flat_score"]


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
    for note in result.notes[1:]:
        console.print(note, highlight=False)
    print_summary(result.summary, f"Flat table {table_name}: models on the held-out test period")
    if not result.evaluation.headline.empty:
        from leadscore.training.report import headline_sentences

        # the registered flat model is LightGBM, whichever candidate led on validation
        for sentence in headline_sentences(result.evaluation, "lightgbm"):
            console.print(f"• {sentence}", highlight=False)
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning[/]: {warning}", highlight=False, soft_wrap=True)
    console.print(f"Report: {result.report_path}", highlight=False)
    if result.model_version:
        console.print(
            f"Registered {model_name} version {result.model_version} as challenger (run "
            f"{result.run_id}; model kind: flat, refitted on every row). Promote it with "
            "`leadscore promote`.",
            highlight=False,
        )


def print_flat_score(result: FlatBatchResult) -> None:
    grades = ", ".join(f"{g}: {n:,}" for g, n in result.grades.items())
    console.print(
        f"{result.rows:,} rows scored (p_{result.target}) with model {result.model_version} in "
        f"{result.seconds:.1f} s -> {result.path}" + (f"; grades {grades}" if grades else ""),
        highlight=False,
    )


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
