"""Large frames read text columns once per distinct value: the same levels and masks as the
per-value path of small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.model import rules as rules_module
from leadscore.model.distinct_text import MANY_ROWS, coded_text
from leadscore.model.linear_head import _levels
from leadscore.model.rules import Condition

_VALUES = {
    "text and missing": ["Software", None, "retail", np.nan, "software ", pd.NA, ""],
    "string dtype": pd.array(["Software", None, "Retail", "x"], dtype="string"),
    "not ascii": ["Santé", "software", None, "SANTÉ"],
    "nat as missing": ["software", pd.NaT, None],
    "numbers among text": ["software", 3, None],
    "booleans": [True, False, None],
    "all missing": [None, np.nan],
}


def _column(values: object, rows: int) -> pd.Series:
    base = pd.Series(values) if not isinstance(values, pd.Series) else values
    picks = np.random.default_rng(0).integers(0, len(base), rows)
    return base.iloc[picks].reset_index(drop=True)


def _per_row(values: pd.Series) -> list[pd.Series]:
    """The column cut into frames too small for the distinct path."""
    size = MANY_ROWS - 1
    return [values.iloc[i : i + size] for i in range(0, len(values), size)]


@pytest.mark.parametrize("name", sorted(_VALUES))
def test_levels_of_a_large_column_equal_the_small_path(name: str) -> None:
    column = _column(_VALUES[name], 3 * MANY_ROWS)
    small = np.concatenate([_levels(part) for part in _per_row(column)])
    assert _levels(column).tolist() == small.tolist()


@pytest.mark.parametrize("name", sorted(_VALUES))
@pytest.mark.parametrize(
    "condition",
    [
        {"in": ["software", "Retail"]},
        {"not_in": ["software"]},
        {"in": ["santé", "SOFTWARE"], "not_in": ["retail"]},
    ],
)
def test_masks_of_a_large_column_equal_the_small_path(name: str, condition: dict) -> None:
    when = Condition.model_validate(condition)
    column = _column(_VALUES[name], 3 * MANY_ROWS)
    small = np.concatenate([when.mask(part) for part in _per_row(column)])
    np.testing.assert_array_equal(when.mask(column), small)


def test_the_distinct_path_is_taken_only_for_strings_and_missing_values() -> None:
    assert coded_text(pd.Series(["a", None, np.nan, "b", "a"])) is not None
    codes, distinct = coded_text(pd.Series(["a", None, "b", "a"]))  # type: ignore[misc]
    assert distinct == ["a", "b"] and codes.tolist() == [0, -1, 1, 0]
    assert coded_text(pd.Series(["a", 1])) is None
    assert coded_text(pd.Series([1.0, 2.0])) is None
    assert coded_text(pd.Series(["a", pd.NaT], dtype=object)) is not None
    assert coded_text(pd.Series(["a", pd.NaT], dtype=object), float_nan_only=True) is None
    assert rules_module._ascii_lower_coded(pd.Series(["Santé"])) is None


def test_logistic_matrix_of_a_batch_equals_the_small_path() -> None:
    from leadscore.model.encoding import FeatureEncoder
    from leadscore.training.models import LogisticModel
    from leadscore.training.split import time_split
    from tests.simulate import simulate_training_table

    table = simulate_training_table(1500, 8, seed=3)[0]
    split = time_split(table.frame)
    train, valid = table.frame[split.mask("train")], table.frame[split.mask("valid")]
    y = table.labels("sql")
    model = LogisticModel(table.features).fit(
        train, y[train.index].to_numpy(), valid, y[valid.index].to_numpy()
    )
    head = model.head(FeatureEncoder(table.features).fit(train))
    picks = np.random.default_rng(1).integers(0, len(valid), 3 * MANY_ROWS)
    rows = valid.iloc[picks].reset_index(drop=True)
    categorical = [c for c in head.parts.categorical if c in rows.columns]
    assert categorical
    rows.loc[rows.index[:50], categorical[0]] = None
    rows.loc[rows.index[50:90], categorical[0]] = "never-seen-level"
    rows.loc[rows.index[90:99], categorical[-1]] = np.nan
    small = np.vstack([head.matrix(part) for part in _per_row(rows)])
    np.testing.assert_array_equal(head.matrix(rows), small)
