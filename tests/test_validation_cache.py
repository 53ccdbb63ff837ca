"""The validated-CRM cache: a hit returns what full validation returned, any change or a bad
entry means full validation again."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import leadscore.crm as crm_module
from leadscore import validation_cache
from leadscore.config import CrmMapping
from leadscore.crm import CrmData, open_crm
from leadscore.errors import DataContractError
from tests.crm_tables import tiny_crm_tables, write_csv_folder
from tests.source_writers import write_duckdb, write_folder

AS_OF = datetime(2025, 1, 1)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of its own; files just written count as settled (no racy window)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(validation_cache.CACHE_ENV, str(folder))
    monkeypatch.setattr(validation_cache, "RACY_NS", 0)
    return folder


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full validations run by open_crm."""
    calls: list[int] = []
    real = crm_module.validate

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(crm_module, "validate", counted)
    return calls


def _tables(crm: CrmData) -> dict[str, pd.DataFrame]:
    return {t: crm.frame(t) for t in ("accounts", "contacts", "events", "stage_changes")}


def _same(a: CrmData, b: CrmData) -> None:
    assert a.problems == b.problems
    assert a.fingerprint() == b.fingerprint()
    for name, frame in _tables(a).items():
        pd.testing.assert_frame_equal(frame, _tables(b)[name], check_exact=True)


def _entry(cache: Path) -> Path:
    (entry,) = cache.glob("*.json")
    return entry


@pytest.mark.parametrize("kind", ["duckdb", "csv", "parquet-parts"])
def test_a_hit_returns_what_full_validation_returned(
    tmp_path: Path, cache: Path, validations: list[int], kind: str
) -> None:
    tables = tiny_crm_tables()
    if kind == "duckdb":
        location = write_duckdb(tables, tmp_path / "crm.duckdb")
    elif kind == "csv":
        location = write_csv_folder(tables, tmp_path / "crm")
    else:
        location = write_folder(tables, tmp_path / "crm", "parquet", parts=("events",))
    full = open_crm(location, as_of=AS_OF)
    assert validations == [1] and _entry(cache).is_file()
    cached = open_crm(location, as_of=AS_OF)
    assert validations == [1]  # not validated again
    _same(full, cached)


def test_warnings_are_returned_on_a_hit(
    tmp_path: Path, cache: Path, validations: list[int]
) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    (folder / "notes.txt").write_text("not a table")
    full = open_crm(folder, as_of=AS_OF)
    assert full.problems and all(p.severity == "warning" for p in full.problems)
    cached = open_crm(folder, as_of=AS_OF)
    assert validations == [1]
    assert cached.problems == full.problems


def test_a_changed_duckdb_file_is_validated_again(
    tmp_path: Path, cache: Path, validations: list[int]
) -> None:
    path = write_duckdb(tiny_crm_tables(), tmp_path / "crm.duckdb")
    open_crm(path, as_of=AS_OF)
    with duckdb.connect(str(path)) as con:  # a duplicate event id
        con.execute("INSERT INTO events SELECT * FROM events LIMIT 1")
    with pytest.raises(DataContractError, match="duplicated"):
        open_crm(path, as_of=AS_OF)
    assert validations == [1, 1]


def test_a_changed_folder_is_validated_again(
    tmp_path: Path, cache: Path, validations: list[int]
) -> None:
    tables = tiny_crm_tables()
    folder = write_csv_folder(tables, tmp_path / "crm")
    open_crm(folder, as_of=AS_OF)
    tables["events"].loc[0, "contact_id"] = "C404"  # same size, other content
    tables["events"].to_csv(folder / "events.csv", index=False)
    with pytest.raises(DataContractError, match="unknown contacts"):
        open_crm(folder, as_of=AS_OF)
    (folder / "events.csv").unlink()  # a removed table
    with pytest.raises(DataContractError, match="table is missing"):
        open_crm(folder, as_of=AS_OF)
    assert validations == [1, 1, 1]


def test_other_checks_parameters_miss(tmp_path: Path, cache: Path, validations: list[int]) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    open_crm(folder, as_of=AS_OF)
    open_crm(folder, CrmMapping(event_types={"visit": "web_visit"}), as_of=AS_OF)
    open_crm(folder, as_of=AS_OF, allow_empty_tables=True)
    assert validations == [1, 1, 1]


