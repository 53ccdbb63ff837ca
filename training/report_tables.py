"""The report's tables as a reader sees them: human headers, whole counts, rates in percent.

Each function takes one of the evaluation's tidy frames and returns a frame of display strings;
the numbers themselves stay in :class:`~leadscore.training.evaluate.Evaluation` and MLflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.grades import GRADES, GradeThresholds, assign_grades
from leadscore.training.evaluate import Evaluation
from leadscore.training.report_format import (
    MISSING,
    count,
    interval,
    method_label,
    number,
    outcome_label,
    percent,
    rule_condition,
    signed_percent,
)

__all__ = [
    "capacity_table",
    "gain_table",
    "grade_table",
    "lift_table",
    "metrics_table",
    "periods_table",
    "rules_table",
    "tidy_frame",
]


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    """One row per (method, outcome): ranking quality with its interval, probability quality."""
    level = f"{evaluation.confidence:.0%}"
    rows = []
    for _, r in evaluation.metrics.iterrows():
        row = {
            "Method": method_label(str(r["method"])),
            "Outcome": outcome_label(str(r["target"])),
            "ROC AUC": number(r["roc_auc"]),
            f"{level} interval": interval(r.get("roc_auc_low"), r.get("roc_auc_high")),
            "PR AUC": number(r["pr_auc"]),
            "Brier score": number(r["brier"], 4),
        }
        if "normalized_auc" in r:
            row["Share of the achievable AUC"] = percent(r["normalized_auc"], 0)
        rows.append(row)
    return pd.DataFrame(rows)


def gain_table(evaluation: Evaluation) -> pd.DataFrame:
    """Positives found by each model and by the rules when sales works the rules' MQL volume."""
    level = f"{evaluation.confidence:.0%}"
    rows = []
    for _, r in evaluation.headline.iterrows():
        estimable = np.isfinite(r["relative_gain"])
        rows.append(
            {
                "Model": method_label(str(r["method"])),
                "Outcome": outcome_label(str(r["target"])),
                "Leads worked": count(r["leads"]),
                "Found by the rules": count(r["rules_found"]),
                "Found by the model": count(r["model_found"]),
                "Gain": signed_percent(r["relative_gain"]) if estimable else "not estimable",
                f"{level} interval": interval(r["gain_low"], r["gain_high"], signed_percent),
            }
        )
    return pd.DataFrame(rows)


def capacity_table(evaluation: Evaluation) -> pd.DataFrame:
    """Positives found per method when sales works K leads per cutoff."""
    several = evaluation.n_cutoffs > 1  # one cutoff (a flat export): "per cutoff" says nothing
    rows = []
    for _, r in evaluation.capacity.iterrows():
        row = {
            "Capacity": str(r["capacity"]).capitalize(),
            "Leads worked per cutoff" if several else "Leads worked": count(
                round(float(r["leads_per_cutoff"]), 1)
            ),
            "Method": method_label(str(r["method"])),
        }
        for target in evaluation.targets:
            row[f"Found that {outcome_label(target)}"] = count(r[f"{target}_found"])
            if several:
                per = "per cutoff" if len(evaluation.targets) == 1 else f"per cutoff ({target})"
                row[per] = count(round(float(r[f"{target}_per_cutoff"]), 1))
        rows.append(row)
    return pd.DataFrame(rows)


def lift_table(evaluation: Evaluation) -> pd.DataFrame:
    """Precision, lift and capture in the top share of each cutoff's leads."""
    return pd.DataFrame(
        {
            "Method": [method_label(str(m)) for m in evaluation.lift["method"]],
            "Outcome": [outcome_label(str(t)) for t in evaluation.lift["target"]],
            "Top of each cutoff" if evaluation.n_cutoffs > 1 else "Top": evaluation.lift["top"],
            "Leads": [count(v) for v in evaluation.lift["leads"]],
            "Found": [count(v) for v in evaluation.lift["found"]],
            "Precision": [percent(v) for v in evaluation.lift["precision"]],
            "Lift": [f"{v:.1f}x" if np.isfinite(v) else MISSING for v in evaluation.lift["lift"]],
            "Share of all found": [percent(v) for v in evaluation.lift["capture"]],
        }
    )


def tidy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Any other table made readable: ``snake_case`` headers in words, whole numbers as counts,
    other numbers with three decimals, missing values as a dash."""

    def show(value: Any) -> str:
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        if isinstance(value, int | float | np.integer | np.floating):
            number_ = float(value)
            return count(number_) if number_.is_integer() else number(number_)
        return MISSING if value is None else str(value)

    headers = {c: str(c).replace("_", " ").capitalize() for c in frame.columns}
    return pd.DataFrame({headers[c]: [show(v) for v in frame[c]] for c in frame.columns})


def periods_table(description: Mapping[str, str]) -> pd.DataFrame:
    """The time split as three rows (learning, validation, test) instead of nine columns; any
    other description as one row per item."""
    names = {"train": "Learning", "valid": "Validation (tuning, grades)", "test": "Test (reported)"}
    if "train_window" in description:  # a flat export: leads created in each date range
        return pd.DataFrame(
            [
                {
                    "Period": label,
                    "Created": description[f"{key}_window"].replace("..", " to "),
                    "Leads": count(float(description[key])) if key in description else MISSING,
                }
                for key, label in names.items()
                if f"{key}_window" in description
            ]
        )
    if "train_first_cutoff" not in description:
        return tidy_frame(
            pd.DataFrame({"item": list(description), "value": list(description.values())})
        )
    rows = []
    for key, label in names.items():
        if f"{key}_first_cutoff" not in description:
            continue
        rows.append(
            {
                "Period": label,
                "First cutoff": description[f"{key}_first_cutoff"],
                "Last cutoff": description[f"{key}_last_cutoff"],
                "Lead-cutoff rows": count(float(description[f"{key}_rows"])),
            }
        )
    return pd.DataFrame(rows)


def grade_table(
    evaluation: Evaluation, grades: GradeThresholds, method: str = "lightgbm"
) -> pd.DataFrame | None:
    """Volume and realised conversion per grade on the test period, beside the predicted rate;
    ``None`` when ``method`` has no SQL probability on the test rows."""
    scores = next((m for m in evaluation.methods if m.name == method), None)
    if scores is None or "sql" not in scores.proba:
        return None
    p_sql = np.asarray(scores.proba["sql"], dtype=np.float64)
    assigned = assign_grades(p_sql, grades)
    rows: list[dict[str, Any]] = []
    for grade in GRADES:
        mask = assigned == grade
        n = int(mask.sum())
        row = {
            "Grade": grade,
            "Leads": count(n),
            "Share of leads": percent(n / len(p_sql)) if len(p_sql) else MISSING,
            "Predicted SQL rate": percent(float(p_sql[mask].mean()) if n else np.nan),
        }
        for target in evaluation.targets:
            found = int(evaluation.labels[target][mask].sum())
            row[f"Leads that {outcome_label(target)}"] = count(found)
            row[f"Realised rate ({target})"] = percent(found / n if n else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def rules_table(rules: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rules baseline in words: rule, feature, points, condition."""
    return pd.DataFrame(
        [
            {
                "Rule": str(r.get("name", "")),
                "Feature": str(r.get("feature", "")),
                "Points": count(r.get("points")),
                "When": rule_condition(r),
            }
            for r in rules
        ]
    )
