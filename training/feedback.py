"""Reps' verdicts in the training table, point in time, by a documented, configurable policy.

A verdict given at ``given_at`` is known only after it: it applies to the training rows of its
contact whose cutoff is later (``given_at < cutoff``), never to earlier rows, so the features
and labels of a row use nothing a scorer could not know at its cutoff.

The default policy (:class:`FeedbackPolicy`):

- **exclude** the rows of leads rejected as ``spam_bot``, ``student``, ``competitor`` or
  ``customer`` (already a customer): they are not leads to rank, reps drop them at sight, and
  learning from them teaches the model the difference between bots and people instead of
  between buyers and the rest;
- **negative**: rejection reasons that force the row's labels to 0 (none by default: a rep's
  "bad fit" is an opinion, and a lead that converted anyway did convert; list codes such as
  ``bad_fit`` to trust reps over outcomes);
- acceptances and the other reasons (``no_budget``, ``timing``, ``other``) leave rows as they are.

The codes are the inbox's (``leadscore.serving.inbox.DEFAULT_REJECT_REASONS``); API verdicts
whose free-text reason is not a code are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

__all__ = ["FeedbackMasks", "FeedbackPolicy", "feedback_masks"]


class FeedbackPolicy(BaseModel):
    """Which rejection reasons exclude a lead's later rows, and which make their labels 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exclude: tuple[str, ...] = ("spam_bot", "student", "competitor", "customer")
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedbackMasks:
    """Per training row: dropped by the policy, labels forced to 0; and what that amounts to."""

    drop: np.ndarray[Any, np.dtype[np.bool_]]
    relabel: np.ndarray[Any, np.dtype[np.bool_]]
    verdicts: int
    excluded_contacts: int

    @property
    def excluded_rows(self) -> int:
        return int(self.drop.sum())

    @property
    def relabelled_rows(self) -> int:
        return int(self.relabel.sum())


def _first_rejection(feedback: pd.DataFrame, reasons: Sequence[str]) -> pd.Series:
    chosen = feedback[(feedback["verdict"] == "rejected") & feedback["reason"].isin(reasons)]
    return chosen.groupby("contact_id")["given_at"].min()


def _known_before(
    rows: pd.DataFrame, cutoffs: pd.Series, since: pd.Series
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Rows whose contact has a verdict in ``since`` given before the row's cutoff."""
    if since.empty:
        return np.zeros(len(rows), dtype=bool)
    given = pd.to_datetime(rows["contact_id"].map(since))
    return (given.notna() & (given < cutoffs)).to_numpy(dtype=bool)


def feedback_masks(
    rows: pd.DataFrame, feedback: pd.DataFrame, policy: FeedbackPolicy | None = None
) -> FeedbackMasks:
    """The policy's effect on the training rows ``rows`` (``contact_id``, ``cutoff``) given
    the verdicts ``feedback`` (the contract's feedback columns): only verdicts given before a
    row's cutoff count."""
    rules = policy or FeedbackPolicy()
    none = np.zeros(len(rows), dtype=bool)
    if feedback.empty or rows.empty:
        return FeedbackMasks(none, none.copy(), len(feedback), 0)
    verdicts = feedback.assign(given_at=pd.to_datetime(feedback["given_at"]))
    cutoffs = pd.to_datetime(rows["cutoff"])
    if cutoffs.dt.tz is not None:
        cutoffs = cutoffs.dt.tz_convert("UTC").dt.tz_localize(None)
    drop = _known_before(rows, cutoffs, _first_rejection(verdicts, rules.exclude))
    relabel = _known_before(rows, cutoffs, _first_rejection(verdicts, rules.negative)) & ~drop
    contacts = int(rows.loc[drop, "contact_id"].nunique())
    return FeedbackMasks(drop, relabel, len(feedback), contacts)
