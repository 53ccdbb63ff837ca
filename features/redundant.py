"""Features that carry the same information, found in a built table.

Two features equal on every row (a custom feature repeating a catalog one, an export with both
"Lead Source" and "Original Source") split the model's credit between them and let the reasons
name the same fact twice. Text and yes/no features that map one-to-one (the same categories
under other names, a flag and its negation) carry the same information too. Numbers count only
when equal: two counts with the same ties are not the same feature.

One scan gives every column's approximate distinct count and a sum of row hashes (equal
columns have equal sums); the candidate pairs are then checked exactly in one more scan.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = [
    "RedundantPair",
    "no_progress_bar",
    "redundant_frame_pairs",
    "redundant_pairs",
    "redundant_warning",
]

_CATEGORY_TYPES = frozenset({"VARCHAR", "BOOLEAN"})
_MAX_CATEGORIES = 1_000
"""Text columns with more distinct values than this are compared for equality only."""


@dataclass(frozen=True)
class RedundantPair:
    """Two features with the same information on every row of the table."""

    first: str
    second: str
    equal: bool
    """``True``: the same value on every row; ``False``: a one-to-one mapping of values."""


@dataclass(frozen=True)
class _Stats:
    rows: int
    approx_distinct: int
    non_null: int
    digest: int
    true: int | None  # booleans only

    @property
    def distinct(self) -> int:
        return int(self.approx_distinct) + (self.non_null < self.rows)  # NULL is a value here

    def may_map_to(self, other: _Stats) -> bool:
        """Whether a one-to-one mapping between the two columns' values is possible."""
        if max(self.distinct, other.distinct) > _MAX_CATEGORIES:
            return False
        if self.true is not None and other.true is not None:  # a flag or its negation
            same_nulls = self.non_null == other.non_null
            return same_nulls and other.true in (self.true, self.non_null - self.true)
        return abs(self.distinct - other.distinct) <= max(2, self.distinct // 10)  # approximate


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def redundant_pairs(
    con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str]
) -> list[RedundantPair]:
    """Pairs of ``columns`` of ``relation`` (a table, view or ``read_parquet(...)`` SQL) that
    carry the same information on every row; constant columns are left out (they carry none)."""
    types = {
        str(row[0]): str(row[1])
        for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    }
    names = [c for c in columns if c in types]
    if len(names) < 2:
        return []
    stats = con.execute(
        "SELECT count(*), "
        + ", ".join(
            f"approx_count_distinct({q}), count({q}), sum(hash({q}))::HUGEINT, "
            + (f"sum({q}::INTEGER)" if types[c] == "BOOLEAN" else "NULL")
            for c in names
            for q in [_quote(c)]
        )
        + f" FROM {relation}"
    ).fetchone()
    assert stats is not None  # an aggregate always returns one row
    rows = int(stats[0])
    column = {c: _Stats(rows, *stats[1 + 4 * i : 5 + 4 * i]) for i, c in enumerate(names)}
    candidates: list[tuple[str, str, bool]] = []
    for a, b in itertools.combinations([c for c in names if column[c].distinct >= 2], 2):
        if types[a] == types[b] and column[a].digest == column[b].digest:
            candidates.append((a, b, True))
        elif {types[a], types[b]} <= _CATEGORY_TYPES and column[a].may_map_to(column[b]):
            candidates.append((a, b, False))
    if not candidates:
        return []
    checks = []
    for a, b, equal in candidates:
        qa, qb = _quote(a), _quote(b)
        if equal:
            checks.append(f"count(*) FILTER ({qa} IS DISTINCT FROM {qb}) = 0")
        else:  # one-to-one: as many (a, b) pairs as values of a and as values of b; NULL counts
            checks.append(
                f"count(DISTINCT row({qa}, {qb})) = count(DISTINCT row({qa})) "
                f"AND count(DISTINCT row({qa}, {qb})) = count(DISTINCT row({qb}))"
            )
    verdicts = con.execute(f"SELECT {', '.join(checks)} FROM {relation}").fetchone()
    assert verdicts is not None
    return [
        RedundantPair(a, b, equal)
        for (a, b, equal), same in zip(candidates, verdicts, strict=True)
        if same
    ]


def no_progress_bar(con: duckdb.DuckDBPyConnection) -> None:
    """Turn off DuckDB's progress bar on ``con`` when it is on. Only then: in a Jupyter kernel
    without ``ipywidgets`` DuckDB starts with it off and refuses any change to the setting,
    even ``false`` (``InvalidInputException``), which broke every notebook."""
    rows = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()
    if rows and rows[0][0]:
        con.execute("SET enable_progress_bar = false")


def redundant_frame_pairs(frame: pd.DataFrame, columns: Sequence[str]) -> list[RedundantPair]:
    """:func:`redundant_pairs` over the ``columns`` of a pandas frame."""
    import duckdb

    con = duckdb.connect()
    try:
        no_progress_bar(con)
        con.register("frame", frame[list(columns)])
        return redundant_pairs(con, "frame", columns)
    finally:
        con.close()


def redundant_warning(pairs: Sequence[RedundantPair], rows: int, *, where: str) -> str | None:
    """One warning naming every redundant pair and what to do (``where``: how the user removes
    a feature, e.g. "drop one from the feature definition"); ``None`` when there is none."""
    if not pairs:
        return None
    described = "; ".join(
        f"{p.first} and {p.second} ("
        + ("the same value" if p.equal else "the same categories under other names")
        + ")"
        for p in pairs
    )
    return (
        f"{len(pairs)} pair(s) of features carry the same information on all {rows:,} rows: "
        f"{described}. The model splits its credit between the two and the reasons can name "
        f"the same fact twice: {where}."
    )
