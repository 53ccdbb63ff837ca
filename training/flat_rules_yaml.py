"""Points rules in YAML over a flat export's columns, strictly typed.

The format is CRM mode's (``mql_threshold`` and ``rules``, each rule ``name``, ``feature``,
``points`` and ``per_unit: true`` or a ``when`` condition); ``feature`` names a column of the
export. YAML reads an unquoted ``Yes``, ``No``, ``On`` or ``Off`` as a boolean and ``007`` as a
number; a rule would then silently never match (or always). Every value is checked against the
column's type instead, and a mismatch is an error naming the rule, the column and the value as
written:

- a text column takes text (``equals``, ``in``, ``not_in``), never a number test;
- a number column takes numbers (``gte``, ``gt``, ``lte``, ``lt``, ``equals``, ``per_unit``);
- a yes/no column takes ``equals: true`` or ``equals: false``;
- ``is_missing`` takes ``true`` or ``false`` on any column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from leadscore.config import format_validation_error
from leadscore.errors import ConfigError
from leadscore.model.inputs import FeatureKind
from leadscore.model.rules import RuleSet
from leadscore.safe_text import safe_example
from leadscore.training.flat_columns import column_kind
from leadscore.training.flat_rules import FlatRules

__all__ = ["load_flat_rules", "parse_flat_rules"]

_NUMBER_TESTS = ("gte", "gt", "lte", "lt")
_KIND_WORDS = {"categorical": "text", "numeric": "numbers", "boolean": "yes/no values"}


@dataclass(frozen=True)
class _YamlBool:
    """A YAML boolean with its text as written (``Yes``, ``off``, ``true``)."""

    text: str
    value: bool


class _Loader(yaml.SafeLoader):
    """YAML's safe loader keeping the written text of booleans."""


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> _YamlBool:
    return _YamlBool(str(node.value), bool(loader.construct_yaml_bool(node)))


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def _plain(value: Any) -> Any:
    """``value`` with every :class:`_YamlBool` back to a bool (after the checks)."""
    if isinstance(value, _YamlBool):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _shown(value: Any) -> str:
    if isinstance(value, _YamlBool):
        return value.text
    return f"'{safe_example(value)}'" if isinstance(value, str) else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Problems:
    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: list[str] = []

    def add(self, rule: str, column: str, text: str) -> None:
        self.lines.append(f"  - rule {rule!r} (column {column!r}): {text}")

    def raise_any(self) -> None:
        if self.lines:
            raise ConfigError(
                "\n".join(
                    [
                        f"Invalid flat-table rules in {self.where}:",
                        *self.lines,
                        "Quote text values ('Yes', '007'); compare numbers with gte/gt/lte/lt; "
                        "a yes/no column takes equals: true or equals: false.",
                    ]
                )
            )


def _check_value(
    problems: _Problems, rule: str, column: str, kind: FeatureKind, key: str, value: Any
) -> None:
    shown = f"{key}: {_shown(value)}"
    if kind == "categorical":
        if isinstance(value, _YamlBool):
            problems.add(
                rule,
                column,
                f"{shown} was read by YAML as a boolean, but the column holds text: write "
                f"{key}: '{value.text}'",
            )
        elif _is_number(value):
            problems.add(
                rule,
                column,
                f"{shown} is a number, but the column holds text: write {key}: '{value}'",
            )
    elif kind == "numeric":
        if not _is_number(value):
            problems.add(
                rule,
                column,
                f"{shown} is not a number, but the column holds numbers: compare with "
                "equals, gte, gt, lte or lt and a number",
            )
    elif not isinstance(value, _YamlBool):
        problems.add(
            rule, column, f"{shown}: the column holds yes/no values: write {key}: true or false"
        )


