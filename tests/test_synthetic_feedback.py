"""Reps' verdicts in the synthetic CRM: on MQLs only, after a delay, before the data's end;
bots and out-of-target leads rejected more often; deterministic; the other tables unchanged."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.synthetic import GeneratorConfig, generate_crm
from leadscore.synthetic.feedback import DELAY_MAX_DAYS, REASON_CODES
from leadscore.synthetic.writer import CRM_TABLES


def _frames(path: Path, *names: str) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {n: con.execute(f"SELECT * FROM {n}").df() for n in names}


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crm") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=6_000, seed=5), out)
    return out


@pytest.fixture(scope="module")
def verdicts(crm: Path) -> pd.DataFrame:
    frames = _frames(crm, "feedback", "oracle.contacts", "contacts", "accounts")
    truth = frames["oracle.contacts"].set_index("contact_id")
    return frames["feedback"].join(truth, on="contact_id")


def test_verdicts_come_after_the_mql_with_a_delay_and_before_the_end(
    verdicts: pd.DataFrame,
) -> None:
    assert len(verdicts) > 500
    assert verdicts["mql_at"].notna().all()  # only leads the rules sent to sales
    delay = verdicts["given_at"] - verdicts["mql_at"]
    assert (delay > pd.Timedelta(0)).all() and (delay <= pd.Timedelta(days=DELAY_MAX_DAYS)).all()
    assert pd.Timedelta(hours=6) < delay.median() < pd.Timedelta(days=3)
    assert (verdicts["given_at"] < pd.Timestamp("2025-12-31")).all()
    settled = verdicts["sql_at"].fillna(verdicts["disqualified_at"])
    assert not (verdicts["given_at"] >= settled).any()  # not reviewed once sales took it
    rejected = verdicts[verdicts["verdict"] == "rejected"]
    assert rejected["reason"].notna().all() and set(rejected["reason"]) <= set(REASON_CODES)
    assert verdicts.loc[verdicts["verdict"] == "accepted", "reason"].isna().all()
    assert (verdicts["model_version"] == "rules").all()


def test_reps_reject_bots_and_poor_fits_more_often_with_noise(verdicts: pd.DataFrame) -> None:
    rejected = verdicts["verdict"] == "rejected"
    bots, people = rejected[verdicts["is_bot"]], rejected[~verdicts["is_bot"]]
    assert len(bots) >= 30
    assert 0.75 < bots.mean() < 1.0  # mostly rejected, some accepted (noise)
    assert people.mean() < 0.4
    assert (verdicts.loc[verdicts["is_bot"] & rejected, "reason"] == "spam_bot").mean() > 0.7
    human = verdicts[~verdicts["is_bot"]]
    low = human["fit"] < human["fit"].quantile(0.25)
    high = human["fit"] > human["fit"].quantile(0.75)
    low_rate = (human.loc[low, "verdict"] == "rejected").mean()
    high_rate = (human.loc[high, "verdict"] == "rejected").mean()
    assert low_rate > high_rate + 0.15
    assert high_rate > 0  # reps reject some good leads too


def test_feedback_is_deterministic_and_leaves_the_crm_tables_unchanged(
    crm: Path, tmp_path: Path
) -> None:
    again, without = tmp_path / "again.duckdb", tmp_path / "without.duckdb"
    generate_crm(GeneratorConfig(n_contacts=6_000, seed=5), again)
    generate_crm(GeneratorConfig(n_contacts=6_000, seed=5, feedback=False), without)
    names = (*CRM_TABLES, "feedback", "oracle.contacts")
    first, second, plain = _frames(crm, *names), _frames(again, *names), _frames(without, *names)
    for name in names:
        pd.testing.assert_frame_equal(first[name], second[name])
    for name in (*CRM_TABLES, "oracle.contacts"):
        pd.testing.assert_frame_equal(first[name], plain[name])
    assert plain["feedback"].empty


def test_the_crm_with_feedback_passes_the_contract(crm: Path) -> None:
    data = open_crm(crm, as_of=pd.Timestamp("2026-01-01").to_pydatetime())
    try:
        assert data.row_counts()["feedback"] == len(data.frame("feedback")) > 0
        assert not [p for p in data.problems if p.table == "feedback"]
    finally:
        data.close()
