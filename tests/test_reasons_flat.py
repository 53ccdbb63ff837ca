"""Flat sentences (each side's sentences row after row, and counts) and the batch's Arrow reason
columns built from them equal the per-row lists of ``reasons_as_text``, for column-wise tables,
the row loop's lists and bot-capped rows spliced in (first, last, rows without reasons)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leadscore.features.definition import load_definition
from leadscore.serving.batch import SCORES_SCHEMA, _table
from leadscore.serving.bot_cap import CappedReasons
from leadscore.serving.reasons import (
    Reason,
    RowReasons,
    explain_rows,
    flat_sentences,
    reason_groups,
    reasons_as_text,
)
from leadscore.serving.reasons_table import explain_table
from tests.test_reasons_table import _contributions, _frame

DEFINITION = load_definition()


def _lists(reasons: object) -> tuple[list[list[str]], list[list[str]]]:
    sides = []
    for values, counts in flat_sentences(reasons):  # type: ignore[arg-type]
        assert values.dtype == object and counts.sum() == len(values)
        ends = np.cumsum(counts)
        sides.append([list(values[e - c : e]) for e, c in zip(ends, counts, strict=True)])
    return sides[0], sides[1]


def _reasons(n: int, seed: int, top: int = 3) -> tuple[list[RowReasons], object]:
    names = list(DEFINITION.names)
    frame = _frame(DEFINITION, names, n, seed)
    contributions = _contributions(n, len(names) + 1, seed)
    contributions[:5] = 0.0  # rows without any reason
    groups = reason_groups(DEFINITION, names)
    rows = explain_rows(contributions, frame, names, groups, DEFINITION, top=top)
    table = explain_table(contributions, frame, names, groups, DEFINITION, top=top)
    return rows, table


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("top", [1, 3])
def test_flat_sentences_equal_the_lists(seed: int, top: int) -> None:
    rows, table = _reasons(700, seed, top)
    expected = reasons_as_text(rows)
    assert _lists(table) == expected
    assert _lists(rows) == expected
    assert expected[0][0] == [] and expected[1][0] == []


@pytest.mark.parametrize("base_kind", ["table", "rows"])
def test_capped_rows_are_spliced_in_place(base_kind: str) -> None:
    rows, table = _reasons(600, 5)
    base = table if base_kind == "table" else rows
    bot = Reason("grade capped at C: bot-like activity", -0.5, "bot_rule")
    capped = {
        i: RowReasons(rows[i].positive, (bot, *rows[i].negative)) for i in (0, 1, 3, 250, 599)
    }
    capped[7] = RowReasons((), ())  # a capped row may lose every reason
    reasons = CappedReasons(base, capped)
    expected = reasons_as_text(list(reasons))
    assert _lists(reasons) == expected
    assert reasons.sentences() == expected
    assert expected[1][250][0] == bot.text and expected[0][7] == []


def test_empty_reasons_are_flat_and_empty() -> None:
    rows, table = _reasons(0, 1)
    for reasons in (rows, table):
        (pos, pos_counts), (neg, neg_counts) = flat_sentences(reasons)  # type: ignore[arg-type]
        assert len(pos) == len(neg) == len(pos_counts) == len(neg_counts) == 0


def test_batch_table_from_flat_sentences_equals_the_pandas_lists() -> None:
    """The batch's Arrow table built from the flat sentences is the one pandas' lists give."""
    rows, table = _reasons(650, 2)
    n = len(rows)
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "scored_at": datetime(2025, 1, 2, 3, 4, 5),
            "model_version": "7",
            "p_sql": rng.random(n),
            "p_meeting": rng.random(n),
            "grade": rng.choice(np.array(list("ABCD"), dtype=object), n),
            "fit_score": rng.random(n) * 100,
            "engagement_score": rng.random(n) * 100,
        }
    )
    positive, negative = reasons_as_text(rows)
    with_lists = scores.assign(reasons_positive=positive, reasons_negative=negative)
    expected = pa.Table.from_pandas(with_lists, schema=SCORES_SCHEMA, preserve_index=False)
    for reasons in (table, rows):
        built = _table(scores.copy(), reasons, SCORES_SCHEMA)  # type: ignore[arg-type]
        assert built.schema == SCORES_SCHEMA
        assert built.equals(expected)
    assert _table(with_lists, (), SCORES_SCHEMA).equals(expected)  # lists given: pandas' path
