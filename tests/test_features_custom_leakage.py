"""Leakage proof for the custom kinds (event properties, extra columns): two worlds share the
past and differ at or after the cutoff; their features at the cutoff must be identical."""

from __future__ import annotations

import zlib
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from leadscore.features import load_definition
from leadscore.features.build import build_features
from tests.test_features_custom import CUSTOM
from tests.test_features_data import crm_from_frames
from tests.test_features_leakage import CUTOFF, _crm_tables, _split, worlds

PAGES = ["/pricing", "/blog/a", "/home", None]
CATEGORIES = ["pricing", "blog", "home"]
CAMPAIGNS = ["spring", "fall", None]
_VALUES = {
    "landing_page": ["/pricing", "/blog/a"],
    "last_campaign": ["spring"],
    "visits_{value}_{window}d": ["pricing", "blog"],
    "days_since_{value}": ["home", "pricing"],
    "plan": ["pro", "team"],
}
DEFINITION = load_definition(
    {
        "include": ["events_30d", *(spec["name"] for spec in CUSTOM)],
        "add": [
            {**spec, "values": _VALUES[spec["name"]]} if spec["name"] in _VALUES else spec
            for spec in CUSTOM
        ],
        "lookback_days": 200,
    }
)


def _pick(options: list[Any], key: str) -> Any:
    """A value chosen by ``key`` alone: the same fact in both worlds gets the same value."""
    return options[zlib.crc32(key.encode()) % len(options)]


def _with_properties(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    events = tables["events"]
    key = events["event_id"].astype(str).str[1:]  # the id without its world letter
    for column, options in (
        ("page_url", PAGES),
        ("page_category", CATEGORIES),
        ("campaign", CAMPAIGNS),
    ):
        events[column] = pd.Series([_pick(options, f"{column}{k}") for k in key], dtype="string")
    contacts = tables["contacts"]
    ids = contacts["contact_id"].astype(str).str[2:]
    contacts["plan"] = pd.Series([_pick(["Pro", "free", None, "team"], i) for i in ids])
    contacts["score_ext"] = pd.Series([_pick(["1.5", "x", "7"], i) for i in ids])
    accounts = tables["accounts"]
    accounts["funded"] = pd.Series(
        [_pick(["yes", "no"], a) for a in accounts["account_id"].astype(str).str[2:]]
    )
    return tables


def _check(world: dict[str, Any]) -> None:
    crm = crm_from_frames(_with_properties(_crm_tables(world)))
    try:
        a, b = _split(build_features(crm, DEFINITION, [CUTOFF]))
    finally:
        crm.close()
    pd.testing.assert_frame_equal(a, b)


def test_the_definition_covers_every_custom_measure() -> None:
    kinds = {(f.kind, getattr(f, "measure", f.type.value)) for f in DEFINITION.features}
    assert {("event_property", m) for m in ("first", "last", "count", "days_since")} <= kinds
    assert {("column", t) for t in ("numeric", "categorical", "boolean")} <= kinds


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_custom_features_ignore_everything_at_or_after_the_cutoff(world: dict[str, Any]) -> None:
    _check(world)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_custom_features_ignore_the_future_many_examples(world: dict[str, Any]) -> None:
    _check(world)
