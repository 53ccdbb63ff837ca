"""The batch's column-wise fast paths give what the general paths give: categorical codes of
Arrow-backed strings (``index_in``) equal ``pd.Categorical``'s, integer columns coded by their
range equal ``pd.factorize``'s objects, sentence ids looked up in a dense key table equal the
sorted lookup, and the Arrow reason lists taken by id equal the lists of Python strings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.features.definition import load_definition
from leadscore.model.encoding import FeatureEncoder, _arrow_codes, as_text
from leadscore.model.inputs import FeatureSpec
from leadscore.serving import reasons_table
from leadscore.serving.batch import SCORES_SCHEMA, _table
from leadscore.serving.reasons import explain_rows, reason_groups, reasons_as_text
from leadscore.serving.reasons_table import _small_integers, _Values, explain_table
from tests.test_reasons_table import _contributions, _frame

DEFINITION = load_definition()

_LEVEL = st.sampled_from(["software", "Software", "software ", "vp", "é", "", "unknown"])
_VALUE = st.one_of(_LEVEL, st.text(max_size=4), st.none())


def _categorical_codes(column: pd.Series, levels: list[str]) -> np.ndarray:
    """What ``FeatureEncoder.transform`` gave for a categorical before the Arrow path."""
    text = as_text(column)
    text = text.where(text.isin(levels))
    codes = pd.Categorical(text, categories=levels).codes
    return np.where(codes < 0, np.nan, codes.astype(np.float64))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(_VALUE, max_size=40),
    levels=st.lists(_LEVEL, unique=True, max_size=5),
    dtype=st.sampled_from(["str", "string[pyarrow]"]),
)
def test_arrow_codes_equal_categorical_codes(values: list, levels: list, dtype: str) -> None:
    """Missing, unseen, case and space variants, empty strings, no levels at all."""
    column = pd.Series(values, dtype=dtype)
    if not hasattr(column.array, "_pa_array"):  # a pandas whose strings are not Arrow's
        pytest.skip("strings not backed by Arrow")
    codes = _arrow_codes(column, levels)
    assert codes is not None and codes.dtype == np.float64
    expected = _categorical_codes(column, levels)
    assert np.array_equal(codes, expected, equal_nan=True)


def test_arrow_codes_leave_other_columns_to_pandas() -> None:
    assert _arrow_codes(pd.Series(["a", None], dtype=object), ["a"]) is None
    assert _arrow_codes(pd.Series([1.0, 2.0]), ["1"]) is None
    assert _arrow_codes(pd.Series(["a"], dtype="string[python]"), ["a"]) is None


def test_encoder_matrix_of_arrow_and_object_strings_is_the_same() -> None:
    features = [FeatureSpec("industry", "categorical"), FeatureSpec("n", "numeric")]
    train = pd.DataFrame({"industry": ["a", "b", "b", "c", None], "n": [1, 2, 3, 4, 5]})
    encoder = FeatureEncoder(features).fit(train)
    rows = 600  # beyond the small-frame dict lookup
    values = np.array(["a", "b", "zz", None, "c", "B"], dtype=object)[np.arange(rows) % 6]
    frames = [
        pd.DataFrame({"industry": pd.Series(values, dtype=d), "n": np.arange(rows)})
        for d in (object, "str", "string[pyarrow]")
    ]
    matrices = [encoder.transform(f) for f in frames]
    for matrix in matrices[1:]:
        assert np.array_equal(matrix, matrices[0], equal_nan=True)
    assert np.isnan(matrices[0][2, 0]) and np.isnan(matrices[0][3, 0])  # unseen, missing


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, 7, 3, 5], dtype=np.int64),
        np.array([-2, 0, 4], dtype=np.int32),
        np.array([0, 255, 9], dtype=np.uint8),
        np.array([True, False, True]),
        np.array([5, 5], dtype=np.int64),
    ],
)
def test_range_codes_give_the_objects_of_each_row(values: np.ndarray) -> None:
    """Each row's code picks the object ``to_numpy(dtype=object)`` gives (same type)."""
    column = pd.Series(values)
    taken = _small_integers(column)
    assert taken is not None
    codes, objects, missing = taken
    assert missing is None and (codes >= 0).all()
    expected = column.to_numpy(dtype=object).tolist()
    got = [objects[c] for c in codes.tolist()]
    assert got == expected and [type(x) for x in got] == [type(x) for x in expected]


