"""validate on broken exports: the checks added for issue 10 and clear read errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from leadscore.crm import open_crm
from leadscore.errors import DataContractError, SourceError
from leadscore.validation import Problem, Severity
from tests.crm_tables import tiny_crm_tables, write_csv_folder

AS_OF = datetime(2025, 1, 1)


def contract_problems(folder: Path) -> list[str]:
    with pytest.raises(DataContractError) as caught:
        open_crm(folder, as_of=AS_OF)
    return [str(p) for p in caught.value.problems]


def test_negative_employee_count_and_revenue(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["accounts"].loc[1, ["employee_count", "annual_revenue"]] = [-5, -1.0]
    problems = contract_problems(write_csv_folder(tables, tmp_path / "crm"))
    assert problems == [
        "accounts.employee_count: 1 row(s) (e.g. A2): values are below 0; expected 0 or more "
        "(leave the value empty when it is unknown)",
        "accounts.annual_revenue: 1 row(s) (e.g. A2): values are below 0; expected 0 or more "
        "(leave the value empty when it is unknown)",
    ]


def test_stage_change_before_the_contact_exists(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["stage_changes"].loc[3, "changed_at"] = "2024-02-03 09:59:59"  # C2 created at 10:00
    (problem,) = contract_problems(write_csv_folder(tables, tmp_path / "crm"))
    assert problem.startswith("stage_changes.changed_at: 1 row(s) (e.g. C2): stage changes before")


def test_duplicate_header_is_an_error(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    contacts = (folder / "contacts.csv").read_text().splitlines()
    contacts[0] += ",email_domain"
    (folder / "contacts.csv").write_text(
        "\n".join(line + ",x" if i else line for i, line in enumerate(contacts)) + "\n"
    )
    (problem,) = contract_problems(folder)
    assert "contacts: the header of contacts.csv names the same column more than once" in problem
    assert "(email_domain)" in problem


def test_duplicate_parquet_column_is_an_error(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    accounts = pa.Table.from_pandas(pd.read_csv(folder / "accounts.csv"), preserve_index=False)
    accounts = accounts.append_column("country", pa.array(["DE", "IT"]))
    (folder / "accounts.csv").unlink()
    pq.write_table(accounts, folder / "accounts.parquet")
    (problem,) = contract_problems(folder)
    assert (
        "the header of accounts.parquet names the same column more than once (country)" in problem
    )


def test_nul_bytes_are_an_error(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["contacts"].loc[0, "job_title"] = "Head\x00of sales"
    (problem,) = contract_problems(write_csv_folder(tables, tmp_path / "crm"))
    assert problem.startswith("contacts.job_title: 1 row(s) (e.g. C1): values hold NUL bytes")


def test_unknown_tables_are_warned_about(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    (folder / "leads.csv").write_text("a,b\n1,2\n")
    (folder / "Feedback.csv").write_text("contact_id\nC1\n")
    (folder / "_oracle").mkdir()  # the synthetic CRM's answer key: never a warning
    crm = open_crm(folder, as_of=AS_OF)
    warnings = {p.table: p for p in crm.problems}
    assert set(warnings) == {"leads.csv", "Feedback.csv"}
    assert all(p.severity is Severity.WARNING for p in crm.problems)
    assert "ignored: not a table of the data contract" in str(warnings["leads.csv"])
    assert "name it feedback.csv" in str(warnings["Feedback.csv"])
    crm.close()


def test_unknown_duckdb_tables_are_warned_about(tmp_path: Path) -> None:
    import duckdb

    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    path = tmp_path / "crm.duckdb"
    with duckdb.connect(str(path)) as con:
        for name in ("accounts", "contacts", "events", "stage_changes", "leads_backup"):
            source = folder / f"{'accounts' if name == 'leads_backup' else name}.csv"
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_csv('{source}', all_varchar = true)"
            )
    crm = open_crm(path, as_of=AS_OF)
    assert [(p.table, p.severity) for p in crm.problems] == [("leads_backup", Severity.WARNING)]
    crm.close()


def test_semicolon_separated_csv_is_read(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["accounts"]["annual_revenue"] = ["35000000", "1200000"]
    tables["contacts"]["job_title"] = ["Directeur, Commercial", "Head of Marketing", None]
    folder = tmp_path / "crm"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False, sep=";")
    crm = open_crm(folder, as_of=AS_OF)
    assert crm.frame("contacts")["job_title"].tolist()[0] == "Directeur, Commercial"
    crm.close()


def test_headerless_csv_does_not_echo_the_first_row(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    lines = (folder / "contacts.csv").read_text().splitlines()
    (folder / "contacts.csv").write_text("\n".join(lines[1:]) + "\n")
    problems = contract_problems(folder)
    assert any("none of the contract's columns was found" in p for p in problems)
    assert not any("Directeur" in p for p in problems)


def read_error(folder: Path) -> str:
    with pytest.raises(SourceError) as caught:
        open_crm(folder, as_of=AS_OF)
    message = str(caught.value)
    assert "ignore_errors" not in message and "LINE 1" not in message
    assert "read_csv" not in message and "Original Line" not in message
    assert len(message) < 600
    return message


def test_latin1_csv_names_file_line_and_fix(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    lines = (folder / "contacts.csv").read_bytes().splitlines()
    lines[2] = lines[2].replace(b"Head", b"H\xe9ad")
    (folder / "contacts.csv").write_bytes(b"\n".join(lines) + b"\n")
    message = read_error(folder)
    assert f"Cannot read table 'contacts' from {folder / 'contacts.csv'} at line 3" in message
    assert "not UTF-8 encoded" in message and "re-export it as UTF-8" in message


def test_utf16_csv_is_named_as_utf16_with_its_own_fix(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    text = (folder / "events.csv").read_text(encoding="utf-8")
    (folder / "events.csv").write_bytes(text.encode("utf-16"))
    message = read_error(folder)
    assert "the file is UTF-16 encoded" in message and "iconv -f utf-16" in message


def test_binary_csv_is_a_clear_read_error(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    (folder / "events.csv").write_bytes(bytes(range(256)) * 40)
    message = read_error(folder)
    assert "Cannot read table 'events' from" in message
    assert "export the table as UTF-8 CSV" in message


def test_ragged_row_far_down_the_file(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    events = pd.concat([tables["events"]] * 6000, ignore_index=True)
    events["event_id"] = [f"E{i}" for i in range(len(events))]
    tables["events"] = events
    folder = write_csv_folder(tables, tmp_path / "crm")
    with (folder / "events.csv").open("a") as out:
        out.write("E-x,C1,2024-02-02 10:00:00,web_visit,extra,values\n")
    message = read_error(folder)
    assert "events.csv at line 24,002: the line has " in message
    assert "values where the header has 4; quote values that contain the delimiter" in message


def test_long_legal_field_is_read(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["accounts"]["notes"] = ["x" * 2_100_000, "short"]
    crm = open_crm(write_csv_folder(tables, tmp_path / "crm"), as_of=AS_OF)
    assert crm.row_counts()["accounts"] == 2
    crm.close()


def test_corrupt_parquet_is_a_clear_read_error(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    (folder / "events.csv").unlink()
    (folder / "events.parquet").write_bytes(b"not parquet at all\n" * 10)
    message = read_error(folder)
    assert "the file is not a Parquet file (or it is truncated)" in message


def test_problem_messages_are_capped() -> None:
    problem = Problem("accounts", "x", 0, "y" * 100_000)
    error = DataContractError([problem])
    assert len(str(error)) < 1_000


def test_error_messages_mask_emails_and_phones_and_are_capped() -> None:
    error = SourceError("row: ann.lee@example.com, +44 20 7946 0958, " + "x" * 20_000)
    text = str(error)
    assert "ann.lee" not in text and "7946" not in text
    assert "<email address>" in text and "<phone number>" in text
    assert len(text) <= 8_000 and text.endswith("(message truncated)")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("bad value mailto://jane.doe@example.com", "bad value mailto:<email address>"),
        ("see http://jane.doe@example.com/x", "see http:<email address>/x"),
        ("store postgresql://bob:s3cret@localhost/db", "store postgresql://bob:***@localhost/db"),
        ("at postgres://bob:s3cret@10.0.0.5:5432/db", "at postgres://bob:***@10.0.0.5:5432/db"),
        ("db postgresql://bob:pw@db.example.com/x", "db postgresql://bob:***@db.example.com/x"),
        ("db postgresql+psycopg://leadscore@db.internal.io/x", None),  # user@host kept
    ],
)
def test_urls_keep_the_database_user_and_host_and_lose_passwords(
    text: str, masked: str | None
) -> None:
    from leadscore.errors import redact

    assert redact(text) == (text if masked is None else masked)


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("sqlite:///mlruns/mlflow.db", True),
        ("postgresql+psycopg2://u@h/db", True),
        ("http://127.0.0.1:5000", True),
        ("mlruns", True),
        ("foo://bar", False),
        ("sqlit:///x.db", False),
    ],
)
def test_tracking_uri_scheme_is_checked(uri: str, ok: bool) -> None:
    from leadscore.errors import ConfigError
    from leadscore.uri_check import check_tracking_uri

    if ok:
        assert check_tracking_uri(uri) == uri
    else:
        with pytest.raises(ConfigError, match="Unsupported MLflow tracking URI scheme"):
            check_tracking_uri(uri)


def test_a_line_of_separators_below_an_excel_sheet_is_no_row(tmp_path: Path) -> None:
    """Excel leaves ``,,,,`` lines below a sheet saved as CSV (here with a byte-order mark and
    CRLF): they were contacts with no id, no account and no creation time (three contract
    errors naming no line); now they are no row. A row with any value stays, and is checked."""
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    path = folder / "contacts.csv"
    lines = path.read_text().splitlines()
    commas = "," * lines[0].count(",")
    text = "\r\n".join([*lines, commas, commas]) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    crm = open_crm(folder, as_of=AS_OF)
    assert len(crm.frame("contacts")) == len(lines) - 1
    crm.close()
    path.write_text("\n".join([*lines, "," * (len(commas) - 1) + "Freelance"]) + "\n")
    assert any("contact_id" in p for p in contract_problems(folder))


def test_ids_excel_wrote_in_scientific_notation_get_a_hint(tmp_path: Path) -> None:
    """Excel saves long numeric ids as 1.23E+05: several contacts then share one id."""
    tables = tiny_crm_tables()
    tables["accounts"]["account_id"] = ["1.23E+05", "1.23E+05"]
    tables["contacts"]["account_id"] = ["1.23E+05", "1.23E+05", "1.23E+05"]
    problems = contract_problems(write_csv_folder(tables, tmp_path / "crm"))
    (duplicated,) = [p for p in problems if "key values are duplicated" in p]
    assert "accounts.account_id" in duplicated and "Excel's scientific notation" in duplicated
    assert not any("scientific" in p for p in problems if p != duplicated)


def test_ids_that_lost_their_leading_zeros_in_one_export_get_a_hint(tmp_path: Path) -> None:
    """contacts.csv keeps 00123, events.csv (opened in Excel) says 123: every event is an
    orphan; the problem says why."""
    tables = tiny_crm_tables()
    tables["contacts"]["contact_id"] = ["001", "002", "003"]
    for name in ("events", "stage_changes"):
        ids = tables[name]["contact_id"].str[1:]
        tables[name]["contact_id"] = ids.str.zfill(3) if name == "stage_changes" else ids
    problems = contract_problems(write_csv_folder(tables, tmp_path / "crm"))
    (orphans,) = [p for p in problems if "refer to unknown contacts" in p]
    assert orphans.startswith("events.contact_id")
    assert "4 of them match once leading zeros are ignored" in orphans
