"""Why a contact has no score at a moment, in words: an unknown id is a typo to fix, a contact
created later needs a later ``--as-of``, a converted or disqualified one is out of the scored
population on purpose (``features/labels.py`` defines eligibility once)."""

from __future__ import annotations

from datetime import datetime

from leadscore.contract import SQL_OR_LATER
from leadscore.crm import CrmData
from leadscore.errors import LeadscoreError
from leadscore.sql import quote_literal

__all__ = ["NotScoredError", "stale_reason", "why_not_scored"]


class NotScoredError(LeadscoreError):
    """A contact is not scored at the requested moment (unknown, not yet created, converted,
    disqualified or outside the model's population); the message says which."""

    exit_code = 1


def why_not_scored(crm: CrmData, contact_id: str, moment: datetime, from_stage: str = "any") -> str:
    """The reason ``contact_id`` is not in the scored population at ``moment`` (known means
    strictly before it, as for training cutoffs)."""
    at = f"{moment:%Y-%m-%d %H:%M}"
    contact = quote_literal(contact_id)
    created = crm.con.execute(
        f'SELECT created_at FROM "contacts" WHERE CAST(contact_id AS VARCHAR) = {contact} LIMIT 1'
    ).fetchone()
    if created is None:
        return (
            f"Contact {contact_id!r} is not in the CRM: check the id (ids are matched exactly, "
            "case included)."
        )
    if created[0] is not None and created[0] >= moment:
        return (
            f"Contact {contact_id!r} was created on {created[0]:%Y-%m-%d}, after the as-of moment "
            f"{at}: pass a later --as-of (or none, to score as of the data's end)."
        )
    stages = crm.con.execute(
        'SELECT stage, changed_at FROM "stage_changes" '
        f"WHERE CAST(contact_id AS VARCHAR) = {contact} AND changed_at < ? ORDER BY changed_at",
        [moment],
    ).fetchall()
    converted = [(stage, when) for stage, when in stages if stage in SQL_OR_LATER]
    if converted:
        stage, when = converted[0]
        return (
            f"Contact {contact_id!r} already reached {stage} on {when:%Y-%m-%d}: leads are scored "
            "until they become SQL; sales works it now."
        )
    if stages and stages[-1][0] == "disqualified":
        return (
            f"Contact {contact_id!r} was disqualified on {stages[-1][1]:%Y-%m-%d} and has not "
            "come back as a lead or MQL since: it is out of the scored population."
        )
    if from_stage == "mql" and not any(stage == "mql" for stage, _ in stages):
        return (
            f"Contact {contact_id!r} has not reached MQL by {at}, and this model scores MQLs "
            "only (it was trained from the MQL stage)."
        )
    return (
        f"Contact {contact_id!r} is not in the scored population at {at} (see the eligibility "
        "rules in docs/evaluation.md)."
    )


def stale_reason(contact_id: str, moment: datetime, days: int) -> str:
    """Why a contact eligible but for the model's maximum lead age of ``days`` is not scored
    (the caller tells it from the other cases with the eligibility query itself)."""
    return (
        f"Contact {contact_id!r} was created more than {days} days before {moment:%Y-%m-%d %H:%M} "
        f"and has had no event or stage change in the {days} days before it: the model was "
        "trained without such stale leads, so it does not score them (the training table's "
        "maximum lead age, `features build --max-lead-age-days`)."
    )
