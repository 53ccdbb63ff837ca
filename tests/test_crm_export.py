"""CRM import files from a real score store (DuckDB and PostgreSQL): each target's documented column rules, deltas
(a second export with no change writes no rows), ids a CRM cannot take refused."""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadscore.errors import ConfigError
from leadscore.serving.export import export_scores
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore

T0 = datetime(2026, 11, 23, 9)
SF_IDS = ["00Q5e00000AbCdEFGH", "00Q5e00000AbCdE"]  # 18 and 15 characters
HS_IDS = ["101", "202"]


def history(ids: list[str], at: datetime, p: list[float], grades: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "contact_id": c,
                "scored_at": at,
                "model_version": "4",
                "p_sql": pi,
                "p_meeting": pi / 2,
                "grade": g,
                "fit_score": 0.3,
                "engagement_score": 0.6,
                "reasons_positive": [
                    "Visited the pricing page 3 times",
                    "Works at a large\nfirm",
                    "x" * 300,
                ],
                "reasons_negative": [],
            }
            for c, pi, g in zip(ids, p, grades, strict=True)
        ],
        columns=list(HISTORY_COLUMNS),
    )


def read(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8")  # UTF-8, or this raises
    return list(csv.DictReader(text.splitlines()))


@pytest.fixture
def store_at(store_location: Path | str) -> Path | str:
    return store_location


def store_with(location: Path | str, ids: list[str]) -> ScoreStore:
    store = ScoreStore(location)
    store.record_scores(history(ids, T0, [0.1, 0.02], ["B", "D"]))
    store.record_scores(history(ids, T0 + timedelta(days=1), [0.45, 0.02], ["A", "D"]))
    return store


def test_generic_delta(tmp_path: Path, store_at: Path | str) -> None:
    store = store_with(store_at, ["c1", "c2"])
    out = tmp_path / "out" / "generic.csv"
    first = export_scores(store, "generic", out)
    rows = read(out)
    assert (first.rows, first.leads) == (2, 2)
    assert list(rows[0]) == [
        "contact_id",
        "score",
        "p_sql",
        "grade",
        "fit_score",
        "engagement_score",
        "top_reasons",
        "scored_at",
        "model_version",
    ]
    assert rows[0]["score"] == "100" and rows[0]["grade"] == "A"  # the better of two leads
    assert rows[1]["score"] == "50" and rows[1]["p_sql"] == "0.02"
    assert "\n" not in rows[0]["top_reasons"] and "Works at a large firm" in rows[0]["top_reasons"]
    assert rows[0]["scored_at"] == "2026-11-24T09:00:00Z"
    fresh = tmp_path / "out" / "fresh.csv"
    second = export_scores(store, "generic", fresh)
    assert second.rows == 0 and read(fresh) == []  # no change: a header and no rows
    store.record_scores(history(["c1", "c2"], T0 + timedelta(days=2), [0.451, 0.2], ["A", "B"]))
    third = export_scores(store, "generic", fresh)
    assert [r["contact_id"] for r in read(fresh)] == ["c2"] and third.rows == 1
    assert export_scores(store, "generic", out, full=True).rows == 2


def test_two_delta_exports_between_two_imports_lose_nothing(
    tmp_path: Path, store_at: Path | str
) -> None:
    """The store counts a lead as sent once the file is written: a second delta replacing a
    file the CRM has not imported yet keeps its rows (updated where the lead changed again)."""
    store = store_with(store_at, ["c1", "c2"])
    out = tmp_path / "generic.csv"
    assert export_scores(store, "generic", out).rows == 2
    second = export_scores(store, "generic", out)
    assert (second.rows, second.carried) == (0, 2)
    assert [(r["contact_id"], r["grade"]) for r in read(out)] == [("c1", "A"), ("c2", "D")]
    store.record_scores(history(["c1", "c2"], T0 + timedelta(days=2), [0.451, 0.2], ["A", "B"]))
    third = export_scores(store, "generic", out)
    assert (third.rows, third.carried) == (1, 1)
    rows = read(out)
    assert [(r["contact_id"], r["grade"], r["score"]) for r in rows] == [
        ("c2", "B", "50"),
        ("c1", "A", "100"),
    ]
    assert rows[1]["top_reasons"].startswith("Visited the pricing page 3 times")
    out.unlink()  # imported, then removed: the next delta holds only what changed
    assert export_scores(store, "generic", out).rows == 0 and read(out) == []
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")  # not this target's file: replaced
    export_scores(store, "generic", other)
    assert read(other) == []


def test_hubspot_contact_import(tmp_path: Path, store_at: Path | str) -> None:
    store = store_with(store_at, HS_IDS)
    out = tmp_path / "hubspot.csv"
    export_scores(store, "hubspot", out)
    rows = read(out)
    assert list(rows[0]) == [
        "Record ID",
        "leadscore_score",
        "leadscore_grade",
        "leadscore_top_reasons",
        "leadscore_scored_at",
    ]
    for row in rows:
        assert re.fullmatch(r"[0-9]+", row["Record ID"])
        assert 0 <= int(row["leadscore_score"]) <= 100
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["leadscore_scored_at"])
        assert len(row["leadscore_top_reasons"]) <= 65_536
    # the delta is per target: the generic export does not use up HubSpot's changes
    assert export_scores(store, "generic", tmp_path / "g.csv").rows == 2
    assert export_scores(store, "hubspot", out).rows == 0


