"""Contract validation: one test per kind of problem, each naming table, column and row count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from leadscore.config import CrmMapping
from leadscore.contract import EventType, Stage
from leadscore.crm import open_crm
from leadscore.errors import DataContractError
from leadscore.validation import Problem
from tests.crm_tables import Tables, tiny_crm_tables, write_csv_folder

AS_OF = datetime(2025, 1, 1)


def problems_for(
    tmp_path: Path, change: Callable[[Tables], None], mapping: CrmMapping | None = None
) -> list[Problem]:
    tables = tiny_crm_tables()
    change(tables)
    with pytest.raises(DataContractError) as caught:
        open_crm(write_csv_folder(tables, tmp_path / "crm"), mapping, as_of=AS_OF)
    return [p for p in caught.value.problems if isinstance(p, Problem)]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_valid_crm_opens_with_canonical_types(tmp_path: Path) -> None:
    crm = open_crm(write_csv_folder(tiny_crm_tables(), tmp_path / "crm"), as_of=AS_OF)
    assert crm.problems == []
    assert crm.row_counts() == {
        "accounts": 2, "contacts": 3, "events": 4, "stage_changes": 5, "feedback": 0,
    }  # fmt: skip
    contacts = crm.frame("contacts")
    assert str(contacts["created_at"].dtype).startswith("datetime64")
    assert contacts["seniority"].isna().all()  # optional column absent -> NULL
    assert crm.frame("accounts")["employee_count"].tolist() == [250, 12]
    assert "crm_tier" in crm.frame("accounts").columns


def test_missing_required_column(tmp_path: Path) -> None:
    def drop_type(t: Tables) -> None:
        t["events"] = t["events"].drop(columns="event_type")

    problem = only(problems_for(tmp_path, drop_type))
    assert (problem.table, problem.column) == ("events", "event_type")
    assert "required column is missing" in str(problem)
    assert "events.event_type" in str(problem)


def test_missing_table(tmp_path: Path) -> None:
    problem = only(problems_for(tmp_path, lambda t: t.pop("stage_changes")))
    assert (problem.table, problem.column) == ("stage_changes", None)
    assert "table is missing" in str(problem)


def test_empty_table(tmp_path: Path) -> None:
    def empty_events(t: Tables) -> None:
        t["events"] = t["events"].iloc[0:0]

    problem = only(problems_for(tmp_path, empty_events))
    assert problem.table == "events"
    assert "empty" in str(problem)


def test_wrong_type(tmp_path: Path) -> None:
    def bad_size(t: Tables) -> None:
        t["accounts"]["employee_count"] = ["250", "about twelve"]

    problem = only(problems_for(tmp_path, bad_size))
    assert (problem.table, problem.column, problem.n_rows) == ("accounts", "employee_count", 1)
    assert problem.examples == ("A2",)
    assert "BIGINT" in str(problem)


def test_unreadable_values_say_which_form_reads(tmp_path: Path) -> None:
    """A spreadsheet's day/month dates and thousands separators: the message says the form."""

    def spreadsheet(t: Tables) -> None:
        t["accounts"]["employee_count"] = ["250", "1,500"]
        created = t["contacts"]["created_at"].astype(str).tolist()
        t["contacts"]["created_at"] = ["01/03/2024 12:00", *created[1:]]

    text = "\n".join(str(p) for p in problems_for(tmp_path, spreadsheet))
    assert "values cannot be read as BIGINT; expected whole numbers without thousands" in text
    assert "values cannot be read as TIMESTAMP; expected ISO dates such as 2024-03-01" in text


def test_null_in_non_nullable_column(tmp_path: Path) -> None:
    def no_time(t: Tables) -> None:
        t["events"].loc[[1, 2], "occurred_at"] = None

    problem = only(problems_for(tmp_path, no_time))
    assert (problem.table, problem.column, problem.n_rows) == ("events", "occurred_at", 2)
    assert problem.examples == ("E2", "E3")


def test_duplicate_key(tmp_path: Path) -> None:
    def duplicate(t: Tables) -> None:
        t["contacts"] = pd.concat([t["contacts"], t["contacts"].iloc[[0]]], ignore_index=True)

    problem = only(problems_for(tmp_path, duplicate))
    assert (problem.table, problem.column, problem.n_rows) == ("contacts", "contact_id", 2)
    assert "duplicated" in str(problem)


