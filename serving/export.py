"""Scores back into the CRM: import-ready CSV files of the latest scores (``leadscore export``).

One file per target, UTF-8 with a header row, written atomically:

========== ===============================================================================
target     columns (what the CRM requires)
========== ===============================================================================
generic    ``contact_id, score, p_sql, grade, fit_score, engagement_score, top_reasons,
           scored_at, model_version``
hubspot    contact import: ``Record ID`` (HubSpot's numeric record id: the unique identifier
           that updates existing contacts) and the custom contact properties
           ``leadscore_score`` (number 0-100), ``leadscore_grade`` (single-line text),
           ``leadscore_top_reasons`` (single-line text, at most 65,536 characters, no line
           break), ``leadscore_scored_at`` (date ``YYYY-MM-DD``); create the properties once
salesforce Data Loader update: ``Id`` (the 15- or 18-character record id) and the custom fields
           ``Lead_Score__c`` (number), ``Lead_Grade__c`` (text), ``Lead_Score_Reasons__c``
           (text, at most 255 characters), ``Lead_Score_Date__c``
           (``yyyy-MM-ddTHH:mm:ss.SSSZ``)
dynamics   Dynamics 365 Sales predictive score (``msdyn_predictivescore`` rows):
           ``msdyn_entityid`` (the lead's id, at most 100 characters), ``msdyn_entitytype``
           (``lead``), ``msdyn_score`` (integer 0-100), ``msdyn_grade`` (0 = A ... 3 = D),
           ``msdyn_scoretrend`` (0 improving, 1 steady, 2 declining, 3 not enough data)
========== ===============================================================================

The score (``score``, ``leadscore_score``, ``Lead_Score__c``, ``msdyn_score``) is the lead's
rank among the exported base, 1-100: ``ceil(100 * leads scored at or below its p_sql / leads)``
(100: the top 1 %; 90: better than about 90 % of leads). The chance of SQL itself is a few
percent for most leads (``round(100 * p_sql)`` made almost every score 0-3: a CRM list sorted
by it was all ties); ``generic`` also carries ``p_sql``. The Dynamics trend compares the lead's
chance of SQL with its previous score: up or down by a quarter or more.

By default only the leads to update are written (a delta): never sent to this target, or, since
what it was last sent, their grade changed, their chance of SQL moved by a quarter or more, or
their rank moved by more than ``rank_tolerance`` points (default 5). Ranks are relative: new leads,
or other leads rescored, move an unchanged lead's rank, and a CRM list sorted by a rank not re-sent
would be stale. The store remembers what each target was sent (grade, chance, rank) once the file
is in place: a crash between the two records nothing, and the next export sends those leads again
(nothing is recorded as sent that was not written). Leads last sent by a store of schema version 1,
which kept no rank, are re-sent once (unless ``rank_tolerance`` is 99 or more: no rank moves
further). A delta replacing an earlier delta file keeps that file's rows of the leads it does not
update (two exports between two imports lose nothing: move or delete the file once imported),
except a row holding another rank or grade than the store recorded as sent (a crash wrote it): that
lead is re-sent, so the CRM never imports a value the store does not know it sent; ``full=True``
writes every lead. Ids that the target cannot take (HubSpot's numeric record ids, Salesforce's
15/18-character ids) are refused with a count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.atomic import atomic_path, fault_point
from leadscore.clock import utc_now
from leadscore.errors import ConfigError
from leadscore.serving.leads import last_batch_at
from leadscore.serving.store import SCORE_MOMENT, ScoreStore

__all__ = ["RANK_TOLERANCE", "TARGETS", "ExportResult", "export_scores"]

_LATEST = """
WITH r AS (
    SELECT *, {moment} AS moment, row_number() OVER (
        PARTITION BY contact_id ORDER BY {moment} DESC, scored_at DESC, model_version DESC) AS rn
    FROM {visible} h
),
sent AS (
    SELECT contact_id, {sent_score} AS sent_score, {sent_grade} AS sent_grade,
           {sent_rank} AS sent_rank
    FROM crm_exports WHERE target = ? GROUP BY contact_id
)
SELECT cur.contact_id, cur.scored_at, cur.moment, cur.model_version, cur.run_id, cur.p_sql, cur.grade,
       cur.fit_score, cur.engagement_score, cur.reasons_positive, prev.p_sql AS previous_p_sql,
       sent.sent_score, sent.sent_grade, sent.sent_rank
