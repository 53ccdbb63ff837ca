"""Scoring raw rows of a flat export: probabilities, grades and reasons in words.

A flat model (``train --table``) reads the export's own columns. Rows are cleaned the way the
training file was read (placeholders such as "Select" are missing), checked against the model's
columns (a file that is not the export the model knows is refused with the missing columns
named), and explained with the head's exact contributions (SHAP values of LightGBM, linear
terms of the logistic head or the rules' points, whichever shipped), worded from the column's
type:
"Lead source: Reference", "Time on website 1,250 (higher than 90 % of leads)", "Country:
missing". A number is compared with the training rows whichever way it moves the score: "Employee
count 15 (lower than 85 % of leads)" reads right as a reason for and against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import DataContractError
from leadscore.flat_csv import clean_placeholders
from leadscore.model.encoding import as_float
from leadscore.model.flat import FlatColumn, FlatSpec
from leadscore.model.grades import assign_grades
from leadscore.model.heads import AnyHead
from leadscore.model.spec import ScorerSpec
from leadscore.safe_text import safe_example

__all__ = ["FlatExplanation", "FlatScoring", "describe_value", "label_of"]

FloatArray = np.ndarray[Any, Any]


def label_of(name: str) -> str:
    """A column name for people: ``time_on_website`` -> ``Time on website``."""
    text = " ".join(name.replace("_", " ").replace(".", " ").split())
    return text[:1].upper() + text[1:] if text else name


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def _float(value: Any, kind: str) -> float:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip().lower()
    if kind == "boolean" and text in _BOOLEAN:
        return _BOOLEAN[text]
    try:
        return float(text)
    except ValueError:
        return math.nan


_BOOLEAN = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "1": 1.0, "0": 0.0}


def describe_value(column: FlatColumn, value: Any) -> str:
    """One column's value in words, from its type (missing values said as such); a number
    with the share of training rows it is higher (or lower) than, when over half."""
    label = label_of(column.name)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return f"{label}: missing"
    if column.kind == "categorical":
        return f"{label}: {safe_example(value)}"
    number = _float(value, column.kind)
    if math.isnan(number):
        return f"{label}: {'missing' if column.kind == 'numeric' else safe_example(value)}"
    if column.kind == "boolean":
        return f"{label}: {'yes' if number > 0 else 'no'}"
    text = f"{label} {_number(number)}"
    shares = column.shares(number)
    if shares is None:
        return text
    below, at_or_below = shares
    higher, lower = round(below * 100, 6), round((1 - at_or_below) * 100, 6)
    if higher > 50:
        return f"{text} (higher than {min(math.floor(higher), 99)} % of leads)"
    if lower > 50:
        return f"{text} (lower than {min(math.floor(lower), 99)} % of leads)"
    return text


@dataclass(frozen=True)
class FlatExplanation:
    """Scores of a batch of export rows, with each row's reasons and SHAP values."""

    scores: pd.DataFrame
    contributions: FloatArray
    """``(rows, features + 1)`` SHAP values (log-odds); last column: the base value."""
    features: list[str]


class FlatScoring:
    """Probability, grade and reasons of raw export rows for a flat model's head: LightGBM
    (exact SHAP values), logistic or the rules (exact linear contributions), whichever shipped.
    """

    def __init__(self, head: AnyHead, spec: ScorerSpec) -> None:
        if spec.flat is None:
            raise ValueError("not a flat model's spec")
        self.head = head
        self.spec = spec
        self.flat: FlatSpec = spec.flat
        self.columns = {c.name: c for c in self.flat.columns}
        self.probability_column = f"p_{self.flat.target}"

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw rows cleaned and checked against the model's columns (``DataContractError``
        naming the missing columns, or a number column that holds text)."""
        needed = self.head.feature_names
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataContractError(
                [
                    f"{len(missing)} of the model's {len(needed)} column(s) are missing: "
                    f"{', '.join(missing[:20])}; score an export with the columns the model "
                    f"was trained on (outcome {self.flat.target!r}), or retrain on this one"
                ],
                header="The rows do not match the flat model's export:",
            )
        rows = clean_placeholders(frame[needed], self.flat.na_values)
        problems: list[object] = []
        for name in needed:
            if self.columns[name].kind != "numeric":
                continue
            values = rows[name]
            if values.notna().sum() == 0 or pd.api.types.is_numeric_dtype(values):
                continue
            text = values.dropna()
            share = float(pd.to_numeric(text, errors="coerce").isna().mean())
            if share > 0.5:
                problems.append(
                    f"column {name!r}: {share:.0%} of the filled values are not numbers, the "
                    "model reads numbers there; check the separator and the column order"
                )
        if problems:
            raise DataContractError(problems, header="The rows do not match the flat model:")
        for name in needed:  # "no" is false (the rules' conditions compare yes/no as numbers)
            if self.columns[name].kind == "boolean":
                rows[name] = as_float(rows[name], "boolean")
        return rows

    def probabilities(self, rows: pd.DataFrame) -> FloatArray:
        return self.head.predict_proba(rows)

    def explain(self, frame: pd.DataFrame, *, top: int | None = None) -> FlatExplanation:
        """Probability, grade and the top reasons of every row of ``frame`` (index kept)."""
        rows = self.prepare(frame)
        matrix = self.head.matrix(rows)
        proba = self.head.calibrator.predict(self.head.raw_from_matrix(matrix))
        contributions = self.head.contributions_from_matrix(matrix)
        names = self.head.feature_names
        n_top = top or self.spec.top_reasons
        positive, negative = [], []
        values = rows.to_dict("records")
        for i, record in enumerate(values):
            row = contributions[i, :-1]
            order = np.argsort(-row)
            up = [j for j in order[:n_top] if row[j] > 0]
            down = [j for j in order[::-1][:n_top] if row[j] < 0]
            positive.append([describe_value(self.columns[names[j]], record[names[j]]) for j in up])
            negative.append(
                [describe_value(self.columns[names[j]], record[names[j]]) for j in down]
            )
        columns: dict[str, Any] = {self.probability_column: proba}
        if self.spec.grades is not None:
            columns["grade"] = assign_grades(proba, self.spec.grades)
        columns["reasons_positive"] = positive
        columns["reasons_negative"] = negative
        scores = pd.DataFrame(columns, index=frame.index)
        return FlatExplanation(scores, contributions, names)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_<target>``, ``grade``, ``reasons_positive``, ``reasons_negative`` per row."""
        return self.explain(frame).scores
