"""The self-contained HTML evaluation report (plots embedded as base64 PNG), written atomically."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore import __version__
from leadscore.atomic import atomic_write_text
from leadscore.model.grades import GradeThresholds
from leadscore.training.evaluate import Evaluation
from leadscore.training.plots import calibration_png, gains_png, pr_png, roc_png, shap_png
from leadscore.training.report_format import outcome_label
from leadscore.training.report_summary import caveats, plain_summary
from leadscore.training.report_tables import (
    capacity_table,
    gain_table,
    grade_table,
    lift_table,
    metrics_table,
    periods_table,
    rules_table,
    tidy_frame,
)

__all__ = ["ReportContext", "headline_sentences", "render_report", "write_report"]

FloatArray = np.ndarray[Any, Any]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.45}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.wrap{overflow-x:auto;max-width:100%}table{border-collapse:collapse;margin:.6em 0 1.2em;
font-size:.92em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3;font-weight:600}.t{text-align:left}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:6px}
img{max-width:100%;height:auto}.summary{background:#eef6ee;padding:.4em 1.2em;border-radius:6px}
.note{background:#fff4e0;color:#7a4b00;padding:.4em .8em;border-left:4px solid #e0a030}
.info{background:#eef3f8;color:#1f3550;padding:.4em .8em;border-left:4px solid #7a9cc6}
.explain{color:#555;font-size:.92em}code{background:#f5f5f5;padding:1px 4px}
"""

_ORACLE = (
    "Oracle: the true probabilities the synthetic generator used. No model can rank better on "
    "average; it exists only for synthetic data and shows how much of the achievable quality "
    "each method reaches."
)


@dataclass
class ReportContext:
    """What the report says around the evaluation: provenance, split, notes, rules, SHAP."""

    title: str
    data_fingerprint: str
    definition_hash: str
    split_description: Mapping[str, str]
    split_mode: str
    notes: list[str] = field(default_factory=list)
    """Warnings and caveats: what may make a number wrong or misleading (amber)."""
    info: list[str] = field(default_factory=list)
    """Information: how the data was read and split, which head ships and why (neutral)."""
    rules: Sequence[Mapping[str, Any]] = ()
    shap: Mapping[str, tuple[FloatArray, pd.DataFrame]] = field(default_factory=dict)
    extra_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    grades: GradeThresholds | None = None
    """The served grade thresholds: the report shows volume and realised rate per grade."""
    shipped: str = "lightgbm"
    """The method the registered model serves for sql (grades are SQL grades)."""
    shipped_by_target: Mapping[str, str] = field(default_factory=dict)
    """The method served per target (the summary speaks of each); missing: ``shipped``."""
    flat: bool = False
    """A one-row-per-lead export: the test period is one group of leads, not cutoffs."""


_NUMERIC = re.compile(r"^[-+]?[\d,.]+(%|x)?( to [-+]?[\d,.]+%?)?$|^\u2013$")


