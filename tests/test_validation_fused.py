"""The fused validation (counts batched per table, the ordered-key test) finds exactly what one
query per check finds: the same problems, counts, examples and wording."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.config import CrmMapping
from leadscore.sources import source_for
from leadscore.validation import Problem, _Checker, _run_checks, validate
from leadscore.validation_counts import FusedCounts
from tests.crm_tables import Tables, tiny_crm_tables, write_csv_folder

AS_OF = datetime(2025, 1, 1)


def _both(tmp_path: Path, change: Callable[[Tables], None]) -> tuple[list[Problem], list[Problem]]:
    """Problems of the fused validation and of one query per check (the checks run alone)."""
    tables = tiny_crm_tables()
    change(tables)
    folder = write_csv_folder(tables, tmp_path / "crm")
    with duckdb.connect() as fused, duckdb.connect() as alone:
        source_for(folder).register(fused)
        source_for(folder).register(alone)
        found = validate(fused, CrmMapping(), as_of=AS_OF, raise_on_error=False)
        reference = _run_checks(_Checker(alone, CrmMapping(), AS_OF))
    return found, reference


def _ids(*ids: str | None) -> Callable[[Tables], None]:
    def change(t: Tables) -> None:
        events = t["events"]
        t["events"] = pd.concat([events, events.iloc[[0] * (len(ids) - len(events))]])
        t["events"]["event_id"] = list(ids)

    return change


def _many(t: Tables) -> None:
    t["accounts"]["employee_count"] = ["1,500", "12"]  # an unreadable number
    t["accounts"].loc[1, "annual_revenue"] = -3.0  # below the minimum
    t["contacts"].loc[0, "email_domain"] = "x@acme.com"
    t["contacts"].loc[2, "account_id"] = "A9"  # an unknown account
    t["events"].loc[0, "event_type"] = "carrier_pigeon"
    t["events"].loc[1, "occurred_at"] = "2030-01-01 00:00:00"  # in the future
    t["events"].loc[2, "contact_id"] = None  # missing
    t["events"].loc[3, "occurred_at"] = "01/03/2024"
    t["stage_changes"].loc[0, "stage"] = "won"
    t["stage_changes"].loc[1, "changed_at"] = "2023-01-01 00:00:00"  # before the contact


def _vocabulary(t: Tables) -> None:
    t["events"]["event_type"] = [" Web_Visit ", "carrier_pigeon", "carrier_pigeon", None]
    t["stage_changes"]["stage"] = ["Lead", "MQL ", "won", "lost", None]


@pytest.mark.parametrize(
    "change",
    [
        _ids("E1", "E2", "E2", "E3"),  # ordered, a repeat next to itself
        _ids("E1", None, "E1", "E2"),  # ordered but for a missing id between two equal ones
        _ids("E3", "E1", "E2", "E1"),  # not ordered, a repeat
        _ids("E3", "E1", "E2", "E4"),  # not ordered, no repeat: grouped to be sure
        _ids("E1", "E2", "E3", "E4"),  # ordered: no repeat without grouping
        _many,
        _vocabulary,
    ],
    ids=["ordered-dup", "null-between", "unordered-dup", "unordered", "ordered", "many", "vocab"],
)
def test_fused_validation_equals_one_query_per_check(
    tmp_path: Path, change: Callable[[Tables], None]
) -> None:
    found, reference = _both(tmp_path, change)
    assert found == reference
    assert change is not _many or len(found) >= 9, [str(p) for p in found]
    assert change is not _vocabulary or [p.n_rows for p in found if "unknown" in p.expected] == [
        2,
        2,
    ]
    assert [str(p) for p in found] == [str(p) for p in reference]


def test_duplicates_found_whatever_the_order(tmp_path: Path) -> None:
    for name, change in {
        "ordered": _ids("E1", "E2", "E2", "E3"),
        "not": _ids("E2", "E1", "E3", "E2"),
    }.items():
        found, _ = _both(tmp_path / name, change)
        (problem,) = [p for p in found if "duplicated" in p.expected]
        assert (problem.table, problem.column, problem.n_rows) == ("events", "event_id", 2)
        assert problem.examples == ("E2",)


class _Logged:
    """A DuckDB connection that notes every query it runs in ``queries``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, queries: list[str]) -> None:
        self.con = con
        self.queries = queries

    def execute(self, query: str) -> duckdb.DuckDBPyConnection:
        self.queries.append(query)
        return self.con.execute(query)


