"""Label times at stage entry (each lead scored once, when it arrived or became an MQL) and the
maximum lead age (stale, inactive leads leave the population)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.errors import ConfigError
from leadscore.features import (
    DuckDBEngine,
    StageEntry,
    build_training_table,
    load_definition,
    stage_entry_label_times,
)
from tests.test_features_data import base_tables, crm_from_frames

END = datetime(2024, 12, 31)
DEFINITION = load_definition({"include": ["events_30d", "is_mql", "contact_age_days"]})


def _crm() -> Any:
    contacts = [
        {"contact_id": c, "account_id": "A1", "created_at": created, "job_title": "CEO",
         "email_domain": "acme.com", "lead_source": "webinar"}
        for c, created in (
            ("NEW", datetime(2024, 5, 20, 10)),  # arrives late, one visit at creation
            ("OLD", datetime(2023, 1, 1)),  # old and silent since 2023
            ("WAKE", datetime(2023, 1, 1)),  # old, but visited recently
        )
    ]  # fmt: skip
    events = [
        {"event_id": "e1", "contact_id": "NEW", "occurred_at": datetime(2024, 5, 20, 10),
         "event_type": "web_visit"},
        {"event_id": "e2", "contact_id": "OLD", "occurred_at": datetime(2023, 1, 2),
         "event_type": "web_visit"},
        {"event_id": "e3", "contact_id": "WAKE", "occurred_at": datetime(2024, 5, 25),
         "event_type": "web_visit"},
        {"event_id": "e4", "contact_id": "OLD", "occurred_at": datetime(2024, 6, 1),
         "event_type": "web_visit"},  # exactly at the cutoff: not activity before it
    ]  # fmt: skip
    stages = [
        {"contact_id": "NEW", "changed_at": datetime(2024, 5, 22, 15), "stage": "mql"},
        {"contact_id": "NEW", "changed_at": datetime(2024, 6, 10), "stage": "sql"},
        {"contact_id": "WAKE", "changed_at": datetime(2023, 2, 1), "stage": "mql"},
        {"contact_id": "WAKE", "changed_at": datetime(2023, 3, 1), "stage": "mql"},
    ]
    return crm_from_frames(base_tables(contacts, events, stages))


def test_leads_are_scored_once_at_entry_with_the_entry_known(tmp_path: Path) -> None:
    crm = _crm()
    pairs = stage_entry_label_times(DuckDBEngine(crm), StageEntry("mql"), END)
    got = dict(
        zip(*(pairs.table.column(c).to_pylist() for c in ("contact_id", "cutoff")), strict=True)
    )
    assert got == {
        "NEW": datetime(2024, 5, 22, 15, 0, 1),
        "WAKE": datetime(2023, 2, 1, 0, 0, 1),  # the first MQL entry only
    }
    built = build_training_table(
        crm, DEFINITION, None, 30, tmp_path / "t.parquet", label_times=pairs, data_end=END
    )
    table = pd.read_parquet(built.path).set_index("contact_id")
    assert table.loc["NEW", "is_mql"] and table.loc["NEW", "became_sql"]
    assert table.loc["NEW", "contact_age_days"] == 2
    assert "stage entry (mql entry)" in str(built.meta.label_times_file)


def test_at_creation_the_landing_visit_is_known(tmp_path: Path) -> None:
    crm = _crm()
    pairs = stage_entry_label_times(DuckDBEngine(crm), StageEntry("created", 3), END)
    cutoffs = dict(
        zip(*(pairs.table.column(c).to_pylist() for c in ("contact_id", "cutoff")), strict=True)
    )
    assert cutoffs["NEW"] == datetime(2024, 5, 23, 10, 0, 1)
    at_creation = stage_entry_label_times(DuckDBEngine(crm), StageEntry("created"), END)
    built = build_training_table(
        crm, DEFINITION, None, 30, tmp_path / "t.parquet", label_times=at_creation, data_end=END
    )
    table = pd.read_parquet(built.path).set_index("contact_id")
    assert table.loc["NEW", "events_30d"] == 1 and not table.loc["NEW", "is_mql"]


def test_entries_after_the_data_are_left_out_and_no_mql_is_a_clear_error() -> None:
    crm = _crm()
    early = stage_entry_label_times(DuckDBEngine(crm), StageEntry("mql"), datetime(2024, 1, 1))
    assert early.table.column("contact_id").to_pylist() == ["WAKE"]
    with pytest.raises(ConfigError, match="no contact has an 'mql' stage change"):
        stage_entry_label_times(DuckDBEngine(crm), StageEntry("mql"), datetime(2023, 1, 5))
    with pytest.raises(ConfigError, match="0 to 3650 days"):
        stage_entry_label_times(DuckDBEngine(crm), StageEntry("mql", -1), END)


def _population(tmp_path: Path, max_age: int | None, **kwargs: Any) -> set[str]:
    built = build_training_table(
        _crm(), DEFINITION, [datetime(2024, 6, 1)], 30, tmp_path / f"t{max_age}.parquet",
        data_end=END, max_age_days=max_age, **kwargs,
    )  # fmt: skip
    return set(pd.read_parquet(built.path)["contact_id"])


def test_stale_inactive_leads_leave_the_population(tmp_path: Path) -> None:
    assert _population(tmp_path, None) == {"NEW", "OLD", "WAKE"}
    # OLD: created 2023, last activity before the cutoff in Jan 2023 (its June 1 visit is not
    # before the cutoff); WAKE: old but visited a week ago; NEW: created 12 days ago
    assert _population(tmp_path, 90) == {"NEW", "WAKE"}
    assert _population(tmp_path, 7) == {"WAKE"}


def test_the_maximum_age_is_recorded_and_checked(tmp_path: Path) -> None:
    built = build_training_table(
        _crm(), DEFINITION, [datetime(2024, 6, 1)], 30, tmp_path / "t.parquet",
        data_end=END, max_age_days=90,
    )  # fmt: skip
    assert built.meta.max_age_days == 90 and "90 days" in built.meta.eligibility
    with pytest.raises(ConfigError, match="max_age_days"):
        _population(tmp_path, 0)


def test_features_build_leaves_stale_leads_out_by_default_on_a_schedule(tmp_path: Path) -> None:
    from leadscore.pipeline import FeaturesSpec, build_features_step
    from leadscore.pipeline.defaults import DEFAULT_MAX_LEAD_AGE_DAYS

    def eligible(**kwargs: Any) -> tuple[int, int | None]:
        spec = FeaturesSpec(
            source=_crm(), out=tmp_path / "t.parquet", definition=None,
            start=datetime(2024, 6, 1), end=datetime(2024, 6, 2), **kwargs,
        )  # fmt: skip
        meta = build_features_step(spec).table.meta
        return meta.per_cutoff[0].rows, meta.max_age_days

    # OLD (silent since January 2023) leaves at the default; 0 keeps every lead
    assert eligible() == (2, DEFAULT_MAX_LEAD_AGE_DAYS)
    assert eligible(max_lead_age_days=0) == (3, None)
    assert eligible(max_lead_age_days=600) == (3, 600)  # OLD is 517 days old
    # pairs asked for (at stage entry, or a file) get no default maximum
    assert FeaturesSpec(at="mql").max_age_days is None
    assert FeaturesSpec(label_times=tmp_path / "pairs.csv").max_age_days is None


@pytest.mark.spark
def test_spark_and_duckdb_agree_on_stage_entry_and_max_age(spark: Any, tmp_path: Path) -> None:
    from leadscore.features import SparkEngine

    crm = _crm()
    pairs = stage_entry_label_times(SparkEngine(spark, crm), StageEntry("created"), END)
    assert pairs.table.equals(
        stage_entry_label_times(DuckDBEngine(crm), StageEntry("created"), END).table
    )
    cutoffs = [datetime(2024, 6, 1) + timedelta(days=d) for d in (0, 3)]
    frames = [
        pd.read_parquet(
            build_training_table(
                crm, DEFINITION, cutoffs, 30, tmp_path / f"{n}.parquet", data_end=END,
                max_age_days=30, engine=engine,
            ).path
        )
        for n, engine in (("d", None), ("s", SparkEngine(spark, crm)))
    ]  # fmt: skip
    rows = set(zip(frames[0]["contact_id"], frames[0]["cutoff"].dt.day, strict=True))
    assert rows == {("NEW", 1), ("WAKE", 1), ("NEW", 4), ("WAKE", 4), ("OLD", 4)}  # OLD: June 1
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_a_huge_account_gets_smaller_batches_and_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With account features, each member's events are placed on every member's grid in the
    batch: a huge account (a quarter of the contacts here) cuts the batch of given label times
    so memory stays bounded, and the table is the one unbatched."""
    import duckdb

    import leadscore.features.build as build
    from leadscore.features.sql import uses_account_features
    from leadscore.synthetic import GeneratorConfig, generate_crm

    path = tmp_path / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=600, seed=5), path)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "UPDATE contacts SET account_id = (SELECT min(account_id) FROM accounts) "
            "WHERE hash(contact_id) % 4 = 0"
        )
        con.execute(
            "UPDATE accounts SET created_at = TIMESTAMP '2000-01-01' "
            "WHERE account_id = (SELECT min(account_id) FROM accounts)"
        )
    definition = load_definition()
    assert uses_account_features(definition)
    assert not uses_account_features(DEFINITION)
    crm = open_crm(path)
    engine = DuckDBEngine(crm)
    pairs = stage_entry_label_times(engine, StageEntry("mql"), build.data_end_of(engine))
    cutoffs = len(pairs.cutoffs)
    assert build._given_batch_size(engine, pairs, cutoffs) == 1024  # small: no cut
    monkeypatch.setattr(build, "_ACCOUNT_PLACEMENTS_PER_QUERY", 1_000)
    assert build._given_batch_size(engine, pairs, cutoffs) == 32  # the floor
    cut = build_training_table(crm, definition, None, 30, tmp_path / "c.parquet", label_times=pairs)
    whole = build_training_table(
        crm, definition, None, 30, tmp_path / "w.parquet", label_times=pairs, cutoffs_per_query=4096
    )
    keys = ["contact_id", "cutoff"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(cut.path).sort_values(keys, ignore_index=True),
        pd.read_parquet(whole.path).sort_values(keys, ignore_index=True),
    )


@pytest.mark.parametrize("max_age", [None, 7, 90, 1000])
@pytest.mark.parametrize("from_stage", ["any", "mql"])
def test_one_query_counts_the_eligible_and_the_stale_leads(
    max_age: int | None, from_stage: str
) -> None:
    from leadscore.serving.features import count_eligible, count_eligible_and_stale

    crm = _crm()
    for as_of in (datetime(2024, 6, 1), datetime(2024, 5, 20, 10), datetime(2023, 6, 1)):
        kwargs: dict[str, Any] = {"as_of": as_of, "from_stage": from_stage}
        eligible = count_eligible(crm, max_age_days=max_age, **kwargs)
        every = count_eligible(crm, **kwargs)
        assert count_eligible_and_stale(crm, max_age_days=max_age, **kwargs) == (
            eligible,
            every - eligible,
        )