FROM r cur
LEFT JOIN r prev ON prev.contact_id = cur.contact_id AND prev.rn = 2
LEFT JOIN sent ON sent.contact_id = cur.contact_id
WHERE cur.rn = 1
ORDER BY cur.contact_id{c}
"""


RANK_TOLERANCE = 5
"""Default rank points (of 1-100) a lead's rank may move, since the rank it was last sent,
before a delta re-sends it: ranks are relative, so new or rescored leads move an unchanged
lead's rank, and the CRM would keep the stale one."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    target: str
    path: Path
    rows: int
    leads: int
    delta: bool
    departed: int = 0
    """Leads whose latest score is from an older batch run than the last: they left the scored
    population (converted, disqualified, stale) and are not exported; the CRM keeps what it
    was sent last."""
    carried: int = 0
    """Rows of the delta file being replaced whose lead this delta does not update, kept in it:
    a delta never drops changes the CRM may not have imported yet."""
    changed: int = 0
    """Leads a delta sent because they were never sent to this target, or their grade or
    chance of SQL changed since what they were last sent."""
    rank_moved: int = 0
    """Leads a delta re-sent only because their rank moved by more than ``rank_tolerance``
    points since the rank they were last sent (grade and chance of SQL as sent)."""
    rank_unrecorded: int = 0
    """Leads a delta re-sent only because their last export was recorded by an older
    leadscore, which kept no rank (once, after the store's migration to schema version 2)."""
    rank_tolerance: int = RANK_TOLERANCE
    """The rank points a lead's rank may move before a delta re-sends it."""
    rewritten: int = 0
    """Leads a delta re-sent only because the file it replaces holds a rank or grade of theirs
    that the store never recorded as sent (an export stopped between its file and its record):
    carrying that row, the CRM would import a value no later delta corrects."""


_MOST_RANK_MOVE = 99
"""The most a rank of 1-100 can move: a tolerance this high never re-sends for the rank."""

_MOVED = math.log(1.25)
"""A chance of SQL up or down by a quarter (x1.25 or /1.25) or more has moved."""


def _rank_score(p: pd.Series) -> pd.Series:
    """1-100: the share of leads scored at or below each one's ``p_sql``, rounded up."""
    if p.empty:
        return pd.Series([], index=p.index, dtype="int64")
    at_or_below = p.astype(float).rank(method="max")
    return (100 * at_or_below / len(p)).apply(math.ceil).astype("int64")


def _log_change(now: pd.Series, before: pd.Series) -> pd.Series:
    """``log(now / before)`` of two chances (NaN where ``before`` is missing)."""
    floor = 1e-9
    ratio = now.astype(float).clip(lower=floor) / before.astype(float).clip(lower=floor)
    return pd.Series(np.log(ratio.to_numpy()), index=now.index)


def _reasons(frame: pd.DataFrame, limit: int | None = None, top: int = 3) -> pd.Series:
    def join(value: Any) -> str:
        items = list(value) if isinstance(value, list | tuple | np.ndarray) else []  # null
        text = "; ".join(" ".join(str(v).split()) for v in items[:top])
        return text if limit is None else text[:limit]

    return frame["reasons_positive"].map(join)


def _check_ids(ids: pd.Series, pattern: str, target: str, what: str) -> None:
    bad = int((~ids.astype(str).str.fullmatch(pattern)).sum())
    if bad:
        raise ConfigError(
            f"{bad:,} of {len(ids):,} contact id(s) are not {what}, which a {target} import needs "
            f"to update existing records. Export with --target generic, or score a CRM whose "
            f"contact ids are the {target} record ids."
        )


def _generic(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contact_id": frame["contact_id"],
            "score": frame["score"],
            "p_sql": frame["p_sql"].round(6),
            "grade": frame["grade"],
            "fit_score": frame["fit_score"],
            "engagement_score": frame["engagement_score"],
            "top_reasons": _reasons(frame),
            "scored_at": pd.to_datetime(frame["scored_at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model_version": frame["model_version"],
        }
    )


def _hubspot(frame: pd.DataFrame) -> pd.DataFrame:
    _check_ids(frame["contact_id"], r"[0-9]{1,20}", "HubSpot", "numeric HubSpot record ids")
    return pd.DataFrame(
        {
            "Record ID": frame["contact_id"],
            "leadscore_score": frame["score"],
            "leadscore_grade": frame["grade"],
            "leadscore_top_reasons": _reasons(frame, 65_536),
            "leadscore_scored_at": pd.to_datetime(frame["scored_at"]).dt.strftime("%Y-%m-%d"),
        }
    )


def _salesforce(frame: pd.DataFrame) -> pd.DataFrame:
    _check_ids(
        frame["contact_id"],
        r"[A-Za-z0-9]{15}|[A-Za-z0-9]{18}",
        "Salesforce",
        "15- or 18-character Salesforce ids",
    )
    return pd.DataFrame(
        {
            "Id": frame["contact_id"],
            "Lead_Score__c": frame["score"],
            "Lead_Grade__c": frame["grade"],
            "Lead_Score_Reasons__c": _reasons(frame, 255),
            "Lead_Score_Date__c": pd.to_datetime(frame["scored_at"]).dt.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"
            ),
        }
    )


