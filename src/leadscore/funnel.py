"""Funnel summary of validated CRM history: stage entries per month and conversion rates."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leadscore.contract import MEETING_OR_LATER, SQL_OR_LATER, Stage
from leadscore.crm import CrmData

__all__ = ["FunnelSummary", "funnel_summary"]

_STEPS: tuple[tuple[Stage, Stage], ...] = (
    (Stage.LEAD, Stage.MQL),
    (Stage.MQL, Stage.SQL),
    (Stage.SQL, Stage.MEETING),
)


def _reached(stage: Stage) -> str:
    """The stages whose entry counts as reaching ``stage`` (the labels' definition: an SQL is
    a contact reaching sql, meeting or customer), as a SQL list."""
    later = {Stage.SQL: SQL_OR_LATER, Stage.MEETING: MEETING_OR_LATER}.get(stage, (stage.value,))
    return "(" + ", ".join(f"'{s}'" for s in later) + ")"


@dataclass(frozen=True)
class FunnelSummary:
    """Contacts entering each stage per calendar month, and step conversion rates.

    ``monthly`` has one row per month (``YYYY-MM``) and one column per stage.
    ``conversion`` maps ``"lead→mql"``-style step names to the share of contacts that reached the
    first stage and ever reached the second (SQL: sql, meeting or customer, as the labels count;
    meeting: meeting or customer); ``reached`` counts contacts ever reaching each stage, with
    the same definition; ``skipped`` maps each step to the contacts that reached its second stage
    without ever reaching its first (hand-raisers sent straight to sales): they are outside the
    step's rate.
    ``sql_within_quarter`` is the share of leads that became SQL within 90 days of creation, among
    leads created at least 90 days before the end of the data (so every one had the full quarter);
    ``None`` when no lead is that old (too early to say, not 0 %). ``quarter_cohort`` counts them.
    """

    monthly: pd.DataFrame
    reached: dict[str, int]
    conversion: dict[str, float]
    sql_within_quarter: float | None
    skipped: dict[str, int]
    quarter_cohort: int = 0


def funnel_summary(crm: CrmData) -> FunnelSummary:
    """Compute the funnel summary in DuckDB (no per-row Python work)."""
    stages = [stage.value for stage in Stage]
    pivot = ", ".join(
        f"count(DISTINCT contact_id) FILTER (WHERE stage = '{s}') AS \"{s}\"" for s in stages
    )
    monthly = crm.con.execute(
        f"SELECT strftime(date_trunc('month', changed_at), '%Y-%m') AS month, {pivot} "
        "FROM stage_changes GROUP BY 1 ORDER BY 1"
    ).df()
    # every contact is a lead, whether or not the CRM recorded the 'lead' stage change
    reached_row = crm.con.execute(
        "SELECT (SELECT count(*) FROM contacts), "
        + ", ".join(
            f"count(DISTINCT contact_id) FILTER (WHERE stage IN {_reached(Stage(s))})"
            for s in stages[1:]
        )
        + " FROM stage_changes"
    ).fetchone()
    reached = dict(zip(stages, (int(v) for v in reached_row or ()), strict=True))
    conversion: dict[str, float] = {}
    skipped: dict[str, int] = {}
    for before, after in _STEPS:
        row = crm.con.execute(
            "SELECT count(DISTINCT a.contact_id) FROM stage_changes a "
            f"WHERE a.stage IN {_reached(after)} AND "
            + (
                "true"
                if before is Stage.LEAD
                else "a.contact_id IN (SELECT contact_id FROM stage_changes"
                f" WHERE stage IN {_reached(before)})"
            )
        ).fetchone()
        base = reached[before.value]
        step = f"{before.value}→{after.value}"
        converted = int(row[0]) if row else 0
        conversion[step] = converted / base if base else 0.0
        skipped[step] = reached[after.value] - converted
    quarter = crm.con.execute(
        "WITH data_end AS (SELECT max(changed_at) AS t FROM stage_changes), "
        "cohort AS (SELECT contact_id, created_at FROM contacts, data_end "
        "WHERE created_at <= data_end.t - INTERVAL 90 DAY), "
        "first_sql AS (SELECT contact_id, min(changed_at) AS t FROM stage_changes "
        f"WHERE stage IN {_reached(Stage.SQL)} GROUP BY contact_id) "
        "SELECT avg(CASE WHEN s.t <= c.created_at + INTERVAL 90 DAY THEN 1.0 ELSE 0.0 END), "
        "count(*) "
        "FROM cohort c LEFT JOIN first_sql s USING (contact_id)"
    ).fetchone()
    return FunnelSummary(
        monthly=monthly,
        reached=reached,
        conversion=conversion,
        sql_within_quarter=float(quarter[0]) if quarter and quarter[0] is not None else None,
        skipped=skipped,
        quarter_cohort=int(quarter[1]) if quarter else 0,
    )
