"""The rule-based points baseline, as data: what marketing-automation tools do today.

The rule models (:class:`Condition`, :class:`Rule`, :class:`RuleSet`) live in
:mod:`leadscore.model.rules` (serving reads them in a rules head) and are re-exported here.

Rules live in YAML (the package default is ``rules.yaml``; users copy and edit it to match their
tool). Each rule gives points on one feature of the training table, either per unit of a count
(``per_unit``) or when a condition holds (``when``). A lead whose total reaches
``mql_threshold`` is an MQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from leadscore.config import format_validation_error
from leadscore.errors import ConfigError
from leadscore.model.rules import Condition, Rule, RuleSet

__all__ = [
    "Condition",
    "Rule",
    "RuleSet",
    "default_rules",
    "load_rules",
    "mql_flags",
    "score_rules",
]


def _format(error: ValidationError, where: str) -> str:
    return format_validation_error(
        error,
        f"Invalid scoring rules in {where}:",
        "Unknown keys are not allowed; see the package's rules.yaml for the format.",
    )


def _parse(text: str, where: str, features: Iterable[str] | None) -> RuleSet:
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"Scoring rules {where} are not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Scoring rules {where} must hold a mapping with 'rules'.")
    try:
        rules = RuleSet.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format(exc, where)) from None
    if features is not None:
        rules.check_features(features)
    return rules


def load_rules(path: Path, *, features: Iterable[str] | None = None) -> RuleSet:
    """Read and validate a rules YAML file; ``features`` (when given) are the allowed names."""
    if not path.is_file():
        raise ConfigError(
            f"Scoring rules file {path} does not exist. Start from a copy of the bundled rules: "
            f"`leadscore rules init {path}`, then edit its points to match your tool."
        )
    return _parse(path.read_text(encoding="utf-8"), str(path), features)


def default_rules_text() -> str:
    """The bundled rules YAML, comments included: the starting point users copy and edit."""
    return files("leadscore.training").joinpath("rules.yaml").read_text(encoding="utf-8")


def default_rules(*, features: Iterable[str] | None = None) -> RuleSet:
    """The package's default points scheme (DOMAIN.md's typical values)."""
    return _parse(default_rules_text(), "leadscore/training/rules.yaml", features)


def score_rules(frame: pd.DataFrame, rules: RuleSet) -> pd.Series:
    """Total points of each row (index aligned with ``frame``)."""
    rules.check_features(frame.columns.astype(str))
    total = np.zeros(len(frame), dtype=np.float64)
    for rule in rules.rules:
        total += rule.points_for(frame[rule.feature])
    return pd.Series(total, index=frame.index, name="rule_points")


def mql_flags(points: pd.Series, rules: RuleSet) -> pd.Series:
    """``True`` where the points reach the MQL threshold."""
    return (points >= rules.mql_threshold).rename("is_mql")
