"""The Python feature path's frame built from its values equals the Arrow round trip
(``table(...).to_pandas()``): same columns, dtypes and values; anything uncertain goes through
Arrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.features.python_eval import PythonFeatures
from leadscore.features.python_frame import frame_of_columns
from tests.python_eval_support import full_definition, tables_of
from tests.test_python_eval import CUT, _edge_rows

_VALUES: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "small int": (pa.int64(), st.integers(-5, 5)),
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "bool": (pa.bool_(), st.booleans()),
    "text": (pa.string(), st.text(max_size=5)),
    "time": (pa.timestamp("us"), st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1))),
}


def _arrow_frame(columns: list[list[Any]], schema: pa.Schema) -> pd.DataFrame:
    arrays = [pa.array(v, type=f.type) for v, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema).to_pandas()


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(0, 4),
    kinds=st.lists(st.sampled_from(sorted(_VALUES)), min_size=1, max_size=6),
    data=st.data(),
)
def test_frame_equals_the_arrow_round_trip(rows: int, kinds: list[str], data: Any) -> None:
    columns = []
    for kind in kinds:
        values = _VALUES[kind][1]
        if data.draw(st.booleans()):  # with missing values
            values = st.one_of(st.none(), values)
        columns.append(data.draw(st.lists(values, min_size=rows, max_size=rows)))
    schema = pa.schema([(f"c{i}", _VALUES[k][0]) for i, k in enumerate(kinds)])
    frame = frame_of_columns(columns, schema)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, _arrow_frame(columns, schema), check_exact=True)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([1.5], pa.int64()),
        ([True], pa.int64()),
        ([np.int64(3)], pa.int64()),
        ([2**63], pa.int64()),
        ([1], pa.float64()),
        ([np.float32(1.5)], pa.float64()),
        ([1], pa.bool_()),
        ([np.bool_(True)], pa.bool_()),
        ([3], pa.string()),
        ([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us")),
        ([1], pa.int32()),
        (["2024-01-01"], pa.date32()),
    ],
)
def test_uncertain_columns_take_the_arrow_path(values: list[Any], kind: pa.DataType) -> None:
    schema = pa.schema([("ok", pa.int64()), ("x", kind)])
    assert frame_of_columns([[1] * len(values), values], schema) is None


def test_python_features_frame_equals_its_table() -> None:
    python = PythonFeatures(full_definition())
    tables = tables_of(_edge_rows())
    contacts = tables["contacts"].column("contact_id").to_pylist()
    for as_of in (CUT, CUT - timedelta(days=30), CUT + timedelta(days=366)):
        for only in (None, set(contacts[:1]), set(contacts[1:3])):
            expected = python.table(tables, as_of=as_of, only=only).to_pandas()
            got = python.frame(tables, as_of=as_of, only=only)
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
