"""Point-in-time features, labels, censoring and the training table on hand-checked data."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from leadscore.contract import SCHEMA_VERSION
from leadscore.crm import CrmData
from leadscore.errors import ArtifactError
from leadscore.features import (
    CutoffSchedule,
    build_features,
    build_training_table,
    load_definition,
    metadata_path,
    read_training_table,
)
from tests.test_features_data import base_tables, crm_from_frames

CUT = datetime(2024, 3, 1)


def _contact(
    cid: str, account: str = "A1", created: str = "2024-01-10", **kw: str
) -> dict[str, str]:
    row = {
        "contact_id": cid,
        "account_id": account,
        "created_at": created,
        "job_title": "Marketing Manager",
        "email_domain": "acme.com",
        "lead_source": "webinar",
    }
    row.update(kw)
    return row


def _event(eid: str, cid: str, at: str, kind: str = "web_visit") -> dict[str, str]:
    return {"event_id": eid, "contact_id": cid, "occurred_at": at, "event_type": kind}


def _stage(cid: str, at: str, stage: str) -> dict[str, str]:
    return {"contact_id": cid, "changed_at": at, "stage": stage}


@pytest.fixture(scope="module")
def crm() -> CrmData:
    contacts = [
        _contact("C1", job_title="Directeur Commercial", email_domain="gmail.com"),
        _contact("C2", job_title="Head of Marketing", email_domain="yopmail.com"),
        _contact("C3", job_title="Stagiaire", email_domain=None),  # type: ignore[arg-type]
        _contact("C4", account="A2", job_title="VP Sales"),  # disqualified
        _contact("C5", job_title="CEO"),  # SQL before the cutoff: not eligible
        _contact("C6", created="2024-03-01"),  # created exactly at the cutoff: not eligible
        _contact("C7", account="A2", job_title="Étudiante"),  # disqualified then recycled
    ]
    events = [
        _event("E1", "C1", "2024-03-01 00:00:00", "pricing_page_visit"),  # at cutoff: unknown
        _event("E2", "C1", "2024-02-23 00:00:00", "pricing_page_visit"),  # exactly 7 days before
        _event("E3", "C1", "2024-02-22 23:59:59", "pricing_page_visit"),  # just outside 7 days
        _event("E4", "C1", "2024-02-10 10:00:00", "demo_request"),
        _event("E5", "C1", "2024-02-10 11:00:00", "email_open"),
        _event("E6", "C2", "2024-02-20 09:00:00", "web_visit"),
        _event("E7", "C2", "2024-03-05 09:00:00", "web_visit"),  # after the cutoff
        _event("E8", "C5", "2024-02-28 09:00:00", "web_visit"),
        _event("E9", "C3", "2024-02-29 09:00:00", "unsubscribe"),
    ]
    stages = [
        _stage("C1", "2024-02-11 00:00:00", "mql"),
        _stage("C1", "2024-03-01 00:00:00", "sql"),  # exactly at the cutoff: a label, not known
        _stage("C2", "2024-03-20 00:00:00", "sql"),
        _stage("C2", "2024-03-25 00:00:00", "meeting"),
        _stage("C3", "2024-03-31 00:00:00", "sql"),  # horizon end is exclusive: no label
        _stage("C4", "2024-02-01 00:00:00", "disqualified"),
        _stage("C5", "2024-02-15 00:00:00", "sql"),
        _stage("C7", "2024-02-01 00:00:00", "disqualified"),
        _stage("C7", "2024-02-05 00:00:00", "lead"),
    ]
    return crm_from_frames(base_tables(contacts, events, stages))


def _by_contact(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("contact_id")


def test_eligibility_and_point_in_time_windows(crm: CrmData) -> None:
    features = _by_contact(build_features(crm, load_definition(), [CUT]))
    assert sorted(features.index) == ["C1", "C2", "C3", "C7"]
    c1 = features.loc["C1"]
    assert c1["pricing_visits_7d"] == 1  # E2 in, E3 out, E1 (at the cutoff) unknown
    assert c1["pricing_visits_30d"] == 2
    assert c1["days_since_last_pricing_visit"] == 7
    assert c1["days_since_last_demo_request"] == 19
    assert c1["days_since_last_chat"] == 365  # capped at the lookback
    assert c1["has_requested_demo"]
    assert c1["email_opens_30d"] == 1
    assert c1["events_90d"] == 4
    assert c1["active_days_30d"] == 3
    assert c1["activity_trend"] == pytest.approx(1 - 3 * 7 / 30)  # E2 vs E3, E4, E5
    assert c1["is_mql"]
    assert c1["days_since_mql"] == 19
    assert c1["contact_age_days"] == 51
    assert c1["seniority"] == "director"
    assert c1["department"] == "sales"
    assert c1["email_domain_kind"] == "webmail"
    assert c1["industry"] == "software"
    assert c1["is_target_industry"]
    assert c1["employee_band"] == "200-499"
    assert c1["region"] == "france"
    assert c1["lead_source"] == "webinar"
    # buying committee at A1: C1, C2, C3, C5 known before the cutoff; C5 is already SQL
    assert c1["account_known_contacts"] == 3
    assert c1["account_has_other_sql"]
    assert c1["account_engaged_contacts_30d"] == 3  # C2, C3, C5 active in 30 days
    assert c1["account_events_30d"] == 7
    c2 = features.loc["C2"]
    assert (c2["seniority"], c2["department"], c2["email_domain_kind"]) == (
        "head",
        "marketing",
        "disposable",
    )
    c3 = features.loc["C3"]
    assert (c3["seniority"], c3["email_domain_kind"]) == ("intern", "missing")
    assert c3["has_unsubscribed"]
    c7 = features.loc["C7"]
    assert (c7["seniority"], c7["industry"], c7["is_out_of_target_industry"]) == (
        "student",
        "education",
        True,
    )


def test_labels_within_horizon_and_mql_only(crm: CrmData, tmp_path: Path) -> None:
    out = tmp_path / "train.parquet"
    result = build_training_table(crm, None, [CUT], 30, out, data_end=datetime(2024, 6, 1))
    table = _by_contact(pd.read_parquet(out))
    assert table.loc["C1", "became_sql"]  # at the cutoff instant: in the future window
    assert table.loc["C2", "became_sql"] and table.loc["C2", "booked_meeting"]
    assert not table.loc["C3", "became_sql"]  # 2024-03-31 is cutoff + 30 days: excluded
    assert not table.loc["C7", "booked_meeting"]
    assert result.label_rates == {"became_sql": 0.5, "booked_meeting": 0.25}
    mql_only = build_training_table(
        crm,
        None,
        [CUT],
        30,
        tmp_path / "mql.parquet",
        from_stage="mql",
        data_end=datetime(2024, 6, 1),
    )
    assert mql_only.rows == 1


def test_censoring_is_counted_never_labelled(crm: CrmData, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    calls: list[tuple[int, int]] = []
    result = build_training_table(
        crm,
        load_definition({"include": ["events_*"]}),
        CutoffSchedule(date(2024, 2, 1), date(2024, 3, 1), every="month"),
        31,
        out,
        progress=lambda done, total: calls.append((done, total)),
    )  # data ends 2024-03-31 (latest stage change): 2024-03-01 + 31 days is censored
    assert [s.censored for s in result.per_cutoff] == [False, True]
    assert result.censored_rows == 4
    assert result.rows == result.per_cutoff[0].rows == len(pd.read_parquet(out))
    assert calls[0] == (0, 2) and calls[-1] == (2, 2)
    meta = json.loads(metadata_path(out).read_text(encoding="utf-8"))
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["censored_rows"] == 4
    assert meta["data_fingerprint"] == crm.fingerprint()
    assert [f["name"] for f in meta["features"]] == ["events_7d", "events_30d", "events_90d"]
    assert meta["per_cutoff"][1]["label_rates"] == {"became_sql": None, "booked_meeting": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet", "t.parquet.meta.json"]
    frame, meta2 = read_training_table(out)
    assert meta2.as_dict() == meta and list(frame.columns[:4]) == [
        "contact_id", "cutoff", "became_sql", "booked_meeting",
    ]  # fmt: skip


def test_read_training_table_refuses_other_schema_versions(crm: CrmData, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    build_training_table(crm, load_definition({"include": ["industry"]}), [CUT], 7, out)
    meta = json.loads(metadata_path(out).read_text(encoding="utf-8"))
    meta["schema_version"] = "0"
    metadata_path(out).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ArtifactError, match="schema version"):
        read_training_table(out)
    with pytest.raises(ArtifactError, match="missing"):
        read_training_table(tmp_path / "nope.parquet")


def test_weekly_schedule() -> None:
    cutoffs = CutoffSchedule(date(2024, 1, 1), date(2024, 1, 29), every="week").cutoffs()
    assert [c.day for c in cutoffs] == [1, 8, 15, 22, 29]
    months = CutoffSchedule(date(2024, 11, 15), date(2025, 2, 15)).cutoffs()
    assert [(c.year, c.month) for c in months] == [(2024, 11), (2024, 12), (2025, 1), (2025, 2)]


def test_duckdb_engine_settings_apply_per_query_and_batches_agree(crm: CrmData) -> None:
    from leadscore.features import DuckDBEngine

    def setting(name: str) -> object:
        return crm.con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]

    before = (setting("threads"), setting("memory_limit"), setting("preserve_insertion_order"))
    engine = DuckDBEngine(crm, threads=1, memory_limit="1GB")
    cutoffs = [datetime(2024, 2, 1), CUT, datetime(2024, 3, 1, 12, 30)]
    one = build_features(crm, load_definition(), cutoffs, engine=engine, cutoffs_per_query=1)
    together = build_features(crm, load_definition(), cutoffs)
    pd.testing.assert_frame_equal(one, together)
    assert list(together["cutoff"]) == sorted(together["cutoff"])
    assert (setting("threads"), setting("memory_limit"), setting("preserve_insertion_order")) == (
        before
    )
