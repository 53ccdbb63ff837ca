"""The oracle as computed before the speed-up (leadscore b8fc6dc), kept as the reference that
benchmarks/oracle.py times and checks the package against: every cutoff, every row, every Monte
Carlo draw computed on its own (np.add.at). Since generator version 2 it simulates hand-raises
too, the plain way: every draw's hand-raise days drawn and applied on their own."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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
    """The oracle of one generated CRM: per-contact latent state, bursts, and run metadata."""

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
) -> pd.DataFrame:
    """True ``p_sql`` and ``p_meeting`` in ``(cutoff, cutoff + horizon_days]`` per contact.

    Rows: contacts created before the cutoff, not disqualified and without a meeting at the
    cutoff. ``p_sql`` is NaN for contacts already SQL at the cutoff (they only count for
    ``p_meeting``). Columns: ``contact_id, cutoff, p_sql, p_meeting``.
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
    raise_day = _days(tables.hand_raises["raised_at"], start)
    times = {c: _days(contacts[c], start) for c in _TIME_COLUMNS}
    fit = contacts["fit"].to_numpy(dtype=float)
    log_decay = -math.log(2.0) / contacts["half_life_days"].to_numpy(dtype=float)
    end_day = (end - start).total_seconds() / SECONDS_PER_DAY
    n_days = math.ceil(end_day)

    frames = []
    for k, cutoff in enumerate(cutoffs):
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
            prior = np.full(len(contacts), -np.inf)
            early = raise_day < math.floor(c)
            np.maximum.at(prior, raise_contact[early], np.floor(raise_day[early]))
            on_cut = np.zeros(len(contacts), dtype=bool)
            on_cut[raise_contact[(raise_day >= math.floor(c)) & (raise_day < c)]] = True
            p_sql[open_], p_meet[open_] = _open_contacts(
                open_, c, hi, n_days, start, fit, log_decay, times["dormant_at"],
                burst_contact, burst_day, amplitude, n_draws, rng,
                np.where(np.isfinite(prior), prior, np.nan)[open_], on_cut[open_],
            )  # fmt: skip
            sql_day = np.floor(times["sql_at"])
            before_sql = np.full(len(contacts), -np.inf)
            ahead = raise_day < sql_day[raise_contact]
            np.maximum.at(before_sql, raise_contact[ahead], np.floor(raise_day[ahead]))
            p_meet[sql_done] = _sql_contacts(
                sql_done, c, hi, start, fit, log_decay, times["sql_at"],
                burst_contact, burst_day, amplitude,
                np.where(np.isfinite(before_sql), before_sql, np.nan)[sql_done],
            )  # fmt: skip
        else:
            p_sql[open_], p_meet[open_], p_meet[sql_done] = 0.0, 0.0, 0.0
        rows = np.sort(np.concatenate([open_, sql_done]))
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
    n_draws: int,
    rng: np.random.Generator,
    prior_all: FloatArray,
    on_cut_all: np.ndarray,
) -> tuple[FloatArray, FloatArray]:
    """(p_sql, p_meeting) of not-yet-SQL contacts by Monte Carlo over future bursts and
    hand-raises (``prior_all``: the latest hand-raise day before the cut day; ``on_cut_all``:
    one on the cut day before the cutoff)."""
    days = np.arange(math.floor(c), min(math.ceil(hi), n_days), dtype=np.int64)
    weight = _overlap(days, c, hi)
    wk = hazard_weekday_factor(days, start)
    exposure = np.where(weekday_of_day(days, start) >= 5, EVENT_WEEKEND_FACTOR, 1.0)
    exposure = exposure * _overlap(days, c, np.inf)
    first_future = math.ceil(c)
    future_day = days >= first_future
    # probability that a meeting following an SQL on day d falls inside the window
    delays = np.arange(MEETING_DELAY[0], MEETING_DELAY[1] + 1, dtype=np.int64)
    m_days = meeting_day(np.repeat(days, len(delays)), np.tile(delays, len(days)), start)
    meet_in = _overlap(m_days, c, hi).reshape(len(days), len(delays)).mean(axis=1)

    p_sql = np.zeros(len(idx))
    p_meet = np.zeros(len(idx))
    dormant = np.nan_to_num(dormant_all[idx], nan=np.inf) < c
    for random_part in (False, True):
        group = np.flatnonzero(dormant != random_part)
        draws = n_draws if random_part else 1
        batch = max(1, _CELLS_PER_BATCH // (draws * max(len(days), 1)))
        for lo in range(0, len(group), batch):
            sel = group[lo : lo + batch]
            ids = idx[sel]
            n = len(ids)
            fit = fit_all[ids]
            log_decay = log_decay_all[ids]
            rows, owner = _bursts_of(ids, burst_contact, burst_day, np.full(n, c))
            intent = _known_intent(
                owner, burst_day[rows], amplitude[rows], log_decay, days.astype(float), n
            )[:, None, :]
            raised = np.zeros((n, 1, len(days)), dtype=bool)
            raised[:, :, 0] = on_cut_all[sel][:, None]
            if random_part:
                t_dorm = first_future + rng.geometric(DORMANCY_HAZARD, (n, draws)) - 1
                allowed = future_day[None, None, :] & (days[None, None, :] < t_dorm[:, :, None])
                counts = rng.poisson(burst_rate(fit)[:, None, None], (n, draws, len(days)))
                counts = np.where(allowed, counts, 0)
                flat = np.flatnonzero(counts)
                reps = counts.ravel()[flat]
                impulses = np.zeros(counts.size)
                np.add.at(impulses, np.repeat(flat, reps), draw_amplitudes(rng, int(reps.sum())))
                future = decayed_sum(impulses.reshape(counts.shape), log_decay[:, None, None])
                intent = intent + future
                uniforms = rng.random(counts.shape)
                rate = demo_request_rate(intent, fit[:, None, None]) * exposure
                sampled = (uniforms < 1.0 - np.exp(-rate)) & (
                    days[None, None, :] < t_dorm[..., None]
                )
                raised = raised | sampled
            prior = np.broadcast_to(prior_all[sel][:, None], raised.shape[:2])
            age = days - last_raise_day(raised, days, prior)
            boost = hand_raise_boost(age, fit[:, None, None])
            h = sql_hazard(fit[:, None, None], intent, wk[None, None, :], boost) * weight
            q = (dq_hazard(fit)[:, None, None] * wk[None, None, :]) * weight
            survive = np.cumprod((1.0 - h) * (1.0 - q), axis=-1)
            alive = np.concatenate([np.ones((n, survive.shape[1], 1)), survive[..., :-1]], -1)
            sql_today = alive * h
            p_sql[sel] = sql_today.sum(axis=-1).mean(axis=-1)
            p_m = meeting_probability(fit[:, None, None], intent, boost)
            p_meet[sel] = (sql_today * p_m * meet_in).sum(axis=-1).mean(axis=-1)
    return p_sql, p_meet


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
    raised_before: FloatArray,
) -> FloatArray:
    """p_meeting of contacts already SQL at the cutoff, without meeting nor disqualification
    (``raised_before``: their latest hand-raise day before the SQL day)."""
    if len(idx) == 0:
        return np.zeros(0)
    s = np.floor(sql_all[idx]).astype(np.int64)
    rows, owner = _bursts_of(idx, burst_contact, burst_day, s.astype(np.float64) + 0.5)
    age = s[owner] - burst_day[rows]
    weights = amplitude[rows] * np.exp(log_decay_all[idx][owner] * age)
    intent = np.asarray(np.bincount(owner, weights=weights, minlength=len(idx)), dtype=np.float64)
    boost = hand_raise_boost(s - raised_before, fit_all[idx])
    pm = meeting_probability(fit_all[idx], intent, boost)
    delays = np.arange(MEETING_DELAY[0], MEETING_DELAY[1] + 1, dtype=np.int64)
    m_days = meeting_day(np.repeat(s, len(delays)), np.tile(delays, len(s)), start)
    m_after = _overlap(m_days, c, np.inf).reshape(len(s), -1).mean(axis=1)
    m_in = _overlap(m_days, c, hi).reshape(len(s), -1).mean(axis=1)
    dq_delays = np.arange(POST_SQL_DQ_DELAY[0], POST_SQL_DQ_DELAY[1] + 1, dtype=np.int64)
    dq_days = (s[:, None] + dq_delays[None, :]).ravel()
    dq_after = _overlap(dq_days, c, np.inf).reshape(len(s), -1).mean(axis=1)
    unseen = pm * m_after + (1.0 - pm) * ((1.0 - POST_SQL_DQ_PROB) + POST_SQL_DQ_PROB * dq_after)
    return np.asarray(np.where(unseen > 0, pm * m_in / np.maximum(unseen, 1e-300), 0.0))
