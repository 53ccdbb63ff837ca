"""The bot rule at training: bot-like rows stay out of the rows models are fitted on.

The rule (:class:`leadscore.model.bots.BotRule`) reads the burst features at each row's cutoff,
so a contact is left out only from the cutoffs where its bursts were already visible. Train and
validation rows flagged as bot-like are not used to fit, stop early, calibrate, choose the head
or set the grades; the test window keeps every row (the rules and the models are compared on
the same leads sales would see). The report and the terminal say how many rows were left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadscore.model.bots import BotRule, bot_flags, missing_bot_features
from leadscore.training.table import CONTACT_COLUMN

__all__ = ["bot_notes", "training_bot_flags"]


def training_bot_flags(frame: pd.DataFrame, rule: BotRule) -> tuple[np.ndarray[Any, Any], bool]:
    """Per row of ``frame``: bot-like under ``rule``; and whether the rule could run (its
    features are in the table)."""
    runs = rule.enabled and not missing_bot_features(rule, frame.columns)
    return bot_flags(frame, rule if runs else None), runs


def bot_notes(
    frame: pd.DataFrame,
    flags: np.ndarray[Any, Any],
    periods: dict[str, np.ndarray[Any, Any]],
    rule: BotRule,
    runs: bool,
) -> list[str]:
    """Sentences for the report and the terminal (a loud one when the rule cannot run)."""
    if not rule.enabled:
        return ["Bot rule disabled (bots.enabled: false): bot-like contacts are trained on."]
    if not runs:
        missing = ", ".join(missing_bot_features(rule, frame.columns))
        return [
            f"WARNING: the bot rule cannot run: the training table lacks {missing}. Bot-like "
            "contacts are trained on and their grades are not capped; add the burst features "
            "(kind: burst) to the feature definition and build the table again."
        ]
    counts = ", ".join(
        f"{int(flags[mask].sum()):,} of {int(mask.sum()):,} {name} rows"
        for name, mask in periods.items()
    )
    contacts = frame.loc[flags, CONTACT_COLUMN].nunique()
    action = "left out of fitting" if rule.exclude_from_training else "kept (exclusion off)"
    return [
        f"Bot rule ({rule.describe()}): {counts} are bot-like ({contacts:,} contacts), "
        f"{action}; at scoring their grade is capped at {rule.cap_grade}."
    ]