def test_an_earlier_moment_checks_future_timestamps_again(
    tmp_path: Path, cache: Path, validations: list[int]
) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    open_crm(folder, as_of=AS_OF)
    open_crm(folder, as_of=datetime(2030, 1, 1))  # later: still nothing in the future
    assert validations == [1]
    with pytest.raises(DataContractError, match="in the future"):
        open_crm(folder, as_of=datetime(2024, 2, 20))
    assert validations == [1, 1]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "edited", "other-format"])
def test_a_corrupt_entry_falls_back_to_full_validation(
    tmp_path: Path, cache: Path, validations: list[int], damage: str
) -> None:
    tables = tiny_crm_tables()
    folder = write_csv_folder(tables, tmp_path / "crm")
    open_crm(folder, as_of=AS_OF)
    entry = _entry(cache)
    # the CRM turns bad; the entry is made to claim the new files passed
    tables["events"].loc[0, "contact_id"] = "C404"
    tables["events"].to_csv(folder / "events.csv", index=False)
    data = json.loads(entry.read_text())
    key = validation_cache.cache_key(
        validation_cache_source(folder), None, CrmMapping(), allow_empty_tables=False
    )
    assert key is not None
    data["body"]["key"]["files"] = key.files
    text = json.dumps(data)
    if damage == "garbage":
        text = "\x00not json"
    elif damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "other-format":
        data["format"] = "leadscore-validated/0"
        text = json.dumps(data)
    entry.write_text(text)
    with pytest.raises(DataContractError, match="unknown contacts"):
        open_crm(folder, as_of=AS_OF)
    assert validations == [1, 1]


def validation_cache_source(folder: Path) -> Any:
    from leadscore.sources import source_for

    return source_for(folder)


def test_an_entry_is_used_only_for_its_own_source(
    tmp_path: Path, cache: Path, validations: list[int]
) -> None:
    tables = tiny_crm_tables()
    first = write_csv_folder(tables, tmp_path / "a")
    open_crm(first, as_of=AS_OF)
    tables["events"].loc[0, "contact_id"] = "C404"
    second = write_csv_folder(tables, tmp_path / "b")
    with pytest.raises(DataContractError, match="unknown contacts"):
        open_crm(second, as_of=AS_OF)


def test_recent_writes_and_errors_are_not_recorded(
    tmp_path: Path, cache: Path, validations: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation_cache, "RACY_NS", 3600 * 10**9)
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    open_crm(folder, as_of=AS_OF)
    assert not list(cache.glob("*.json"))  # written just now: a write could go unseen
    monkeypatch.setattr(validation_cache, "RACY_NS", 0)
    tables = tiny_crm_tables()
    tables["events"].loc[0, "contact_id"] = "C404"
    bad = write_csv_folder(tables, tmp_path / "bad")
    bad_crm = open_crm(bad, as_of=AS_OF, raise_on_error=False)
    assert bad_crm.problems and not list(cache.glob("*.json"))


def test_duckdb_views_and_disabled_cache_are_not_cached(
    tmp_path: Path, cache: Path, validations: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = tiny_crm_tables()
    parquet = write_folder(tables, tmp_path / "files", "parquet")
    path = tmp_path / "views.duckdb"
    with duckdb.connect(str(path)) as con:  # views reading files outside the DuckDB file
        for name in tables:
            target = str(parquet / f"{name}.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{target}')")
    open_crm(path, as_of=AS_OF)
    open_crm(path, as_of=AS_OF)
    assert validations == [1, 1] and not list(cache.glob("*.json"))
    monkeypatch.setenv(validation_cache.CACHE_ENV, "")
    folder = write_csv_folder(tables, tmp_path / "crm")
    open_crm(folder, as_of=AS_OF)
    open_crm(folder, as_of=AS_OF)
    assert validations == [1, 1, 1, 1]


def test_a_change_inside_a_linked_parts_folder_is_seen(
    tmp_path: Path, cache: Path, validations: list[int]
) -> None:
    tables = tiny_crm_tables()
    folder = write_csv_folder({k: v for k, v in tables.items() if k != "events"}, tmp_path / "crm")
    parts = tmp_path / "elsewhere" / "events"
    parts.mkdir(parents=True)
    tables["events"].to_csv(parts / "part-0.csv", index=False)
    (folder / "events").symlink_to(parts, target_is_directory=True)
    open_crm(folder, as_of=AS_OF)
    tables["events"].loc[0, "contact_id"] = "C404"  # rewritten in place, inside the link
    tables["events"].to_csv(parts / "part-0.csv", index=False)
    with pytest.raises(DataContractError, match="unknown contacts"):
        open_crm(folder, as_of=AS_OF)
    assert validations == [1, 1]
