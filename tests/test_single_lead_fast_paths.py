"""The single-lead fast paths give what the general (pandas) paths give: the number block of
small frames, the rules' masks of plain columns and ASCII text, the reasons' lazy columns."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.model.encoding import _plain_columns, _plain_columns_public, numpy_number_block
from leadscore.model.rules import Condition, Rule
from leadscore.serving.reasons import _Columns

_TEXT = st.one_of(
    st.sampled_from(["Webmail", "webmail", "VP", "vp ", "Director", "İstanbul", "STRASSE", "ß"]),
    st.text(max_size=6),
    st.none(),
    st.just(np.nan),
)


def _general_mask(when: Condition, values: pd.Series) -> np.ndarray:
    """What :meth:`Condition.mask` gave before its fast paths (pandas throughout)."""
    with warnings.catch_warnings():  # pandas warns on fillna(bool) of a float column
        warnings.simplefilter("ignore")
        return _pandas_mask(when, values)


def _pandas_mask(when: Condition, values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    if when.is_missing is not None:
        return missing if when.is_missing else ~missing
    out = ~missing
    if when.equals is not None:
        assert isinstance(when.equals, bool)
        out &= values.fillna(not when.equals).astype(bool).to_numpy() == when.equals
    text = values.astype("string").str.lower()
    if when.in_ is not None:
        out &= text.isin([v.lower() for v in when.in_]).fillna(False).to_numpy(dtype=bool)
    if when.not_in is not None:
        out &= ~text.isin([v.lower() for v in when.not_in]).fillna(False).to_numpy(dtype=bool)
    return out


_CONDITIONS = [
    Condition(**{"in": ["webmail", "VP", "director"]}),
    Condition(not_in=["webmail", "ß"]),
    Condition(**{"in": ["İstanbul", "strasse"]}),
    Condition(is_missing=True),
    Condition(is_missing=False),
]


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(_TEXT, max_size=8),
    dtype=st.sampled_from([object, "string", "string[pyarrow]"]),
    which=st.integers(0, len(_CONDITIONS) - 1),
)
def test_text_masks_equal_pandas_strings(items: list, dtype: object, which: int) -> None:
    values = pd.Series(items, dtype=dtype)
    when = _CONDITIONS[which]
    np.testing.assert_array_equal(when.mask(values), _general_mask(when, values))


@settings(max_examples=150, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.floats(min_value=-100, max_value=100),
            st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.5]),
        ),
        max_size=8,
    ),
    dtype=st.sampled_from(["float64", "float32", "int64", "int8", "bool"]),
    equals=st.booleans(),
)
def test_plain_number_masks_equal_pandas(numbers: list, dtype: str, equals: bool) -> None:
    array = np.asarray(numbers, dtype=np.float64)
    if dtype != "float64" and dtype != "float32":
        array = np.nan_to_num(array, nan=0.0, posinf=3.0, neginf=-3.0)
    values = pd.Series(array.astype(dtype) if dtype != "bool" else array != 0)
    for when in (Condition(equals=equals), Condition(is_missing=True), Condition(gte=1.0)):
        expected = when.mask(values.astype(object))  # object column: the general path
        if when.equals is not None or when.is_missing is not None:
            expected = _general_mask(when, values)
        np.testing.assert_array_equal(when.mask(values), expected)


@settings(max_examples=100, deadline=None)
@given(
    rows=st.integers(0, 5),
    kinds=st.lists(
        st.sampled_from(["int64", "float64", "bool", "Int64", "object", "string", "int8"]),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_number_block_equals_each_column(rows: int, kinds: list[str], data: st.DataObject) -> None:
    columns = {}
    for k, kind in enumerate(kinds):
        raw = data.draw(st.lists(st.integers(-5, 5), min_size=rows, max_size=rows))
        series = pd.Series(raw, dtype="int64")
        if kind == "float64":
            series = series.astype("float64").where(series != 0)
        elif kind == "bool":
            series = series > 0
        elif kind in ("object", "string"):
            series = series.astype(str).astype(kind)
        else:
            series = series.astype(kind)
        columns[f"c{k}"] = series
    frame = pd.DataFrame(columns, index=pd.RangeIndex(rows))
    names: list[str | None] = [*frame.columns, None, "absent"]
    out = np.full((rows, len(names)), -7.0)
    taken = numpy_number_block(frame, names, out)
    for j, name in enumerate(names):
        if j in taken:
            assert name is not None
            np.testing.assert_array_equal(out[:, j], frame[name].to_numpy(dtype=np.float64))
        else:
            assert (out[:, j] == -7.0).all()  # left to the caller
    plain = [j for j, n in enumerate(names) if n in frame.columns and _plain(frame[n])]
    assert sorted(taken) == (plain if len(plain) >= 2 else [])
    by_blocks, public = _plain_columns(frame), _plain_columns_public(frame)
    assert by_blocks is not None and by_blocks[1] == public[1]
    positions = np.flatnonzero(public[1])
    np.testing.assert_array_equal(by_blocks[0](positions), public[0](positions))


def _plain(values: pd.Series) -> bool:
    return isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf"


def test_lazy_columns_are_the_object_arrays() -> None:
    frame = pd.DataFrame(
        {
            "a": [1, 2],
            "b": pd.Series(["x", None], dtype="string[pyarrow]"),
            "c": [np.nan, 1.5],
            "d": [True, False],
        }
    )
    names = ["c", "a", "d", "b"]
    columns = _Columns(frame, names)
    for j in (3, 0, 3, 1, 2):
        expected = frame[names[j]].to_numpy(dtype=object)
        assert columns[j].dtype == object
        assert [repr(v) for v in columns[j]] == [repr(v) for v in expected]


_RULES = [
    Rule(name="per unit", feature="x", points=5, per_unit=True),
    Rule(name="capped", feature="x", points=5, per_unit=True, max_points=12),
    Rule(name="negative cap", feature="x", points=-4, per_unit=True, max_points=-9),
    Rule(name="gte", feature="x", points=7, when=Condition(gte=1.0)),
    Rule(name="band", feature="x", points=3, when=Condition(gt=-1, lte=2.5)),
    Rule(name="lt", feature="x", points=2, when=Condition(lt=0)),
    Rule(name="yes", feature="x", points=10, when=Condition(equals=True)),
    Rule(name="no", feature="x", points=-5, when=Condition(equals=False)),
    Rule(name="equals", feature="x", points=4, when=Condition(equals=2.0)),
    Rule(name="missing", feature="x", points=-3, when=Condition(is_missing=True)),
    Rule(name="known", feature="x", points=1, when=Condition(is_missing=False)),
]


@settings(max_examples=200, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.floats(min_value=-100, max_value=100),
            st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, 2.0]),
        ),
        max_size=8,
    ),
    dtype=st.sampled_from(["float64", "float32", "int64", "int8", "bool"]),
)
def test_rule_points_of_numbers_equal_points_for(numbers: list, dtype: str) -> None:
    array = np.asarray(numbers, dtype=np.float64)
    if dtype not in ("float64", "float32"):
        array = np.nan_to_num(array, nan=0.0, posinf=3.0, neginf=-3.0)
    values = pd.Series(array.astype(dtype) if dtype != "bool" else array != 0)
    for rule in _RULES:
        fast = rule.points_for_numbers(values.to_numpy(dtype=np.float64))
        assert fast is not None
        with warnings.catch_warnings():  # pandas warns on fillna(bool) of a float column
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(fast, rule.points_for(values))


def test_text_rules_leave_numbers_to_the_column() -> None:
    for when in (Condition(**{"in": ["1"]}), Condition(not_in=["a"]), Condition(equals="x")):
        rule = Rule(name="text", feature="x", points=1, when=when)
        assert rule.points_for_numbers(np.array([1.0])) is None


def test_rules_head_matrix_of_one_lead_equals_the_general_path() -> None:
    """The rules head reads a small frame's plain columns in one conversion: the same points
    as column by column (a frame of Python objects takes the general path throughout)."""
    from leadscore.model.calibration import Calibrator
    from leadscore.model.encoding import FeatureEncoder
    from leadscore.model.rules_head import RulesHead
    from leadscore.training.rules import default_rules
    from tests.simulate import simulate_training_table

    table = simulate_training_table(800, 6, seed=5)[0]
    rules = default_rules(features=table.frame.columns)
    encoder = FeatureEncoder(table.features).fit(table.frame)
    head = RulesHead(rules, {}, encoder, Calibrator())
    frame = table.frame.head(30).reset_index(drop=True)
    for rows in (frame.iloc[[0]], frame.iloc[[3]], frame.iloc[:12]):
        np.testing.assert_array_equal(head.matrix(rows), head.matrix(rows.astype(object)))


def test_a_kept_renderer_gives_single_leads_the_fresh_sentences() -> None:
    """The scorer hands one renderer to every single-lead ``explain_rows`` call: each lead's
    reasons are a fresh renderer's, whatever dtypes the earlier frames had (1, 1.0 and True
    are one dict key; the cache tells them apart)."""
    from leadscore.serving.reasons import _Renderer, explain_rows, reason_groups
    from tests.test_reasons_table import DEFINITION, _contributions, _frame

    names = list(DEFINITION.names)
    groups = reason_groups(DEFINITION, names)
    kept = _Renderer(DEFINITION, names)
    frame = _frame(DEFINITION, names, 120, 21)
    contributions = _contributions(120, len(names) + 1, 21)
    as_objects = frame.astype(object)
    as_floats = frame.apply(lambda c: c.astype(float) if c.dtype.kind in "biu" else c)
    for variant in (frame, as_objects, as_floats):
        for row in range(0, 120, 7):
            one = variant.iloc[[row]].reset_index(drop=True)
            c = contributions[[row]]
            fresh = explain_rows(c, one, names, groups, DEFINITION)
            assert explain_rows(c, one, names, groups, DEFINITION, renderer=kept) == fresh
    assert kept.cache
