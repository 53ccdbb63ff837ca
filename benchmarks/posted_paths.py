"""The HTTP API's per-request DuckDB work, before/after, side by side in one run.

Run::

    .venv/bin/python benchmarks/posted_paths.py [--repeat 30]

1. The feature query of posted leads (1 and 50 leads): the portable query (the digit
   cross-product day sequence) against ``feature_query(duckdb_days=True)`` (DuckDB's
   ``range``), both prepared as :class:`~leadscore.serving.features.PostedFeatures` does
   (optimizer off); the rows are checked equal.
2. The contract checks of one lead: the ~60 bad-row counts as one union (before), folded per
   table (:func:`~leadscore.serving.posted.fold_checks`), and folded without the checks posted
   rows cannot fail (``built_by_posted_tables``).

Requests alternate between the variants, so each sees the same machine load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta
from typing import Any, cast

import duckdb

AS_OF = datetime(2025, 12, 30, 23, 58, 29)


def _lead(i: int) -> dict[str, Any]:
    def stamp(days: float) -> str:
        return (AS_OF - timedelta(days=days)).isoformat()

    return {
        "contact": {"contact_id": f"B{i}", "created_at": stamp(200), "job_title": "VP Sales"},
        "account": {"account_id": f"A{i}", "created_at": stamp(400), "employee_count": 300},
        "events": [
            {"occurred_at": stamp(1 + (i * 7 + k * 5) % 88), "event_type": "web_visit"}
            for k in range(12)
        ],
        "stage_changes": [{"changed_at": stamp(200), "stage": "lead"}],
    }


def _tables(n: int) -> dict[str, Any]:
    from leadscore.serving.posted import ScoreRequest, posted_tables

    body = {"leads": [_lead(i) for i in range(n)], "as_of": AS_OF.isoformat()}
    return posted_tables(ScoreRequest.model_validate(body))


def _median_ms(runs: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(v) for name, v in runs.items()}


def _alternate(calls: dict[str, Any], repeat: int) -> dict[str, float]:
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            runs[name].append((time.perf_counter() - t0) * 1000)
    return _median_ms(runs)


def _report(title: str, medians: dict[str, float]) -> None:
    first = next(iter(medians.values()))
    print(title)
    for name, ms in medians.items():
        print(f"  {name:44s} {ms:8.2f} ms  {first / ms:5.2f}x")


def features(repeat: int) -> None:
    from leadscore.features import load_definition
    from leadscore.features.engine import create_canonical_tables, cutoff_table
    from leadscore.features.sql import CUTOFFS_TABLE, feature_query

    definition = load_definition()
    for n in (1, 50):
        cons: dict[str, duckdb.DuckDBPyConnection] = {}
        for name, days in (("portable day sequence (before)", False), ("duckdb range", True)):
            con = duckdb.connect(config={"threads": 1})
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_optimizer = false")
            create_canonical_tables(con)
            con.execute(f"CREATE TABLE {CUTOFFS_TABLE} (cutoff TIMESTAMP)")
            con.execute(f"PREPARE q AS {feature_query(definition, duckdb_days=days)}")
            for table, rows in {**_tables(n), CUTOFFS_TABLE: cutoff_table([AS_OF])}.items():
                con.from_arrow(rows).insert_into(table)
            cons[name] = con
        results = [c.execute("EXECUTE q").fetchall() for c in cons.values()]
        if any(r != results[0] for r in results) or len(results[0]) != n:
            raise SystemExit("the feature query variants disagree")
        calls = {name: (lambda c=c: c.execute("EXECUTE q").fetchall()) for name, c in cons.items()}
        _report(
            f"feature query, {n} posted lead(s), all features, rows equal:",
            _alternate(calls, repeat),
        )


def checks(repeat: int) -> None:
    from leadscore.config import CrmMapping
    from leadscore.contract import CONTRACT
    from leadscore.serving.posted import (
        _BY_CONSTRUCTION,
        _POSTED,
        _SENTINEL,
        _Recorder,
        fold_checks,
    )
    from leadscore.validation import raw_view, validate

    con = duckdb.connect(config={"threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_optimizer = false")
    for name in _POSTED:
        spec = next(t for t in CONTRACT if t.name == name)
        columns = ", ".join(f'"{c.name}" {c.dtype}' for c in spec.columns)
        con.execute(f"CREATE TABLE {raw_view(name)} ({columns})")
    recorder = _Recorder(con)
    validate(
        cast(duckdb.DuckDBPyConnection, recorder),
        CrmMapping(),
        as_of=_SENTINEL,
        allow_empty_tables=True,
    )
    literal = f"TIMESTAMP '{_SENTINEL:%Y-%m-%d %H:%M:%S}'"
    recorded = [q.replace(literal, "CAST($1 AS TIMESTAMP)") for q in recorder.counts]
    variants = {
        f"{len(recorded)} checks in one union (before)": recorded,
        "folded per table": fold_checks(recorded),
        "folded, by-construction checks left out": fold_checks(
            [q for q in recorded if not _BY_CONSTRUCTION.match(q)]
        ),
    }
    for table, rows in _tables(1).items():
        con.from_arrow(rows).insert_into(raw_view(table))
    moment = f"'{AS_OF:%Y-%m-%d %H:%M:%S}'"
    calls = {}
    for i, (name, queries) in enumerate(variants.items()):
        union = " UNION ALL ".join(f"({q})" for q in queries)
        con.execute(f"PREPARE c{i} AS SELECT max(n) FROM ({union}) AS checks(n)")
        if con.execute(f"EXECUTE c{i}({moment})").fetchone() != (0,):
            raise SystemExit("a valid lead broke a check")
        calls[f"{name} ({len(queries)} queries)"] = lambda i=i: con.execute(
            f"EXECUTE c{i}({moment})"
        ).fetchone()
    _report("contract checks of one posted lead:", _alternate(calls, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    features(args.repeat)
    checks(args.repeat)


if __name__ == "__main__":
    main()
