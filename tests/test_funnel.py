"""Funnel summary on a hand-checked CRM."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from leadscore.crm import open_crm
from leadscore.funnel import funnel_summary
from tests.crm_tables import tiny_crm_tables, write_csv_folder


def test_funnel_counts_and_rates(tmp_path: Path) -> None:
    crm = open_crm(write_csv_folder(tiny_crm_tables(), tmp_path), as_of=datetime(2025, 1, 1))
    summary = funnel_summary(crm)
    assert summary.reached == {
        "lead": 3, "mql": 1, "sql": 1, "meeting": 0, "customer": 0, "disqualified": 0,
    }  # fmt: skip
    assert summary.conversion["lead→mql"] == pytest.approx(1 / 3)
    assert summary.conversion["mql→sql"] == 1.0
    assert summary.conversion["sql→meeting"] == 0.0
    assert summary.monthly["month"].tolist() == ["2024-02", "2024-03"]
    assert summary.monthly["lead"].tolist() == [2, 1]
    # data ends 2024-03-01: no lead had a full quarter yet, so no rate (not 0 %)
    assert summary.sql_within_quarter is None
    assert summary.quarter_cohort == 0


def test_the_funnel_and_the_labels_share_one_definition_of_reaching_sql(tmp_path: Path) -> None:
    """Won deals mapped to ``customer`` without an ``sql`` stage are SQLs, for both."""
    tables = tiny_crm_tables()
    stages = tables["stage_changes"]
    stages.loc[stages["stage"] == "sql", "stage"] = "customer"
    crm = open_crm(write_csv_folder(tables, tmp_path), as_of=datetime(2025, 1, 1))
    summary = funnel_summary(crm)
    assert summary.conversion["mql→sql"] == 1.0
    assert summary.conversion["sql→meeting"] == 1.0
    assert summary.reached["sql"] == summary.reached["customer"] == 1


def test_contacts_sent_straight_to_sales_are_counted_apart(tmp_path: Path) -> None:
    """A hand-raiser who became SQL without passing MQL is not in the mql→sql rate, and the
    summary says how many there are."""
    tables = tiny_crm_tables()
    stages = tables["stage_changes"]
    tables["stage_changes"] = stages[stages["stage"] != "mql"]
    crm = open_crm(write_csv_folder(tables, tmp_path), as_of=datetime(2025, 1, 1))
    summary = funnel_summary(crm)
    assert summary.reached["mql"] == 0 and summary.reached["sql"] == 1
    assert summary.conversion["mql→sql"] == 0.0
    assert summary.skipped == {"lead→mql": 0, "mql→sql": 1, "sql→meeting": 0}


def test_the_quarter_rate_counts_only_leads_with_a_full_quarter(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    stages = tables["stage_changes"]
    stages.loc[len(stages)] = ["C3", "2024-06-01 08:00:00", "disqualified"]  # data end
    crm = open_crm(write_csv_folder(tables, tmp_path), as_of=datetime(2025, 1, 1))
    summary = funnel_summary(crm)
    assert summary.quarter_cohort == 3
    assert summary.sql_within_quarter == pytest.approx(1 / 3)
