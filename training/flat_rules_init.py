"""A starter rules YAML written from a flat export's columns (``leadscore rules init --flat``).

One example rule per usable column (at most :data:`MAX_RULES`), worded from its type and its
values: a text column's most frequent level, a number column's top quarter, a yes/no column's
``true``; with the outcome column named, columns the leakage detector flags are left out. Every text value is quoted (YAML reads an unquoted ``Yes`` as a boolean) and the file
passes the strict checks of :mod:`.flat_rules_yaml` as written. The points are placeholders
for the team to replace with its own: the outcome column is never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.training.flat_columns import find_id_column, infer_columns

__all__ = ["MAX_RULES", "starter_rules_text"]

MAX_RULES = 12
"""Example rules in a starter file: enough to show every form, few enough to read."""


def _quoted(text: object) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _number(value: float) -> str:
    return f"{value:g}"


def starter_rules_text(frame: pd.DataFrame, source: str, *, target: str | None = None) -> str:
    """The YAML text of a starter rules file over the columns of ``frame``; with ``target``
    (the outcome column, never read), columns the leakage detector flags are left out and
    listed, so the example rules do not read the outcome."""
    exclude = [target] if target else []
    id_column = find_id_column(frame, exclude=exclude)
    features, _ = infer_columns(frame, exclude=[*exclude, *([id_column] if id_column else [])])
    leaky: list[str] = []
    if target is not None:
        from leadscore.training.flat import binary_target
        from leadscore.training.flat_leakage import detect_leakage

        leaks = detect_leakage(frame, binary_target(frame[target], target), features)
        leaky = list(leaks.loc[leaks["flag"] != "", "column"])
        features = [f for f in features if f.name not in leaky]
    lines = [
        f"# Points rules over the columns of {source} (written by `leadscore rules init --flat`).",
        "# Every rule below is an EXAMPLE: replace its points (and conditions) with the ones your",
        "# marketing-automation tool gives; delete the rules you do not use. A lead whose total",
        "# reaches mql_threshold is an MQL. Quote text values: YAML reads an unquoted Yes, No, On",
        "# or Off as a boolean, and leadscore refuses a boolean where a column holds text.",
        "# Conditions: equals, in, not_in (text); gte, gt, lte, lt, equals (numbers);",
        "# equals: true/false (yes/no columns); is_missing: true (any column).",
        "mql_threshold: 50",
        "rules:",
    ]
    for spec in features[:MAX_RULES]:
        values = frame[spec.name].dropna()
        if spec.kind == "categorical":
            # an integer code read as a category (segment_id) is compared as a number
            code = pd.api.types.is_numeric_dtype(values)
            shares = (values if code else values.astype(str)).value_counts(normalize=True)
            level = str(shares.index[0])
            shown = (lambda v: str(v)) if code else _quoted
            seen = ", ".join(f"{shown(v)} {s:.0%}" for v, s in shares.head(4).items())
            lines += [
                f"  # {spec.name}: {'a code' if code else 'text'}, {len(shares):,} values "
                f"({seen}, ...)",
                f"  - name: {_quoted(f'{spec.name} is {level}')}",
                f"    feature: {_quoted(spec.name)}",
                "    points: 20",
                f"    when: {{equals: {level}}}"
                if code
                else f"    when: {{in: [{_quoted(level)}]}}",
            ]
        elif spec.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)
            median, top = np.quantile(numbers, 0.5), np.quantile(numbers, 0.75)
            lines += [
                f"  # {spec.name}: numbers, median {_number(median)}, top quarter from "
                f"{_number(top)}",
                f"  - name: {_quoted(f'{spec.name} in the top quarter')}",
                f"    feature: {_quoted(spec.name)}",
                "    points: 20",
                f"    when: {{gte: {_number(top)}}}",
            ]
        else:
            lines += [
                f"  # {spec.name}: yes/no",
                f"  - name: {_quoted(spec.name)}",
                f"    feature: {_quoted(spec.name)}",
                "    points: 20",
                "    when: {equals: true}",
            ]
    if leaky:
        lines.append(f"  # left out, flagged as likely leakage of {target!r}: {', '.join(leaky)}")
    if len(features) > MAX_RULES:
        rest = ", ".join(f.name for f in features[MAX_RULES:])
        lines.append(f"  # other columns you can use: {rest}")
    return "\n".join(lines) + "\n"
