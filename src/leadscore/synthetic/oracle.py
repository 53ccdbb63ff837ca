"""The oracle: the best possible prediction, from the latent truth the generator used.

For a cutoff and a horizon, :func:`true_probabilities` gives each eligible contact's probability
of becoming SQL (and of booking a meeting) in ``(cutoff, cutoff + horizon]`` given everything
latent that is known at the cutoff: the fit, the bursts started before the cutoff, whether the
contact already went dormant, the hand-raises made before the cutoff, and the stages reached.
Randomness after the cutoff (future bursts, dormancy, future hand-raises, the daily
SQL/disqualification draws, the meeting draw and delay) is integrated: future bursts and future
hand-raises (each active day, given the path's intent) by a vectorised Monte Carlo with a fixed
seed, the rest in closed form per draw.

Exact for cutoffs at midnight (the daily grid); for other cutoffs the cut day is weighted by the
part of it inside the window, and so is its chance of a hand-raise after the cutoff (a close
approximation). Windows are cut at the data's ``end``.

``only`` restricts the work to the (contact, cutoff) rows a caller needs (training needs the
test period's): other cutoffs are skipped and other contacts are not computed, but every
random draw is still made in the same order (each cutoff keeps its own stream, keyed by its
position in ``cutoffs``), so each value equals the full computation's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd

from leadscore.errors import ArtifactError, ConfigError, SourceError
from leadscore.sql import quote_literal
from leadscore.synthetic.params import (
    DORMANCY_HAZARD,
    EVENT_WEEKEND_FACTOR,
    GENERATOR_VERSION,
    MEETING_DELAY,
    POST_SQL_DQ_DELAY,
    POST_SQL_DQ_PROB,
    SECONDS_PER_DAY,
    FloatArray,
    IntArray,
    burst_rate,
    decayed_sum,
    demo_request_rate,
    dq_hazard,
    draw_amplitudes,
    hand_raise_boost,
    hazard_weekday_factor,
    last_raise_day,
    meeting_day,
    meeting_probability,
    sql_hazard,
    weekday_of_day,
)
from leadscore.synthetic.writer import ORACLE_FOLDER, ORACLE_SCHEMA

__all__ = ["OracleTables", "load_oracle", "true_probabilities"]

_CELLS_PER_BATCH = 3_000_000
_TIME_COLUMNS = (
    "created_at", "dormant_at", "mql_at", "sql_at", "meeting_at", "customer_at", "disqualified_at",
)  # fmt: skip


@dataclass(frozen=True)
class OracleTables:
    """The oracle of one generated CRM: per-contact latent state, bursts, hand-raises (the first
    ``demo_request`` of each contact-day) and run metadata."""

    contacts: pd.DataFrame
    bursts: pd.DataFrame
    meta: dict[str, str]
    hand_raises: pd.DataFrame

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.meta["start"])

    @property
    def end(self) -> datetime:
        return datetime.fromisoformat(self.meta["end"])


def _read(con: Any, path: Path, table: str) -> pd.DataFrame:
    folder = path / ORACLE_FOLDER
    if path.is_dir():
        csv = folder / f"{table}.csv"
        if csv.exists():
            df: pd.DataFrame = con.sql(
                f"SELECT * FROM read_csv({quote_literal(csv)}, header=true, all_varchar=true)"
            ).df()
            return df
        if (folder / table).is_dir():
            df = con.sql(
                f"SELECT * FROM read_parquet({quote_literal(folder / table / '*.parquet')})"
            ).df()
            return df
        raise SourceError(f"No oracle table {table!r} under {folder}: generate the data again.")
    df = con.sql(f"SELECT * FROM {ORACLE_SCHEMA}.{table}").df()
    return df


def load_oracle(path: Path | str) -> OracleTables:
    """Read the oracle written next to a generated CRM (DuckDB file or output folder)."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"No generated CRM at {path}.")
    try:
        con = duckdb.connect(str(path), read_only=True) if path.is_file() else duckdb.connect()
        try:
            meta_df = _read(con, path, "meta")
            contacts = _read(con, path, "contacts")
            bursts = _read(con, path, "bursts")
            found = meta_df.loc[meta_df["key"] == "generator_version", "value"].astype(str)
            if list(found) != [GENERATOR_VERSION]:  # older oracles lack the hand-raises
                raise ArtifactError(
                    f"The oracle of {path} was written by generator version "
                    f"{found.iloc[0] if len(found) else None!r} but this is version "
                    f"{GENERATOR_VERSION!r}: generate the data again."
                )
            hand_raises = _read(con, path, "hand_raises")
        finally:
            con.close()
    except duckdb.Error as exc:
        raise SourceError(f"Cannot read the oracle of {path}: {exc}") from exc
    meta = dict(zip(meta_df["key"].astype(str), meta_df["value"].astype(str), strict=True))
    for column in _TIME_COLUMNS:
        contacts[column] = pd.to_datetime(contacts[column])
    for column in ("fit", "burst_rate", "half_life_days"):
        contacts[column] = contacts[column].astype(float)
    if "is_bot" in contacts:  # CSV reads it as text; older CRMs lack it
        contacts["is_bot"] = contacts["is_bot"].astype(str).str.lower().isin(["true", "1"])
    bursts["burst_at"] = pd.to_datetime(bursts["burst_at"])
    bursts["amplitude"] = bursts["amplitude"].astype(float)
    hand_raises["raised_at"] = pd.to_datetime(hand_raises["raised_at"])
    return OracleTables(contacts=contacts, bursts=bursts, meta=meta, hand_raises=hand_raises)


