"""Observable behaviour from latent intent: events with timestamps and properties, plus CRM noise.

Per contact-day the event count is Poisson with rate ``sum_t rate_t(intent, fit)`` (vectorised
over the whole contacts x days grid); each event's type is then drawn in proportion to the type
rates of its day. Noise of real CRMs is added on top: bot bursts, duplicate events, webinar
no-shows, unsubscribes that stop email events, leads that go quiet (dormancy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from leadscore.contract import EventType
from leadscore.synthetic import vocab
from leadscore.synthetic.intent import BlockIntent
from leadscore.synthetic.params import (
    EVENT_WEEKEND_FACTOR,
    SECONDS_PER_DAY,
    FloatArray,
    IntArray,
    demo_request_rate,
    sigmoid,
)

__all__ = [
    "ASSETS",
    "CATEGORIES",
    "EVENT_TYPES",
    "URLS",
    "BlockEvents",
    "campaign_labels",
    "simulate_events",
]

EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
_T = {name: i for i, name in enumerate(EVENT_TYPES)}
WEB, PRICING, DOWNLOAD = _T["web_visit"], _T["pricing_page_visit"], _T["content_download"]
REGISTER, ATTEND = _T["webinar_registration"], _T["webinar_attendance"]
OPEN, CLICK, FORM = _T["email_open"], _T["email_click"], _T["form_fill"]
DEMO, CHAT, UNSUB = _T["demo_request"], _T["chat"], _T["unsubscribe"]
_EMAIL = (OPEN, CLICK, UNSUB)

# Rate of type t on a day: alpha_t + beta_t * intent + gamma_t * intent**2 (per contact-day);
# pricing visits grow with fit, demo requests follow params.demo_request_rate (the oracle's).
_ALPHA = np.zeros(len(EVENT_TYPES))
_BETA = np.zeros(len(EVENT_TYPES))
_GAMMA = np.zeros(len(EVENT_TYPES))
for _name, _a, _b, _g in (
    ("web_visit", 0.070, 0.70, 0.0),
    ("pricing_page_visit", 0.001, 0.03, 0.02),
    ("content_download", 0.0015, 0.022, 0.0),
    ("webinar_registration", 0.001, 0.012, 0.0),
    ("email_open", 0.050, 0.04, 0.0),
    ("email_click", 0.008, 0.025, 0.0),
    ("form_fill", 0.0005, 0.010, 0.0),
    ("chat", 0.0005, 0.008, 0.002),
):
    _ALPHA[_T[_name]], _BETA[_T[_name]], _GAMMA[_T[_name]] = _a, _b, _g
_UNSUB_BASE = 0.0012
_HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 17, 12, 14, 18, 18, 16, 12, 8, 6, 5, 4, 3, 2], dtype=float
)
_HOUR_CDF = np.cumsum(_HOUR_WEIGHTS) / _HOUR_WEIGHTS.sum()
_DUPLICATE_RATE = 0.015
_BOT_RATE = 0.004

CATEGORIES: tuple[str, ...] = (
    *vocab.WEB_PAGES, "pricing", "demo", "form", "webinar",
)  # fmt: skip
URLS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [u for pages in vocab.WEB_PAGES.values() for u in pages]
        + list(vocab.PRICING_PAGES + vocab.DEMO_PAGES + vocab.FORM_PAGES + vocab.CHAT_PAGES)
        + [f"/webinars/{i + 1}" for i in range(len(vocab.WEBINARS))]
        + [f"/resources/{i + 1}" for i in range(len(vocab.RESOURCES))]
    )
)
ASSETS: tuple[str, ...] = vocab.RESOURCES + vocab.WEBINARS
_URL = {u: i for i, u in enumerate(URLS)}
_CAT = {c: i for i, c in enumerate(CATEGORIES)}
_WEB_CATS = list(vocab.WEB_PAGES)
_WEB_CAT_W = np.array([vocab.WEB_CATEGORY_WEIGHTS[c] for c in _WEB_CATS])
_PRODUCT = _WEB_CATS.index("product")


def campaign_labels(start: datetime, n_months: int) -> list[str]:
    """Email campaign names per month of the period: ``<theme>-<yyyy>-<mm>``."""
    labels = []
    for m in range(n_months):
        year, month = divmod(start.year * 12 + start.month - 1 + m, 12)
        labels += [f"{theme}-{year}-{month + 1:02d}" for theme in vocab.EMAIL_THEMES]
    return labels


@dataclass(frozen=True)
class BlockEvents:
    """A block's events as parallel arrays, sorted by (contact, time); codes are -1 for null."""

    contact: IntArray
    sec: IntArray
    event_type: IntArray
    url: IntArray
    category: IntArray
    campaign: IntArray
    asset: IntArray
    bots: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Indices of the block's contacts that are bots (the oracle's ``is_bot``)."""


def _hour_offsets(rng: np.random.Generator, n: int) -> IntArray:
    hours = np.searchsorted(_HOUR_CDF, rng.random(n), side="right")
    return (np.minimum(hours, 23) * 3600 + rng.integers(0, 3600, n)).astype(np.int64)


def _type_rates(intent: FloatArray, fit: FloatArray) -> FloatArray:
    """Rates of every event type (last axis) for given intent and fit (same shape)."""
    i = intent[:, None]
    f = fit[:, None]
    rates = _ALPHA + _BETA * i + _GAMMA * i * i
    rates[:, PRICING] = _ALPHA[PRICING] + (
        _BETA[PRICING] * i[:, 0] + _GAMMA[PRICING] * i[:, 0] ** 2
    ) * np.exp(0.4 * f[:, 0])
    rates[:, DEMO] = demo_request_rate(i[:, 0], f[:, 0])
    rates[:, UNSUB] = _UNSUB_BASE * np.exp(-1.5 * i[:, 0]) * np.where(f[:, 0] < -0.5, 2.0, 1.0)
    return np.asarray(rates, dtype=np.float64)


def simulate_events(
    rng: np.random.Generator,
    intent: BlockIntent,
    fit: FloatArray,
    created_sec: IntArray,
    first_event: list[str | None],
    start: datetime,
    end_sec: int,
) -> BlockEvents:
    """Events of a block from its intent grid (plus creation events, bots, duplicates)."""
    n, n_days = intent.grid.shape
    days = np.arange(n_days, dtype=np.int64)
    weekday = (days + start.weekday()) % 7
    day_factor = np.where(weekday >= 5, EVENT_WEEKEND_FACTOR, 1.0)
    active = (days[None, :] >= intent.created_day[:, None]) & (
        days[None, :] < intent.dormant_day[:, None]
    )
    rows, cols = np.nonzero(active)
    level = intent.grid[rows, cols]
    f = fit[rows]
    pricing_mult = np.exp(0.4 * f)
    total = (
        _ALPHA.sum()
        + level * (_BETA.sum() - _BETA[PRICING] + _BETA[PRICING] * pricing_mult)
        + level**2 * (_GAMMA.sum() - _GAMMA[PRICING] + _GAMMA[PRICING] * pricing_mult)
        + demo_request_rate(level, f)
        + _UNSUB_BASE * np.exp(-1.5 * level) * np.where(f < -0.5, 2.0, 1.0)
    ) * day_factor[cols]
    counts = rng.poisson(total)
    cell = np.repeat(np.arange(len(counts)), counts)
    ev_contact = rows[cell]
    ev_day = cols[cell]
    ev_level = level[cell]
    rates = _type_rates(ev_level, fit[ev_contact])
    cdf = np.cumsum(rates, axis=1)
    draw = rng.random(len(cell)) * cdf[:, -1]
    ev_type = np.minimum((cdf < draw[:, None]).sum(axis=1), len(EVENT_TYPES) - 1).astype(np.int64)
    ev_sec = ev_day * SECONDS_PER_DAY + _hour_offsets(rng, len(cell))
    # on the creation day, events happen after the contact was created
    early = ev_sec < created_sec[ev_contact]
    lo = created_sec[ev_contact][early]
    day_end = (ev_day[early] + 1) * SECONDS_PER_DAY
    ev_sec[early] = lo + 1 + (rng.random(int(early.sum())) * (day_end - lo - 1)).astype(np.int64)

    # creation events: the form, download or registration that made the contact a lead
    first_codes = np.array([-1 if e is None else _T[e] for e in first_event], dtype=np.int64)
    has_first = np.flatnonzero(first_codes >= 0)
    ev_contact = np.concatenate([ev_contact, has_first])
    ev_sec = np.concatenate([ev_sec, created_sec[has_first]])
    ev_type = np.concatenate([ev_type, first_codes[has_first]])
    ev_level = np.concatenate([ev_level, intent.grid[has_first, intent.created_day[has_first]]])

    # webinar attendance (40-60 % of registrations, a few days later)
    reg = np.flatnonzero(ev_type == REGISTER)
    webinar = rng.integers(0, len(vocab.WEBINARS), len(reg))
    attend = rng.random(len(reg)) < 0.4 + 0.2 * sigmoid(ev_level[reg] - 1.0)
    att_day = ev_sec[reg] // SECONDS_PER_DAY + rng.integers(1, 15, len(reg))
    att_sec = att_day * SECONDS_PER_DAY + rng.choice([10, 14, 16], len(reg)) * 3600
    att_sec += rng.integers(0, 600, len(reg))
    att = attend & (att_sec < end_sec)

    # bots: hundreds of hits within one hour, a few contacts, no link to intent
    bots = np.flatnonzero(rng.random(n) < _BOT_RATE)
    episodes = rng.integers(1, 4, len(bots))
    bot_contact = np.repeat(bots, episodes)
    bot_day = intent.created_day[bot_contact] + (
        rng.random(len(bot_contact)) * (n_days - intent.created_day[bot_contact])
    ).astype(np.int64)
    bot_hour = bot_day * SECONDS_PER_DAY + rng.integers(0, 24, len(bot_contact)) * 3600
    hits = rng.integers(100, 500, len(bot_contact))
    hit_contact = np.repeat(bot_contact, hits)
    hit_sec = np.repeat(bot_hour, hits) + rng.integers(0, 3600, int(hits.sum()))
    hit_type = np.where(rng.random(len(hit_sec)) < 0.05, PRICING, WEB)

    n_main = len(ev_type)
    contact = np.concatenate([ev_contact, ev_contact[reg][att], hit_contact])
    sec = np.concatenate([ev_sec, att_sec[att], hit_sec]).astype(np.int64)
    etype = np.concatenate([ev_type, np.full(int(att.sum()), ATTEND), hit_type]).astype(np.int64)
    level_all = np.concatenate([ev_level, np.zeros(int(att.sum()) + len(hit_sec))])
    bot_flag = np.zeros(len(sec), dtype=bool)
    bot_flag[n_main + int(att.sum()) :] = True

    # properties
    m = len(sec)
    url = np.full(m, -1, dtype=np.int64)
    category = np.full(m, -1, dtype=np.int64)
    campaign = np.full(m, -1, dtype=np.int64)
    asset = np.full(m, -1, dtype=np.int64)
    web = np.flatnonzero(etype == WEB)
    w = np.broadcast_to(_WEB_CAT_W, (len(web), len(_WEB_CATS))).copy()
    w[:, _PRODUCT] *= 1.0 + np.minimum(level_all[web], 3.0)
    w[bot_flag[web]] = 1.0
    wcdf = np.cumsum(w, axis=1)
    cat = np.minimum(
        (wcdf < (rng.random(len(web)) * wcdf[:, -1])[:, None]).sum(axis=1), len(_WEB_CATS) - 1
    )
    page_lists = [vocab.WEB_PAGES[c] for c in _WEB_CATS]
    pick = rng.integers(0, 1 << 30, len(web))
    url_table = np.full((len(_WEB_CATS), max(len(p) for p in page_lists)), -1, dtype=np.int64)
    for ci, pages in enumerate(page_lists):
        url_table[ci, : len(pages)] = [_URL[p] for p in pages]
    sizes = np.array([len(p) for p in page_lists])
    url[web] = url_table[cat, pick % sizes[cat]]
    category[web] = cat

    def fixed(kind: int, pages: tuple[str, ...], cat_name: str, probs: list[float]) -> None:
        idx = np.flatnonzero(etype == kind)
        choice = rng.choice(len(pages), len(idx), p=probs)
        url[idx] = np.array([_URL[p] for p in pages])[choice]
        category[idx] = _CAT[cat_name]

    fixed(PRICING, vocab.PRICING_PAGES, "pricing", [0.7, 0.2, 0.1])
    fixed(DEMO, vocab.DEMO_PAGES, "demo", [0.6, 0.2, 0.2])
    fixed(FORM, vocab.FORM_PAGES, "form", [0.4, 0.3, 0.2, 0.1])
    chat = np.flatnonzero(etype == CHAT)
    chat_choice = rng.choice(3, len(chat), p=[0.45, 0.3, 0.25])
    url[chat] = np.array([_URL[p] for p in vocab.CHAT_PAGES])[chat_choice]
    category[chat] = np.array([_CAT["pricing"], _CAT["home"], _CAT["product"]])[chat_choice]

    dl = np.flatnonzero(etype == DOWNLOAD)
    res = rng.integers(0, len(vocab.RESOURCES), len(dl))
    asset[dl] = res
    url[dl] = _URL["/resources/1"] + res
    category[dl] = _CAT["resources"]
    asset[reg] = len(vocab.RESOURCES) + webinar  # registrations are the rows `reg`
    url[reg] = _URL["/webinars/1"] + webinar
    category[reg] = _CAT["webinar"]
    att_rows = np.flatnonzero(etype == ATTEND)
    asset[att_rows] = len(vocab.RESOURCES) + webinar[att]

    mail = np.flatnonzero(np.isin(etype, _EMAIL))
    month = _month_index(sec[mail], start)
    campaign[mail] = month * len(vocab.EMAIL_THEMES) + rng.integers(
        0, len(vocab.EMAIL_THEMES), len(mail)
    )

    # keep what happened inside the period, after creation
    keep = (sec < end_sec) & (sec >= created_sec[contact])
    order = np.lexsort((etype, sec, contact))
    order = order[keep[order]]
    contact, sec, etype = contact[order], sec[order], etype[order]
    url, category, campaign, asset = url[order], category[order], campaign[order], asset[order]

    # an unsubscribe stops email events
    first_unsub = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    is_unsub = etype == UNSUB
    np.minimum.at(first_unsub, contact[is_unsub], sec[is_unsub])
    unsub_rows = np.flatnonzero(is_unsub)
    _, first_rows = np.unique(contact[unsub_rows], return_index=True)
    later_unsub = is_unsub.copy()
    later_unsub[unsub_rows[first_rows]] = False
    drop = (np.isin(etype, _EMAIL) & (sec > first_unsub[contact])) | later_unsub
    # duplicates: the same event recorded twice (sync glitches)
    repeat = np.where(~drop, 1 + (rng.random(len(sec)) < _DUPLICATE_RATE), 0)
    return BlockEvents(
        contact=np.repeat(contact, repeat),
        sec=np.repeat(sec, repeat),
        event_type=np.repeat(etype, repeat),
        url=np.repeat(url, repeat),
        category=np.repeat(category, repeat),
        campaign=np.repeat(campaign, repeat),
        asset=np.repeat(asset, repeat),
        bots=bots.astype(np.int64),
    )


def _month_index(sec: IntArray, start: datetime) -> IntArray:
    """Months since the start month for seconds since ``start``."""
    base = np.datetime64(start, "s")
    stamps = base + sec.astype("timedelta64[s]")
    months = stamps.astype("datetime64[M]").astype(np.int64)
    return np.asarray(months - np.datetime64(start, "M").astype(np.int64), dtype=np.int64)