def test_salesforce_data_loader(tmp_path: Path, store_at: Path | str) -> None:
    store = store_with(store_at, SF_IDS)
    out = tmp_path / "sf.csv"
    export_scores(store, "salesforce", out)
    rows = read(out)
    assert next(iter(rows[0])) == "Id"
    assert all(c.endswith("__c") for c in list(rows[0])[1:])
    for row in rows:
        assert len(row["Id"]) in (15, 18) and row["Id"].isalnum()
        assert len(row["Lead_Score_Reasons__c"]) <= 255
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z", row["Lead_Score_Date__c"])


def test_dynamics_predictive_score(tmp_path: Path, store_at: Path | str) -> None:
    store = store_with(store_at, ["lead-1", "lead-2"])
    store.record_scores(history(["lead-3"], T0, [0.3], ["B"]))
    out = tmp_path / "d365.csv"
    export_scores(store, "dynamics", out)
    rows = {r["msdyn_entityid"]: r for r in read(out)}
    assert list(next(iter(rows.values()))) == [
        "msdyn_entityid",
        "msdyn_entitytype",
        "msdyn_score",
        "msdyn_grade",
        "msdyn_scoretrend",
    ]
    assert rows["lead-1"]["msdyn_grade"] == "0" and rows["lead-1"]["msdyn_scoretrend"] == "0"
    assert rows["lead-2"]["msdyn_grade"] == "3" and rows["lead-2"]["msdyn_scoretrend"] == "1"
    assert rows["lead-3"]["msdyn_scoretrend"] == "3"  # a first score: not enough data
    assert {r["msdyn_entitytype"] for r in rows.values()} == {"lead"}


@pytest.mark.parametrize("target", ["hubspot", "salesforce"])
def test_ids_the_crm_cannot_take_are_refused(
    tmp_path: Path, store_at: Path | str, target: str
) -> None:
    store = store_with(store_at, ["c1", "c2"])
    out = tmp_path / f"{target}.csv"
    with pytest.raises(ConfigError, match="2 of 2 contact id"):
        export_scores(store, target, out)
    assert not out.exists()


def test_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown export target"):
        export_scores(ScoreStore(tmp_path / "s.duckdb"), "pipedrive", tmp_path / "x.csv")


def _batch(store: ScoreStore, tmp: Path, run: str, ran: datetime, as_of: datetime) -> None:
    """A committed batch run of c1 and c2, run at ``ran``, as of ``as_of``."""
    p, grades = ([0.45, 0.2], ["A", "B"]) if as_of.month == 12 else ([0.05, 0.01], ["C", "D"])
    parquet = tmp / f"{run}.parquet"
    history(["c1", "c2"], ran, p, grades).to_parquet(parquet)
    store.stage_run(run, parquet, tmp / f"{run}-out.parquet", as_of=as_of)
    store.commit_run(run)


