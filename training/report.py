"""The self-contained HTML evaluation report (plots embedded as base64 PNG), written atomically."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore import __version__
from leadscore.atomic import atomic_write_text
from leadscore.training.evaluate import Evaluation
from leadscore.training.plots import calibration_png, gains_png, pr_png, roc_png, shap_png

__all__ = ["ReportContext", "headline_sentences", "render_report", "write_report"]

FloatArray = np.ndarray[Any, Any]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.plots img{max-width:49%;margin:2px}.headline{background:#eef6ee;padding:.6em 1em;border-radius:6px}
.note{color:#7a4b00}code{background:#f5f5f5;padding:1px 4px}
"""


@dataclass
class ReportContext:
    """What the report says around the evaluation: provenance, split, notes, rules, SHAP."""

    title: str
    data_fingerprint: str
    definition_hash: str
    split_description: Mapping[str, str]
    split_mode: str
    notes: list[str] = field(default_factory=list)
    rules: Sequence[Mapping[str, Any]] = ()
    shap: Mapping[str, tuple[FloatArray, pd.DataFrame]] = field(default_factory=dict)
    extra_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)


def _table(frame: pd.DataFrame, floats: str = "{:.4f}") -> str:
    formatters = {
        c: (
            lambda v, f=floats: (
                f.format(v) if isinstance(v, float) and np.isfinite(v) else html.escape(str(v))
            )
        )
        for c in frame.columns
    }
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{formatters[c](v)}</td>" for c, v in zip(frame.columns, row, strict=True))
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def headline_sentences(evaluation: Evaluation, model: str = "lightgbm") -> list[str]:
    """Plain-language headline: extra positives found at the rules' MQL volume.

    Counts are (contact, cutoff) rows: a contact eligible at several cutoffs counts at each."""
    out = []
    level = f"{evaluation.confidence:.0%}"
    for _, r in evaluation.headline[evaluation.headline["method"] == model].iterrows():
        if not np.isfinite(r["relative_gain"]):
            gain = "gain not estimable (the rules find none)"
        elif not (np.isfinite(r["gain_low"]) and np.isfinite(r["gain_high"])):
            gain = f"{r['relative_gain']:+.1%} (no {level} CI: too few positives)"
        else:
            gain = (
                f"{r['relative_gain']:+.1%} ({level} CI {r['gain_low']:+.1%} to "
                f"{r['gain_high']:+.1%})"
            )
        out.append(
            f"At the rules' MQL volume ({int(r['leads']):,} lead-cutoff rows over "
            f"{evaluation.n_cutoffs} cutoff(s)), {model} finds {r['model_found']:.0f} rows "
            f"that became {r['target']} within the horizon vs {r['rules_found']:.0f} for the "
            f"rules: {gain}."
        )
    return out


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def render_report(evaluation: Evaluation, context: ReportContext) -> str:
    """The whole report as one HTML string."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(context.title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{e(context.title)}</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by leadscore {e(__version__)}; "
        f"data fingerprint <code>{e(context.data_fingerprint)}</code>, feature definition "
        f"<code>{e(context.definition_hash)}</code>.</p>",
        f"<p><b>Split</b>: {e(context.split_mode)}. Test period: {evaluation.n_rows:,} rows, "
        f"{evaluation.n_contacts:,} contacts, {evaluation.n_cutoffs} cutoff(s). "
        f"Confidence intervals: {evaluation.confidence:.0%} cluster bootstrap over contacts. "
        "Counts are (contact, cutoff) rows: a contact eligible at several cutoffs counts at "
        "each.</p>",
        _table(pd.DataFrame([dict(context.split_description)])),
    ]
    parts += [f"<p class='note'>Note: {e(n)}</p>" for n in [*context.notes, *evaluation.notes]]
    sentences = headline_sentences(evaluation)
    if sentences:
        parts.append(
            "<div class='headline'>" + "".join(f"<p>{e(s)}</p>" for s in sentences) + "</div>"
        )
    parts += ["<h2>Metrics on the out-of-time test period</h2>", _table(evaluation.metrics)]
    if "normalized_auc" in evaluation.metrics.columns:
        parts.append(
            "<p>normalized AUC = (AUC - 0.5) / (AUC of the true probabilities - 0.5): the share "
            "of the achievable ranking quality reached.</p>"
        )
    parts += [
        "<h2>Gain at the rules' MQL volume</h2>",
        _table(evaluation.headline),
        "<h2>Sales capacity: positives found among the K leads worked per cutoff</h2>",
        _table(evaluation.capacity, "{:.1f}"),
        "<h2>Lift and capture at the top of each cutoff</h2>",
        _table(evaluation.lift, "{:.3f}"),
    ]
    for target in evaluation.targets:
        parts.append(f"<h2>Curves: {e(target)}</h2><div class='plots'>")
        parts += [
            _img(roc_png(evaluation, target), f"ROC {target}"),
            _img(pr_png(evaluation, target), f"PR {target}"),
            _img(calibration_png(evaluation, target), f"calibration {target}"),
            _img(gains_png(evaluation, target), f"gains {target}"),
        ]
        parts.append("</div>")
    for target, (contrib, values) in context.shap.items():
        parts.append(f"<h2>What drives the LightGBM score: {e(target)}</h2>")
        parts.append(_img(shap_png(contrib, values, target), f"SHAP {target}"))
    for title, frame in context.extra_tables.items():
        parts += [f"<h2>{e(title)}</h2>", _table(frame)]
    if context.rules:
        parts += ["<h2>Rule-based baseline used</h2>", _table(pd.DataFrame(list(context.rules)))]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(evaluation: Evaluation, context: ReportContext, path: Path) -> Path:
    """Render and write the report atomically; returns ``path``."""
    atomic_write_text(path, render_report(evaluation, context))
    return path
