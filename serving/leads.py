"""What the inbox shows: leads' latest scores with their trend and last verdict, one lead's
history, in words and as a sparkline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from leadscore.serving.store import SCORE_MOMENT, ScoreStore
from leadscore.serving.store_backend import StoreConnection

__all__ = [
    "TREND_POINTS",
    "InboxFilter",
    "Lead",
    "facet_values",
    "inbox_leads",
    "inbox_query",
    "last_batch_at",
    "lead_detail",
    "sparkline_points",
    "trend_text",
]

TREND_POINTS = 12
"""Scores per lead in the inbox's sparkline (newest)."""

STATUSES = ("all", "open", "accepted", "rejected")


@dataclass(frozen=True)
class InboxFilter:
    """The inbox's filters: grade, owner, segment, scored on or after ``since`` (and before
    ``until``), verdict status, page."""

    grade: str | None = None
    owner: str | None = None
    segment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str = "all"
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Lead:
    """A lead's latest score, its recent scores (oldest first) and its last verdict."""

    contact_id: str
    scored_at: datetime
    model_version: str
    p_sql: float
    grade: str
    fit_score: float | None
    engagement_score: float | None
    reasons_positive: list[str]
    reasons_negative: list[str]
    trend_p: list[float]
    trend_grades: list[str]
    trend_at: list[datetime]
    verdict: str | None
    verdict_by: str | None
    owner: str | None = None
    segment: str | None = None
    as_of: datetime | None = None
    """The moment the score describes (a batch run's ``--as-of``); ``None`` for an API score."""

    @property
    def describes_the_past(self) -> bool:
        """Scored as of another day than it was scored on (an export scored later): its
        "in the last 7 days" counts back from :attr:`as_of`, which the page must say."""
        return self.as_of is not None and self.as_of.date() != self.scored_at.date()

    @property
    def trend(self) -> str:
        return trend_text(self.trend_grades, self.trend_at)

    @property
    def sparkline(self) -> str:
        return sparkline_points(self.trend_p)


_QUERY = """
WITH r AS (
    SELECT *, {moment} AS moment, row_number() OVER (
            PARTITION BY contact_id
            ORDER BY {moment} DESC, scored_at DESC, model_version DESC) AS rn,
        array_agg(p_sql) OVER trend AS trend_p, array_agg(grade) OVER trend AS trend_grades,
        array_agg(scored_at) OVER trend AS trend_at
    FROM {visible} h {only}
    WINDOW trend AS (PARTITION BY contact_id
                     ORDER BY {moment}, scored_at, model_version
                     ROWS BETWEEN {preceding} PRECEDING AND CURRENT ROW)
),
fb AS (
    SELECT contact_id, {last_verdict} AS verdict, NULLIF({last_rep}, '') AS verdict_by
    FROM feedback GROUP BY contact_id
)
SELECT r.contact_id, r.scored_at, r.model_version, r.p_sql, r.grade, r.fit_score,
       r.engagement_score, r.reasons_positive, r.reasons_negative, r.trend_p,
       r.trend_grades, r.trend_at, fb.verdict, fb.verdict_by, r.owner, r.segment, r.as_of,
       count(*) OVER () AS total
FROM r LEFT JOIN fb USING (contact_id)
WHERE r.rn = 1 AND (?::VARCHAR IS NULL OR r.grade = ?::VARCHAR)
  AND (?::VARCHAR IS NULL OR r.owner = ?::VARCHAR)
  AND (?::VARCHAR IS NULL OR r.segment = ?::VARCHAR)
  AND (?::TIMESTAMP IS NULL OR r.scored_at >= ?::TIMESTAMP)
  AND (?::TIMESTAMP IS NULL OR r.scored_at < ?::TIMESTAMP)
  AND (?::TIMESTAMP IS NULL OR r.run_id IS NULL OR r.moment >= ?::TIMESTAMP)
  AND (? = 'all' OR (? = 'open' AND fb.verdict IS NULL) OR fb.verdict = ?)
ORDER BY r.grade{c} NULLS LAST, r.p_sql DESC NULLS LAST, r.contact_id{c}
LIMIT ? OFFSET ?
"""
"""A page of leads: each lead's latest visible score (latest by the moment it was scored as
of, then by when: a backfill run as of last month is not the current score), with its last
:data:`TREND_POINTS`
scores (oldest first) computed by a window over the same rows, so each database scans the
history once (joining a per-lead trend aggregate back to the latest rows made PostgreSQL,
which cannot estimate ``rn = 1``, re-aggregate the whole history for every lead: 19 s for
the 857 grade-A leads of the demo's 16k). NULLS LAST spelled out: PostgreSQL puts nulls
first in a descending order, DuckDB last."""


def _none(value: Any) -> Any:
    """``None`` for a missing scalar (None, NaN, NaT), else the value."""
    if value is None or (not hasattr(value, "__len__") and pd.isna(value)):
        return None
    return value


def _strings(value: Any) -> list[str]:
    return [] if _none(value) is None else [str(v) for v in value]


