"""The validator's counts answered by one scan per table instead of one query per check.

:func:`leadscore.validation.validate` asks about a hundred ``SELECT count(*) FROM <source>
WHERE <condition>`` questions (values that cannot be read, missing values, NUL bytes, unknown
vocabulary, timestamps in the future...), several per column of the large ``events`` table.
:class:`FusedCounts` wraps a connection for two passes of the same checks: while recording (a
dry pass) each count is only noted (a filtered count reads 0, a whole-table count 1), then
:meth:`FusedCounts.prefetch` runs the noted counts of each source as one query
(``count(CASE WHEN <condition> THEN 1 END)`` per condition), and the real pass reads them back;
the only condition on a table or view is run as it is asked, a filter that DuckDB can answer
from each row group's min and max.
A condition holding a subquery (a join: unknown foreign keys, duplicate keys, the
created-before checks) is run alone, as before; so is a count first asked in the real pass (a
follow-up of a problem found). A count another query of the checks already found is noted
(:meth:`FusedCounts.note`: the NUL bytes of a text key, counted beside its order) and not run
again. Reads other than counts (``DESCRIBE``, the list of views) are
run once and answered again from memory: the data does not change while it is checked.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FetchedRows", "FusedCounts"]

_COUNT = re.compile(r"^SELECT count\(\*\) FROM (.+?)(?: WHERE (.*))?$", re.S)
_SUBQUERY = re.compile(r"\bselect\b", re.I)
_READ = re.compile(r"^\s*(SELECT|DESCRIBE)\b", re.I)


class FetchedRows:
    """A query result already fetched, in the shape the validator reads (``fetchone``,
    ``fetchall``)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.rows)


class FusedCounts:
    """A :class:`~leadscore.validation.SqlConnection` over ``con`` whose plain filtered counts
    are run together, one query per source (see the module's docstring)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.recorded: list[tuple[str, str]] | None = None
        self.counts: dict[tuple[str, str], int] = {}
        self.reads: dict[str, list[tuple[Any, ...]]] = {}

    def record(self) -> None:
        """Start the dry pass: counts are noted, not run."""
        self.recorded = []

    def note(self, source: str, where: str, count: int) -> None:
        """Answer ``SELECT count(*) FROM <source> WHERE <where>`` with ``count``, found by
        another query of the checks (not counted again)."""
        self.counts[(source, where)] = count

    def prefetch(self) -> None:
        """Run the noted plain counts, one query per source; stop recording."""
        wanted = dict.fromkeys(self.recorded or [])
        self.recorded = None
        by_source: dict[str, list[str]] = {}
        for source, where in wanted:
            if (source, where) in self.counts:
                continue  # already answered (:meth:`note`)
            if not (where and _SUBQUERY.search(where)):
                by_source.setdefault(source, []).append(where)
        for source, conditions in by_source.items():
            if len(conditions) == 1 and conditions[0] and not source.startswith("("):
                # alone on a table or view: as a filter, which DuckDB checks against each row
                # group's min and max first (no future timestamp: no row group read)
                continue  # asked again in the real pass, run then as it is
            counts = ", ".join(
                f"count(CASE WHEN {c} THEN 1 END)" if c else "count(*)" for c in conditions
            )
            row = self.con.execute(f"SELECT {counts} FROM {source}").fetchone() or ()
            for condition, value in zip(conditions, row, strict=True):
                self.counts[(source, condition)] = int(value or 0)

    def execute(self, query: str) -> Any:
        counted = _COUNT.match(query)
        if counted:
            key = (counted.group(1).strip(), (counted.group(2) or "").strip())
            if key in self.counts:
                return FetchedRows([(self.counts[key],)])
            if self.recorded is not None:
                self.recorded.append(key)
                return FetchedRows([(0 if key[1] else 1,)])
            row = self.con.execute(query).fetchone()
            self.counts[key] = int(row[0]) if row and row[0] is not None else 0
            return FetchedRows([(self.counts[key],)])
        if not _READ.match(query):
            return self.con.execute(query)
        if query not in self.reads:
            self.reads[query] = self.con.execute(query).fetchall()
        return FetchedRows(self.reads[query])
