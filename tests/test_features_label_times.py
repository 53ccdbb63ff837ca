"""User-given label times: the same features and labels as a schedule for the same pairs, the
leakage property, clear errors for bad files, and the CLI option."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from leadscore.crm import CrmData, open_crm
from leadscore.errors import ConfigError, SourceError
from leadscore.features import (
    LabelTimes,
    build_training_table,
    label_times_query,
    load_definition,
    read_training_table,
)
from leadscore.features.engine import DuckDBEngine
from leadscore.features.label_times import CUTOFFS_TABLE
from tests.test_features_data import crm_from_frames, synthetic_crm_file
from tests.test_features_leakage import CUTOFF, DEFINITION, _crm_tables, _split, worlds

CUTOFFS = [datetime(2025, 3, 1), datetime(2025, 4, 1), datetime(2025, 5, 1)]
ODD = datetime(2025, 5, 1, 12, 30)  # another time of day: another grid in the same query


@pytest.fixture(scope="module")
def crm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_crm_file(tmp_path_factory.mktemp("lt"), 400, 11)


@pytest.fixture(scope="module")
def crm(crm_path: Path) -> CrmData:
    return open_crm(crm_path, as_of=datetime(2026, 1, 1))


@pytest.fixture(scope="module")
def scheduled(crm: CrmData, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("sched") / "t.parquet"
    build_training_table(crm, load_definition(), [*CUTOFFS, ODD], 30, out)
    return pd.read_parquet(out)


def test_given_pairs_get_the_schedules_features_and_labels(
    crm: CrmData, scheduled: pd.DataFrame, tmp_path: Path
) -> None:
    sample = scheduled.iloc[::2][["contact_id", "cutoff"]]
    assert sample["cutoff"].nunique() == 4 and len(sample) > 300
    # one pair the schedule left out (the contact was already SQL or disqualified): excluded
    known = set(zip(scheduled["contact_id"], scheduled["cutoff"], strict=True))
    contacts = crm.con.execute("SELECT contact_id FROM contacts ORDER BY contact_id").fetchall()
    outsider = next(c for (c,) in contacts if (c, CUTOFFS[0]) not in known)
    pairs = pd.concat(
        [sample, pd.DataFrame({"contact_id": [outsider], "cutoff": [CUTOFFS[0]]})]
    ).sample(frac=1, random_state=3)  # any order
    csv = tmp_path / "pairs.csv"
    pairs.assign(cutoff=pairs["cutoff"].dt.strftime("%Y-%m-%dT%H:%M:%S")).to_csv(csv, index=False)

    out = tmp_path / "given.parquet"
    result = build_training_table(crm, load_definition(), None, 30, out, label_times=csv)
    built = pd.read_parquet(out)
    expected = sample.merge(scheduled, on=["contact_id", "cutoff"]).sort_values(
        ["cutoff", "contact_id"], ignore_index=True
    )
    pd.testing.assert_frame_equal(built, expected)
    assert result.meta.label_times == "given" and result.meta.label_times_file == str(csv)
    assert result.meta.excluded_rows == 1 and result.rows == len(sample)

    # the same pairs from Parquet, one cutoff per query: same table
    parquet = tmp_path / "pairs.parquet"
    pairs.to_parquet(parquet, index=False)
    again = build_training_table(
        crm, load_definition(), None, 30, tmp_path / "g2.parquet",
        label_times=parquet, cutoffs_per_query=1,
    )  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_parquet(again.path), built)
    assert read_training_table(again.path)[1] == again.meta


def test_label_times_table_matches_the_training_rows(crm: CrmData, scheduled: pd.DataFrame) -> None:
    engine = DuckDBEngine(crm)
    table = engine.run(
        label_times_query(30), {CUTOFFS_TABLE: pa.table({"cutoff": [*CUTOFFS, ODD]})}
    ).to_pandas()
    assert list(table.columns) == ["contact_id", "cutoff", "is_mql", "became_sql", "booked_meeting"]
    pd.testing.assert_frame_equal(
        table[["contact_id", "cutoff", "became_sql", "booked_meeting"]],
        scheduled[["contact_id", "cutoff", "became_sql", "booked_meeting"]],
        check_dtype=False,
    )
    assert (table["is_mql"] == scheduled["is_mql"]).all()


def _check_given_ignore_the_future(world: dict[str, Any], tmp: Path) -> None:
    crm = crm_from_frames(_crm_tables(world))
    ids = [f"{w}_C{i}" for w in "ab" for i in range(len(world["past_contacts"]))]
    pairs = LabelTimes.of(pa.table({"contact_id": ids, "cutoff": [CUTOFF] * len(ids)}))
    try:
        result = build_training_table(
            crm, DEFINITION, None, 30, tmp / "t.parquet",
            label_times=pairs, data_end=datetime(2030, 1, 1),
        )  # fmt: skip
    finally:
        crm.close()
    frame = pd.read_parquet(result.path).drop(columns=["became_sql", "booked_meeting"])
    a, b = _split(frame)
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_given_label_times_ignore_the_future(
    world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _check_given_ignore_the_future(world, tmp_path_factory.mktemp("leak"))


@pytest.mark.parametrize(
    ("text", "error", "needles"),
    [
        ("contact,cutoff\nC1,2025-03-01\n", ConfigError, ["lacks column(s) contact_id", "header"]),
        ("contact_id,cutoff\nNOPE,2025-03-01\nNOPE2,2025-03-01\n", ConfigError,
         ["column contact_id", "2 of 2 rows", "Keep only contacts"]),
        ("contact_id,cutoff\n{c},2031-01-01\n", ConfigError,
         ["column cutoff is outside the data", "1 of 1 rows", "no later than the end"]),
        ("contact_id,cutoff\n{c},2025-03-01\n{c},2025-03-01\n", ConfigError,
         ["1 of 2 rows repeat", "Remove the duplicates"]),
        ("contact_id,cutoff\n{c},first of march\n", ConfigError,
         ["column cutoff is not a date", "1 of 1 rows", "ISO 8601"]),
        ("contact_id,cutoff\n{c},\n", ConfigError, ["column cutoff is empty in 1 of 1 rows"]),
        ("contact_id,cutoff\n", ConfigError, ["has no rows"]),
    ],
)  # fmt: skip
def test_bad_label_times_files_are_clear_errors(
    crm: CrmData, tmp_path: Path, text: str, error: type[Exception], needles: list[str]
) -> None:
    (contact,) = crm.con.execute("SELECT min(contact_id) FROM contacts").fetchone() or ("",)
    path = tmp_path / "bad.csv"
    path.write_text(text.format(c=contact), encoding="utf-8")
    with pytest.raises(error) as caught:
        build_training_table(
            crm, load_definition(), None, 30, tmp_path / "t.parquet", label_times=path
        )
    message = str(caught.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message
    if "{c}" in text:
        assert contact not in message  # never echoes a row's content
    assert not (tmp_path / "t.parquet").exists()


def test_label_times_need_a_readable_file_and_no_schedule(crm: CrmData, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        LabelTimes.read(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("contact_id,cutoff\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"must be \.csv or \.parquet"):
        LabelTimes.read(tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="not both"):
        build_training_table(
            crm, None, CUTOFFS, 30, tmp_path / "t.parquet", label_times=tmp_path / "x.txt"
        )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_cli_builds_for_a_label_times_file(
    crm_path: Path, scheduled: pd.DataFrame, tmp_path: Path
) -> None:
    pairs = scheduled.iloc[::3][["contact_id", "cutoff"]]
    csv = tmp_path / "mqls.csv"
    pairs.to_csv(csv, index=False)
    out = tmp_path / "t.parquet"
    built = _cli("features", "build", str(crm_path), "--out", str(out), "--label-times", str(csv))
    assert built.returncode == 0, built.stderr
    assert f"Training table: {len(pairs):,} rows" in built.stdout
    assert len(read_training_table(out)[0]) == len(pairs)

    bad = tmp_path / "bad.csv"
    bad.write_text("id,when\nX,2025-01-01\n", encoding="utf-8")
    failed = _cli("features", "build", str(crm_path), "--out", str(out), "--label-times", str(bad))
    assert failed.returncode == 2
    assert (
        "Traceback" not in failed.stderr and "lacks column(s) contact_id, cutoff" in failed.stderr
    )
