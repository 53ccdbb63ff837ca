"""One fact, one reason: a lead's age and recencies naming the same day give one reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.definition import load_definition
from leadscore.serving.reasons import explain_rows, reason_groups
from leadscore.serving.reasons_facts import pick_distinct

DEFINITION = load_definition()


def _reasons(values: dict[str, object], effects: dict[str, float]) -> tuple[list[str], list[str]]:
    names = list(DEFINITION.names)
    row = {n: 0 for n in names} | {"days_since_last_event": 365, "days_since_mql": 365} | values
    for name in names:
        if DEFINITION.feature(name).kind == "days_since" and name not in values:
            row[name] = 365
    contributions = np.zeros((1, len(names) + 1))
    for name, effect in effects.items():
        contributions[0, names.index(name)] = effect
    groups = reason_groups(DEFINITION, names)
    (reasons,) = explain_rows(contributions, pd.DataFrame([row]), names, groups, DEFINITION)
    return [r.text for r in reasons.positive], [r.text for r in reasons.negative]


def test_lead_age_is_said_once_not_three_times() -> None:
    positive, negative = _reasons(
        {"days_since_mql": 50, "days_since_last_form_fill": 50, "days_since_last_event": 50,
         "contact_age_days": 51, "is_target_industry": True},
        {"days_since_mql": 0.9, "days_since_last_form_fill": -0.4, "days_since_last_event": -0.3,
         "contact_age_days": -0.2, "is_target_industry": -0.1},
    )  # fmt: skip
    days = [t for t in positive + negative if "50 days" in t or "51 days" in t]
    assert days == ["became an MQL 50 days ago"]
    assert negative == ["target industry"]  # before: "no form filled for 50 days", ... x3


def test_different_days_stay_different_reasons() -> None:
    positive, negative = _reasons(
        {"days_since_mql": 3, "days_since_last_form_fill": 40},
        {"days_since_mql": 0.9, "days_since_last_form_fill": -0.4},
    )
    assert positive == ["became an MQL 3 days ago"]
    assert negative == ["no form filled for 40 days"]


def test_pick_distinct_refills_from_the_next_candidates() -> None:
    strength = {0: 5.0, 1: 4.0, 2: 3.0, 3: 2.0, 4: 1.0}
    fact = {0: 10.0, 1: 10.5, 2: None, 3: 30.0, 4: 10.0}
    kept = pick_distinct([0, 2, 4], [1, 3], strength.__getitem__, fact.__getitem__, top=2)
    assert kept == ([0, 2], [3])


def test_the_companys_activity_is_never_a_reason_against_the_lead() -> None:
    """The demo's top lead read "+ 16 interactions in the last 7 days" and "- 16 interactions
    from the company in the last 30 days": the same 16 events (the company's count holds the
    lead's own), read both ways. A colleague's activity is left out of the reasons against;
    for it, it stays; the table path chooses the same."""
    from leadscore.serving.reasons_table import explain_table

    values = {"events_7d": 16, "account_events_30d": 16, "account_engaged_contacts_90d": 2}
    against = {"events_7d": 0.8, "account_events_30d": -0.5, "account_engaged_contacts_90d": -0.3}
    positive, negative = _reasons(values, against)
    assert positive == ["16 interactions in the last 7 days"]
    assert not any("company" in t for t in negative)
    positive, _ = _reasons(values, {"events_7d": 0.8, "account_events_30d": 0.5})
    assert "16 interactions from the company in the last 30 days" in positive
    names = list(DEFINITION.names)
    frame = pd.DataFrame([{n: 0 for n in names} | values] * 3)
    contributions = np.zeros((3, len(names) + 1))
    for name, effect in against.items():
        contributions[:, names.index(name)] = effect
    groups = reason_groups(DEFINITION, names)
    table = explain_table(contributions, frame, names, groups, DEFINITION)
    rows = explain_rows(contributions, frame, names, groups, DEFINITION)
    for row in range(3):
        assert [r.text for r in table[row].negative] == [r.text for r in rows[row].negative]
        assert not any("company" in r.text for r in table[row].negative)
