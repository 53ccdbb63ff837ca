"""Report figures as base64 PNG strings (matplotlib's Agg canvas; no pyplot global state)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from sklearn.metrics import precision_recall_curve, roc_curve

from leadscore.training.evaluate import Evaluation
from leadscore.training.report_format import method_label, outcome_label

__all__ = ["calibration_png", "gains_png", "pr_png", "roc_png", "shap_png"]

FloatArray = np.ndarray[Any, Any]
_COLORS = {"rules": "#888888", "logistic": "#1f77b4", "lightgbm": "#d62728", "oracle": "#2ca02c"}


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _color(name: str) -> str:
    return _COLORS.get(name, "#9467bd")


def roc_png(evaluation: Evaluation, target: str) -> str:
    """ROC curves of every method for one target."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    y = evaluation.labels[target]
    for m in evaluation.methods:
        fpr, tpr, _ = roc_curve(y, m.score[target])
        ax.plot(fpr, tpr, label=method_label(m.name), color=_color(m.name))
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8)
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC: leads that {outcome_label(target)}",
    )
    ax.legend(loc="lower right")
    return _png(fig)


def pr_png(evaluation: Evaluation, target: str) -> str:
    """Precision-recall curves of every method for one target, the y axis zoomed on the
    precisions reached past the first few leads (at a 1 % base rate a 0-1 axis shows nothing)."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    y = evaluation.labels[target]
    base_rate = float(np.mean(y)) if len(y) else 0.0
    top = base_rate
    for m in evaluation.methods:
        precision, recall, _ = precision_recall_curve(y, m.score[target])
        ax.plot(recall, precision, label=method_label(m.name), color=_color(m.name))
        settled = precision[recall >= 0.05]
        top = max(top, float(settled.max()) if settled.size else base_rate)
    ax.axhline(base_rate, ls=":", color="black", lw=0.8, label=f"base rate {base_rate:.1%}")
    ax.set_ylim(0, min(1.0, 1.15 * top) if top > 0 else 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(
        xlabel="recall (share of converters found)",
        ylabel="precision (share of worked leads converting)",
        title=f"Precision-recall: leads that {outcome_label(target)}",
    )
    ax.legend(loc="upper right", fontsize="small")
    return _png(fig)


def calibration_png(evaluation: Evaluation, target: str) -> str:
    """Observed vs predicted rate per decile of the prediction."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    table = evaluation.calibration[evaluation.calibration["target"] == target]
    top = 0.0
    for name, part in table.groupby("method", sort=False):
        ax.plot(
            part["predicted"],
            part["observed"],
            marker="o",
            label=method_label(str(name)),
            color=_color(str(name)),
        )
        top = max(top, float(part["predicted"].max()), float(part["observed"].max()))
    ax.plot([0, top], [0, top], ls=":", color="black", lw=0.8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(
        xlabel="predicted rate (per tenth of the leads)",
        ylabel="realised rate",
        title=f"Calibration: leads that {outcome_label(target)}",
    )
    ax.legend(loc="upper left")
    return _png(fig)


def gains_png(evaluation: Evaluation, target: str) -> str:
    """Cumulative gains: share of positives captured vs share of leads worked (test period)."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    y = evaluation.labels[target]
    share = np.arange(1, len(y) + 1) / len(y)
    for m in evaluation.methods:
        order = np.argsort(-np.asarray(m.score[target]), kind="stable")
        captured = np.cumsum(y[order]) / max(1, int(y.sum()))
        ax.plot(share, captured, label=method_label(m.name), color=_color(m.name))
    mql_share = evaluation.mql_volume / max(1, evaluation.n_rows)
    ax.axvline(mql_share, ls="--", color="#888888", lw=0.8, label="today's MQL volume")
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8, label="random order")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(
        xlabel="share of leads worked (best first)",
        ylabel=f"share of leads that {outcome_label(target)} found",
        title=f"Gains: leads that {outcome_label(target)}",
    )
    ax.set_xlim(0, min(1.0, max(0.3, 3 * mql_share)))
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def shap_png(contributions: FloatArray, values: pd.DataFrame, target: str, top: int = 15) -> str:
    """SHAP summary: one row per top feature, dots coloured from low (blue) to high (red) value,
    with a colour bar; categorical features have no order, so their dots are purple."""
    contrib = contributions[:, :-1]
    importance = np.abs(contrib).mean(axis=0)
    order = np.argsort(-importance)[:top][::-1]
    fig = Figure(figsize=(7.0, 0.35 * len(order) + 1.4))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    mappable = None
    labels = []
    for row, j in enumerate(order):
        column = values.iloc[:, j]
        numeric = pd.to_numeric(column, errors="coerce") if column.dtype != object else None
        jitter = rng.uniform(-0.3, 0.3, len(column))
        name = str(values.columns[j])
        if numeric is not None and numeric.notna().any():
            color = numeric.rank(pct=True).fillna(0.5).to_numpy()
            mappable = ax.scatter(
                contrib[:, j],
                row + jitter,
                c=color,
                cmap="coolwarm",
                s=4,
                alpha=0.6,
                vmin=0,
                vmax=1,
            )
            labels.append(name)
        else:
            ax.scatter(contrib[:, j], row + jitter, color="#8e6bbf", s=4, alpha=0.6)
            labels.append(f"{name} (category)")
    ax.set_yticks(range(len(order)), labels)
    ax.axvline(0, color="black", lw=0.6)
    ax.set(
        xlabel="contribution to the score (log-odds; right raises it)",
        title=f"What drives the score: leads that {outcome_label(target)}",
    )
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=ax, fraction=0.04, pad=0.02, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
    return _png(fig)