def _days(values: pd.Series, start: datetime) -> FloatArray:
    """Timestamps as (fractional) days since ``start``; NaN for missing."""
    delta = (pd.to_datetime(values) - pd.Timestamp(start)).dt.total_seconds()
    return np.asarray(delta.to_numpy(dtype=float, na_value=np.nan) / SECONDS_PER_DAY)


def _overlap(days: IntArray, lo: float, hi: float) -> FloatArray:
    """Part of each grid day ``[d, d + 1)`` inside ``(lo, hi]``."""
    return np.asarray(np.clip(np.minimum(days + 1.0, hi) - np.maximum(days, lo), 0.0, 1.0))


def _known_intent(
    contact_pos: IntArray,
    burst_day: FloatArray,
    amplitude: FloatArray,
    log_decay: FloatArray,
    days: FloatArray,
    n: int,
) -> FloatArray:
    """Intent on ``days`` (per contact) from the given bursts only; shape (n, len(days))."""
    age = days[None, :] - burst_day[:, None]
    contrib = np.where(
        age >= 0,
        amplitude[:, None] * np.exp(log_decay[contact_pos][:, None] * np.maximum(age, 0)),
        0.0,
    )
    out = np.zeros((n, len(days)))
    np.add.at(out, contact_pos, contrib)
    return out


