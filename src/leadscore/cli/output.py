"""What the command line prints: rich tables, lines and progress bars for the steps' results.

Formatting only: every number shown is computed by :mod:`leadscore.pipeline` or the stages.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

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
from rich.status import Status
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.pipeline import (
        DemoEvent,
        DemoStage,
        EvaluateStepResult,
        FeaturesResult,
        RulesResult,
        ScoreStepResult,
        TopLeads,
        TrainStepResult,
        ValidationReport,
    )
    from leadscore.serving import ContactExplanation
    from leadscore.synthetic import GenerationSummary
    from leadscore.training import ModelVersionInfo, PromotionDecision
    from leadscore.training.segments_eval import SegmentsOutcome

console = Console()
err_console = Console(stderr=True)

MLFLOW_UI = "mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"


def _on_terminal() -> bool:
    """Whether both outputs are terminals (bars); else plain log lines (pipes, files, CI)."""
    return bool(sys.stdout.isatty() and err_console.is_terminal)


_PLAIN_EVERY_SECONDS = 2.0
"""Plain progress lines: the least time between two lines of one task's advance."""


class Bars:
    """A ``progress(task, done, total)`` callback drawing one bar per task on stderr. A task first
    reported at ``(0, None)`` is a wait: a transient spinner until it reports done. The bars start
    with the first report; :meth:`stop` (or leaving the ``with`` block) ends them. A task's detail
    (after :data:`leadscore.pipeline.progress.DETAIL`) is its bar's text.

    When stdout or stderr is not a terminal (``plain``; default: detected), no bars: plain lines
    on stderr instead, one per new task or detail, per tenth of a task done (at most one every
    :data:`_PLAIN_EVERY_SECONDS` per task: a quick loop is not ten lines in one second), and at
    its end."""

    def __init__(self, *, plain: bool | None = None) -> None:
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._wait: tuple[str, Status] | None = None
        self._plain = (not _on_terminal()) if plain is None else plain
        self._started = time.monotonic()
        self._said: dict[str, tuple[str, int, float]] = {}  # plain: task -> detail, tenth, when

    def _line(self, task: str, done: int, total: int | None) -> None:
        from leadscore.pipeline.progress import split_detail

        name, detail = split_detail(task)
        tenth = -1 if not total else (10 * done) // total
        said = self._said.get(name)
        now = time.monotonic()
        if said is not None and said[0] == detail:
            finished = total is not None and done >= total
            if said[1] == tenth or (not finished and now - said[2] < _PLAIN_EVERY_SECONDS):
                return
        self._said[name] = (detail, tenth, now)
        count = "started" if total is None else f"{done}/{total}"
        text = f"{name}: {detail} ({count})" if detail else f"{name}: {count}"
        elapsed = now - self._started
        print(f"[{elapsed:6.1f} s] {text}", file=sys.stderr, flush=True)

    def __call__(self, task: str, done: int, total: int | None) -> None:
        if self._plain:
            self._line(task, done, total)
            return
        from leadscore.pipeline.progress import split_detail

        task, detail = split_detail(task)
        if self._wait is not None and self._wait[0] == task:
            self._end_wait()
            return
        if done == 0 and total is None and self._progress is None:  # one live display at a time
            self._end_wait()
            self._wait = (task, err_console.status(task))
            self._wait[1].start()
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=False,
            )
            self._progress.start()
            self._tasks = {}
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(task, total=total)
        text = f"{task}: {detail}" if detail else task
        self._progress.update(self._tasks[task], completed=done, total=total, description=text)

    def _end_wait(self) -> None:
        if self._wait is not None:
            self._wait[1].stop()
            self._wait = None

    def stop(self) -> None:
        self._end_wait()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> Bars:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def fmt(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if percent else f"{value:.3f}"


def print_generation(summary: GenerationSummary) -> None:
    table = Table(title=f"Synthetic CRM written to {summary.path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"Generated in {summary.elapsed_seconds:.1f} s.")


def print_validation(report: ValidationReport) -> None:
    console.print(
        f"[green]Valid[/]: {report.description}: "
        + ", ".join(f"{n:,} {t}" for t, n in report.row_counts.items())
        + f" (fingerprint {report.fingerprint})"
    )
    for problem in report.warnings:
        console.print(f"[yellow]warning[/]: {problem}")
    summary = report.funnel
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
    for step, skipped in summary.skipped.items():
        before, after = step.split("→")
        if skipped:
            console.print(
                f"{skipped:,} of {summary.reached[after]:,} reaching {after} skipped {before} "
                f"(sent straight to sales): not in the {step} rate."
            )
    if summary.sql_within_quarter is None:
        console.print(
            "Leads becoming SQL within 90 days of creation: not measurable yet (no lead was "
            "created 90 or more days before the data's last stage change)."
        )
    else:
        console.print(
            f"Leads becoming SQL within 90 days of creation: {summary.sql_within_quarter:.1%} "
            f"(of the {summary.quarter_cohort:,} leads created 90 or more days before the data's "
            "last stage change)"
        )


def print_features(built: FeaturesResult) -> None:
    table = built.table
    console.print(
        f"Training table: {table.rows:,} rows x {built.n_features} features, "
        f"{len(table.per_cutoff)} cutoffs, {built.horizon}-day horizon -> {table.path}"
    )
    rates = [f"{k} {v:.2%}" for k, v in table.label_rates.items() if v is not None]
    console.print("Label rates: " + (", ".join(rates) or "none (no rows)"))
    console.print(
        f"Censored (horizon runs past the end of the data, excluded): "
        f"{table.censored_rows:,} rows in {built.censored_cutoffs} cutoff(s)"
    )
    if table.rows == 0:
        err_console.print(
            "[bold yellow]warning[/]: the training table has no rows: no cutoff has a "
            f"{built.horizon}-day horizon that ends before the data does (or no contact existed "
            "at a cutoff). Training needs rows at 3 or more cutoffs: export a longer history, "
            "or pass a shorter --horizon or a more frequent --every.",
            highlight=False,
            soft_wrap=True,
        )
    if table.meta.sample is not None:  # negatives sampled in the build query
        console.print(table.meta.sample.describe() + " Label rates are the population's.")
    for warning in built.warnings:
        err_console.print(f"[bold yellow]warning[/]: {warning}", highlight=False, soft_wrap=True)


_SUMMARY_HEADERS = {
    "roc_auc": "AUC",
    "roc_auc_95ci": "AUC CI",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "found_at_mql_volume": "found@MQL",
    "normalized_auc": "norm.AUC",
    "valid_found_at_mql": "found@MQL",  # the model choice table (its title names the window)
    "valid_pr_auc": "PR-AUC",
    "valid_roc_auc": "AUC",
    "chosen_by": "chosen by",
}


def print_summary(summary: pd.DataFrame, title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in summary.columns:
        table.add_column(
            _SUMMARY_HEADERS.get(str(column), str(column)),
            justify="left" if column in {"method", "target"} else "right",
        )
    columns = [str(c) for c in summary.columns]
    for row in summary.itertuples(index=False):
        table.add_row(*(_summary_cell(c, v) for c, v in zip(columns, row, strict=True)))
    console.print(table)
    legend = [text for column, text in _SUMMARY_LEGEND.items() if column in columns]
    if legend:
        console.print("; ".join(legend) + ".", style="dim", highlight=False)


_SUMMARY_LEGEND = {
    "found_at_mql_volume": "found@MQL: positives among as many top-scored leads as the rules "
    "make MQLs (the sales capacity of today)",
    "valid_found_at_mql": "found@MQL: positives among as many top-scored leads as the rules "
    "make MQLs",
    "normalized_auc": "norm.AUC: (AUC - 0.5) / (oracle's AUC - 0.5), the share of the "
    "achievable lift over chance (oracle: the synthetic CRM's true probabilities; above 1 is "
    "noise)",
    "brier": "Brier: mean squared error of the probabilities (lower is better)",
}
"""What the summary tables' shorthand columns mean, printed under them."""


def _summary_cell(column: str, value: object) -> str:
    """Scores with four fixed decimals (0.7840, not 0.784), Brier with five, counts whole; the
    deciding metric by its column's header (found@MQL, not found_at_mql)."""
    if column == "chosen_by":
        return _SUMMARY_HEADERS.get(f"valid_{value}", str(value))
    if not isinstance(value, float):
        return str(value)
    if value != value:
        return "\u2013"  # a dash: unknown
    if "found" in column:
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    if column.endswith("auc"):
        return f"{value:.4f}"
    if column == "brier":
        return f"{value:.5f}"
    return f"{value:,.4g}"


def _share(p: object) -> str:
    """A probability as a percentage; "no model" for a target the model was not trained on."""
    return "no model" if p != p else f"{p:.1%}"


def print_training(trained: TrainStepResult) -> None:
    result = trained.result
    for line in result.outcome.info:  # how the heads were fitted: information, not a warning
        console.print(f"note: {line}", highlight=False)
    for note in result.outcome.notes:
        if not note.startswith("WARNING: "):  # those are result.warnings, printed at the end
            console.print(f"[yellow]warning[/]: {note}")
    print_summary(result.summary, "Out-of-time test: rules vs models")
    for sentence in result.headline:
        console.print(f"• {sentence}")
    if len(result.choice):  # which head ships per target, chosen on validation
        print_summary(result.choice, "Model choice per target (validation window)")
        for chosen in result.outcome.choices.values():
            console.print(f"• {chosen.why}")
    if result.segments is not None:
        print_segments(result.segments)
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning[/]: {warning}", highlight=False, soft_wrap=True)
    console.print(f"Report: {result.report_path}")
    if result.model_version:
        console.print(
            f"Registered {trained.model_name} version {result.model_version} as challenger "
            f"(run {result.run_id})."
        )


def print_segments(segments: SegmentsOutcome) -> None:
    """Models per segment: which segments got their own model, and global vs segment on test."""
    fallbacks = segments.notes(own_models=False)  # printed with the warnings above
    for line in segments.notes():
        if line not in fallbacks:
            console.print(f"• {line}", highlight=False, soft_wrap=True)
    frame = segments.evaluation
    table = Table(title=f"Per segment ({segments.column}), out-of-time test: global vs segment")
    shown = {
        "segment": "segment",
        "target": "target",
        "model": "served by",
        "test_positives": "test pos.",
        "test_roc_auc_global": "AUC global",
        "test_roc_auc_segment": "AUC segment",
        "auc_gain_95ci": "gain 95% CI",
    }
    for title in [*shown.values(), "found rules/global/segment"]:
        table.add_column(title)
    for r in frame.to_dict("records"):
        found = "/".join(
            _cell(r.get(f"found_{m}"), "{:.1f}") for m in ("rules", "global", "segment")
        )
        cells = [_cell(r.get(c)) for c in shown]
        cells[2] = "own model" if r["model"] == "own model" else "global"
        table.add_row(*cells, found)
    console.print(table)


def _cell(value: Any, floats: str = "{:.3f}") -> str:
    if isinstance(value, float):
        return floats.format(value) if value == value else "-"  # NaN: not evaluable / no model
    return "-" if value is None else str(value)


def print_evaluation(result: EvaluateStepResult, title: str) -> None:
    """A registered version's evaluation, as ``train`` prints its own."""
    print_summary(result.summary, f"{title} ({result.test_rows:,} rows): rules vs the model")
    for sentence in result.headline:
        console.print(f"• {sentence}")


def print_promotion(decision: PromotionDecision) -> None:
    verdict = "[green]promoted[/]" if decision.promoted else "[yellow]not promoted[/]"
    console.print(f"Version {decision.challenger_version} {verdict}: {decision.reason}.")
    if decision.promoted:
        console.print(
            "A running `leadscore serve` of the champion switches to version "
            f"{decision.challenger_version} within its --follow-seconds (5 s by default; GET /health "
            "names the version served): no restart needed."
        )


def print_models(model_name: str, versions: list[ModelVersionInfo]) -> None:

    if not versions:
        console.print(f"No version of {model_name} is registered yet: run `leadscore train`.")
        return
    table = Table(title=f"Registered versions of {model_name}")
    # flat-mode versions keep their one target's figures under "sql": name the export's target
    flat = {
        info.tags.get("flat_target") for info in versions if info.tags.get("model_kind") == "flat"
    }
    only_flat = len(flat) == 1 and all(info.tags.get("model_kind") == "flat" for info in versions)
    aucs = [f"AUC {next(iter(flat))}"] if only_flat else ["AUC sql", "AUC meeting"]
    for column in ("version", "aliases", *aucs, "gain at MQL volume", "run"):
        table.add_column(column, justify="left" if column in {"aliases", "run"} else "right")
    for info in versions:
        m = info.metrics
        cells = (
            [_auc_cell(m, "sql")] if only_flat else [_auc_cell(m, "sql"), _auc_cell(m, "meeting")]
        )
        table.add_row(
            info.version,
            ", ".join(info.aliases),
            *cells,
            _gain_cell(info, "sql"),
            info.run_id[:8],
        )
    console.print(table)
    console.print("Test-window figures of the shipped heads, 95% intervals below.", style="dim")


def _auc_cell(m: Mapping[str, float], target: str) -> str:
    """The shipped head's test AUC with its interval on a second line (when logged)."""
    from leadscore.training.tracking import metric_key

    value = m.get(metric_key(m, f"test_roc_auc_shipped_{target}"))
    low = m.get(metric_key(m, f"test_roc_auc_low_shipped_{target}"))
    high = m.get(metric_key(m, f"test_roc_auc_high_shipped_{target}"))
    if value is None or low is None or high is None:
        return fmt(value)
    return f"{value:.3f}\n[dim]{low:.3f}-{high:.3f}[/]"


def _gain_cell(info: ModelVersionInfo, target: str) -> str:
    """The shipped head's gain at the rules' MQL volume with its interval (when logged)."""
    from leadscore.training.tracking import metric_key

    m = info.metrics
    value = m.get(metric_key(m, f"gain_at_mql_shipped_{target}"))
    kind = info.tags.get(f"shipped.{target}", "lightgbm")
    low = m.get(f"gain_at_mql_{kind}_{target}_low")
    high = m.get(f"gain_at_mql_{kind}_{target}_high")
    if value is None or low is None or high is None:
        return fmt(value, percent=True)
    return f"{value:+.1%}\n[dim]{low:+.0%} to {high:+.0%}[/]"


def print_rules(result: RulesResult) -> None:
    console.print(
        f"{result.mql_rows:,} MQL rows out of {len(result.scored):,} ({result.mql_share:.1%}); "
        f"threshold {result.mql_threshold:g} points; {result.mqls_per_cutoff:.0f} MQLs per "
        "cutoff on average."
    )
    if result.out is not None:
        console.print(f"Points written to {result.out}")


def print_score(scored: ScoreStepResult) -> None:
    result, late = scored.batch, scored.days_after_data_end
    if late is not None:
        err_console.print(
            f"[yellow]warning[/]: scored as of {result.as_of:%Y-%m-%d}, {late} days after "
            f"the data ends ({scored.data_end:%Y-%m-%d}): recency features make every lead look "
            "cold. Pass --as-of to score as of the export date."
        )
    console.print(
        f"{result.rows:,} leads scored with model {result.model_version} as of "
        f"{result.as_of:%Y-%m-%d %H:%M} in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s) -> {result.path}"
        + (f"; history in {result.store}" if result.store is not None else "")
    )
    if result.store is None:
        console.print(
            "Not recorded in the score history: the model is not the champion, so the reps' "
            "current scores, the inbox and the next export are unchanged (--record to record it)."
        )
    if result.stale_left_out:
        console.print(
            f"{result.stale_left_out:,} stale leads left out (created long ago, no activity "
            "within the model's maximum lead age: it was trained without them)."
        )


def print_top_leads(top: TopLeads) -> None:
    best = top.leads
    if best.empty:
        console.print("No eligible lead to score.")
        return
    table = Table(
        title=f"Top {len(best)} leads by SQL probability",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("contact", "grade", "SQL", "meeting", "fit/eng.", "top reasons"):
        table.add_column(
            column,
            justify="right" if column in {"SQL", "meeting", "fit/eng."} else "left",
            no_wrap=column != "top reasons",
        )
    for row in best.itertuples(index=False):
        reasons: list[str] = [str(text) for text in row.reasons_positive[:3]]  # type: ignore[index]
        table.add_row(
            str(row.contact_id),
            str(row.grade),
            _share(row.p_sql),
            _share(row.p_meeting),
            f"{row.fit_score:.0f}/{row.engagement_score:.0f}",
            "\n".join(reasons),
        )
    console.print(table)
    console.print("fit/eng.: fit and engagement scores out of 100.", style="dim")


def print_explanation(e: ContactExplanation) -> None:
    for note in e.notes:
        err_console.print(f"[yellow]warning[/]: {note}", highlight=False, soft_wrap=True)
    console.print(
        f"[bold]{e.contact_id}[/]: grade [bold]{e.grade}[/], chance of SQL {_share(e.p_sql)}, of a meeting "
        f"{_share(e.p_meeting)} (fit {e.fit_score:.0f}/100, engagement {e.engagement_score:.0f}/100; "
        f"model {e.model_version}, as of {e.as_of:%Y-%m-%d})",
        highlight=False,
    )
    if e.scored_by != "global":  # a model per segment scored this lead
        console.print(f"  scored by the {e.scored_by} segment's model", highlight=False)
    for reason in e.positive:
        console.print(f"  [green]+[/] {reason.text}", highlight=False)
    for reason in e.negative:
        console.print(f"  [red]-[/] {reason.text}", highlight=False)


def print_demo_event(event: DemoEvent) -> None:
    """Show one event of :func:`leadscore.pipeline.run_demo` the way the commands show it."""
    from leadscore.pipeline import (
        DemoStage,
        FeaturesResult,
        ScoreStepResult,
        TopLeads,
        TrainStepResult,
        ValidationReport,
    )
    from leadscore.serving import ContactExplanation
    from leadscore.synthetic import GenerationSummary
    from leadscore.training import PromotionDecision

    printers: list[tuple[type[Any], Callable[[Any], None]]] = [
        (DemoStage, _print_stage),
        (GenerationSummary, print_generation),
        (ValidationReport, print_validation),
        (FeaturesResult, print_features),
        (TrainStepResult, print_training),
        (PromotionDecision, _print_first_promotion),
        (ScoreStepResult, print_score),
        (TopLeads, print_top_leads),
        (ContactExplanation, print_explanation),
    ]
    for kind, show in printers:
        if isinstance(event, kind):
            show(event)
            return


def _print_stage(stage: DemoStage) -> None:
    if stage.number == 5:  # after training and the first promotion
        console.print(f"Browse the runs: {MLFLOW_UI}")
    console.rule(f"[bold]{stage.number}. {stage.title}")


def _print_first_promotion(decision: PromotionDecision) -> None:
    if decision.promoted:
        console.print(f"Version {decision.challenger_version} is the champion: {decision.reason}.")
    else:
        console.print(f"[yellow]Not promoted[/]: {decision.reason}; scoring with the challenger.")
