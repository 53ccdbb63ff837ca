"""The rules baseline of a flat export: the team's own score column, or points rules in YAML.

Exports from a marketing-automation tool usually carry its lead score (HubSpot score, Pardot
score, ...). Named with ``--rules-column``, that column ranks the leads as "the rules", leads at
or above ``--mql-threshold`` are today's MQLs. Or the team writes its points scheme as rules
YAML over the export's columns (``--rules my-rules.yaml``, the same format as in CRM mode,
strictly typed: :mod:`.flat_rules_yaml`). Either way the models are compared with the rules at
the same sales capacity (the rules' MQL volume) and the rules are a candidate that can ship
(:mod:`.flat_choice`): the score column is served as a one-rule points scheme. A score column is
never a feature of the models (it may be computed after the outcome); the columns YAML rules
read stay features, as in CRM mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import DataContractError
from leadscore.model.encoding import as_float
from leadscore.model.inputs import FeatureKind
from leadscore.model.rules import Rule, RuleSet
from leadscore.safe_text import shown_value

__all__ = ["DEFAULT_MQL_THRESHOLD", "FlatRules", "rules_notes", "rules_points", "typed_rule_rows"]

DEFAULT_MQL_THRESHOLD = 50.0
"""DOMAIN.md's typical MQL bar: a lead with 50 points or more is an MQL."""

FloatArray = np.ndarray[Any, Any]


def typed_rule_rows(frame: pd.DataFrame, kinds: dict[str, FeatureKind]) -> pd.DataFrame:
    """The rules' columns of ``frame`` as rules read them: yes/no columns as 1.0/0.0 (a text
    ``"no"`` is not true), the others as they are. Serving does the same
    (:class:`leadscore.serving.flat.FlatScoring`)."""
    out = frame[list(kinds)].copy()
    for name, kind in kinds.items():
        if kind == "boolean":
            out[name] = as_float(out[name], "boolean")
    return out


@dataclass(frozen=True)
class FlatRules:
    """Today's rules on a flat export: a score column (``column``, MQL bar ``threshold``) or
    a points scheme (``ruleset``, read from ``source`` with its columns' ``kinds``)."""

    column: str | None = None
    threshold: float | None = None
    """The team's MQL bar on ``column``; ``None``: :data:`DEFAULT_MQL_THRESHOLD`."""
    ruleset: RuleSet | None = None
    source: str = ""
    kinds: tuple[tuple[str, FeatureKind], ...] = ()

    def __post_init__(self) -> None:
        if (self.column is None) == (self.ruleset is None):
            raise ValueError("FlatRules needs exactly one of a score column or a rule set")

    @property
    def bar(self) -> float:
        """The MQL threshold in force."""
        if self.ruleset is not None:
            return self.ruleset.mql_threshold
        return DEFAULT_MQL_THRESHOLD if self.threshold is None else self.threshold

    @property
    def columns(self) -> list[str]:
        """The export columns the rules read."""
        return [self.column] if self.column is not None else list(dict(self.kinds))

    @property
    def column_kinds(self) -> dict[str, FeatureKind]:
        if self.column is not None:
            return {self.column: "numeric"}
        return dict(self.kinds)

    def as_ruleset(self) -> RuleSet:
        """The points scheme a rules head serves: the YAML's, or one point per unit of the
        score column (a negative score counts 0 points, as an unscored lead)."""
        if self.ruleset is not None:
            return self.ruleset
        assert self.column is not None
        rule = Rule(name=f"score in {self.column}", feature=self.column, points=1.0, per_unit=True)
        return RuleSet(mql_threshold=self.bar, rules=[rule])

    def describe(self) -> str:
        if self.column is not None:
            return f"the column {self.column!r}"
        return f"the rules in {self.source or 'the rules YAML'}"

    def points(self, frame: pd.DataFrame) -> FloatArray:
        """Each row's points (``DataContractError`` naming the column when a score column is
        not numeric)."""
        if self.column is not None:
            rules_points(frame, self.column)  # refuses text in the score column
        rows = typed_rule_rows(frame, self.column_kinds)
        total = np.zeros(len(frame), dtype=np.float64)
        for rule in self.as_ruleset().rules:
            total += rule.points_for(rows[rule.feature])
        return total


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


def rules_notes(rules: FlatRules, test_points: FloatArray, frame: pd.DataFrame) -> list[str]:
    """What the reader must know about the baseline: where the MQL bar comes from, whether any
    lead reaches it, and that an export's score may have moved after the outcome."""
    if rules.column is not None:
        where = (
            " (the usual bar; set yours with --mql-threshold)" if rules.threshold is None else ""
        )
    else:
        where = f" ({len(rules.as_ruleset().rules)} rule(s); mql_threshold of the file)"
    notes = [
        f"Rules baseline: {rules.describe()}, MQL at {rules.bar:g} points or more{where}: "
        f"{int((test_points >= rules.bar).sum()):,} of {len(test_points):,} test leads."
    ]
    if not (test_points >= rules.bar).any():
        fix = "--mql-threshold" if rules.column is not None else "mql_threshold in the YAML"
        notes.append(
            f"WARNING: no test row reaches the MQL threshold {rules.bar:g} with "
            f"{rules.describe()}: the comparison at the MQL volume is empty; give the bar your "
            f"team uses with {fix}."
        )
    if rules.column is not None:
        negative = int((pd.to_numeric(frame[rules.column], errors="coerce") < 0).sum())
        if negative:
            notes.append(
                f"{negative:,} row(s) have a negative {rules.column!r}: read as 0 points (the "
                "rules rank them with the unscored leads, in evaluation as when served)."
            )
        notes.append(
            f"The score in {rules.column!r} is read as exported: if your tool kept scoring "
            "leads after they converted, the rules look better here than they were when sales "
            "used them."
        )
    else:
        notes.append(
            f"The rules read {', '.join(rules.columns)} as exported: a field filled or changed "
            "after the lead converted makes the rules look better here than they were."
        )
    return notes
