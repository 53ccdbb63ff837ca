"""The ``burst`` feature kind: how concentrated a contact's activity is in time.

People browse, read and reply spread over days; scrapers, link checkers and security scanners
fire hundreds of hits within minutes. Three measures over the window ``[cutoff - N days,
cutoff)``, on calendar hours and days (UTC) of the events strictly before the cutoff:

- ``max_per_hour``: the most events in one calendar hour;
- ``max_per_day``: the most events in one calendar day;
- ``burst_share``: the share of the window's events that fall in a *burst hour*, an hour with
  at least ``burst_hour_events`` events (0 without events).

The bot rule (:mod:`leadscore.model.bots`) reads these features.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from leadscore.contract import EventType
from leadscore.features.feature_base import FeatureBase, FeatureType

__all__ = ["BURST_MEASURES", "BurstFeature"]

BURST_MEASURES: tuple[str, ...] = ("max_per_hour", "max_per_day", "burst_share")


class BurstFeature(FeatureBase):
    """A burst measure (see the module doc) of events of ``event_types`` (all when empty)."""

    kind: Literal["burst"]
    measure: Literal["max_per_hour", "max_per_day", "burst_share"]
    event_types: tuple[EventType, ...] = ()
    burst_hour_events: int = Field(30, ge=2)
    """An hour with at least this many events is a burst hour (``burst_share``)."""

    @model_validator(mode="after")
    def _numeric(self) -> BurstFeature:
        if self.type is not FeatureType.NUMERIC:
            raise ValueError(f"feature {self.name!r}: burst measures are numeric")
        return self
