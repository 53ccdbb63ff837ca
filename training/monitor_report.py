"""The monitor's HTML page: verdict, drift, calibration per grade and acceptance, with plots
(base64 PNG, matplotlib's Agg canvas), written atomically."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leadscore.atomic import atomic_write_text
from leadscore.training.monitor import MonitorVerdict
from leadscore.training.plots import _png

__all__ = ["MonitorPage", "readable_mean", "render_monitor", "write_monitor"]


@dataclass(frozen=True)
class MonitorPage:
    """Everything the page shows."""

    champion: str
    as_of: datetime
    reference: str
    verdict: MonitorVerdict
    score_psi: float
    reference_scores: np.ndarray[Any, Any]
    current_scores: np.ndarray[Any, Any]
    features: pd.DataFrame
    calibration: pd.DataFrame
    acceptance: pd.DataFrame


def _scores_png(page: MonitorPage) -> str:
    fig = Figure(figsize=(5.2, 3.4))
    ax = fig.add_subplot()
    top = float(max(np.quantile(page.reference_scores, 0.99), 1e-3))
    bins = [float(x) for x in np.linspace(0, top, 30)]
    ax.hist(page.reference_scores, bins=bins, density=True, alpha=0.5, label="reference")
    ax.hist(page.current_scores, bins=bins, density=True, alpha=0.5, label="now")
    ax.set_xlabel("p_sql")
    ax.set_title(f"Score distribution (PSI {page.score_psi:.3f})")
    ax.legend()
    return _png(fig)


def _features_png(features: pd.DataFrame) -> str:
    top = features.head(12).iloc[::-1]
    fig = Figure(figsize=(5.8, 0.3 * len(top) + 1.2))
    ax = fig.add_subplot()
    colors = ["#d62728" if v > 0.25 else "#ff7f0e" if v > 0.1 else "#2ca02c" for v in top["psi"]]
    ax.barh(top["feature"], top["psi"], color=colors)
    ax.axvline(0.1, color="#888", ls=":")
    ax.axvline(0.25, color="#888", ls="--")
    ax.set_xlabel("PSI")
    ax.set_title("Top drifting features")
    return _png(fig)


def _calibration_png(calibration: pd.DataFrame) -> str:
    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.add_subplot()
    for (as_of, version), part in calibration.groupby(["as_of", "model_version"]):
        label = f"{str(as_of)[:10]} {version}"
        err = np.vstack([part["realised"] - part["low"], part["high"] - part["realised"]])
        ax.errorbar(part["predicted"], part["realised"], yerr=err, fmt="o", label=label)
        for r in part.itertuples():
            ax.annotate(str(r.grade), (r.predicted, r.realised), fontsize=8)
    top = float(max(calibration["high"].max(), calibration["predicted"].max(), 0.01))
    ax.plot([0, top], [0, top], color="#888", ls="--")
    ax.set_xlabel("predicted SQL rate (mean p_sql)")
    ax.set_ylabel("realised SQL rate")
    ax.set_title("Calibration per grade, matured cohorts")
    ax.legend(fontsize=7)
    return _png(fig)


def _acceptance_png(acceptance: pd.DataFrame) -> str:
    fig = Figure(figsize=(5.2, 3.0))
    ax = fig.add_subplot()
    ax.plot(acceptance["period"], acceptance["share"], marker="o")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accepted share")
    ax.set_title("Rep feedback: accepted share per week")
    fig.autofmt_xdate()
    return _png(fig)


def _f3(value: float) -> str:
    return f"{value:.3f}"


def _f4(value: float) -> str:
    return f"{value:.4f}"


def _img(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def render_monitor(page: MonitorPage) -> str:
    """The page as one self-contained HTML string."""
    v = page.verdict
    color = {"ok": "#2ca02c", "retrain recommended": "#ff7f0e", "stale": "#d62728"}[v.status]
    items = "".join(f"<li>{html.escape(r)}</li>" for r in v.reasons) or "<li>none</li>"
    warns = "".join(f"<li>{html.escape(w)}</li>" for w in v.warnings)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>leadscore monitor</title><style>body{font-family:sans-serif;max-width:60em;"
        "margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px}</style></head><body>",
        f"<h1>leadscore monitor: <span style='color:{color}'>{html.escape(v.status)}</span></h1>",
        f"<p>Champion {html.escape(page.champion)}, as of {page.as_of:%Y-%m-%d %H:%M}; "
        f"reference: {html.escape(page.reference)}.</p>",
        f"<h2>Reasons</h2><ul>{items}</ul>",
        f"<h2>Warnings</h2><ul>{warns or '<li>none</li>'}</ul>",
        "<h2>Score drift</h2>",
        _img(_scores_png(page), "score distribution, reference vs now"),
        "<h2>Feature drift</h2>",
    ]
    if not page.features.empty:
        parts.append(_img(_features_png(page.features), "top drifting features by PSI"))
        drift = page.features.head(20).copy()
        for column in ("reference_mean", "current_mean"):
            drift[column] = drift[column].map(readable_mean)
        parts.append(drift.to_html(index=False, float_format=_f3))
    parts.append("<h2>Realised conversion per grade</h2>")
    if page.calibration.empty:
        parts.append("<p>No matured cohort in the score history yet.</p>")
    else:
        parts.append(_img(_calibration_png(page.calibration), "predicted vs realised per grade"))
        parts.append(page.calibration.to_html(index=False, float_format=_f4))
    parts.append("<h2>Feedback acceptance</h2>")
    if page.acceptance.empty:
        parts.append("<p>No rep feedback in the score store.</p>")
    else:
        parts.append(_img(_acceptance_png(page.acceptance), "accepted share per week"))
        parts.append(page.acceptance.to_html(index=False, float_format=_f3))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_monitor(page: MonitorPage, path: Path) -> Path:
    """Render and write the page atomically; returns ``path``."""
    atomic_write_text(path, render_monitor(page))
    return path


def readable_mean(value: float) -> str:
    """A feature's mean as a reader takes it in: 163 days, 12.4 visits, 0.43 of leads."""
    if value != value:  # NaN: a text feature has no mean
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"