def test_foreign_key_to_unknown_contact(tmp_path: Path) -> None:
    def orphan(t: Tables) -> None:
        t["events"].loc[3, "contact_id"] = "C404"

    problem = only(problems_for(tmp_path, orphan))
    assert (problem.table, problem.column, problem.n_rows) == ("events", "contact_id", 1)
    assert problem.examples == ("E4",)
    assert "unknown contacts" in str(problem)


def test_timestamp_in_the_future(tmp_path: Path) -> None:
    def future(t: Tables) -> None:
        t["events"].loc[0, "occurred_at"] = "2031-05-01 00:00:00"

    problem = only(problems_for(tmp_path, future))
    assert (problem.table, problem.column, problem.n_rows) == ("events", "occurred_at", 1)
    assert "future" in str(problem)


def test_timestamps_before_the_account_existed(tmp_path: Path) -> None:
    def too_early(t: Tables) -> None:
        t["contacts"].loc[2, "created_at"] = "2023-12-01 00:00:00"
        t["events"].loc[0, "occurred_at"] = "2023-12-24 00:00:00"

    problems = problems_for(tmp_path, too_early)
    assert {(p.table, p.column, p.n_rows) for p in problems} == {
        ("contacts", "created_at", 1),
        ("events", "occurred_at", 1),
    }
    assert all("account" in str(p) for p in problems)


def test_unknown_stage_after_mapping(tmp_path: Path) -> None:
    def crm_labels(t: Tables) -> None:
        t["stage_changes"]["stage"] = [
            "New",
            "Marketing Qualified",
            "Sales Accepted",
            "New",
            "Zombie",
        ]

    mapping = CrmMapping(
        stage_labels={
            "New": Stage.LEAD,
            "marketing qualified": Stage.MQL,
            "Sales Accepted": Stage.SQL,
        }
    )
    problem = only(problems_for(tmp_path, crm_labels, mapping))
    assert (problem.table, problem.column, problem.n_rows) == ("stage_changes", "stage", 1)
    assert "'zombie'" in str(problem)
    assert "mapping.stage_labels" in str(problem)


def test_mapping_makes_crm_vocabulary_valid(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["events"]["event_type"] = ["Visited Pricing", "Demo Request", "Download", "WEB_VISIT"]
    mapping = CrmMapping(
        event_types={
            "Visited Pricing": EventType.PRICING_PAGE_VISIT,
            "Demo Request": EventType.DEMO_REQUEST,
            "Download": EventType.CONTENT_DOWNLOAD,
        }
    )
    crm = open_crm(write_csv_folder(tables, tmp_path / "crm"), mapping, as_of=AS_OF)
    assert crm.frame("events")["event_type"].tolist() == [
        "pricing_page_visit", "demo_request", "content_download", "web_visit",
    ]  # fmt: skip


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """The acceptance case: a missing column, a duplicated contact id, events of unknown contacts."""

    def three_problems(t: Tables) -> None:
        t["accounts"] = t["accounts"].drop(columns="industry")
        t["contacts"] = pd.concat([t["contacts"], t["contacts"].iloc[[0]]], ignore_index=True)
        t["events"].loc[[2, 3], "contact_id"] = "C999"

    problems = problems_for(tmp_path, three_problems)
    assert {(p.table, p.column, p.n_rows) for p in problems} == {
        ("accounts", "industry", 0),
        ("contacts", "contact_id", 2),
        ("events", "contact_id", 2),
    }


def test_no_personal_data_in_messages(tmp_path: Path) -> None:
    def with_emails(t: Tables) -> None:
        t["contacts"]["email_domain"] = ["jane.doe@acme.com", "x@gmail.com", None]
        t["contacts"].loc[0, "account_id"] = "A9"
        # a CRM keyed by email address: ids quoted as examples must not leak it
        t["contacts"].loc[2, "contact_id"] = "john.smith@globex.com"

    message = str(
        DataContractError(list(problems_for(tmp_path, with_emails)))  # type: ignore[arg-type]
    )
    assert "@" not in message


def test_full_email_addresses_are_refused_without_being_echoed(tmp_path: Path) -> None:
    def addresses(t: Tables) -> None:
        t["contacts"]["email_domain"] = ["jane.doe@acme.com", "gmail.com", None]

    problem = only(problems_for(tmp_path, addresses))
    assert (problem.table, problem.column, problem.n_rows) == ("contacts", "email_domain", 1)
    assert problem.examples == ("C1",)
    assert "jane.doe" not in str(problem)
