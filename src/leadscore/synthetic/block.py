"""One random block of contacts, end to end: profiles -> intent -> events -> funnel -> tables.

Tables come out "raw": integer ids (``*_num``) that the writer formats, arrow strings and
timestamps otherwise. Each block draws from its own random streams, so a block's content does
not depend on the chunk it is written in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from leadscore.synthetic.behaviour import (
    ASSETS,
    CATEGORIES,
    EVENT_TYPES,
    URLS,
    campaign_labels,
    simulate_events,
)
from leadscore.synthetic.bots import BOT_SHARE, add_bots, bot_rng
from leadscore.synthetic.drift import Drift, drift_events
from leadscore.synthetic.feedback import (
    FEEDBACK_MODEL_VERSION,
    REASON_CODES,
    VERDICT_CODES,
    BlockFeedback,
    feedback_rng,
    lead_kinds,
    simulate_feedback,
)
from leadscore.synthetic.funnel import CRM_LABELS, STAGES, BlockFunnel, simulate_funnel
from leadscore.synthetic.intent import simulate_intent
from leadscore.synthetic.params import SECONDS_PER_DAY, IntArray
from leadscore.synthetic.profiles import BlockProfiles, block_rngs, make_profiles

__all__ = ["BlockTables", "n_days_of", "simulate_block"]


@dataclass(frozen=True)
class BlockTables:
    """Raw tables of one block: the four CRM tables, the reps' feedback and the oracle tables."""

    accounts: pa.Table
    contacts: pa.Table
    events: pa.Table
    stage_changes: pa.Table
    oracle_contacts: pa.Table
    oracle_bursts: pa.Table
    oracle_hand_raises: pa.Table
    feedback: pa.Table


def n_days_of(start: datetime, end: datetime) -> int:
    """Days of the simulation grid (the last one may be cut by ``end``)."""
    return math.ceil((end - start).total_seconds() / SECONDS_PER_DAY)


