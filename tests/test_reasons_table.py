"""Vectorised reasons (``explain_table``) equal the row loop (``explain_rows``): same groups,
effects and sentences, byte for byte, on rows built to hit every branch of the wording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.definition import FeatureDefinition, load_definition
from leadscore.serving.reasons import explain_rows, reason_groups, reasons_as_text
from leadscore.serving.reasons_table import ReasonTable, explain_table

DEFINITION = load_definition()
_LEVELS = ("software", "vp", "c_level", "it", "200-499", "webmail", "unknown", "missing", "FR")


def _frame(definition: FeatureDefinition, names: list[str], n: int, seed: int) -> pd.DataFrame:
    """Raw values per feature type: booleans (with missing), categoricals (with ``unknown``),
    counts with many 0 and 1, recencies at and over the lookback, trends near 0, NaN."""
    rng = np.random.default_rng(seed)
    lookback = definition.lookback_days
    columns: dict[str, object] = {}
    for name in names:
        spec = definition.feature(name)
        if spec.type == "boolean":
            values = rng.choice(np.array([True, False, None], dtype=object), n, p=[0.4, 0.5, 0.1])
            columns[name] = values
        elif spec.type == "categorical":
            columns[name] = rng.choice(np.array([*_LEVELS, None], dtype=object), n)
        elif spec.kind in ("days_since", "attribute"):
            days = rng.choice([0, 1, 2, 3, 30, 31, 50, lookback - 1, lookback, lookback + 5], n)
            columns[name] = np.where(rng.random(n) < 0.1, np.nan, days.astype(float))
        elif spec.kind == "trend":
            columns[name] = np.round(rng.normal(0, 0.2, n), 2)
        else:
            columns[name] = rng.choice([0, 0, 0, 1, 1, 2, 3, 7, 12], n)
    return pd.DataFrame(columns)


def _contributions(n: int, width: int, seed: int) -> np.ndarray:
    """Contributions on a coarse grid (ties between groups and members), many zeros."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0, 0.3, (n, width)) * 20) / 20
    values[rng.random((n, width)) < 0.4] = 0.0
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("top", [1, 3, 5])
def test_table_equals_row_loop(seed: int, top: int) -> None:
    names = list(DEFINITION.names)
    n = 600
    frame = _frame(DEFINITION, names, n, seed)
    contributions = _contributions(n, len(names) + 1, seed)
    groups = reason_groups(DEFINITION, names)
    reference = explain_rows(contributions, frame, names, groups, DEFINITION, top=top)
    table = explain_table(contributions, frame, names, groups, DEFINITION, top=top)
    assert len(table) == n
    assert list(table) == reference
    assert table.sentences() == reasons_as_text(reference)
    assert reasons_as_text(table) == reasons_as_text(reference)
    kept = sum(len(r.positive) + len(r.negative) for r in reference)
    assert kept > n  # the rows really have reasons to compare
    assert any("," in r.text for row in reference for r in row.positive)  # combined groups


def test_table_equals_row_loop_with_unknown_features_and_min_effect() -> None:
    names = [*list(DEFINITION.names)[:20], "custom_score"]
    n = 300
    frame = _frame(DEFINITION, names[:-1], n, 7).assign(custom_score=np.arange(n) % 4)
    contributions = _contributions(n, len(names) + 1, 7)
    groups = reason_groups(DEFINITION, names)
    for min_effect in (0.0, 0.2):
        reference = explain_rows(
            contributions, frame, names, groups, DEFINITION, min_effect=min_effect
        )
        table = explain_table(
            contributions, frame, names, groups, DEFINITION, min_effect=min_effect
        )
        assert list(table) == reference
        assert table[-1] == reference[-1] and table[2:5] == reference[2:5]


@pytest.mark.parametrize("top", [1, 3, 5])
def test_table_equals_row_loop_with_fewer_groups_than_reasons(top: int) -> None:
    """Two reason groups (fewer candidates than ``top`` per side), one of them combined."""
    names = ["industry", "employee_band", "is_target_size", "days_since_mql"]
    n = 400
    frame = _frame(DEFINITION, names, n, 11)
    contributions = _contributions(n, len(names) + 1, 11)
    groups = reason_groups(DEFINITION, names)
    assert len(groups) <= 2
    reference = explain_rows(contributions, frame, names, groups, DEFINITION, top=top)
    assert list(explain_table(contributions, frame, names, groups, DEFINITION, top=top)) == (
        reference
    )


def test_empty_frame_gives_an_empty_table() -> None:
    names = list(DEFINITION.names)
    groups = reason_groups(DEFINITION, names)
    table = explain_table(
        np.zeros((0, len(names) + 1)), _frame(DEFINITION, names, 0, 0), names, groups, DEFINITION
    )
    assert isinstance(table, ReasonTable) and len(table) == 0
    assert table.sentences() == ([], [])


def test_a_renderer_kept_across_batches_gives_the_same_sentences() -> None:
    """The scorer keeps one renderer for every chunk of a run: chunks after the first read
    sentences the earlier ones rendered, the same as a fresh renderer's; a full cache empties."""
    from leadscore.serving import reasons as reasons_module
    from leadscore.serving.reasons import _Renderer

    names = list(DEFINITION.names)
    groups = reason_groups(DEFINITION, names)
    kept = _Renderer(DEFINITION, names)
    for seed in (11, 12, 13):
        frame = _frame(DEFINITION, names, 520, seed)
        contributions = _contributions(520, len(names) + 1, seed)
        fresh = explain_table(contributions, frame, names, groups, DEFINITION)
        again = explain_table(contributions, frame, names, groups, DEFINITION, renderer=kept)
        assert list(again) == list(fresh)
    assert kept.cache
    small = _Renderer(DEFINITION, names)
    limit = reasons_module._RENDER_CACHE
    try:
        reasons_module._RENDER_CACHE = 5
        frame = _frame(DEFINITION, names, 520, 14)
        contributions = _contributions(520, len(names) + 1, 14)
        fresh = explain_table(contributions, frame, names, groups, DEFINITION)
        bounded = explain_table(contributions, frame, names, groups, DEFINITION, renderer=small)
        assert list(bounded) == list(fresh) and len(small.cache) <= 5
    finally:
        reasons_module._RENDER_CACHE = limit