_DYNAMICS_GRADES = {"A": 0, "B": 1, "C": 2, "D": 3}


def _dynamics(frame: pd.DataFrame) -> pd.DataFrame:
    ids = frame["contact_id"].astype(str)
    if (ids.str.len() > 100).any():
        raise ConfigError("Dynamics 365 takes entity ids of at most 100 characters.")
    change = _log_change(frame["p_sql"], frame["previous_p_sql"])
    trend = pd.Series(1, index=frame.index)
    trend[change >= _MOVED] = 0
    trend[change <= -_MOVED] = 2
    trend[frame["previous_p_sql"].isna()] = 3
    return pd.DataFrame(
        {
            "msdyn_entityid": ids,
            "msdyn_entitytype": "lead",
            "msdyn_score": frame["score"],
            "msdyn_grade": frame["grade"].map(_DYNAMICS_GRADES).astype(int),
            "msdyn_scoretrend": trend.astype(int),
        }
    )


TARGETS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "generic": _generic,
    "hubspot": _hubspot,
    "salesforce": _salesforce,
    "dynamics": _dynamics,
}

_SENT_COLUMNS: dict[str, tuple[str, str]] = {
    "generic": ("score", "grade"),
    "hubspot": ("leadscore_score", "leadscore_grade"),
    "salesforce": ("Lead_Score__c", "Lead_Grade__c"),
    "dynamics": ("msdyn_score", "msdyn_grade"),
}
"""Each target's file columns holding the rank and the grade the store records as sent."""


def export_scores(
    store: ScoreStore,
    target: str,
    out: Path,
    *,
    full: bool = False,
    rank_tolerance: int = RANK_TOLERANCE,
) -> ExportResult:
    """Write ``target``'s import file of the latest scores in ``store`` to ``out`` (only the
    changed leads unless ``full``: see :func:`_to_send`) and remember what was sent, once the
    file is in place."""
    if target not in TARGETS:
        raise ConfigError(f"Unknown export target {target!r}: use one of {', '.join(TARGETS)}.")
    if not 0 <= rank_tolerance <= 100:
        raise ConfigError(
            f"The rank tolerance is {rank_tolerance}: give 0-100 rank points (0 re-sends a lead "
            "whose rank moved at all, 100 never re-sends for the rank alone)."
        )
    with store.connection(read_only=True) as con:
        visible, params = store.visible_history_sql(con)
        query = _LATEST.format(
            visible=visible,
            moment=SCORE_MOMENT,
            c=con.sql.by_code,
            sent_score=con.sql.arg_max("p_sql", "exported_at"),
            sent_grade=con.sql.arg_max("grade", "exported_at"),
            sent_rank=con.sql.arg_max("score_rank", "exported_at"),
        )
        latest = con.execute(query, [*params, target]).df()
        last_run_at = last_batch_at(con, visible, params)
    departed = _departed(latest, last_run_at)
    latest = latest[~departed].reset_index(drop=True)
    latest["score"] = _rank_score(latest["p_sql"])
    columns = list(TARGETS[target](latest.iloc[:0]).columns)
    earlier = None if full else _earlier_file(out, columns)
    if full or latest.empty:
        rows, news, by_rank, unrecorded, rewritten = latest, 0, 0, 0, 0
    else:
        changed, ranked, unknown = _to_send(latest, rank_tolerance)
        due = changed | ranked | unknown
        stray = ~due & _not_as_recorded(latest, earlier, target)
        rows = latest[(due | stray).to_numpy()].reset_index(drop=True)
        news, by_rank = int(changed.sum()), int(ranked.sum())
        unrecorded, rewritten = int(unknown.sum()), int(stray.sum())
    shaped = TARGETS[target](rows) if not rows.empty else TARGETS[target](latest.iloc[:0])
    carried = None if earlier is None else _not_superseded(earlier, shaped)
    with atomic_path(out) as tmp:
        shaped.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        if carried is not None and not carried.empty:
            carried.to_csv(
                tmp, mode="a", header=False, index=False, encoding="utf-8", lineterminator="\n"
            )
    fault_point("export.file_in_place")  # a crash here: nothing recorded, the next run re-sends
    if not rows.empty:
        sent = pd.DataFrame(
            {
                "target": target,
                "contact_id": rows["contact_id"],
                "p_sql": rows["p_sql"],
                "grade": rows["grade"],
                "score_rank": rows["score"].astype("int64"),
                "exported_at": utc_now().replace(tzinfo=None),
            }
        )
        with store.connection() as con:
            con.insert_frame("crm_exports", sent)
    return ExportResult(
        target=target,
        path=out,
        rows=len(rows),
        leads=len(latest),
        delta=not full,
        departed=int(departed.sum()),
        carried=0 if carried is None else len(carried),
        changed=news,
        rank_moved=by_rank,
        rank_unrecorded=unrecorded,
        rank_tolerance=rank_tolerance,
        rewritten=rewritten,
    )