def test_counts_of_a_table_run_as_one_query(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    queries: list[str] = []

    with duckdb.connect() as con:
        source_for(folder).register(con)
        fused = FusedCounts(_Logged(con, queries))
        fused.record()
        _run_checks(_Checker(fused, CrmMapping(), AS_OF))
        fused.prefetch()
        assert _run_checks(_Checker(fused, CrmMapping(), AS_OF)) == []
    scans = [q for q in queries if q.startswith("SELECT") and "FROM raw_events" in q]
    assert len(scans) == 1, scans  # every check of the raw events in one scan
    assert not [q for q in queries if q.startswith("DESCRIBE raw_events")][1:]  # read once


def _text_columns() -> list[tuple[str, str]]:
    return [
        (name, column)
        for name, frame in tiny_crm_tables().items()
        for column in frame.columns
        if frame[column].map(lambda v: isinstance(v, str)).all()
    ]


def _nul(name: str, column: str, row: int = 0) -> Callable[[Tables], None]:
    def change(t: Tables) -> None:
        t[name].loc[row, column] = f"{t[name].loc[row, column]}\x00x"

    return change


@pytest.mark.parametrize(("name", "column"), _text_columns())
def test_nul_bytes_found_alike_in_each_text_column(tmp_path: Path, name: str, column: str) -> None:
    found, reference = _both(tmp_path, _nul(name, column))
    assert found == reference
    assert [str(p) for p in found] == [str(p) for p in reference]
    nul = [p for p in found if "NUL bytes" in p.expected]
    assert [(p.table, p.column, p.n_rows) for p in nul] == [(name, column, 1)]


@pytest.mark.parametrize(
    "change",
    [
        _ids("E1", "E2\x00", "E2\x00", "E3"),  # ordered key, NUL bytes in a repeat
        _ids("E1", "E2\x00", "E3\x00", "E4"),  # ordered key, two NUL bytes
        _ids("E3\x00", "E1", "E2", "E4"),  # unordered key
        _ids("E1", None, "E2\x00", "E3"),  # a missing id beside one
        _ids("E1", "E2", "E3", "E4"),  # none
    ],
    ids=["ordered-dup", "ordered", "unordered", "missing", "none"],
)
def test_nul_bytes_of_the_key_counted_beside_its_order(
    tmp_path: Path, change: Callable[[Tables], None]
) -> None:
    found, reference = _both(tmp_path, change)
    assert found == reference
    assert [str(p) for p in found] == [str(p) for p in reference]


def test_key_nul_bytes_not_read_again(tmp_path: Path) -> None:
    """The key's NUL bytes are counted in its ordered pass, not in the table's scan."""
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    queries: list[str] = []

    with duckdb.connect() as con:
        source_for(folder).register(con)
        fused = FusedCounts(_Logged(con, queries))
        fused.record()
        _run_checks(_Checker(fused, CrmMapping(), AS_OF, local=True))
        fused.prefetch()
        assert _run_checks(_Checker(fused, CrmMapping(), AS_OF, local=True)) == []
    scan = [q for q in queries if q.startswith("SELECT count(") and "FROM raw_events" in q]
    assert len(scan) == 1 and 'strpos("event_id"' not in scan[0], scan
    assert 'strpos("contact_id"' in scan[0]
    ordered = [q for q in queries if "lag(" in q and '"event_id"' in q]
    assert len(ordered) == 1 and "chr(0)" in ordered[0], ordered
