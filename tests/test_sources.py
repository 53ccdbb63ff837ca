"""Every CRM source gives identical validated tables: DuckDB file, CSV/Parquet folders, PostgreSQL.

The PostgreSQL tests use a real, throw-away server (the session fixture ``postgres`` of
tests/conftest.py) when the server binaries are installed, and are skipped with a clear reason
only when they are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from leadscore.contract import CONTRACT, TABLE_NAMES, EventType, Stage, table_spec
from leadscore.crm import CrmData, open_crm
from leadscore.errors import DataContractError, SourceError
from leadscore.sources import DuckDBFileSource, FolderSource, SqlSource, source_for
from leadscore.validation import validate
from tests.postgres_support import PostgresServer, free_port
from tests.source_writers import (
    AS_OF,
    MAPPING,
    Tables,
    hand_built_crm,
    read_duckdb,
    synthetic_generator,
    write_duckdb,
    write_folder,
    write_postgres,
)

# -- the sources under test ------------------------------------------------------------------------


def _open(location: str | Path, as_of: datetime | None = AS_OF) -> CrmData:
    return open_crm(location, MAPPING, as_of=as_of)


def _all_sources(
    tables: Tables, root: Path, server: PostgresServer, database: str
) -> dict[str, str]:
    """The same CRM as a DuckDB file, a CSV folder, a Parquet folder and a PostgreSQL database."""
    return {
        "duckdb": str(write_duckdb(tables, root / "crm.duckdb")),
        "csv": str(write_folder(tables, root / "csv", "csv", parts=("stage_changes",))),
        "parquet": str(write_folder(tables, root / "parquet", "parquet", parts=("events",))),
        "postgres": write_postgres(tables, server.url, database),
    }


def _assert_identical(
    locations: Mapping[str, str | Path], as_of: datetime | None = AS_OF
) -> dict[str, Tables]:
    frames: dict[str, Tables] = {}
    fingerprints: dict[str, str] = {}
    for kind, location in locations.items():
        crm = _open(location, as_of)
        try:
            frames[kind] = {table: crm.frame(table) for table in TABLE_NAMES}
            fingerprints[kind] = crm.fingerprint()
        finally:
            crm.close()
    reference, *others = locations
    for kind in others:
        for table in TABLE_NAMES:
            try:
                pd.testing.assert_frame_equal(frames[kind][table], frames[reference][table])
            except AssertionError as exc:
                raise AssertionError(f"{table}: {kind} differs from {reference}: {exc}") from None
    assert len(set(fingerprints.values())) == 1, fingerprints
    return frames


def test_hand_built_crm_is_identical_from_every_source(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    tables = hand_built_crm()
    frames = _assert_identical(_all_sources(tables, tmp_path, postgres, "crm_hand"))
    canonical = frames["duckdb"]
    # identical and right: values survive every source exactly
    for name, raw in tables.items():
        assert len(canonical[name]) == len(raw), name
    for column in ("contact_id", "account_id", "created_at", "job_title", "email_domain"):
        assert canonical["contacts"][column].tolist() == tables["contacts"][column].tolist()
    assert canonical["contacts"]["seniority"].isna().all()  # optional column absent everywhere
    assert canonical["accounts"]["employee_count"].max() == 5_000_000_000
    assert list(canonical["accounts"].columns)[-1] == "segment"  # extra account column kept
    assert set(canonical["events"]["event_type"]) <= {e.value for e in EventType}
    assert "pricing_page_visit" in set(canonical["events"]["event_type"])
    assert set(canonical["stage_changes"]["stage"]) <= {s.value for s in Stage}
    assert canonical["feedback"].empty
    assert str(canonical["feedback"]["given_at"].dtype) == "datetime64[us]"


def test_synthetic_crm_is_identical_from_every_source(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    generate = synthetic_generator()
    if generate is None:
        pytest.skip("leadscore.synthetic (the CRM generator) is not importable yet")
    generate(tmp_path / "crm.duckdb", "duckdb")
    generate(tmp_path / "parquet", "parquet")
    generate(tmp_path / "csv", "csv")
    raw = read_duckdb(tmp_path / "crm.duckdb")
    locations = {
        "duckdb": str(tmp_path / "crm.duckdb"),
        "parquet": str(tmp_path / "parquet"),
        "csv": str(tmp_path / "csv"),
        "postgres": write_postgres(raw, postgres.url, "crm_synthetic"),
        "parquet-rewritten": str(write_folder(raw, tmp_path / "own", "parquet", parts=("events",))),
    }
    frames = _assert_identical(locations, as_of=None)  # generated history ends before "now"
    assert len(frames["duckdb"]["contacts"]) == 300


# -- broken data gives the same problems whatever the source ---------------------------------------


def _broken_crm() -> Tables:
    tables = hand_built_crm()
    del tables["stage_changes"]
    tables["contacts"] = tables["contacts"].rename(columns={"created_at": "created"})
    accounts = tables["accounts"].astype({"employee_count": "str"})
    accounts.loc[2, "employee_count"] = "many"
    tables["accounts"] = accounts
    tables["events"] = tables["events"].iloc[:0]
    return tables


def test_broken_crm_gives_the_same_problems_from_every_source(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    problems: dict[str, list[object]] = {}
    for kind, location in _all_sources(_broken_crm(), tmp_path, postgres, "crm_broken").items():
        with pytest.raises(DataContractError) as caught:
            _open(location)
        problems[kind] = caught.value.problems
    reference = problems["csv"]
    assert all(found == reference for found in problems.values()), problems
    text = "\n".join(str(p) for p in reference)
    assert "stage_changes: table is missing" in text
    assert "contacts.created_at: required column is missing" in text
    assert "accounts.employee_count: 1 row(s) (e.g. A002): values cannot be read as BIGINT" in text
    assert "events: table is empty" in text


def test_unreachable_database_names_no_password() -> None:
    url = f"postgresql+psycopg://crm_reader:Secret-Pw-42@127.0.0.1:{free_port()}/crm"
    with pytest.raises(SourceError) as caught:
        open_crm(url, as_of=AS_OF)
    message = str(caught.value)
    assert "Secret-Pw-42" not in message
    assert "127.0.0.1" in message and "***" in message


def test_missing_database_names_no_password(postgres: PostgresServer) -> None:
    url = f"postgresql+psycopg://postgres:Secret-Pw-42@127.0.0.1:{postgres.port}/no_such_crm"
    with pytest.raises(SourceError) as caught:
        open_crm(url, as_of=AS_OF)
    assert "Secret-Pw-42" not in str(caught.value)
    assert "no_such_crm" in str(caught.value)


def test_missing_driver_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="driver"):
        SqlSource("nosuchdialect+nosuchdriver://u:Secret-Pw-42@host/db").register(duckdb.connect())


def test_sql_source_reads_views_and_schemas(tmp_path: Path, postgres: PostgresServer) -> None:
    tables = hand_built_crm()
    url = write_postgres(tables, postgres.url, "crm_views")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE SCHEMA crm"))
            for name in TABLE_NAMES:
                connection.execute(sa.text(f'CREATE VIEW crm."{name}" AS SELECT * FROM "{name}"'))
    finally:
        engine.dispose()
    in_schema = open_crm(SqlSource(url, schema="crm"), MAPPING, as_of=AS_OF)
    in_file = _open(write_duckdb(tables, tmp_path / "crm.duckdb"))
    try:
        assert in_schema.fingerprint() == in_file.fingerprint()
        assert "crm_views" in in_schema.description
    finally:
        in_schema.close()
        in_file.close()


# -- folder specifics ------------------------------------------------------------------------------


def test_table_as_both_csv_and_parquet_is_an_error(tmp_path: Path) -> None:
    folder = write_folder(hand_built_crm(), tmp_path / "crm", "csv")
    hand_built_crm()["accounts"].to_parquet(folder / "accounts.parquet")
    with pytest.raises(SourceError, match=r"Table 'accounts' exists more than once"):
        _open(folder)


def test_table_as_both_file_and_parts_folder_is_an_error(tmp_path: Path) -> None:
    tables = hand_built_crm()
    folder = write_folder(tables, tmp_path / "crm", "parquet", parts=("events",))
    tables["events"].to_parquet(folder / "events.parquet")
    with pytest.raises(SourceError, match=r"events\.parquet, events/\*\.parquet"):
        _open(folder)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_parts_folders_are_read_as_one_table(tmp_path: Path, fmt: str) -> None:
    tables = hand_built_crm()
    folder = write_folder(tables, tmp_path / "crm", fmt, parts=tuple(TABLE_NAMES))
    assert sorted(p.name for p in (folder / "events").iterdir()) == [
        f"part-0.{fmt}",
        f"part-1.{fmt}",
    ]
    crm = _open(folder)
    try:
        assert crm.row_counts() == {name: len(frame) for name, frame in tables.items()}
    finally:
        crm.close()


def test_nonexistent_location_is_a_source_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-crm"
    with pytest.raises(SourceError, match="neither a DuckDB file"):
        _open(missing)
    with pytest.raises(SourceError, match="does not exist"):
        FolderSource(missing).register(duckdb.connect())
    with pytest.raises(SourceError, match="does not exist"):
        DuckDBFileSource(tmp_path / "missing.duckdb").register(duckdb.connect())


def test_source_for_picks_the_reader(tmp_path: Path) -> None:
    assert isinstance(source_for("postgresql+psycopg://u@h/db"), SqlSource)
    assert isinstance(source_for(tmp_path), FolderSource)
    assert isinstance(source_for(tmp_path / "crm.duckdb"), DuckDBFileSource)
    assert "secret" not in SqlSource("postgresql+psycopg://u:secret@h/db").describe()


def test_not_a_duckdb_file_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "crm.duckdb"
    path.write_text("not a database")
    with pytest.raises(SourceError, match="Cannot open"):
        _open(path)


# -- time zones ------------------------------------------------------------------------------------


def test_timestamps_with_offsets_become_utc_in_every_format(tmp_path: Path) -> None:
    """Offsets in CSV text and tz-aware Parquet/DuckDB columns give naive UTC, whatever the
    session time zone; text without an offset is taken as UTC."""
    tables = hand_built_crm()
    expected = _open(write_duckdb(tables, tmp_path / "naive.duckdb"))
    try:
        want = {name: expected.frame(name) for name in TABLE_NAMES}
    finally:
        expected.close()

    aware = dict(tables)
    events = tables["events"].copy()
    events["occurred_at"] = events["occurred_at"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    aware["events"] = events
    csv_events = events.copy()
    csv_events["occurred_at"] = events["occurred_at"].map(lambda t: t.isoformat())
    csv_tables = {**aware, "events": csv_events}
    locations = {
        "csv": write_folder(csv_tables, tmp_path / "csv", "csv"),
        "parquet": write_folder(aware, tmp_path / "parquet", "parquet"),
        "duckdb": write_duckdb(aware, tmp_path / "aware.duckdb"),
    }
    assert "+09:00" in (tmp_path / "csv" / "events.csv").read_text()
    for kind, location in locations.items():
        source = source_for(location)
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'America/New_York'")  # a non-UTC session must not matter
            source.register(con)
            validate(con, MAPPING, as_of=AS_OF)
            got = CrmData(con, description=source.describe(), problems=[])
            for name in TABLE_NAMES:
                try:
                    pd.testing.assert_frame_equal(got.frame(name), want[name])
                except AssertionError as exc:
                    raise AssertionError(f"{kind}: {name}: {exc}") from None
        finally:
            con.close()


def test_unparsable_csv_timestamps_are_reported_not_hidden(tmp_path: Path) -> None:
    tables = hand_built_crm()
    events = tables["events"].astype({"occurred_at": "str"})
    events.loc[0, "occurred_at"] = "yesterday"
    folder = write_folder({**tables, "events": events}, tmp_path / "crm", "csv")
    with pytest.raises(DataContractError) as caught:
        _open(folder)
    assert "events.occurred_at: 1 row(s) (e.g. E00000): values cannot be read as TIMESTAMP" in str(
        caught.value
    )


def test_contract_tables_are_all_exercised() -> None:
    assert set(hand_built_crm()) == {t.name for t in CONTRACT}
    for name, frame in hand_built_crm().items():
        required = {c.name for c in table_spec(name).columns if c.required}
        assert required <= set(frame.columns), name


def test_postgres_timestamps_are_utc_whatever_the_session_time_zones(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    tables = hand_built_crm()
    want = _open(write_duckdb(tables, tmp_path / "crm.duckdb"))
    source = SqlSource(write_postgres(tables, postgres.url, "crm_tz", time_zone="America/Denver"))
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'Asia/Kolkata'")
        source.register(con)
        validate(con, MAPPING, as_of=AS_OF)
        got = CrmData(con, description=source.describe(), problems=[])
        for name in TABLE_NAMES:
            pd.testing.assert_frame_equal(got.frame(name), want.frame(name))
    finally:
        con.close()
        want.close()


def test_postgres_chunks_keep_types_when_a_chunk_is_all_null(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Types come from the database schema, not from the values of the first chunk."""
    tables = hand_built_crm()
    contacts = tables["contacts"].copy()
    for column in ("job_title", "department", "country"):
        contacts.loc[:9, column] = None  # the whole first chunk is NULL
    tables["contacts"] = contacts
    monkeypatch.setattr("leadscore.sources._SQL_CHUNK_ROWS", 10)
    _assert_identical(
        {
            "duckdb": write_duckdb(tables, tmp_path / "crm.duckdb"),
            "postgres": write_postgres(tables, postgres.url, "crm_chunks"),
        }
    )
