"""The logistic and rules heads read plain NumPy columns directly (the API's single-lead
frames): the same matrices, points and masks as through pandas' general conversions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.model.encoding import FeatureEncoder, as_float, as_text
from leadscore.model.linear_head import MISSING_LEVEL, _levels, _numbers
from leadscore.model.rules import Condition, Rule
from leadscore.training.models import LogisticModel
from leadscore.training.rules import default_rules
from leadscore.training.split import time_split
from tests.simulate import simulate_training_table


def _general_levels(values: pd.Series) -> np.ndarray:
    """The categorical block's text before the fast path (the reference)."""
    text = as_text(values).astype(object).where(values.notna(), MISSING_LEVEL)
    return np.asarray(text.to_numpy(), dtype=object)


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", None, "b", np.nan]),
        pd.Series(["a", "b"], dtype="string"),
        pd.Series(["a", pd.NA], dtype="string"),
        pd.Series(["a", None], dtype="str"),
        pd.Series([True, False, None], dtype=object),
        pd.Series([1, 2.5, None], dtype=object),
        pd.Series([1.0, np.nan]),
        pd.Series([True, False]),
        pd.Series([], dtype=object),
    ],
)
def test_levels_equal_the_general_text(values: pd.Series) -> None:
    assert _levels(values).tolist() == _general_levels(values).tolist()


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1, 2, 3]),
        pd.Series([1.5, np.nan, np.inf]),
        pd.Series([True, False]),
        pd.Series([1, None], dtype="Int64"),
        pd.Series(["1", "x", None], dtype=object),
    ],
)
def test_numbers_equal_as_float(values: pd.Series) -> None:
    np.testing.assert_array_equal(_numbers(values, "numeric"), as_float(values, "numeric"))


def _as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as Python objects: the general (pandas) conversions run."""
    return frame.astype(object)


def test_logistic_matrix_of_numpy_columns_equals_the_general_path() -> None:
    table = simulate_training_table(1500, 8, seed=3)[0]
    split = time_split(table.frame)
    train, valid = table.frame[split.mask("train")], table.frame[split.mask("valid")]
    y = table.labels("sql")
    model = LogisticModel(table.features).fit(
        train, y[train.index].to_numpy(), valid, y[valid.index].to_numpy()
    )
    head = model.head(FeatureEncoder(table.features).fit(train))
    rows = valid.head(40).copy()
    rows.loc[rows.index[0], "seniority"] = None
    rows.loc[rows.index[1], "industry"] = "never-seen-industry"
    rows.loc[rows.index[2], "days_since_last_visit"] = np.nan
    for n in (1, len(rows)):
        part = rows.head(n)
        np.testing.assert_array_equal(head.matrix(part), head.matrix(_as_objects(part)))


@pytest.mark.parametrize(
    "when",
    [
        Condition(gte=2),
        Condition(lt=1.5, gt=-1),
        Condition(equals=1.0),
        Condition(equals=True),
        Condition(is_missing=True),
        Condition(**{"in": ["A", "b"]}),
        Condition(not_in=["a"]),
    ],
)
def test_rule_masks_of_numpy_columns_equal_the_general_path(when: Condition) -> None:
    columns = [
        pd.Series([0, 1, 2, 3]),
        pd.Series([0.0, 1.0, np.nan, np.inf, -np.inf, 2.0]),
        pd.Series([True, False, True]),
    ]
    if isinstance(when.equals, bool):  # a yes/no test reads yes/no or whole-number columns
        columns = [columns[0], columns[2]]
    for values in columns:
        fast = when.mask(values)
        general = when.mask(values.astype(object))
        np.testing.assert_array_equal(fast, general)


def test_rule_points_of_numpy_columns_equal_the_general_path() -> None:
    table = simulate_training_table(800, 6, seed=4)[0]
    rules = default_rules(features=table.frame.columns)
    frame = table.frame.head(60)
    for rule in rules.rules:
        values = frame[rule.feature]
        np.testing.assert_array_equal(
            rule.points_for(values), rule.points_for(values.astype(object))
        )
    capped = Rule(name="capped", feature="x", points=5, per_unit=True, max_points=12)
    values = pd.Series([0.0, 1.0, np.nan, np.inf, -2.0, 7.0])
    np.testing.assert_array_equal(
        capped.points_for(values), capped.points_for(values.astype(object))
    )


def test_small_frames_numeric_block_equals_the_column_by_column_matrix() -> None:
    """Small frames take their NumPy numeric and boolean columns in one conversion: the same
    matrix as one column at a time (the path of large frames), whatever the other columns."""
    from leadscore.model.inputs import FeatureSpec

    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame(
        {
            "count": rng.integers(0, 50, n),
            "flag": rng.random(n) < 0.5,
            "share": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
            "small": rng.integers(0, 5, n).astype(np.int8),
            "nullable": pd.array(np.where(rng.random(n) < 0.3, None, 7), dtype="Int64"),
            "text_number": pd.Series(["1", "x", None, "2.5"] * (n // 4), dtype=object),
            "yes_no": pd.Series(["yes", "no", None, "true"] * (n // 4), dtype=object),
            "industry": pd.Series(["saas", "retail", None, "bank"] * (n // 4), dtype="string"),
            "unused": rng.random(n),
        }
    )
    specs = [
        FeatureSpec("share", "numeric"),
        FeatureSpec("industry", "categorical"),
        FeatureSpec("count", "numeric"),
        FeatureSpec("flag", "boolean"),
        FeatureSpec("nullable", "numeric"),
        FeatureSpec("text_number", "numeric"),
        FeatureSpec("yes_no", "boolean"),
        FeatureSpec("small", "numeric"),
    ]
    encoder = FeatureEncoder(specs).fit(frame)
    for rows in (frame.iloc[[0]], frame.iloc[:7], frame.iloc[[5, 2, 9]]):
        expected = np.column_stack([_one_column(encoder, rows, j) for j in range(len(specs))])
        np.testing.assert_array_equal(encoder.transform(rows), expected)


def _one_column(encoder: FeatureEncoder, rows: pd.DataFrame, j: int) -> np.ndarray:
    """Column ``j`` of the matrix through the single-feature encoder (no numeric block)."""
    single = FeatureEncoder([encoder.features[j]])
    single.levels_ = encoder.levels_
    return single.transform(rows)[:, 0]