def _table(frame: pd.DataFrame) -> str:
    """Display strings in a horizontally scrollable table (never wider than the page); columns
    of numbers are right-aligned, text columns left-aligned."""
    numeric = [
        len(frame) > 0 and all(_NUMERIC.match(str(v)) for v in frame[c]) for c in frame.columns
    ]
    align = ["" if n else " class='t'" for n in numeric]
    head = "".join(
        f"<th{a}>{html.escape(str(c))}</th>" for c, a in zip(frame.columns, align, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{a}>{html.escape(str(v))}</td>" for v, a in zip(row, align, strict=True))
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<div class='wrap'><table><tr>{head}</tr>{body}</table></div>"


def headline_sentences(
    evaluation: Evaluation, model: str | Mapping[str, str] = "lightgbm", *, flat: bool = False
) -> list[str]:
    """Plain-language headline: extra positives found at the rules' MQL volume.

    ``model``: the method to speak of, or one per target (the head that ships for it; a target
    whose rules ship gets a sentence saying so). Counts are (contact, cutoff) rows: a contact
    eligible at several cutoffs counts at each; ``flat``: the rows are the leads of one export
    (no cutoffs, no horizon)."""
    out = []
    level = f"{evaluation.confidence:.0%}"
    for target in evaluation.headline["target"].unique():
        method = model.get(target, "lightgbm") if isinstance(model, Mapping) else model
        if method == "rules":
            out.append(
                f"For {target} the rules themselves ship: no model found more {target} rows on "
                "the validation window (the table above compares them on the test window)."
            )
            continue
        rows = evaluation.headline
        for _, r in rows[(rows["method"] == method) & (rows["target"] == target)].iterrows():
            out.append(_headline_sentence(r, evaluation.n_cutoffs, str(method), level, flat=flat))
    return out


def _headline_sentence(
    r: pd.Series, n_cutoffs: int, model: str, level: str, *, flat: bool = False
) -> str:
    if not np.isfinite(r["relative_gain"]):
        gain = "gain not estimable (the rules find none)"
    elif not (np.isfinite(r["gain_low"]) and np.isfinite(r["gain_high"])):
        gain = f"{r['relative_gain']:+.1%} (no {level} CI: too few positives)"
    else:
        unsure = r["gain_low"] <= 0 <= r["gain_high"]
        gain = (
            f"{r['relative_gain']:+.1%} ({level} CI {r['gain_low']:+.1%} to {r['gain_high']:+.1%}"
            + ("; the interval includes no change" if unsure else "")
            + ")"
        )
    if flat:
        return (
            f"At the rules' MQL volume ({int(r['leads']):,} leads of the test period), {model} "
            f"finds {r['model_found']:.0f} that became {r['target']} vs "
            f"{r['rules_found']:.0f} for the rules: {gain}."
        )
    return (
        f"At the rules' MQL volume ({int(r['leads']):,} lead-cutoff rows over "
        f"{n_cutoffs} cutoff(s)), {model} finds {r['model_found']:.0f} rows "
        f"that became {r['target']} within the horizon vs {r['rules_found']:.0f} for the "
        f"rules: {gain}."
    )


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def render_report(evaluation: Evaluation, context: ReportContext) -> str:
    """The whole report as one HTML string: plain summary first, details after, provenance last."""
    e = html.escape
    level = f"{evaluation.confidence:.0%}"
    summary = plain_summary(
        evaluation,
        context.split_description,
        shipped=context.shipped,
        grades=context.grades,
        shipped_by_target=context.shipped_by_target,
        flat=context.flat,
    )
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(context.title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{e(context.title)}</h1>",
        "<div class='summary'><h2>In short</h2>"
        + "".join(f"<p>{e(s)}</p>" for s in summary)
        + "</div>",
    ]
    warnings = [*caveats(evaluation, shipped=context.shipped), *context.notes, *evaluation.notes]
    parts += [f"<p class='note'>{e(n)}</p>" for n in warnings]
    parts += [f"<p class='info'>{e(n)}</p>" for n in context.info]
    grades = grade_table(evaluation, context.grades, context.shipped) if context.grades else None
    if grades is not None:
        parts += [
            "<h2>Grades on the test period</h2>",
            _table(grades),
            f"<p class='explain'>Grade A holds the share of leads sales works today (the rules' "
            f"MQL share on the {e(context.grades.fitted_on) if context.grades else ''}); B up "
            "to three times that share, C up to the top half, D the rest. A well calibrated "
            "model shows a realised rate close to the predicted one in every grade.</p>",
        ]
    gains = gain_table(evaluation)
    parts += [
        "<h2>Rules vs models at today's MQL volume</h2>",
        _table(gains)
        if len(gains)
        else "<p>No rules baseline to compare with: give your points (flat mode: "
        "<code>--rules my-rules.yaml</code> or <code>--rules-column</code>) to see how many "
        "more converting leads the model finds at the same sales capacity.</p>",
        (
            f"<p class='explain'>{'Each cutoff, s' if evaluation.n_cutoffs > 1 else 'S'}ales "
            "works as many leads as the rules make MQLs; the gain is the change in leads found "
            f"that converted. Intervals: {level} "
            + ("bootstrap over leads" if context.flat else "cluster bootstrap over contacts")
            + ".</p>"
            if len(gains)
            else ""
        ),
        "<h2>How well each method ranks and predicts</h2>",
        _table(metrics_table(evaluation)),
        "<p class='explain'>ROC AUC: the chance a converting lead is ranked above a "
        "non-converting one (0.5 is a coin toss). PR AUC: precision averaged over recall, "
        "compare it with the base rate. Brier score: error of the probabilities (lower is "
        "better)."
        + (f" {e(_ORACLE)}" if any(m.name == "oracle" for m in evaluation.methods) else "")
        + "</p>",
    ]
    each = " per cutoff" if evaluation.n_cutoffs > 1 else ""
    for target in evaluation.targets:
        parts.append(f"<h2>Curves: leads that {e(outcome_label(target))}</h2><div class='plots'>")
        parts += [
            _img(gains_png(evaluation, target), f"gains {target}"),
            _img(pr_png(evaluation, target), f"precision-recall {target}"),
            _img(calibration_png(evaluation, target), f"calibration {target}"),
            _img(roc_png(evaluation, target), f"ROC {target}"),
        ]
        parts.append("</div>")
    parts += [
        f"<h2>Sales capacity: leads found when working K leads{each}</h2>",
        _table(capacity_table(evaluation)),
        "<p class='explain'>Counts with a decimal are expected values: tied scores are broken "
        "at random.</p>",
        f"<h2>The top {'of each cutoff' if each else 'scored leads'}</h2>",
        _table(lift_table(evaluation)),
    ]
    for target, (contrib, values) in context.shap.items():
        parts.append(f"<h2>What drives the score: leads that {e(outcome_label(target))}</h2>")
        parts.append(_img(shap_png(contrib, values, target), f"SHAP {target}"))
    for title, frame in context.extra_tables.items():
        parts += [f"<h2>{e(title)}</h2>", _table(tidy_frame(frame))]
    if context.rules:
        parts += ["<h2>The rules baseline used</h2>", _table(rules_table(context.rules))]
    parts += [
        "<h2>How this was tested</h2>",
        f"<p>Split {e(context.split_mode)}; {evaluation.n_rows:,} "
        + ("leads" if context.flat else "lead-cutoff rows")
        + f" in the test period. Intervals: {level} "
        + ("bootstrap over leads" if context.flat else "cluster bootstrap over contacts")
        + ".</p>",
        _table(periods_table(context.split_description)),
        f"<p class='explain'>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by leadscore "
        f"{e(__version__)}; data fingerprint <code>{e(context.data_fingerprint)}</code>, "
        f"feature definition <code>{e(context.definition_hash)}</code>.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(evaluation: Evaluation, context: ReportContext, path: Path) -> Path:
    """Render and write the report atomically; returns ``path``."""
    atomic_write_text(path, render_report(evaluation, context))
    return path
