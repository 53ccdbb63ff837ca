"""Reason sentences read as people write them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.definition import FeatureDefinition, load_definition
from leadscore.serving.reasons import explain_rows, humanize_days, reason_groups


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("last interaction 0 days ago", "last interaction today"),
        ("last pricing-page visit 1 days ago", "last pricing-page visit yesterday"),
        ("asked for a demo 31 days ago", "asked for a demo 31 days ago"),
        ("in the CRM for 1 days", "in the CRM for 1 day"),
        ("in the CRM for 0 days", "in the CRM since today"),
        ("no website visit for 45 days", "no website visit for 45 days"),
    ],
)
def test_durations_in_days(raw: str, expected: str) -> None:
    assert humanize_days(raw) == expected


def _false_boolean_reason(definition: FeatureDefinition, name: str) -> str:
    names = list(definition.names)
    row = {n: 0 for n in names} | {name: False}
    contributions = np.zeros((1, len(names) + 1))
    contributions[0, names.index(name)] = -0.5
    groups = reason_groups(definition, names)
    (reasons,) = explain_rows(contributions, pd.DataFrame([row]), names, groups, definition)
    return reasons.negative[0].text


def test_website_visits_never_contradict_a_pricing_page_visit() -> None:
    """web_visit counts pages other than pricing (a pricing-page visit is an event of its own):
    "no website visit in the last 365 days" beside "3 pricing-page visits" read as a
    contradiction; the sentences say which pages they count."""
    definition = load_definition()
    names = list(definition.names)
    row = {n: 0 for n in names} | {"days_since_last_web_visit": definition.lookback_days}
    contributions = np.zeros((1, len(names) + 1))
    contributions[0, names.index("days_since_last_web_visit")] = -0.5
    contributions[0, names.index("web_visits_30d")] = -0.4
    groups = reason_groups(definition, names)
    (reasons,) = explain_rows(contributions, pd.DataFrame([row]), names, groups, definition)
    texts = [r.text for r in reasons.negative]
    assert any("no website visit besides the pricing page in the last" in t for t in texts), texts
    assert not any("no website visit in" in t for t in texts)


def _webinar_flag(**extra: str) -> dict[str, object]:
    return {
        "name": "has_attended_webinar",
        "kind": "any_event",
        "event_types": ["webinar_attendance"],
        "concept": "engagement",
        "type": "boolean",
        "explanation": "attended a webinar",
        **extra,
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "activity_trend",
            8.1,
            "activity up by 8 interactions this week versus the previous 30 days",
        ),
        ("activity_trend", -1.4, "activity down by 1 interaction this week versus the previous"),
        ("activity_trend", 0.3, "activity steady this week versus the previous 30 days"),
        ("web_visits_30d", 1, "1 website visit besides the pricing page in the last 30 days"),
    ],
)
def test_counts_read_as_whole_numbers(name: str, value: float, expected: str) -> None:
    """A rep counts whole interactions: "activity up by 8.1 interactions this week" read as a
    measurement error; one visit is singular."""
    from leadscore.serving.reasons import _Renderer

    definition = load_definition()
    names = list(definition.names)
    text = _Renderer(definition, names).render(names.index(name), value, value > 0)
    assert text.startswith(expected), text


def test_a_user_feature_carries_its_own_negation() -> None:
    flag = _webinar_flag(negation="never attended a webinar")
    definition = load_definition({"add": [flag]})
    assert _false_boolean_reason(definition, "has_attended_webinar") == "never attended a webinar"
    plain = load_definition({"add": [_webinar_flag()]})
    assert _false_boolean_reason(plain, "has_attended_webinar") == "not: attended a webinar"


def test_catalog_negations_come_from_the_catalog_and_old_definitions_keep_them() -> None:
    definition = load_definition()
    assert definition.feature("has_requested_demo").negation == "never asked for a demo"
    assert _false_boolean_reason(definition, "has_requested_demo") == "never asked for a demo"
    # a definition saved before features carried negations: same hash, same wording
    old = definition.model_dump(mode="json")
    for feature in old["features"]:
        feature.pop("negation", None)
    old_definition = FeatureDefinition.model_validate(old)
    assert old_definition.feature("has_requested_demo").negation is None
    assert _false_boolean_reason(old_definition, "has_requested_demo") == "never asked for a demo"
    # a feature without negation dumps as before the field existed
    assert "negation" not in old_definition.model_dump(mode="json")["features"][0]