def test_range_codes_leave_wide_and_other_columns_to_factorize() -> None:
    wide = pd.Series(np.array([0, reasons_table._RANGE_CODES], dtype=np.int64))
    assert _small_integers(wide) is None
    assert _small_integers(pd.Series(np.array([1, 2], dtype=np.uint64))) is None
    assert _small_integers(pd.Series([1.0, np.nan])) is None
    assert _small_integers(pd.Series(["a"], dtype="str")) is None
    assert _small_integers(pd.Series([1, None], dtype="Int64")) is None
    assert _small_integers(pd.Series(np.array([], dtype=np.int64))) is None
    codes, objects, _ = _Values(pd.DataFrame({"x": wide}), ["x"]).get(0)
    assert [objects[c] for c in codes.tolist()] == [0, reasons_table._RANGE_CODES]


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("seed", [0, 5])
def test_sentences_looked_up_densely_or_sorted_equal_the_row_loop(
    dense: bool, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Integer counts in NumPy columns (range codes) and wide ones (factorized), ties, NaN
    recencies, unseen categories: the same reasons as the row loop either way."""
    if not dense:
        monkeypatch.setattr(reasons_table, "_DENSE_KEYS", 0)
    names = list(DEFINITION.names)
    n = 700
    frame = _frame(DEFINITION, names, n, seed)
    wide = next(
        name
        for name in names
        if frame[name].dtype.kind == "i" and DEFINITION.feature(name).type != "boolean"
    )
    frame[wide] = frame[wide] * 10_000  # spans more than _RANGE_CODES: factorized
    contributions = _contributions(n, len(names) + 1, seed)
    contributions[:3] = 0.0  # rows without reasons
    groups = reason_groups(DEFINITION, names)
    reference = explain_rows(contributions, frame, names, groups, DEFINITION)
    table = explain_table(contributions, frame, names, groups, DEFINITION)
    assert list(table) == reference
    assert reasons_as_text(table) == reasons_as_text(reference)


def test_arrow_sentences_equal_the_flat_python_strings() -> None:
    names = list(DEFINITION.names)
    n = 600
    frame = _frame(DEFINITION, names, n, 3)
    contributions = _contributions(n, len(names) + 1, 3)
    contributions[[0, n - 1]] = 0.0  # first and last rows without reasons
    groups = reason_groups(DEFINITION, names)
    table = explain_table(contributions, frame, names, groups, DEFINITION)
    for (texts, counts), (flat, flat_counts) in zip(
        table.arrow_sentences(), table.flat_sentences(), strict=True
    ):
        assert isinstance(texts, pa.Array) and texts.type == pa.string()
        assert texts.to_pylist() == list(flat) and np.array_equal(counts, flat_counts)
    scores = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "scored_at": pd.Timestamp("2025-01-01"),
            "model_version": "1",
            "p_sql": 0.5,
            "p_meeting": 0.25,
            "grade": "B",
            "fit_score": 50.0,
            "engagement_score": 50.0,
        }
    )
    rows = list(table)  # plain RowReasons: the Python strings' path
    assert _table(scores, table, SCORES_SCHEMA).equals(_table(scores, rows, SCORES_SCHEMA))
    empty = explain_table(
        np.zeros((0, len(names) + 1)), _frame(DEFINITION, names, 0, 0), names, groups, DEFINITION
    )
    assert [t.to_pylist() for t, _ in empty.arrow_sentences()] == [[], []]