def test_a_backfilled_run_as_of_an_earlier_date_is_not_the_current_score(
    tmp_path: Path, store_at: Path | str
) -> None:
    """``score --as-of 2025-11-30`` run after the nightly run as of 2025-12-30 (a monitoring
    cohort, as docs/retraining-and-monitoring.md shows) must not send November's scores to
    the CRM, nor show them in the inbox or as the lead's latest score."""
    from leadscore.serving.leads import InboxFilter, inbox_leads

    store = ScoreStore(store_at)
    _batch(store, tmp_path, "nightly", T0, as_of=datetime(2025, 12, 30, 23, 59))
    _batch(store, tmp_path, "backfill", T0 + timedelta(hours=1), as_of=datetime(2025, 11, 30))
    out = tmp_path / "generic.csv"
    result = export_scores(store, "generic", out)
    assert result.departed == 0 and [(r["contact_id"], r["grade"]) for r in read(out)] == [
        ("c1", "A"),
        ("c2", "B"),
    ]
    leads, total = inbox_leads(store, InboxFilter())
    assert total == 2 and sorted(lead.grade for lead in leads) == ["A", "B"]
    assert store.latest("c1")["grade"] == "A"  # type: ignore[index]


def test_an_undated_run_of_an_older_store_ranks_below_every_dated_one(
    tmp_path: Path, store_at: Path | str
) -> None:
    """Rows written before runs recorded their as-of date: their run time is no as-of date
    (a demo scores as of its data's end, a year before it runs), but every dated run ran
    after them; API-recorded scores still count by when they were scored."""
    from leadscore.serving.leads import InboxFilter, inbox_leads

    store = ScoreStore(store_at)
    parquet = tmp_path / "legacy.parquet"
    history(["c1", "c2"], T0 + timedelta(days=30), [0.05, 0.01], ["C", "D"]).to_parquet(parquet)
    store.stage_run("legacy", parquet, tmp_path / "legacy-out.parquet", as_of=None)
    store.commit_run("legacy")
    _batch(store, tmp_path, "dated", T0 + timedelta(days=31), as_of=datetime(2025, 12, 30))
    assert [r["grade"] for r in read_export(store, tmp_path)] == ["A", "B"]
    leads, total = inbox_leads(store, InboxFilter())
    assert total == 2 and sorted(lead.grade for lead in leads) == ["A", "B"]
    api = history(["c2"], T0 + timedelta(days=32), [0.9], ["A"])  # recorded later: it wins
    store.record_scores(api)
    assert store.latest("c2")["grade"] == "A" and store.latest("c1")["grade"] == "A"  # type: ignore[index]


def read_export(store: ScoreStore, tmp_path: Path) -> list[dict[str, str]]:
    out = tmp_path / "full.csv"
    export_scores(store, "generic", out, full=True)
    return read(out)


def test_the_score_is_a_rank_and_a_moved_chance_is_resent(
    tmp_path: Path, store_at: Path | str
) -> None:
    """Chances of SQL of a few percent spread over 1-100 (not 0-3: a list sorted by score was
    all ties); a lead whose chance doubles is re-sent though its grade stays, a lead whose
    chance moves by a tenth is not."""
    ids = [f"c{i:03d}" for i in range(200)]
    chances = [0.001 + 0.0002 * i for i in range(200)]  # 0.1 % .. 4.1 %
    store = ScoreStore(store_at)
    store.record_scores(history(ids, T0, chances, ["C"] * 200))
    out = tmp_path / "generic.csv"
    export_scores(store, "generic", out)
    scores = {r["contact_id"]: int(r["score"]) for r in read(out)}
    assert scores["c000"] == 1 and scores["c199"] == 100 and scores["c099"] == 50
    assert len(set(scores.values())) == 100
    later = [p * (2.0 if i == 10 else 1.1) for i, p in enumerate(chances)]
    store.record_scores(history(ids, T0 + timedelta(days=1), later, ["C"] * 200))
    delta = tmp_path / "delta.csv"
    assert export_scores(store, "generic", delta).rows == 1
    (row,) = read(delta)
    assert row["contact_id"] == "c010" and int(row["score"]) > scores["c010"]


