"""Label times: the ``(contact_id, cutoff)`` pairs a table is built for, with the population
flags and labels of each pair (definitions in :mod:`leadscore.features.labels`).

Pairs come from a :class:`~leadscore.features.labels.CutoffSchedule` (every eligible contact at
each cutoff) or from the user (:meth:`LabelTimes.read`: a CSV or Parquet file with
``contact_id, cutoff``, e.g. each lead at the moment it became an MQL). Eligibility, censoring
and labels are computed here, never by a feature: the feature SQL
(:mod:`leadscore.features.sql`) only reads the ``lt`` relation this module defines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from leadscore.contract import MEETING_OR_LATER, SQL_OR_LATER
from leadscore.errors import ConfigError, SourceError
from leadscore.features.labels import FromStage
from leadscore.sql import quote_literal

__all__ = [
    "CUTOFFS_TABLE",
    "LABEL_TIMES_TABLE",
    "SQL_OR_LATER",
    "LabelTimes",
    "eligible_counts_query",
    "label_times_ctes",
    "label_times_query",
]

CUTOFFS_TABLE = "_ls_cutoffs"
"""Name of the table of cutoffs (``cutoff TIMESTAMP``) an engine registers for a schedule."""
LABEL_TIMES_TABLE = "_ls_label_times"
"""Name of the table of given pairs (``contact_id, cutoff``) an engine registers."""

_MEETING_OR_LATER = MEETING_OR_LATER
_ACTIVE = ("lead", "mql")


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(quote_literal(v) for v in values) + ")"


_STAGE_FLAGS = (
    f"SELECT contact_id, changed_at, stage IN {_in_list(SQL_OR_LATER)} AS is_sql,"
    f" stage IN {_in_list(_MEETING_OR_LATER)} AS is_meeting,"
    " stage = 'disqualified' AS is_dq,"
    f" stage IN {_in_list(_ACTIVE)} AS is_active, stage = 'mql' AS is_mql"
    " FROM stage_changes"
)
"""The stage changes with their stage tests, computed once per stage change before ``st``
joins them to the candidate pairs (the canonical view normalises ``stage`` with
``lower(trim())``: in the join's aggregates it ran on every (pair, stage change) row, ~8 %
of a 12-cutoff feature query's CPU)."""


def _max_age(source: str, days: int, *, flag: bool = False) -> str:
    """``source`` with its candidates limited to leads created in the ``days`` before the
    cutoff or active in them (an event or a stage change): older inactive leads leave.
    ``flag``: every candidate stays, with ``fresh`` telling whether it is such a lead."""
    head = "cand AS (\n  SELECT c.contact_id, c.account_id, "
    source = source.replace(head, "cand0 AS (\n  SELECT c.contact_id, c.account_id, c.created_at, ")
    since = f"k.cutoff - INTERVAL {days} DAY"
    test = f"k.created_at >= {since} OR r.contact_id IS NOT NULL"
    fresh, where = (f", ({test}) AS fresh", "") if flag else ("", f"\n  WHERE {test}")
    return (
        source
        + f""",
recent AS (
  SELECT k.contact_id, k.cutoff FROM cand0 k JOIN events e ON e.contact_id = k.contact_id
  WHERE e.occurred_at < k.cutoff AND e.occurred_at >= {since}
  UNION
  SELECT k.contact_id, k.cutoff FROM cand0 k JOIN stage_changes s ON s.contact_id = k.contact_id
  WHERE s.changed_at < k.cutoff AND s.changed_at >= {since}
),
cand AS (
  SELECT k.contact_id, k.account_id, k.cutoff{fresh} FROM cand0 k
  LEFT JOIN recent r ON r.contact_id = k.contact_id AND r.cutoff = k.cutoff{where}
)"""
    )


def label_times_ctes(
    horizon_days: int | None,
    from_stage: FromStage,
    *,
    given: bool,
    max_age_days: int | None = None,
    fresh: bool = False,
) -> str:
    """The CTEs ending in ``lt``: one row per eligible pair with ``contact_id``, ``account_id``,
    ``cutoff``, ``last_mql`` (latest MQL stage change before the cutoff, a population flag) and,
    when ``horizon_days`` is set, the labels ``became_sql`` and ``booked_meeting``.

    Also defines ``cutoffs`` (the distinct cutoffs, which the feature grids read). Pairs are
    every contact at each cutoff of the registered :data:`CUTOFFS_TABLE`, or (``given``) the
    pairs of the registered :data:`LABEL_TIMES_TABLE`. With ``max_age_days``, leads created more
    than that many days before the cutoff and without an event or stage change in those days
    are not eligible (stale leads leave the population), unless ``fresh``: then they stay,
    and ``lt`` has a column ``fresh``, false for them.
    """
    if given:
        source = (
            f"cutoffs AS (SELECT DISTINCT CAST(cutoff AS TIMESTAMP) AS cutoff"
            f" FROM {LABEL_TIMES_TABLE}),\n"
            "cand AS (\n  SELECT c.contact_id, c.account_id, CAST(k.cutoff AS TIMESTAMP) AS cutoff\n"
            f"  FROM {LABEL_TIMES_TABLE} k JOIN contacts c ON c.contact_id = k.contact_id\n"
            "  WHERE c.created_at < k.cutoff\n)"
        )
    else:
        source = (
            f"cutoffs AS (SELECT CAST(cutoff AS TIMESTAMP) AS cutoff FROM {CUTOFFS_TABLE}),\n"
            "cand AS (\n  SELECT c.contact_id, c.account_id, k.cutoff\n"
            "  FROM contacts c CROSS JOIN cutoffs k\n  WHERE c.created_at < k.cutoff\n)"
        )
    if max_age_days is not None:
        source = _max_age(source, max_age_days, flag=fresh)
    before = "s.changed_at < k.cutoff"
    labels = label_cols = ""
    if horizon_days is not None:
        future = (
            f"s.changed_at >= k.cutoff AND s.changed_at < k.cutoff + INTERVAL {horizon_days} DAY"
        )
        labels = (
            f",\n    max(CASE WHEN {future} AND s.is_sql THEN 1 ELSE 0 END) AS became_sql"
            f",\n    max(CASE WHEN {future} AND s.is_meeting THEN 1 ELSE 0 END) AS booked_meeting"
        )
        label_cols = (
            ",\n    coalesce(st.became_sql, 0) = 1 AS became_sql"
            ",\n    coalesce(st.booked_meeting, 0) = 1 AS booked_meeting"
        )
    mql_only = "\n  AND st.last_mql IS NOT NULL" if from_stage == "mql" else ""
    fresh_col = ", k.fresh" if fresh and max_age_days is not None else ""
    return f"""{source},
st AS (
  SELECT k.contact_id, k.cutoff,
    max(CASE WHEN {before} AND s.is_sql THEN 1 ELSE 0 END) AS was_sql,
    max(CASE WHEN {before} AND s.is_dq THEN s.changed_at END) AS last_dq,
    max(CASE WHEN {before} AND s.is_active THEN s.changed_at END) AS last_active,
    max(CASE WHEN {before} AND s.is_mql THEN s.changed_at END) AS last_mql{labels}
  FROM cand k JOIN ({_STAGE_FLAGS}) s ON s.contact_id = k.contact_id
  GROUP BY k.contact_id, k.cutoff
),
lt AS (
  SELECT k.contact_id, k.account_id, k.cutoff, st.last_mql{label_cols}{fresh_col}
  FROM cand k LEFT JOIN st ON st.contact_id = k.contact_id AND st.cutoff = k.cutoff
  WHERE coalesce(st.was_sql, 0) = 0
  AND NOT coalesce(st.last_dq IS NOT NULL AND (st.last_active IS NULL OR st.last_dq >= st.last_active), false){mql_only}
)"""


def eligible_counts_query(
    from_stage: FromStage = "any",
    *,
    given: bool = False,
    max_age_days: int | None = None,
    stale: bool = False,
) -> str:
    """Number of eligible pairs per cutoff (used to report censored rows), ``n``; with
    ``stale`` also ``stale``, the pairs eligible but for ``max_age_days`` (0 without it), from
    the same query (the label times computed once, not once with and once without the age)."""
    if not stale:
        ctes = label_times_ctes(None, from_stage, given=given, max_age_days=max_age_days)
        return f"WITH {ctes}\nSELECT cutoff, count(*) AS n FROM lt GROUP BY cutoff ORDER BY cutoff"
    ctes = label_times_ctes(None, from_stage, given=given, max_age_days=max_age_days, fresh=True)
    counts = (
        "count(*) FILTER (WHERE fresh) AS n, count(*) FILTER (WHERE NOT fresh) AS stale"
        if max_age_days is not None
        else "count(*) AS n, 0 AS stale"
    )
    return f"WITH {ctes}\nSELECT cutoff, {counts} FROM lt GROUP BY cutoff ORDER BY cutoff"


def label_times_query(
    horizon_days: int | None, from_stage: FromStage = "any", *, given: bool = False
) -> str:
    """The label-times table itself: ``contact_id, cutoff, is_mql`` (population flag) and the
    labels when ``horizon_days`` is set; eligible pairs only, ordered by cutoff, contact."""
    labels = ", became_sql, booked_meeting" if horizon_days is not None else ""
    return (
        f"WITH {label_times_ctes(horizon_days, from_stage, given=given)}\n"
        f"SELECT contact_id, cutoff, last_mql IS NOT NULL AS is_mql{labels}\n"
        "FROM lt ORDER BY cutoff, contact_id"
    )


@dataclass(frozen=True)
class LabelTimes:
    """User-given pairs ``(contact_id, cutoff)``: features and labels are built for exactly
    these (eligible) pairs. ``source`` names where they came from (for metadata and errors)."""

    table: pa.Table
    source: str = "label times"

    @property
    def cutoffs(self) -> list[datetime]:
        """The distinct cutoffs, ascending."""
        values = pc.unique(self.table.column("cutoff")).to_pylist()
        return sorted(values)

    def at(self, cutoffs: Sequence[datetime]) -> pa.Table:
        """The pairs whose cutoff is one of ``cutoffs``."""
        wanted = pa.array(list(cutoffs), type=pa.timestamp("us"))
        return self.table.filter(pc.is_in(self.table.column("cutoff"), value_set=wanted))

    @classmethod
    def of(cls, pairs: pa.Table, source: str = "label times") -> LabelTimes:
        """Pairs from an Arrow table with ``contact_id`` and ``cutoff`` (other columns dropped);
        checks columns, nulls and duplicates (see :meth:`read` for the contact checks)."""
        return cls(_clean(pairs, source), source)

    @classmethod
    def read(cls, path: Path) -> LabelTimes:
        """Pairs from a CSV or Parquet file with columns ``contact_id`` and ``cutoff``."""
        path = Path(path)
        if not path.is_file():
            raise SourceError(
                f"Label-times file {path} does not exist. Give a CSV or Parquet file with "
                "columns contact_id, cutoff."
            )
        suffix = path.suffix.lower()
        try:
            if suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
            elif suffix == ".csv":
                import pyarrow.csv as pcsv

                table = pcsv.read_csv(
                    path,
                    convert_options=pcsv.ConvertOptions(
                        column_types={"contact_id": pa.string(), "cutoff": pa.string()}
                    ),
                )
            else:
                raise ConfigError(
                    f"Label-times file {path} must be .csv or .parquet (got {suffix or 'none'})."
                )
        except (pa.ArrowInvalid, OSError) as exc:
            kind = type(exc).__name__
            raise SourceError(
                f"Label-times file {path} cannot be read ({kind}). Check that it is a valid "
                f"{suffix.lstrip('.').upper()} file with a header row contact_id, cutoff."
            ) from None
        return cls(_clean(table, str(path)), str(path))


def _clean(table: pa.Table, source: str) -> pa.Table:
    """``contact_id`` (string) and ``cutoff`` (naive UTC timestamp), checked, sorted."""
    missing = [c for c in ("contact_id", "cutoff") if c not in table.column_names]
    if missing:
        raise ConfigError(
            f"Label-times file {source} lacks column(s) {', '.join(missing)} (it has "
            f"{len(table.column_names)} column(s)). Add a header row with contact_id, cutoff."
        )
    contact = table.column("contact_id").cast(pa.string())
    cutoff = _as_timestamps(table.column("cutoff"), source)
    for name, column in (("contact_id", contact), ("cutoff", cutoff)):
        if column.null_count:
            raise ConfigError(
                f"Label-times file {source}: column {name} is empty in {column.null_count:,} "
                f"of {len(column):,} rows. Fill or remove those rows."
            )
    if not len(contact):
        raise ConfigError(f"Label-times file {source} has no rows. Give at least one pair.")
    pairs = pa.table({"contact_id": contact, "cutoff": cutoff})
    distinct = pairs.group_by(["contact_id", "cutoff"]).aggregate([]).num_rows
    if distinct != pairs.num_rows:
        raise ConfigError(
            f"Label-times file {source}: {pairs.num_rows - distinct:,} of {pairs.num_rows:,} rows "
            "repeat a (contact_id, cutoff) pair already listed. Remove the duplicates."
        )
    return pairs.sort_by([("cutoff", "ascending"), ("contact_id", "ascending")])


def _as_timestamps(column: pa.ChunkedArray, source: str) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is not None:
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        return column.cast(pa.timestamp("us"))
    if pa.types.is_date(column.type):
        return column.cast(pa.timestamp("us"))
    text = column.cast(pa.string())
    parsed: list[datetime | None] = []
    bad = 0
    for value in text.to_pylist():
        if value is None or not value.strip():
            parsed.append(None)
            continue
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            bad += 1
            continue
        if moment.tzinfo is not None:
            from datetime import UTC

            moment = moment.astimezone(UTC).replace(tzinfo=None)
        parsed.append(moment)
    if bad:
        raise ConfigError(
            f"Label-times file {source}: column cutoff is not a date or timestamp in {bad:,} of "
            f"{len(text):,} rows. Write cutoffs as ISO 8601 (2024-03-01 or 2024-03-01T09:30:00, "
            "UTC)."
        )
    return pa.chunked_array([pa.array(parsed, type=pa.timestamp("us"))])
