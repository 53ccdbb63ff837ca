"""Custom feature kinds: event properties and extra contact/account columns, declared in the
feature YAML, values learned at build time, run by DuckDB and Spark alike."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadscore.errors import FeatureDefinitionError
from leadscore.features import build_training_table, load_definition
from leadscore.features.build import build_features
from tests.test_features_data import base_tables, crm_from_frames

CUSTOM: list[dict[str, Any]] = [
    {"name": "landing_page", "kind": "event_property", "property": "page_url",
     "measure": "first", "top_k": 3, "concept": "intent", "type": "categorical",
     "explanation": "landed on {label}"},
    {"name": "last_campaign", "kind": "event_property", "property": "campaign",
     "measure": "last", "values": ["spring"], "concept": "engagement", "type": "categorical",
     "explanation": "last campaign: {label}"},
    {"name": "visits_{value}_{window}d", "kind": "event_property", "property": "page_category",
     "measure": "count", "windows": [7, 30], "top_k": 2, "concept": "engagement",
     "type": "numeric", "explanation": "{value} visits to {which} pages in {window} days"},
    {"name": "days_since_{value}", "kind": "event_property", "property": "page_category",
     "measure": "days_since", "top_k": 2, "concept": "recency", "type": "numeric",
     "explanation": "{value} days since a {which} page"},
    {"name": "plan", "kind": "column", "table": "contacts", "column": "plan",
     "concept": "profile_fit", "type": "categorical", "explanation": "plan {label}"},
    {"name": "score_ext", "kind": "column", "table": "contacts", "column": "score_ext",
     "concept": "profile_fit", "type": "numeric", "explanation": "external score {value}"},
    {"name": "funded", "kind": "column", "table": "accounts", "column": "funded",
     "concept": "profile_fit", "type": "boolean", "explanation": "recently funded"},
]  # fmt: skip
"""One feature of every custom kind and measure (used by the leakage and Spark tests too)."""

BASE = ["events_30d", "is_mql"]


def custom_definition(**extra: Any) -> Any:
    include = [*BASE, *(spec["name"] for spec in CUSTOM)]
    return load_definition({"include": include, "add": CUSTOM, **extra})


def _tables() -> dict[str, pd.DataFrame]:
    contacts = [
        {"contact_id": f"C{i}", "account_id": "A1" if i % 2 else "A2",
         "created_at": datetime(2024, 1, 1 + i), "job_title": "CEO",
         "email_domain": "acme.com", "lead_source": "webinar"}
        for i in range(6)
    ]  # fmt: skip
    events: list[dict[str, Any]] = []
    pages = [
        ("/pricing", "pricing"),
        ("/blog/a", "blog"),
        ("/home", "home"),
        ("/pricing", "pricing"),
    ]
    for i in range(6):
        for j in range(i + 1):
            url, category = pages[(i + j) % len(pages)]
            events.append(
                {"event_id": f"E{i}_{j}", "contact_id": f"C{i}", "event_type": "web_visit",
                 "occurred_at": datetime(2024, 2, 1 + j * 3, 9), "page_url": url,
                 "page_category": category, "campaign": "spring" if j % 2 else "fall"}
            )  # fmt: skip
    stages = [{"contact_id": "C0", "changed_at": datetime(2024, 1, 2), "stage": "mql"}]
    tables = base_tables(contacts, events, stages)
    for column in ("page_url", "page_category", "campaign"):
        tables["events"][column] = pd.Series([e[column] for e in events], dtype="string")
    tables["contacts"]["plan"] = pd.Series(["Pro", "free", "pro", None, "Team", "pro"])
    tables["contacts"]["score_ext"] = pd.Series(["1.5", "x", "3", None, "10", "2"])
    tables["accounts"]["funded"] = pd.Series(["yes", "no"])
    return tables


def test_custom_features_read_properties_and_extra_columns(tmp_path: Path) -> None:
    crm = crm_from_frames(_tables())
    result = build_training_table(
        crm, custom_definition(), [datetime(2024, 3, 1)], 30, tmp_path / "t.parquet",
        data_end=datetime(2024, 6, 1),
    )  # fmt: skip
    names = result.meta.definition.names
    assert "visits_pricing_7d" in names and "days_since_home" in names
    assert not any("{value}" in n for n in names)
    table = pd.read_parquet(result.path).set_index("contact_id")
    landing = result.meta.definition.feature("landing_page")
    assert landing.values == ("/home", "/pricing", "/blog/a")  # by contacts, then by value
    assert table.loc["C0", "landing_page"] == "/pricing"
    assert table.loc["C1", "landing_page"] == "/blog/a"
    assert table.loc["C4", "last_campaign"] == "other"  # fall: not among the given values
    assert table.loc["C5", "last_campaign"] == "spring"
    assert table["plan"].to_dict() == {
        "C0": "pro", "C1": "free", "C2": "pro", "C3": "unknown", "C4": "team", "C5": "pro",
    }  # fmt: skip
    assert table.loc["C0", "score_ext"] == 1.5 and pd.isna(table.loc["C1", "score_ext"])
    assert table.loc["C1", "funded"] and not table.loc["C0", "funded"]
    # C5: visits on Feb 1, 4, 7, 10, 13, 16 -> pricing on Feb 7 and 10, none in the last 7 days
    assert table.loc["C5", "visits_pricing_30d"] == 2 and table.loc["C5", "visits_pricing_7d"] == 0
    assert table.loc["C0", "days_since_home"] == 365  # never on the home page: the lookback cap
    assert table.loc["C1", "days_since_home"] == 25  # Feb 4, 09:00 -> Mar 1 (leap year)
    # serving uses the stored (learned) definition and gets the same values
    scored = build_features(crm, result.meta.definition, [datetime(2024, 3, 1)])
    pd.testing.assert_frame_equal(
        scored.set_index("contact_id")[list(names)], table[list(names)], check_dtype=False
    )


def test_values_are_learned_from_data_before_the_last_observed_cutoff(tmp_path: Path) -> None:
    crm = crm_from_frames(_tables())
    early = build_training_table(
        crm, custom_definition(), [datetime(2024, 2, 2)], 30, tmp_path / "t.parquet",
        data_end=datetime(2024, 6, 1),
    )  # fmt: skip
    # on Feb 2 only the first visit of each contact is known: /pricing, /blog/a, /home, /pricing
    assert early.meta.definition.feature("landing_page").values == ("/pricing", "/blog/a", "/home")


def test_an_unlearned_definition_is_refused_where_it_cannot_learn() -> None:
    from leadscore.features.sql import feature_query

    with pytest.raises(FeatureDefinitionError, match="learned when the training table is built"):
        feature_query(custom_definition())


def test_a_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    tables = _tables()
    del tables["contacts"]["plan"]
    crm = crm_from_frames(tables)
    with pytest.raises(FeatureDefinitionError, match="column 'plan' of table contacts"):
        build_training_table(
            crm, custom_definition(), [datetime(2024, 3, 1)], 30, tmp_path / "t.parquet",
            data_end=datetime(2024, 6, 1),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"property": "referrer"}, "unknown event property"),
        ({"measure": "count", "windows": [30], "type": "numeric"}, "put '{value}' in the name"),
        ({"type": "numeric"}, "measure first is categorical"),
        ({"name": "x_{value}_{value}"}, "at most one"),
    ],
)
def test_bad_custom_features_are_refused(change: dict[str, Any], message: str) -> None:
    spec = {**CUSTOM[0], **change}
    with pytest.raises(FeatureDefinitionError, match=message):
        load_definition({"include": [*BASE, spec["name"]], "add": [spec]})


def test_a_bad_column_name_is_refused() -> None:
    spec = {**CUSTOM[4], "column": 'plan"; DROP'}
    with pytest.raises(FeatureDefinitionError, match="letters, digits and underscores"):
        load_definition({"include": [*BASE, spec["name"]], "add": [spec]})


def test_an_added_feature_left_out_of_include_is_refused() -> None:
    """``include:`` without the added feature would drop it silently."""
    with pytest.raises(FeatureDefinitionError, match="under `add:` but `include:` does not"):
        load_definition({"include": list(BASE), "add": [CUSTOM[0]]})
    family = CUSTOM[2]  # a windowed family is kept by a pattern matching its members
    kept = load_definition({"include": [*BASE, "visits_*"], "add": [family]})
    assert any(f.name.startswith("visits_") for f in kept.features)


@pytest.mark.spark
def test_spark_and_duckdb_agree_on_custom_features(spark: Any, tmp_path: Path) -> None:
    from leadscore.features import SparkEngine

    crm = crm_from_frames(_tables())
    cutoffs = [datetime(2024, 2, 5), datetime(2024, 2, 12, 13, 30), datetime(2024, 3, 1)]
    kwargs: dict[str, Any] = {"data_end": datetime(2024, 6, 1)}
    duck = build_training_table(
        crm, custom_definition(), cutoffs, 30, tmp_path / "d.parquet", **kwargs
    )
    sparked = build_training_table(
        crm, custom_definition(), cutoffs, 30, tmp_path / "s.parquet",
        engine=SparkEngine(spark, crm), cutoffs_per_query=len(cutoffs), **kwargs,
    )  # fmt: skip
    assert duck.meta.definition == sparked.meta.definition
    left, right = pd.read_parquet(duck.path), pd.read_parquet(sparked.path)
    assert len(left) >= 12
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12, atol=0)