def _lead(row: dict[str, Any]) -> Lead:
    def floats(v: Any) -> float | None:
        v = _none(v)
        return None if v is None else float(v)

    return Lead(
        contact_id=str(row["contact_id"]),
        scored_at=pd.Timestamp(row["scored_at"]).to_pydatetime(),
        model_version=str(row["model_version"]),
        p_sql=float(row["p_sql"]),
        grade=str(row["grade"]),
        fit_score=floats(row["fit_score"]),
        engagement_score=floats(row["engagement_score"]),
        reasons_positive=_strings(row["reasons_positive"]),
        reasons_negative=_strings(row["reasons_negative"]),
        trend_p=[float(v) for v in row["trend_p"]],
        trend_grades=[str(v) for v in row["trend_grades"]],
        trend_at=[pd.Timestamp(v).to_pydatetime() for v in row["trend_at"]],
        verdict=_none(row["verdict"]),
        verdict_by=_none(row["verdict_by"]),
        owner=_none(row["owner"]),
        segment=_none(row["segment"]),
        as_of=None if _none(row["as_of"]) is None else pd.Timestamp(row["as_of"]).to_pydatetime(),
    )


def inbox_query(
    store: ScoreStore, con: StoreConnection, where: InboxFilter, contact_id: str | None = None
) -> tuple[str, list[Any]]:
    """The inbox's SQL on ``con`` and its parameters (one lead when ``contact_id`` is given)."""
    visible, params = store.visible_history_sql(con)
    only = "WHERE h.contact_id = ?" if contact_id is not None else ""
    sql = _QUERY.format(
        visible=visible,
        only=only,
        moment=SCORE_MOMENT,
        preceding=TREND_POINTS - 1,
        c=con.sql.by_code,
        last_verdict=con.sql.arg_max("verdict", "given_at"),
        last_rep=con.sql.arg_max("coalesce(rep, '')", "given_at"),  # the last verdict's
    )
    args: list[Any] = [*params, *([contact_id] if contact_id is not None else [])]
    status = where.status if where.status in STATUSES else "all"
    args += [where.grade, where.grade, where.owner, where.owner]
    args += [where.segment, where.segment, where.since, where.since, where.until, where.until]
    current = None if contact_id is not None else last_batch_at(con, visible, params)
    args += [current, current, status, status, status]
    args += [where.limit, where.offset]
    return sql, args


def last_batch_at(con: StoreConnection, visible: str, params: list[Any]) -> Any:
    """The moment the latest visible batch run scored as of (:data:`SCORE_MOMENT`; ``None``
    without a run). A lead whose latest score comes from an
    older batch run was not rescored: it left the scored population (converted,
    disqualified, stale) and leaves the inbox list; scores recorded through the API (no run)
    stay, and the lead's own page still shows it. A run as of an earlier moment (a backfilled
    monitoring cohort) is not the latest, whenever it ran."""
    row = con.execute(
        f"SELECT max({SCORE_MOMENT}) FROM {visible} h WHERE h.run_id IS NOT NULL", params
    ).fetchone()
    return None if row is None else row[0]


def _run(store: ScoreStore, where: InboxFilter, contact_id: str | None) -> tuple[list[Lead], int]:
    with store.connection(read_only=True) as con:
        sql, args = inbox_query(store, con, where, contact_id)
        frame = con.execute(sql, args).df()
    rows: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
    total = int(rows[0]["total"]) if rows else 0
    return [_lead(r) for r in rows], total


def inbox_leads(store: ScoreStore, where: InboxFilter) -> tuple[list[Lead], int]:
    """The page of leads matching ``where``, best grade then highest score first, and the
    number of leads matching in all."""
    return _run(store, where, None)


def facet_values(store: ScoreStore) -> dict[str, list[str]]:
    """The owners and segments of the leads' latest scores (the inbox's filter choices)."""
    with store.connection(read_only=True) as con:
        visible, params = store.visible_history_sql(con)
        owner, segment = (con.sql.arg_max(c, "scored_at") for c in ("owner", "segment"))
        frame = con.execute(
            f"SELECT {owner} AS owner, {segment} AS segment FROM {visible} h GROUP BY contact_id",
            params,
        ).df()
    return {
        column: sorted({str(v) for v in frame[column] if _none(v) is not None})
        for column in ("owner", "segment")
    }


def lead_detail(store: ScoreStore, contact_id: str) -> tuple[Lead | None, pd.DataFrame]:
    """A lead's latest score with trend, and its verdicts (newest first)."""
    leads, _ = _run(store, InboxFilter(limit=1), contact_id)
    with store.connection(read_only=True) as con:
        verdicts = con.execute(
            "SELECT given_at, verdict, reason, note, rep, grade, model_version FROM feedback "
            "WHERE contact_id = ? ORDER BY given_at DESC",
            [contact_id],
        ).df()
    return (leads[0] if leads else None), verdicts


def _since_words(moment: datetime, now: datetime) -> str:
    if now - moment < timedelta(days=7) and moment.date() != now.date():
        return moment.strftime("%A")
    if moment.date() == now.date():
        return "today"
    return moment.strftime("%d %b")


def trend_text(grades: list[str], times: list[datetime]) -> str:
    """The grade trend in words over the last week of scores (oldest first), e.g. "up from C
    to A since Monday"; "first score" for a single one."""
    if len(grades) < 2:
        return "first score"
    latest, now = grades[-1], times[-1]
    start = next(i for i, t in enumerate(times) if t >= now - timedelta(days=7))
    start = min(start, len(grades) - 2)  # at least the previous score
    base = grades[start]
    since = _since_words(times[start], now)
    if base == latest:
        return f"steady at {latest} since {since}"
    direction = "up" if latest < base else "down"  # A is the best grade
    return f"{direction} from {base} to {latest} since {since}"


def sparkline_points(values: list[float], *, width: int = 80, height: int = 20) -> str:
    """SVG polyline points of ``values`` scaled into ``width`` x ``height``."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )
