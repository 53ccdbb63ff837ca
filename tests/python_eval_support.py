"""Shared by the Python feature path's tests: a definition with every kind, tables from rows,
and the comparison of the two paths value by value and dtype by dtype."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from leadscore.features import load_definition
from leadscore.features.definition import FeatureDefinition
from leadscore.features.python_eval import PythonFeatures
from leadscore.serving.features import PostedFeatures
from leadscore.serving.posted import _table

CUSTOM: list[dict[str, Any]] = [
    {"name": "first_page", "kind": "event_property", "property": "page_url", "measure": "first",
     "values": ["/pricing", "/", "/fr", "/é"], "concept": "intent", "type": "categorical",
     "explanation": "landed on {label}"},
    {"name": "last_category", "kind": "event_property", "property": "page_category",
     "measure": "last", "values": ["pricing", "product", "blog"], "event_types": ["web_visit"],
     "concept": "engagement", "type": "categorical", "explanation": "last: {label}"},
    {"name": "last_campaign", "kind": "event_property", "property": "campaign",
     "measure": "last", "values": [], "concept": "engagement", "type": "categorical",
     "explanation": "last campaign: {label}"},
    {"name": "visits_{value}_{window}d", "kind": "event_property", "property": "page_category",
     "measure": "count", "windows": [7, 30], "values": ["pricing", "product", "ÉtÉ"],
     "concept": "engagement", "type": "numeric", "explanation": "{value} visits to {which}"},
    {"name": "days_since_{value}", "kind": "event_property", "property": "page_category",
     "measure": "days_since", "values": ["pricing", "blog"], "concept": "recency",
     "type": "numeric", "explanation": "{value} days since a {which} page"},
    {"name": "title_col", "kind": "column", "table": "contacts", "column": "job_title",
     "values": ["ceo", "marketing manager", "analyst", "directeur général"],
     "concept": "profile_fit", "type": "categorical", "explanation": "title {label}"},
    {"name": "source_flag", "kind": "column", "table": "contacts", "column": "lead_source",
     "concept": "profile_fit", "type": "boolean", "explanation": "flag"},
    {"name": "staff", "kind": "column", "table": "accounts", "column": "employee_count",
     "concept": "profile_fit", "type": "numeric", "explanation": "{value} staff"},
    {"name": "revenue", "kind": "column", "table": "accounts", "column": "annual_revenue",
     "concept": "profile_fit", "type": "numeric", "explanation": "{value} revenue"},
    {"name": "staff_text", "kind": "column", "table": "accounts", "column": "employee_count",
     "values": ["50", "1", "0"], "concept": "profile_fit", "type": "categorical",
     "explanation": "{label}"},
    {"name": "staff_flag", "kind": "column", "table": "accounts", "column": "employee_count",
     "concept": "profile_fit", "type": "boolean", "explanation": "flag"},
    {"name": "account_country", "kind": "column", "table": "accounts", "column": "country",
     "values": ["fr", "de", "ß"], "concept": "profile_fit", "type": "categorical",
     "explanation": "{label}"},
    {"name": "burst_web_{window}d", "kind": "burst", "measure": "max_per_hour",
     "event_types": ["web_visit"], "windows": [1, 30], "concept": "engagement",
     "type": "numeric", "explanation": "{value}"},
    {"name": "burst_share_low_{window}d", "kind": "burst", "measure": "burst_share",
     "burst_hour_events": 3, "windows": [7], "concept": "engagement", "type": "numeric",
     "explanation": "{value}"},
]  # fmt: skip
"""Custom features of every kind and measure, with learned values (odd ones included)."""


def full_definition() -> FeatureDefinition:
    """The whole catalog plus :data:`CUSTOM`."""
    return load_definition({"add": CUSTOM})


def tables_of(rows: dict[str, list[dict[str, Any]]]) -> dict[str, pa.Table]:
    """Contract tables (the posted schema) from rows (missing tables empty)."""
    names = ("accounts", "contacts", "events", "stage_changes")
    return {name: _table(name, rows.get(name, [])) for name in names}


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and x == y


def assert_same_features(
    sql: PostedFeatures, python: PythonFeatures, tables: dict[str, pa.Table], as_of: datetime
) -> int:
    """The SQL path and the Python path give the same table and frame (schema, rows, every
    value and its Python type, pandas dtypes); returns the number of rows compared."""
    expected = sql.table(tables, as_of=as_of)
    got = python.table(tables, as_of=as_of)
    assert got.schema == expected.schema
    assert got.column("contact_id").to_pylist() == expected.column("contact_id").to_pylist()
    for name in expected.column_names:
        pairs = zip(expected.column(name).to_pylist(), got.column(name).to_pylist(), strict=True)
        wrong = [(i, a, b) for i, (a, b) in enumerate(pairs) if not _same(a, b)]
        assert not wrong, f"{name} at {as_of}: (row, sql, python) {wrong[:5]}"
    frame_sql, frame_py = expected.to_pandas(), got.to_pandas()
    assert list(frame_py.dtypes) == list(frame_sql.dtypes)
    pd.testing.assert_frame_equal(frame_py, frame_sql, check_exact=True)
    return expected.num_rows