def _epoch_us(start: datetime) -> int:
    return int((start - datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def _ts(start: datetime, sec: IntArray) -> pa.Array:
    """Seconds since ``start`` as arrow timestamps; negative values are null."""
    missing = sec < 0
    values = np.where(missing, 0, sec) * 1_000_000 + _epoch_us(start)
    return pa.array(values, type=pa.timestamp("us"), mask=missing)


def _text(values: tuple[str, ...] | list[str], codes: IntArray) -> pa.Array:
    missing = codes < 0
    return pa.array(list(values), type=pa.string()).take(
        pa.array(np.where(missing, 0, codes), mask=missing)
    )


def simulate_block(
    seed: int,
    block: int,
    n_contacts: int,
    first_account_num: int,
    first_contact_num: int,
    start: datetime,
    end: datetime,
    drift: Drift | None = None,
    *,
    bot_share: float = BOT_SHARE,
    feedback: bool = True,
) -> BlockTables:
    """Simulate block ``block`` (``n_contacts`` contacts; ids numbered from the offsets), with
    an optional planted drift (:mod:`leadscore.synthetic.drift`); ``bot_share``: contacts turned
    into crawlers (:mod:`leadscore.synthetic.bots`); ``feedback``: reps' verdicts on the MQLs
    (:mod:`leadscore.synthetic.feedback`, drawn last, from a stream of their own)."""
    _, sim = block_rngs(seed, block)
    end_sec = int((end - start).total_seconds())
    n_days = n_days_of(start, end)
    prof = make_profiles(
        seed, block, n_contacts, first_account_num, first_contact_num, start, end, sim
    )
    intent = simulate_intent(sim, prof.fit, prof.created_sec, prof.initial_intent, n_days)
    events = simulate_events(
        sim, intent, prof.fit, prof.created_sec, prof.first_event, start, end_sec
    )
    if drift is not None:
        events = drift_events(
            seed, block, events, prof.created_sec, intent.dormant_day, drift, start, end_sec
        )
    events, crawlers = add_bots(bot_rng(seed, block), events, prof.created_sec, end_sec, bot_share)
    is_bot = np.zeros(n_contacts, dtype=bool)
    is_bot[events.bots] = True
    is_bot[crawlers] = True
    funnel = simulate_funnel(
        sim,
        intent,
        prof.fit,
        prof.created_sec,
        events,
        prof.profile_points,
        start,
        end_sec,
        drift=drift,
    )

    num = prof.contact_num
    n_months = (end.year - start.year) * 12 + end.month - start.month + 1
    event_table = pa.table(
        {
            "contact_num": num[events.contact],
            "occurred_at": _ts(start, events.sec),
            "event_type": _text(EVENT_TYPES, events.event_type),
            "page_url": _text(URLS, events.url),
            "page_category": _text(CATEGORIES, events.category),
            "campaign": _text(campaign_labels(start, n_months), events.campaign),
            "asset_name": _text(ASSETS, events.asset),
        }
    )
    stage_table = pa.table(
        {
            "contact_num": num[funnel.contact],
            "changed_at": _ts(start, funnel.sec),
            "stage": _text(STAGES, funnel.stage),
            "crm_label": _text([CRM_LABELS[s] for s in STAGES], funnel.stage),
        }
    )
    dormant = np.where(intent.dormant_day < n_days, intent.dormant_day * SECONDS_PER_DAY, -1)
    oracle_contacts = pa.table(
        {
            "contact_num": num,
            "created_at": _ts(start, prof.created_sec),
            "fit": prof.fit,
            "burst_rate": intent.rate,
            "half_life_days": intent.half_life,
            "dormant_at": _ts(start, dormant),
            "mql_at": _ts(start, funnel.mql_sec),
            "sql_at": _ts(start, funnel.sql_sec),
            "meeting_at": _ts(start, funnel.meeting_sec),
            "customer_at": _ts(start, funnel.customer_sec),
            "disqualified_at": _ts(start, funnel.disqualified_sec),
            "is_bot": is_bot,
        }
    )
    oracle_bursts = pa.table(
        {
            "contact_num": num[intent.burst_contact],
            "burst_at": _ts(start, intent.burst_day * SECONDS_PER_DAY),
            "amplitude": intent.burst_amplitude,
        }
    )
    oracle_hand_raises = pa.table(
        {
            "contact_num": num[funnel.raise_contact],
            "raised_at": _ts(start, funnel.raise_sec),
        }
    )
    return BlockTables(
        feedback=_feedback_table(
            seed, block, prof, is_bot, funnel, num, start, end_sec, enabled=feedback
        ),
        accounts=prof.accounts,
        contacts=prof.contacts,
        events=event_table,
        stage_changes=stage_table,
        oracle_contacts=oracle_contacts,
        oracle_bursts=oracle_bursts,
        oracle_hand_raises=oracle_hand_raises,
    )


def _feedback_table(
    seed: int,
    block: int,
    prof: BlockProfiles,
    is_bot: np.ndarray,
    funnel: BlockFunnel,
    num: IntArray,
    start: datetime,
    end_sec: int,
    *,
    enabled: bool,
) -> pa.Table:
    """The reps' verdicts of the block as a raw ``feedback`` table (empty when not ``enabled``)."""
    if enabled:
        settled = np.where(funnel.sql_sec >= 0, funnel.sql_sec, funnel.disqualified_sec)
        settled = np.where(
            (funnel.disqualified_sec >= 0) & (funnel.disqualified_sec < settled),
            funnel.disqualified_sec,
            settled,
        )
        drawn = simulate_feedback(
            feedback_rng(seed, block),
            kinds=lead_kinds(is_bot, prof.junior, prof.out_of_target, prof.email_kind),
            fit=prof.fit,
            mql_sec=funnel.mql_sec,
            settled_sec=settled,
            end_sec=end_sec,
        )
    else:
        none = np.zeros(0, dtype=np.int64)
        drawn = BlockFeedback(none, none, none, none)
    order = np.lexsort((drawn.sec, drawn.contact))
    return pa.table(
        {
            "contact_num": num[drawn.contact[order]],
            "given_at": _ts(start, drawn.sec[order]),
            "verdict": _text(VERDICT_CODES, drawn.verdict[order]),
            "reason": _text(REASON_CODES, drawn.reason[order]),
            "model_version": pa.array([FEEDBACK_MODEL_VERSION] * len(order), type=pa.string()),
        }
    )
