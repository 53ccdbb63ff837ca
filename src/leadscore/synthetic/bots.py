"""More bots in the synthetic CRM: crawlers whose bursts a model and a rule can learn from.

The base simulation (:mod:`leadscore.synthetic.behaviour`) gives 0.4 % of contacts one to three
bursts of 100-500 hits; that is a handful per period, too few to learn or test a bot rule on.
:func:`add_bots` turns a further ``share`` of contacts into crawlers on a random stream of its
own (every other draw of the simulation, hence every human event and stage, is unchanged):
1 to 6 episodes, each 30 to 600 hits (log-uniform: from borderline to blatant) within one hour,
5 % of them pricing pages. Bots have no intent: they never change a contact's chance to become
an SQL, but their hits count in the marketing-automation points (they do become MQLs, as in real
CRMs).
"""

from __future__ import annotations

import numpy as np

from leadscore.synthetic import vocab
from leadscore.synthetic.behaviour import CATEGORIES, EVENT_TYPES, URLS, BlockEvents
from leadscore.synthetic.params import IntArray

__all__ = ["BOT_SHARE", "add_bots", "bot_rng"]

BOT_SHARE = 0.02
"""Default share of contacts turned into crawlers on top of the base simulation's bots."""

_WEB, _PRICING = EVENT_TYPES.index("web_visit"), EVENT_TYPES.index("pricing_page_visit")
_WEB_URLS = np.array([URLS.index(u) for pages in vocab.WEB_PAGES.values() for u in pages])
_WEB_CATS = np.array(
    [CATEGORIES.index(c) for c, pages in vocab.WEB_PAGES.items() for _ in pages], dtype=np.int64
)
_PRICING_URLS = np.array([URLS.index(u) for u in vocab.PRICING_PAGES])


def bot_rng(seed: int, block: int) -> np.random.Generator:
    """The bots' own random stream of a block (independent of the simulation's)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, 0xB07)))


def add_bots(
    rng: np.random.Generator,
    events: BlockEvents,
    created_sec: IntArray,
    end_sec: int,
    share: float,
) -> tuple[BlockEvents, IntArray]:
    """``events`` plus the hits of ``share`` of the block's contacts turned into crawlers, in
    (contact, time) order; returns the events and the crawlers' contact indices."""
    n = len(created_sec)
    bots = np.flatnonzero(rng.random(n) < share)
    if share <= 0 or len(bots) == 0:
        return events, bots.astype(np.int64)
    episodes = rng.integers(1, 7, len(bots))
    contact = np.repeat(bots, episodes)
    span = np.maximum(end_sec - created_sec[contact] - 3600, 1)
    hour = created_sec[contact] + (rng.random(len(contact)) * span).astype(np.int64)
    hits = np.exp(rng.uniform(np.log(30), np.log(600), len(contact))).astype(np.int64)
    hit_contact = np.repeat(contact, hits)
    hit_sec = np.repeat(hour, hits) + rng.integers(1, 3600, int(hits.sum()))
    pricing = rng.random(len(hit_sec)) < 0.05
    page = rng.integers(0, len(_WEB_URLS), len(hit_sec))
    url = np.where(
        pricing, _PRICING_URLS[rng.integers(0, len(_PRICING_URLS), len(hit_sec))], _WEB_URLS[page]
    )
    category = np.where(pricing, CATEGORIES.index("pricing"), _WEB_CATS[page])
    none = np.full(len(hit_sec), -1, dtype=np.int64)
    keep = hit_sec < end_sec
    merged = {
        "contact": (events.contact, hit_contact),
        "sec": (events.sec, hit_sec),
        "event_type": (events.event_type, np.where(pricing, _PRICING, _WEB)),
        "url": (events.url, url),
        "category": (events.category, category),
        "campaign": (events.campaign, none),
        "asset": (events.asset, none),
    }
    columns = {
        k: np.concatenate([old, new[keep]]).astype(np.int64) for k, (old, new) in merged.items()
    }
    order = np.lexsort((columns["event_type"], columns["sec"], columns["contact"]))
    out = BlockEvents(**{k: v[order] for k, v in columns.items()}, bots=events.bots)
    return out, bots.astype(np.int64)