def _to_send(latest: pd.DataFrame, tolerance: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Which leads a delta sends, as three disjoint masks: ``changed`` (never sent, grade
    changed, or chance of SQL moved by a quarter or more since what was last sent), ``ranked``
    (else: the rank moved by more than ``tolerance`` points since the rank last sent) and
    ``unknown`` (else: sent by a store of schema version 1, which kept no rank: re-sent once,
    unless ``tolerance`` is 99 or more: no rank of 1-100 moves by more than 99 points)."""
    moved = _log_change(latest["p_sql"], latest["sent_score"]).abs() >= _MOVED
    changed = (
        latest["sent_grade"].isna()
        | (latest["sent_grade"] != latest["grade"])
        | latest["sent_score"].isna()
        | moved
    )
    sent_rank = pd.to_numeric(latest["sent_rank"], errors="coerce").astype(float)
    shift = (latest["score"].astype(float) - sent_rank).abs()
    ranked = ~changed & (shift > tolerance)
    unknown = ~changed & sent_rank.isna() & (tolerance < _MOST_RANK_MOVE)
    return changed, ranked, unknown


def _earlier_file(out: Path, columns: list[str]) -> pd.DataFrame | None:
    """The rows the delta file ``out`` already holds, as text, if it is this target's file
    (same header); ``None`` when there is none or it is not an export of ours."""
    if not out.is_file():
        return None
    try:
        earlier = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None  # not an export of ours: replaced as before
    return earlier if list(earlier.columns) == columns else None


def _not_superseded(earlier: pd.DataFrame, shaped: pd.DataFrame) -> pd.DataFrame:
    """The rows of the file being replaced whose lead the new delta does not update. The store
    counts them as sent once the file was written, not once the CRM imported it: replacing the
    file without them would lose those changes whenever two exports run between two imports."""
    key = str(shaped.columns[0])
    fresh = set(shaped[key].astype(str))
    return earlier[~earlier[key].isin(fresh)].reset_index(drop=True)


def _not_as_recorded(latest: pd.DataFrame, earlier: pd.DataFrame | None, target: str) -> pd.Series:
    """Leads whose row in the file being replaced holds another rank or grade than the store
    recorded as last sent to them: an export stopped between its file and its record wrote it.
    Carried, the CRM would import it while the store believes the recorded value was sent, and
    no later delta would correct it; these leads are re-sent instead. (A rank the store did
    not record, sent by schema version 1, is not compared.)"""
    stray = pd.Series(False, index=latest.index)
    if earlier is None or earlier.empty:
        return stray
    rank_column, grade_column = _SENT_COLUMNS[target]
    rows = earlier.drop_duplicates(str(earlier.columns[0])).set_index(str(earlier.columns[0]))
    ids = latest["contact_id"].astype(str)
    in_file = ids.isin(rows.index)
    if not in_file.any():
        return stray
    file_rank, file_grade = ids.map(rows[rank_column]), ids.map(rows[grade_column])
    sent_rank = pd.to_numeric(latest["sent_rank"], errors="coerce").astype("Int64")
    sent_grade = latest["sent_grade"].astype("string")
    if target == "dynamics":  # its file holds the grade's code
        sent_grade = sent_grade.map(_DYNAMICS_GRADES).astype("Int64").astype("string")
    rank_differs = sent_rank.notna() & (file_rank != sent_rank.astype("string")).fillna(True)
    grade_differs = sent_grade.notna() & (file_grade != sent_grade).fillna(True)
    return (in_file & (rank_differs | grade_differs)).astype(bool)


def _departed(latest: pd.DataFrame, last_run_at: Any) -> pd.Series:
    """Leads the latest batch run (by its as-of moment) did not rescore (as the inbox:
    API-recorded scores stay)."""
    if last_run_at is None or latest.empty:
        return pd.Series(False, index=latest.index)
    moment = pd.to_datetime(latest["moment"])
    return latest["run_id"].notna() & (moment < pd.Timestamp(last_run_at))
