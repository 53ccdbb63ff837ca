"""The feature definition: catalog, user overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.errors import FeatureDefinitionError
from leadscore.features import Concept, FeatureType, load_definition


def test_builtin_catalog_names_every_feature_with_concept_type_and_explanation() -> None:
    definition = load_definition()
    assert len(definition.names) == len(set(definition.names)) > 50
    for feature in definition.features:
        assert isinstance(feature.concept, Concept)
        assert isinstance(feature.type, FeatureType)
        assert feature.explanation
    pricing = definition.feature("pricing_visits_30d")
    assert pricing.window == 30
    assert pricing.explain(3.0) == "3 pricing-page visits in the last 30 days"
    assert definition.feature("seniority").explain("vp", "VP") == "VP-level title"
    families = {f.concept for f in definition.features}
    assert {Concept.PROFILE_FIT, Concept.ENGAGEMENT, Concept.RECENCY} <= families
    assert {Concept.ACCOUNT_ACTIVITY, Concept.INTENT} <= families


def test_digest_is_stable_and_changes_with_the_definition() -> None:
    assert load_definition().digest() == load_definition().digest()
    assert load_definition({"exclude": ["chats_*"]}).digest() != load_definition().digest()


def test_config_subsets_windows_and_adds(tmp_path: Path) -> None:
    config = tmp_path / "features.yaml"
    config.write_text(
        "include: [industry, 'pricing_visits_{window}d', email_*, seniority, webinar_any_45d]\n"
        "exclude: [email_opens_7d]\n"
        "windows: {'pricing_visits_{window}d': [14, 60]}\n"
        "add:\n"
        "  - name: webinar_any_{window}d\n"
        "    kind: event_count\n"
        "    event_types: [webinar_registration, webinar_attendance]\n"
        "    windows: [45]\n"
        "    concept: engagement\n"
        "    type: numeric\n"
        "    explanation: '{value:.0f} webinar actions in {window} days'\n",
        encoding="utf-8",
    )
    definition = load_definition(config)
    assert "pricing_visits_14d" in definition.names
    assert "pricing_visits_60d" in definition.names
    assert "pricing_visits_30d" not in definition.names
    assert "email_opens_7d" not in definition.names
    assert "email_clicks_7d" in definition.names
    assert "webinar_any_45d" in definition.names  # an added feature must be included too
    with pytest.raises(FeatureDefinitionError, match="`include:` does not list it"):
        load_definition({"add": yaml_add(), "include": ["industry"]})  # not silently dropped
    assert load_definition({"add": yaml_add(), "include": ["webinar_any_45d"]}).names == (
        "webinar_any_45d",
    )


def yaml_add() -> list[dict[str, object]]:
    return [
        {
            "name": "webinar_any_{window}d",
            "kind": "event_count",
            "event_types": ["webinar_registration"],
            "windows": [45],
            "concept": "engagement",
            "type": "numeric",
            "explanation": "{value} webinars",
        }
    ]


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        ({"include": ["pricing_vists_30d"]}, ["pricing_vists_30d", "pricing_visits_30d"]),
        ({"exclude": ["nope"]}, ["'nope'", "Known features"]),
        ({"windows": {"nope": [7]}}, ["'nope'", "events_{window}d"]),
        ({"windows": {"events_{window}d": [400]}}, ["window 400", "1 to lookback_days=365"]),
        ({"windows": {"events_{window}d": [0]}}, ["window 0"]),
        ({"unknown_key": 1}, ["unknown_key", "Extra inputs are not permitted"]),
        (
            {"add": [{**yaml_add()[0], "event_types": ["pricing_visit"]}]},
            ["pricing_visit", "pricing_page_visit"],
        ),
        ({"add": [{**yaml_add()[0], "kind": "magic"}]}, ["magic", "event_count"]),
        (
            {"add": [{**yaml_add()[0], "kind": "attribute", "attribute": "shoe_size"}]},
            ["shoe_size", "seniority"],
        ),
        ({"add": [{**yaml_add()[0], "name": "industry"}]}, ["Duplicate", "industry"]),
        ({"include": []}, ["no feature"]),
    ],
)
def test_bad_definitions_are_clear_errors(config: dict[str, object], needles: list[str]) -> None:
    with pytest.raises(FeatureDefinitionError) as info:
        load_definition(config)
    for needle in needles:
        assert needle in str(info.value)


def test_missing_or_invalid_config_file(tmp_path: Path) -> None:
    with pytest.raises(FeatureDefinitionError, match="does not exist"):
        load_definition(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(FeatureDefinitionError, match="mapping"):
        load_definition(bad)