def _base(store: ScoreStore, ids: list[str], at: datetime, low: float = 0.01) -> None:
    """Leads ``ids`` scored at ``at``, chances rising from ``low`` by 0.1 % each, grade C."""
    store.record_scores(
        history(ids, at, [low + 0.001 * i for i in range(len(ids))], ["C"] * len(ids))
    )


def test_a_lead_pushed_down_by_new_leads_is_resent_with_its_new_rank(
    tmp_path: Path, store_at: Path | str
) -> None:
    """Ranks are relative: 34 new leads above them move the rank of leads whose own chance and
    grade stay. A rank moved by more than 5 points is re-sent (the CRM would keep the stale
    one), a rank moved by 5 or fewer is not."""
    store = ScoreStore(store_at)
    old = [f"c{i:03d}" for i in range(100)]
    _base(store, old, T0)
    out = tmp_path / "generic.csv"
    first = export_scores(store, "generic", out)
    sent = {r["contact_id"]: int(r["score"]) for r in read(out)}
    assert first.rows == 100 and sent["c079"] == 80 and sent["c010"] == 11
    new = [f"n{i:03d}" for i in range(34)]
    _base(store, new, T0 + timedelta(hours=1), low=0.5)  # all above the old base
    delta = tmp_path / "delta.csv"
    result = export_scores(store, "generic", delta)
    now = {r["contact_id"]: int(r["score"]) for r in read(delta)}
    assert now["c079"] == 60  # unchanged chance and grade, 20 rank points down: re-sent
    moved = {c for c in old if c in now}
    assert moved == {c for c in old if sent[c] - math.ceil(sent[c] * 100 / 134) > 5}
    assert "c010" not in now and "c099" in now  # 11 -> 9 (kept), 100 -> 75 (re-sent)
    assert set(now) - moved == set(new) and result.rank_moved == len(moved) > 60
    assert result.rows == len(now) and result.rank_unrecorded == 0
    again = export_scores(store, "generic", delta)
    assert (again.rows, again.rank_moved) == (0, 0)  # what was sent is remembered, ranks too


def test_ranks_moved_by_at_most_the_tolerance_are_not_resent(
    tmp_path: Path, store_at: Path | str
) -> None:
    store = ScoreStore(store_at)
    old = [f"c{i:03d}" for i in range(100)]
    _base(store, old, T0)
    export_scores(store, "generic", tmp_path / "first.csv")
    _base(store, ["n1", "n2", "n3", "n4", "n5"], T0 + timedelta(hours=1), low=0.5)
    out = tmp_path / "delta.csv"
    result = export_scores(store, "generic", out)  # the top lead: 100 -> 96, the most moved
    assert sorted(r["contact_id"] for r in read(out)) == ["n1", "n2", "n3", "n4", "n5"]
    assert result.rank_moved == 0
    assert export_scores(store, "generic", out, rank_tolerance=3).rank_moved > 0
    with pytest.raises(ConfigError, match="rank tolerance"):
        export_scores(store, "generic", out, rank_tolerance=101)


def test_the_rank_tolerance_defaults_agree() -> None:
    import inspect

    from leadscore.cli.sales import export
    from leadscore.pipeline.sales import ExportSpec
    from leadscore.serving.export import RANK_TOLERANCE

    option = inspect.signature(export).parameters["rank_tolerance"].default
    assert ExportSpec().rank_tolerance == RANK_TOLERANCE == option == 5


