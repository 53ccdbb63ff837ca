"""The team's own score as the rules baseline of a flat export.

Exports from a marketing-automation tool usually carry its lead score (HubSpot score, Pardot
score, ...). Named with ``--rules-column``, that column ranks the leads as "the rules", leads at
or above ``--mql-threshold`` are today's MQLs, and the models are compared with it at the same
sales capacity, as on the CRM path. The column is never a feature of the models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import DataContractError
from leadscore.safe_text import shown_value
from leadscore.training.evaluate import MethodScores

__all__ = ["DEFAULT_MQL_THRESHOLD", "FlatRules", "rules_notes", "rules_points"]

DEFAULT_MQL_THRESHOLD = 50.0
"""DOMAIN.md's typical MQL bar: a lead with 50 points or more is an MQL."""

FloatArray = np.ndarray[Any, Any]


@dataclass(frozen=True)
class FlatRules:
    """The score column standing for today's rules, and the MQL bar on it."""

    column: str
    threshold: float | None = None
    """The team's MQL bar; ``None``: :data:`DEFAULT_MQL_THRESHOLD`."""

    @property
    def bar(self) -> float:
        """The MQL threshold in force."""
        return DEFAULT_MQL_THRESHOLD if self.threshold is None else self.threshold

    def method(self, points: FloatArray, target: str) -> MethodScores:
        """The rules as an evaluated method: the points rank, a clipped share stands in for a
        probability (the rules' points carry none)."""
        return MethodScores("rules", {target: points}, {target: np.clip(points / 100, 0.0, 1.0)})


def rules_points(frame: pd.DataFrame, column: str) -> FloatArray:
    """The score column as numbers (missing: 0 points, as a tool shows an unscored lead);
    ``DataContractError`` naming the column when values are not numbers."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & values.isna()
    if bad.any():
        examples = ", ".join(shown_value(v) for v in frame.loc[bad, column].unique()[:5])
        raise DataContractError(
            [
                f"{column}: {int(bad.sum()):,} row(s) are not numbers (e.g. {examples}); "
                "--rules-column needs the tool's numeric lead score"
            ],
            header="The rules column cannot be read:",
        )
    return values.fillna(0.0).to_numpy(dtype=np.float64)


def rules_notes(rules: FlatRules, test_points: FloatArray) -> list[str]:
    """What the reader must know about the baseline: where the MQL bar comes from, whether any
    lead reaches it, and that an export's score may have moved after the outcome."""
    notes = [
        f"Rules baseline: the column {rules.column!r}, MQL at {rules.bar:g} points or more"
        + (" (the usual bar; set yours with --mql-threshold)" if rules.threshold is None else "")
        + f": {int((test_points >= rules.bar).sum()):,} of {len(test_points):,} test rows."
    ]
    if not (test_points >= rules.bar).any():
        notes.append(
            f"WARNING: no test row reaches the MQL threshold {rules.bar:g} on "
            f"{rules.column!r}: the comparison at the MQL volume is empty; give the bar your "
            "team uses with --mql-threshold."
        )
    notes.append(
        f"The score in {rules.column!r} is read as exported: if your tool kept scoring leads "
        "after they converted, the rules look better here than they were when sales used them."
    )
    return notes
