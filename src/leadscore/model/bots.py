"""The bot rule: contacts whose activity comes in machine-like bursts.

Scrapers, link checkers and mail scanners leave hundreds of hits within an hour; a model reads
them as very engaged leads (the demo once ranked such a contact second). The rule reads the
``burst`` features of the feature definition (:mod:`leadscore.features.burst`) at the cutoff, so
it is point in time like every feature. A row is *bot-like* when its most events in one hour
reach ``max_events_in_an_hour`` or its most events in one day reach ``max_events_in_a_day``
(either threshold set to ``None`` is not checked). Training keeps bot-like rows out of the rows
the models are fitted and calibrated on (``exclude_from_training``); scoring caps their grade at
``cap_grade`` (and their graded probability just under the next grade's threshold, so a list
sorted by probability agrees with the grade) and says why in the first negative reason.

The rule travels in the model's ``scorer.json`` (:class:`leadscore.model.spec.ScorerSpec`), so
batch scoring, ``explain`` and the HTTP API apply the very rule the model was trained with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pandas is imported by the functions: reading a model spec stays light
    import pandas as pd

__all__ = ["BotRule", "bot_flags", "bot_sentence", "missing_bot_features"]


class BotRule(BaseModel):
    """Settings of the bot rule (the ``bots`` section of a training config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_events_in_an_hour: int | None = Field(60, ge=2)
    """Bot-like from this many events in one calendar hour (a page a minute for an hour)."""
    max_events_in_a_day: int | None = Field(150, ge=2)
    """Bot-like from this many events in one calendar day."""
    hour_feature: str = "max_events_in_an_hour_90d"
    day_feature: str = "max_events_in_a_day_90d"
    exclude_from_training: bool = True
    cap_grade: Literal["B", "C", "D"] = "C"

    def checks(self) -> list[tuple[str, int]]:
        """(feature, threshold) pairs the rule tests."""
        out: list[tuple[str, int]] = []
        if self.max_events_in_an_hour is not None:
            out.append((self.hour_feature, self.max_events_in_an_hour))
        if self.max_events_in_a_day is not None:
            out.append((self.day_feature, self.max_events_in_a_day))
        return out

    def describe(self) -> str:
        """The rule in words (reports, reasons)."""
        words = {self.hour_feature: "in one hour", self.day_feature: "in one day"}
        parts = [f"{n}+ interactions {words[f]}" for f, n in self.checks()]
        return " or ".join(parts) if parts else "no threshold set"


def missing_bot_features(rule: BotRule, columns: Any) -> list[str]:
    """Features the rule reads that ``columns`` lack (the rule cannot run without them)."""
    present = set(columns)
    return [f for f, _ in rule.checks() if f not in present]


def bot_flags(frame: pd.DataFrame, rule: BotRule | None) -> np.ndarray[Any, Any]:
    """Whether each row of ``frame`` is bot-like (all false when the rule is off or absent, or
    the frame lacks its features)."""
    import pandas as pd

    flags = np.zeros(len(frame), dtype=bool)
    if rule is None or not rule.enabled or missing_bot_features(rule, frame.columns):
        return flags
    for feature, threshold in rule.checks():
        values = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype=np.float64)
        flags |= np.nan_to_num(values, nan=0.0) >= threshold
    return flags


def bot_sentence(row: pd.Series, rule: BotRule) -> str:
    """Why a bot-like row's grade is capped, in words, for a rep."""
    import pandas as pd

    words = {rule.hour_feature: "within a single hour", rule.day_feature: "on a single day"}
    seen = []
    for feature, threshold in rule.checks():
        number = pd.to_numeric(pd.Series([row.get(feature)]), errors="coerce").iloc[0]
        value = 0.0 if pd.isna(number) else float(number)
        if value >= threshold:
            seen.append(f"{value:.0f} interactions {words[feature]}")
    what = " and ".join(seen) or "machine-like bursts of activity"
    return (
        f"grade capped at {rule.cap_grade}: {what} {'looks' if len(seen) == 1 else 'look'} "
        "automated (bot rule: "
        f"{rule.describe()}), not a person's interest"
    )