def true_probabilities(
    oracle: OracleTables | Path | str,
    cutoffs: Sequence[datetime],
    horizon_days: int,
    *,
    n_draws: int = 128,
    seed: int = 0,
    only: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """True ``p_sql`` and ``p_meeting`` in ``(cutoff, cutoff + horizon_days]`` per contact.

    Rows: contacts created before the cutoff, not disqualified and without a meeting at the
    cutoff. ``p_sql`` is NaN for contacts already SQL at the cutoff (they only count for
    ``p_meeting``). Columns: ``contact_id, cutoff, p_sql, p_meeting``. ``only`` (columns
    ``contact_id, cutoff``): the rows wanted, among those; the values are the same as without it
    (see the module doc), the work is only theirs.
    """
    tables = oracle if isinstance(oracle, OracleTables) else load_oracle(oracle)
    if tables.meta.get("generator_version") != GENERATOR_VERSION:
        raise ArtifactError(
            f"The oracle was written by generator version {tables.meta.get('generator_version')!r}"
            f" but this is version {GENERATOR_VERSION!r}: generate the data again."
        )
    if horizon_days < 1:
        raise ConfigError(f"horizon_days must be >= 1, got {horizon_days}.")
    if n_draws < 1:
        raise ConfigError(f"n_draws must be >= 1, got {n_draws}.")
    start, end = tables.start, tables.end
    contacts = tables.contacts.reset_index(drop=True)
    pos = {cid: i for i, cid in enumerate(contacts["contact_id"])}
    burst_contact = tables.bursts["contact_id"].map(pos).to_numpy(dtype=np.int64)
    burst_day = _days(tables.bursts["burst_at"], start)
    amplitude = tables.bursts["amplitude"].to_numpy(dtype=float)
    order = np.argsort(burst_contact, kind="stable")
    burst_contact, burst_day, amplitude = burst_contact[order], burst_day[order], amplitude[order]
    raise_contact = tables.hand_raises["contact_id"].map(pos).to_numpy(dtype=np.int64)
    raise_at = _days(tables.hand_raises["raised_at"], start)
    order = np.lexsort((raise_at, raise_contact))
    raises = _Raises(raise_contact[order], raise_at[order])
    times = {c: _days(contacts[c], start) for c in _TIME_COLUMNS}
    fit = contacts["fit"].to_numpy(dtype=float)
    log_decay = -math.log(2.0) / contacts["half_life_days"].to_numpy(dtype=float)
    end_day = (end - start).total_seconds() / SECONDS_PER_DAY
    n_days = math.ceil(end_day)
    wanted = _wanted(only, pos) if only is not None else None

    frames = []
    for k, cutoff in enumerate(cutoffs):
        need = None
        if wanted is not None:
            need = wanted.get(pd.Timestamp(cutoff))
            if need is None:
                continue
        c = (cutoff - start).total_seconds() / SECONDS_PER_DAY
        hi = min(c + horizon_days, end_day)

        def before(column: str, c: float = c) -> np.ndarray:
            return np.asarray(times[column] <= c)

        base = (times["created_at"] < c) & ~before("disqualified_at") & ~before("meeting_at")
        base &= ~before("customer_at")
        already_sql = base & before("sql_at")
        open_ = np.flatnonzero(base & ~already_sql)
        sql_done = np.flatnonzero(already_sql)
        p_sql = np.full(len(contacts), np.nan)
        p_meet = np.full(len(contacts), np.nan)
        if hi > c:
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
            p_sql[open_], p_meet[open_] = _open_contacts(
                open_, c, hi, n_days, start, fit, log_decay, times["dormant_at"],
                burst_contact, burst_day, amplitude, raises, n_draws, rng,
                None if need is None else need[open_],
            )  # fmt: skip
            if need is not None:
                sql_done = sql_done[need[sql_done]]
            p_meet[sql_done] = _sql_contacts(
                sql_done, c, hi, start, fit, log_decay, times["sql_at"],
                burst_contact, burst_day, amplitude, raises,
            )  # fmt: skip
        else:
            p_sql[open_], p_meet[open_], p_meet[sql_done] = 0.0, 0.0, 0.0
        rows = np.sort(np.concatenate([open_, sql_done]))
        if need is not None:
            rows = rows[need[rows]]
        frames.append(
            pd.DataFrame(
                {
                    "contact_id": contacts["contact_id"].to_numpy()[rows],
                    "cutoff": pd.Timestamp(cutoff),
                    "p_sql": p_sql[rows],
                    "p_meeting": p_meet[rows],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["contact_id", "cutoff", "p_sql", "p_meeting"])
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class _Raises:
    """Hand-raises as (contact position, fractional day), sorted by contact then time."""

    contact: IntArray
    day: FloatArray

    def _rows(self, idx: IntArray) -> tuple[IntArray, FloatArray]:
        """The hand-raises of contacts ``idx``: their position in ``idx`` and their day."""
        lo = np.searchsorted(self.contact, idx, side="left")
        hi = np.searchsorted(self.contact, idx, side="right")
        counts = hi - lo
        owner = np.repeat(np.arange(len(idx)), counts)
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return owner, self.day[rows]

    def latest_before(self, idx: IntArray, day_limit: IntArray) -> FloatArray:
        """Per contact of ``idx``: its latest hand-raise day before grid day ``day_limit``
        (NaN: none)."""
        owner, day = self._rows(idx)
        latest = np.full(len(idx), -np.inf)
        early = day < day_limit[owner]
        np.maximum.at(latest, owner[early], np.floor(day[early]))
        return np.where(np.isfinite(latest), latest, np.nan)

    def known(self, idx: IntArray, c: float) -> tuple[FloatArray, np.ndarray]:
        """Per contact of ``idx``, before cutoff ``c``: the latest hand-raise day before the cut
        day ``floor(c)`` (NaN: none) and whether one happened on the cut day (before ``c``)."""
        cut = math.floor(c)
        prior = self.latest_before(idx, np.full(len(idx), cut, dtype=np.int64))
        owner, day = self._rows(idx)
        on_cut = np.zeros(len(idx), dtype=bool)
        on_cut[owner[(day >= cut) & (day < c)]] = True
        return prior, on_cut


def _wanted(only: pd.DataFrame, pos: dict[Any, int]) -> dict[pd.Timestamp, np.ndarray]:
    """Per cutoff, a mask over the oracle's contacts of the rows ``only`` asks for."""
    cutoffs = pd.to_datetime(only["cutoff"])
    index = only["contact_id"].map(pos)
    out: dict[pd.Timestamp, np.ndarray] = {}
    for cutoff, rows in index.groupby(cutoffs.to_numpy()):
        mask = np.zeros(len(pos), dtype=bool)
        mask[rows.dropna().to_numpy(dtype=np.int64)] = True
        out[pd.Timestamp(cast(Any, cutoff))] = mask
    return out


def _bursts_of(
    idx: IntArray, burst_contact: IntArray, burst_day: FloatArray, limit: FloatArray
) -> tuple[IntArray, IntArray]:
    """Rows of the bursts of contacts ``idx`` with ``burst_day < limit[contact]`` and their
    position in ``idx``."""
    lo = np.searchsorted(burst_contact, idx, side="left")
    hi = np.searchsorted(burst_contact, idx, side="right")
    counts = hi - lo
    owner = np.repeat(np.arange(len(idx)), counts)
    rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    keep = burst_day[rows] < limit[owner]
    return rows[keep], owner[keep]


def _open_contacts(
    idx: IntArray,
    c: float,
    hi: float,
    n_days: int,
    start: datetime,
    fit_all: FloatArray,
    log_decay_all: FloatArray,
    dormant_all: FloatArray,
    burst_contact: IntArray,
    burst_day: FloatArray,
    amplitude: FloatArray,
    raises: _Raises,
    n_draws: int,
    rng: np.random.Generator,
    need: np.ndarray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(p_sql, p_meeting) of not-yet-SQL contacts by Monte Carlo over future bursts and
    hand-raises; with ``need`` (a mask over ``idx``), only those contacts' (the others stay 0),
    every random draw still made as without it."""
    days = np.arange(math.floor(c), min(math.ceil(hi), n_days), dtype=np.int64)
    weight = _overlap(days, c, hi)
    wk = hazard_weekday_factor(days, start)
    # exposure to a hand-raise: the events' weekday factor; on the cut day, its part after c
    exposure = np.where(weekday_of_day(days, start) >= 5, EVENT_WEEKEND_FACTOR, 1.0)
    exposure = exposure * _overlap(days, c, np.inf)
    first_future = math.ceil(c)
    future_day = days >= first_future
    # probability that a meeting following an SQL on day d falls inside the window
    delays = np.arange(MEETING_DELAY[0], MEETING_DELAY[1] + 1, dtype=np.int64)
    m_days = meeting_day(np.repeat(days, len(delays)), np.tile(delays, len(days)), start)
    meet_in = _overlap(m_days, c, hi).reshape(len(days), len(delays)).mean(axis=1)
    prior_all, on_cut_all = raises.known(idx, c)

    p_sql = np.zeros(len(idx))
    p_meet = np.zeros(len(idx))
    dormant = np.nan_to_num(dormant_all[idx], nan=np.inf) < c
    for random_part in (False, True):
        group = np.flatnonzero(dormant != random_part)
        if need is not None and not random_part:
            group = group[need[group]]  # no random draws here: skip the unwanted
        draws = n_draws if random_part else 1
        batch = max(1, _CELLS_PER_BATCH // (draws * max(len(days), 1)))
        for lo in range(0, len(group), batch):
            sel = group[lo : lo + batch]
            keep = None if need is None or not random_part else need[sel]
            if keep is not None and keep.all():
                keep = None
            if random_part:  # every contact's draws, in order, wanted or not
                fit_drawn = fit_all[idx[sel]]
                n_drawn = len(sel)
                t_dorm = first_future + rng.geometric(DORMANCY_HAZARD, (n_drawn, draws)) - 1
                active = days[None, None, :] < t_dorm[:, :, None]
                allowed = future_day[None, None, :] & active
                shape = (n_drawn, draws, len(days))
                counts = rng.poisson(burst_rate(fit_drawn)[:, None, None], shape)
                counts = np.where(allowed, counts, 0)
                flat = np.flatnonzero(counts)
                reps = counts.ravel()[flat]
                amplitudes = draw_amplitudes(rng, int(reps.sum()))
                # the same sums as np.add.at (in order, from 0), without its per-item overhead
                summed = np.bincount(
                    np.repeat(flat, reps), weights=amplitudes, minlength=counts.size
                )
                impulses = np.asarray(summed, dtype=np.float64).reshape(shape)
                uniforms = rng.random(shape)  # hand-raise draws, day by day
                if keep is not None:
                    sel, impulses = sel[keep], impulses[keep]
                    uniforms, active = uniforms[keep], active[keep]
            ids = idx[sel]
            n = len(ids)
            if n == 0:
                continue
            fit = fit_all[ids]
            log_decay = log_decay_all[ids]
            rows, owner = _bursts_of(ids, burst_contact, burst_day, np.full(n, c))
            known = _known_intent(
                owner, burst_day[rows], amplitude[rows], log_decay, days.astype(float), n
            )
            prior = prior_all[sel]
            known_raised = np.zeros((n, len(days)), dtype=bool)
            known_raised[:, 0] = on_cut_all[sel]
            base = _window_sums(
                fit, known, wk, weight, meet_in, _boost(known_raised, days, prior, fit)
            )
            if not random_part:
                p_sql[sel], p_meet[sel] = base
                continue
            # a draw without a future burst nor a future hand-raise in the window follows the
            # known path: its sums are the contact's base ones, computed once, not per draw
            sums = [np.repeat(b[:, None], draws, axis=1) for b in base]
            bursty = impulses.any(axis=-1)
            row_b, draw_b = np.nonzero(bursty)
            future_b = decayed_sum(impulses[row_b, draw_b], log_decay[row_b][:, None])
            p_known = 1.0 - np.exp(-demo_request_rate(known, fit[:, None]) * exposure)
            raised = uniforms < p_known[:, None, :]
            if len(row_b):
                p_b = demo_request_rate(known[row_b] + future_b, fit[row_b][:, None])
                raised[row_b, draw_b] = uniforms[row_b, draw_b] < 1.0 - np.exp(-p_b * exposure)
            raised &= active
            # a hand-raise on the window's last day moves nothing inside it
            row, draw = np.nonzero(bursty | raised[..., :-1].any(axis=-1))
            if len(row):
                where_b = np.full(bursty.shape, -1, dtype=np.int64)
                where_b[row_b, draw_b] = np.arange(len(row_b))
                intent = known[row].copy()
                has_b = where_b[row, draw] >= 0
                intent[has_b] += future_b[where_b[row, draw][has_b]]
                path_raised = raised[row, draw] | known_raised[row]
                boost = _boost(path_raised, days, prior[row], fit[row])
                part = _window_sums(fit[row], intent, wk, weight, meet_in, boost)
                for total, value in zip(sums, part, strict=True):
                    total[row, draw] = value
            p_sql[sel], p_meet[sel] = (total.mean(axis=-1) for total in sums)
    return p_sql, p_meet


def _boost(raised: np.ndarray, days: IntArray, prior: FloatArray, fit: FloatArray) -> FloatArray:
    """The hand-raise term of each path (rows of ``raised`` on ``days``; the latest hand-raise
    before them: ``prior``) on each day."""
    age = days[None, :] - last_raise_day(raised, days, prior)
    return hand_raise_boost(age, fit[:, None])


def _window_sums(
    fit: FloatArray,
    intent: FloatArray,
    wk: FloatArray,
    weight: FloatArray,
    meet_in: FloatArray,
    boost: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Per path (a row of ``intent`` and ``boost`` over the window's days; ``fit`` per row): the
    probability of becoming SQL in the window, and of an SQL there whose meeting falls inside
    it."""
    h = sql_hazard(fit[:, None], intent, wk[None, :], boost) * weight
    q = (dq_hazard(fit)[:, None] * wk[None, :]) * weight
    survive = np.cumprod((1.0 - h) * (1.0 - q), axis=-1)
    alive = np.concatenate([np.ones((len(fit), 1)), survive[:, :-1]], -1)
    sql_today = alive * h
    p_m = meeting_probability(fit[:, None], intent, boost)
    return sql_today.sum(axis=-1), (sql_today * p_m * meet_in).sum(axis=-1)


def _sql_contacts(
    idx: IntArray,
    c: float,
    hi: float,
    start: datetime,
    fit_all: FloatArray,
    log_decay_all: FloatArray,
    sql_all: FloatArray,
    burst_contact: IntArray,
    burst_day: FloatArray,
    amplitude: FloatArray,
    raises: _Raises,
) -> FloatArray:
    """p_meeting of contacts already SQL at the cutoff, without meeting nor disqualification."""
    if len(idx) == 0:
        return np.zeros(0)
    s = np.floor(sql_all[idx]).astype(np.int64)
    rows, owner = _bursts_of(idx, burst_contact, burst_day, s.astype(np.float64) + 0.5)
    age = s[owner] - burst_day[rows]
    weights = amplitude[rows] * np.exp(log_decay_all[idx][owner] * age)
    intent = np.asarray(np.bincount(owner, weights=weights, minlength=len(idx)), dtype=np.float64)
    age = s - raises.latest_before(idx, s)
    pm = meeting_probability(fit_all[idx], intent, hand_raise_boost(age, fit_all[idx]))
    delays = np.arange(MEETING_DELAY[0], MEETING_DELAY[1] + 1, dtype=np.int64)
    m_days = meeting_day(np.repeat(s, len(delays)), np.tile(delays, len(s)), start)
    m_after = _overlap(m_days, c, np.inf).reshape(len(s), -1).mean(axis=1)
    m_in = _overlap(m_days, c, hi).reshape(len(s), -1).mean(axis=1)
    dq_delays = np.arange(POST_SQL_DQ_DELAY[0], POST_SQL_DQ_DELAY[1] + 1, dtype=np.int64)
    dq_days = (s[:, None] + dq_delays[None, :]).ravel()
    dq_after = _overlap(dq_days, c, np.inf).reshape(len(s), -1).mean(axis=1)
    unseen = pm * m_after + (1.0 - pm) * ((1.0 - POST_SQL_DQ_PROB) + POST_SQL_DQ_PROB * dq_after)
    return np.asarray(np.where(unseen > 0, pm * m_in / np.maximum(unseen, 1e-300), 0.0))
