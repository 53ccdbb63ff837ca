"""Report figures as base64 PNG strings (matplotlib's Agg canvas; no pyplot global state)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from leadscore.training.evaluate import Evaluation

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
        ax.plot(fpr, tpr, label=m.name, color=_color(m.name))
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {target}")
    ax.legend(loc="lower right")
    return _png(fig)


def pr_png(evaluation: Evaluation, target: str) -> str:
    """Precision-recall curves of every method for one target."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    y = evaluation.labels[target]
    for m in evaluation.methods:
        precision, recall, _ = precision_recall_curve(y, m.score[target])
        ax.plot(recall, precision, label=m.name, color=_color(m.name))
    ax.axhline(float(np.mean(y)), ls=":", color="black", lw=0.8)
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall: {target}")
    ax.legend(loc="upper right")
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
            label=str(name),
            color=_color(str(name)),
        )
        top = max(top, float(part["predicted"].max()), float(part["observed"].max()))
    ax.plot([0, top], [0, top], ls=":", color="black", lw=0.8)
    ax.set(
        xlabel="mean predicted probability", ylabel="observed rate", title=f"Calibration: {target}"
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
        ax.plot(share, captured, label=m.name, color=_color(m.name))
    mql_share = evaluation.mql_volume / max(1, evaluation.n_rows)
    ax.axvline(mql_share, ls="--", color="#888888", lw=0.8)
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8)
    ax.set(
        xlabel="share of leads worked", ylabel="share of positives found", title=f"Gains: {target}"
    )
    ax.set_xlim(0, min(1.0, max(0.3, 3 * mql_share)))
    ax.legend(loc="lower right")
    return _png(fig)


def shap_png(contributions: FloatArray, values: pd.DataFrame, target: str, top: int = 15) -> str:
    """SHAP summary: one row per top feature, dots coloured by the feature's value rank."""
    contrib = contributions[:, :-1]
    importance = np.abs(contrib).mean(axis=0)
    order = np.argsort(-importance)[:top][::-1]
    fig = Figure(figsize=(6.4, 0.35 * len(order) + 1.2))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        column = values.iloc[:, j]
        numeric = pd.to_numeric(column, errors="coerce") if column.dtype != object else None
        if numeric is not None and numeric.notna().any():
            color = numeric.rank(pct=True).fillna(0.5).to_numpy()
        else:
            color = np.full(len(column), 0.5)
        jitter = rng.uniform(-0.3, 0.3, len(column))
        ax.scatter(
            contrib[:, j], row + jitter, c=color, cmap="coolwarm", s=4, alpha=0.6, vmin=0, vmax=1
        )
    ax.set_yticks(range(len(order)), [str(values.columns[j]) for j in order])
    ax.axvline(0, color="black", lw=0.6)
    ax.set(
        xlabel="SHAP value (log-odds contribution)",
        title=f"Top features: {target} (red = high value)",
    )
    return _png(fig)
