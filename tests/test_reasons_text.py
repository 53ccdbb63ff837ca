"""Reason sentences read as people write them."""

from __future__ import annotations

import pytest

from leadscore.serving.reasons import humanize_days


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