@pytest.mark.parametrize("point", ["atomic.before_replace", "export.file_in_place"])
def test_a_crash_around_the_file_never_records_as_sent_what_was_not_written(
    tmp_path: Path, point: str
) -> None:
    """``leadscore export`` killed (SIGKILL) before its file is in place, or after it but before
    the store recorded what was sent: nothing is recorded, and the next export sends the same
    leads again (the file from the crash holds them too: none is lost or duplicated)."""
    from tests.fault_helpers import KILLED, finish, start

    path = tmp_path / "scores.duckdb"
    store = store_with(path, ["c1", "c2"])
    out = tmp_path / "generic.csv"
    args = ["-m", "leadscore", "export", "--store", str(path), "--out", str(out)]
    rc, err = finish(start(args, point, tmp_path))
    assert rc == KILLED, err
    with store.connection(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM crm_exports").fetchone()[0] == 0
    assert out.exists() == (point == "export.file_in_place")
    again = export_scores(store, "generic", out)
    assert (again.rows, again.carried) == (2, 0)
    assert sorted(r["contact_id"] for r in read(out)) == ["c1", "c2"]
    assert export_scores(store, "generic", out).rows == 0


def _sent_ranks(store: ScoreStore) -> dict[str, int]:
    """The rank the store recorded as last sent to ``generic``, per lead."""
    with store.connection(read_only=True) as con:
        query = (
            f"SELECT contact_id, {con.sql.arg_max('score_rank', 'exported_at')} FROM crm_exports "
            "WHERE target = 'generic' GROUP BY contact_id"
        )
        return {str(c): int(r) for c, r in con.execute(query).fetchall() if r is not None}


def test_a_row_the_store_never_recorded_is_not_carried_into_the_next_delta(
    tmp_path: Path, store_at: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export stopped once its file was in place, before its record (here the disk fills at
    that point), left rows the store never recorded. The next delta replaces that file; a lead
    whose rank came back within the tolerance of the rank recorded is not due, but its row in
    the file (the stopped export's rank, 12 points off) must not be carried: the CRM would
    import a rank the store does not know it sent, and no later delta would correct it. Every
    row of the file is what the store recorded as sent."""
    from leadscore.atomic import FAULT_ENV

    store = ScoreStore(store_at)
    old = [f"c{i:03d}" for i in range(100)]
    _base(store, old, T0)
    out = tmp_path / "generic.csv"
    export_scores(store, "generic", out)
    assert _sent_ranks(store)["c050"] == 51
    new = [f"n{i:03d}" for i in range(34)]
    _base(store, new, T0 + timedelta(hours=1), low=0.5)  # c050: 51 -> 39, re-sent
    monkeypatch.setenv(FAULT_ENV, "export.file_in_place:enospc")
    with pytest.raises(OSError):
        export_scores(store, "generic", out)
    monkeypatch.delenv(FAULT_ENV)
    assert {r["contact_id"]: r["score"] for r in read(out)}["c050"] == "39"  # not recorded
    assert _sent_ranks(store)["c050"] == 51
    below, above = [0.0001 * (i + 1) for i in range(17)], [0.5 + 0.001 * i for i in range(17)]
    store.record_scores(history(new, T0 + timedelta(hours=2), below + above, ["C"] * 34))
    result = export_scores(store, "generic", out)  # c050 back at 51: within the tolerance
    in_file = {r["contact_id"]: int(r["score"]) for r in read(out)}
    assert in_file["c050"] == 51
    assert in_file == {c: r for c, r in _sent_ranks(store).items() if c in in_file}
    assert result.rewritten > 0 and result.rows + result.carried == len(in_file)
    assert export_scores(store, "generic", out).rewritten == 0


@pytest.mark.parametrize("target", ["hubspot", "salesforce", "dynamics"])
def test_a_stray_row_is_found_in_every_target_file(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each target's file names its rank and grade columns its own way (Dynamics codes the
    grade): a row the store never recorded is found in each; rows it recorded are kept."""
    from leadscore.atomic import FAULT_ENV

    ids = SF_IDS if target == "salesforce" else HS_IDS
    store = ScoreStore(tmp_path / "scores.duckdb")
    store.record_scores(history(ids, T0, [0.1, 0.02], ["B", "D"]))
    out = tmp_path / f"{target}.csv"
    export_scores(store, target, out)
    assert export_scores(store, target, out).carried == 2  # recorded rows: kept, not re-sent
    store.record_scores(history(ids, T0 + timedelta(days=1), [0.45, 0.02], ["A", "D"]))
    monkeypatch.setenv(FAULT_ENV, "export.file_in_place:enospc")
    with pytest.raises(OSError):
        export_scores(store, target, out)  # the first lead's grade A written, not recorded
    monkeypatch.delenv(FAULT_ENV)
    store.record_scores(history(ids, T0 + timedelta(days=2), [0.1, 0.02], ["B", "D"]))
    result = export_scores(store, target, out)  # back to B as recorded: due for nothing
    assert (result.rows, result.rewritten, result.carried) == (1, 1, 1)
