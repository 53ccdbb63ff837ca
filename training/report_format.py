"""How the report says things: method and outcome names, counts, rates and intervals as a
sales manager reads them (``155`` not ``155.0000``, ``2.3%`` not ``0.023``, a dash not ``nan``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "METHOD_LABELS",
    "MISSING",
    "OUTCOME_LABELS",
    "count",
    "interval",
    "method_label",
    "number",
    "outcome_label",
    "percent",
    "rule_condition",
    "signed_percent",
]

METHOD_LABELS = {
    "rules": "Rules (today's points)",
    "lightgbm": "LightGBM",
    "logistic": "Logistic regression",
    "oracle": "Oracle (true probabilities)",
}
OUTCOME_LABELS = {"sql": "became an SQL", "meeting": "booked a meeting"}
_OPERATORS = {"gte": "≥", "gt": ">", "lte": "≤", "lt": "<", "equals": "=", "in": "is one of"}
MISSING = "\u2013"  # an en dash


def method_label(name: str) -> str:
    """``lightgbm`` -> ``LightGBM``; unknown names are kept."""
    return METHOD_LABELS.get(name, name)


def outcome_label(target: str) -> str:
    """``sql`` -> ``became an SQL``; unknown targets are kept."""
    return OUTCOME_LABELS.get(target, target)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def count(value: Any) -> str:
    """A count: an integer with thousands separators; an expected count under random
    tie-breaking keeps one decimal (``4.2``)."""
    if not _finite(value):
        return MISSING
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def number(value: Any, digits: int = 3) -> str:
    """A score such as an AUC, with ``digits`` decimals."""
    return f"{value:.{digits}f}" if _finite(value) else MISSING


def percent(value: Any, digits: int = 1) -> str:
    """A share or a rate: ``0.0234`` -> ``2.3%``."""
    return f"{value:.{digits}%}" if _finite(value) else MISSING


def signed_percent(value: Any) -> str:
    """A relative change: ``0.497`` -> ``+49.7%``."""
    return f"{value:+.1%}" if _finite(value) else MISSING


def interval(low: Any, high: Any, fmt: Any = number) -> str:
    """``0.726 to 0.775``; a dash when either end is unknown."""
    if not (_finite(low) and _finite(high)):
        return MISSING
    return f"{fmt(low)} to {fmt(high)}"


def rule_condition(rule: Mapping[str, Any]) -> str:
    """A rule's condition in words: ``≥ 1``, ``is one of c_level, vp``, ``per unit, up to 30``."""
    if rule.get("per_unit"):
        cap = rule.get("max_points")
        return "per unit" + (f", up to {count(cap)} points" if cap is not None else "")
    when = rule.get("when") or {}
    parts = []
    for op, value in when.items():
        if op == "is_missing":
            parts.append("is missing" if value else "is known")
            continue
        if op == "equals" and isinstance(value, bool):
            parts.append("yes" if value else "no")
            continue
        values = value if isinstance(value, list | tuple) else [value]
        shown = ", ".join(count(v) if _finite(v) else str(v) for v in values)
        if op == "not_in":
            parts.append(f"is none of {shown}")
        else:
            parts.append(f"{_OPERATORS.get(op, op)} {shown}")
    return " and ".join(parts) if parts else "always"