def _check_rule(
    problems: _Problems, index: int, rule: Any, kinds: dict[str, FeatureKind], target: str
) -> str | None:
    """Check one raw rule against the column types; returns the column it reads."""
    if not isinstance(rule, dict):
        problems.lines.append(f"  - rule #{index + 1}: expected a mapping with name and feature")
        return None
    name = str(rule.get("name", f"#{index + 1}"))
    column = rule.get("feature")
    if not isinstance(column, str):
        problems.lines.append(f"  - rule {name!r}: 'feature' must name a column of the export")
        return None
    if column == target:
        problems.add(name, column, "the outcome column cannot be a rule's input")
        return None
    if column not in kinds:
        shown = ", ".join(list(kinds)[:40])
        problems.add(name, column, f"no such column in the export (columns: {shown})")
        return None
    kind = kinds[column]
    if rule.get("per_unit") is not None and not isinstance(rule.get("per_unit"), _YamlBool):
        problems.add(name, column, f"per_unit: {_shown(rule['per_unit'])}: write true or false")
    if isinstance(rule.get("per_unit"), _YamlBool) and rule["per_unit"].value and kind != "numeric":
        problems.add(
            name,
            column,
            f"per_unit: true needs a number column; this one holds {_KIND_WORDS[kind]}",
        )
    when = rule.get("when")
    if not isinstance(when, dict):
        return column
    for key, value in when.items():
        if key in _NUMBER_TESTS:
            if kind != "numeric":
                problems.add(
                    name,
                    column,
                    f"{key}: {_shown(value)} compares numbers, but the column holds "
                    f"{_KIND_WORDS[kind]}"
                    + (": use equals or in" if kind == "categorical" else ""),
                )
            else:
                _check_value(problems, name, column, kind, key, value)
        elif key == "equals":
            _check_value(problems, name, column, kind, key, value)
        elif key in ("in", "not_in"):
            if kind != "categorical":
                problems.add(
                    name,
                    column,
                    f"{key}: lists text values, but the column holds {_KIND_WORDS[kind]}: use "
                    + ("gte/lte or equals" if kind == "numeric" else "equals: true or false"),
                )
            elif not isinstance(value, list):
                problems.add(name, column, f"{key}: expected a list of texts ['a', 'b']")
            else:
                for item in value:
                    _check_value(problems, name, column, kind, key, item)
        elif key == "is_missing" and not isinstance(value, _YamlBool):
            problems.add(name, column, f"is_missing: {_shown(value)}: write true or false")
    return column


def parse_flat_rules(
    text: str, frame: pd.DataFrame, *, target: str, where: str = "the rules YAML"
) -> FlatRules:
    """Rules from YAML ``text``, checked against the columns of ``frame`` (``ConfigError``
    naming every rule, column and value that does not fit)."""
    try:
        raw: Any = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"Scoring rules {where} are not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise ConfigError(f"Scoring rules {where} must hold a mapping with a 'rules' list.")
    problems = _Problems(where)
    kinds = {str(c): column_kind(frame[c]) for c in frame.columns if c != target}
    used: list[str] = []
    for index, rule in enumerate(raw["rules"]):
        column = _check_rule(problems, index, rule, kinds, target)
        if column is not None and column not in used:
            used.append(column)
    threshold = raw.get("mql_threshold")
    if threshold is not None and not _is_number(threshold):
        problems.lines.append(f"  - mql_threshold: {_shown(threshold)} is not a number")
    problems.raise_any()
    try:
        ruleset = RuleSet.model_validate(_plain(raw))
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(
                exc,
                f"Invalid scoring rules in {where}:",
                "Unknown keys are not allowed; see `leadscore rules init` for the format.",
            )
        ) from None
    return FlatRules(ruleset=ruleset, source=where, kinds=tuple((c, kinds[c]) for c in used))


def load_flat_rules(path: Path, frame: pd.DataFrame, *, target: str) -> FlatRules:
    """The rules YAML at ``path`` over the export ``frame`` (see :func:`parse_flat_rules`)."""
    if not path.is_file():
        raise ConfigError(
            f"Rules file {path} does not exist. Write a starter from your export: "
            f"`leadscore rules init {path} --flat EXPORT.csv`, then edit its points."
        )
    return parse_flat_rules(path.read_text(encoding="utf-8"), frame, target=target, where=str(path))
