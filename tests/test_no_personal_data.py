"""No personal data in any message: broken CRM folders full of emails, names and phone numbers
give errors (exception text, CLI output, logs) that hold none of them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.crm import open_crm
from leadscore.errors import LeadscoreError
from tests.crm_tables import Tables, tiny_crm_tables, write_csv_folder

AS_OF = datetime(2025, 1, 1)
EMAIL = "jonathan.smithfield@example.com"
PHONE_INTL = "+33 6 12 34 56 78"
PHONE_US = "555-867-5309"
NAME = "Jonathan Smithfield"
SECRETS = (EMAIL, PHONE_INTL, PHONE_US, NAME, "smithfield", "867-5309", "12 34 56")


def _with_pii(tables: Tables) -> Tables:
    """Valid tables whose free columns hold personal data, as real exports do."""
    contacts = tables["contacts"]
    contacts["full_name"] = [NAME, "Ann Other", "Bo Third"]
    contacts["email"] = [EMAIL, "ann@example.org", "bo@example.net"]
    contacts["phone"] = [PHONE_INTL, PHONE_US, PHONE_US]
    contacts.loc[0, "job_title"] = f"{NAME} (call {PHONE_US})"
    tables["accounts"]["owner"] = [NAME, EMAIL]
    return tables


def _csv(change: Callable[[Tables], None]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        tables = _with_pii(tiny_crm_tables())
        change(tables)
        return write_csv_folder(tables, folder)

    return build


def _raw(table: str, rewrite: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        write_csv_folder(_with_pii(tiny_crm_tables()), folder)
        path = folder / f"{table}.csv"
        path.write_bytes(rewrite(path.read_bytes()))
        return folder

    return build


def _set(table: str, column: str, value: object, row: int = 0) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        tables[table][column] = tables[table][column].astype(object)
        tables[table].loc[row, column] = value

    return change


def _parquet_parts(folder: Path) -> Path:
    """events as Parquet parts whose second part types a column differently and holds PII."""
    write_csv_folder(_with_pii(tiny_crm_tables()), folder)
    events = pd.read_csv(folder / "events.csv")
    (folder / "events.csv").unlink()
    (folder / "events").mkdir()
    events.iloc[:2].to_parquet(folder / "events" / "part-0.parquet")
    bad = events.iloc[2:].assign(occurred_at=EMAIL, event_type=PHONE_INTL, contact_id=EMAIL)
    bad.to_parquet(folder / "events" / "part-1.parquet")
    return folder


def _corrupt_parquet(folder: Path) -> Path:
    write_csv_folder(_with_pii(tiny_crm_tables()), folder)
    (folder / "contacts.csv").unlink()
    (folder / "contacts.parquet").write_bytes(f"{NAME},{EMAIL},{PHONE_INTL}\n".encode() * 50)
    return folder


def _no_header(data: bytes) -> bytes:
    return b"\n".join(data.splitlines()[1:]) + b"\n"


def _extra_fields(data: bytes) -> bytes:
    """Rows with extra values far below DuckDB's sniffing sample: its raw error quotes them."""
    header, *rows = data.splitlines()
    bad = rows[0] + f",{EMAIL},{PHONE_INTL},{NAME}".encode()
    return b"\n".join([header, *(rows * 9000), bad]) + b"\n"


def _utf16(data: bytes) -> bytes:
    return data.decode().encode("utf-16")


BROKEN: dict[str, Callable[[Path], Path]] = {
    "latin1": _raw("contacts", lambda d: d.replace(b"Smithfield", b"Smithf\xe9ld")),
    "binary-with-pii": _raw("events", lambda d: bytes(range(256)) + EMAIL.encode() + d),
    "utf16": _raw("contacts", _utf16),
    "no-header": _raw("contacts", _no_header),
    "ragged-rows": _raw("contacts", _extra_fields),
    "unclosed-quote": _raw("contacts", lambda d: d.replace(NAME.encode(), b'"' + NAME.encode())),
    "nul-bytes": _raw("contacts", lambda d: d.replace(b"Smithfield", b"Smith\x00field")),
    "duplicate-header": _raw(
        "contacts", lambda d: d.replace(b"lead_source", b"email", 1)
    ),
    "email-as-id": _csv(_set("contacts", "contact_id", EMAIL)),
    "duplicated-email-id": _csv(lambda t: t["contacts"].__setitem__("contact_id", EMAIL)),
    "phone-as-employees": _csv(_set("accounts", "employee_count", PHONE_INTL)),
    "email-as-date": _csv(_set("contacts", "created_at", EMAIL)),
    "name-as-date": _csv(_set("stage_changes", "changed_at", NAME)),
    "phone-as-id": _csv(lambda t: t["events"].__setitem__("event_id", PHONE_US)),
    "email-as-stage": _csv(_set("stage_changes", "stage", EMAIL)),
    "phone-as-event-type": _csv(_set("events", "event_type", PHONE_INTL)),
    "full-email-domain": _csv(_set("contacts", "email_domain", EMAIL)),
    "email-as-account": _csv(_set("contacts", "account_id", EMAIL)),
    "negative-employees": _csv(_set("accounts", "employee_count", -1)),
    "missing-column": _csv(lambda t: t.__setitem__("events", t["events"].drop(columns="event_type"))),
    "parquet-mixed-parts": _parquet_parts,
    "parquet-corrupt": _corrupt_parquet,
}  # fmt: skip


VALID_AFTER_ALL = {"unclosed-quote"}  # a lone quote is read as text when quotes are unused


def _assert_clean(text: str) -> None:
    lowered = text.lower()
    for secret in SECRETS:
        assert secret.lower() not in lowered, (secret, text)


@pytest.mark.parametrize("kind", list(BROKEN))
def test_no_personal_data_in_any_message(
    kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = BROKEN[kind](tmp_path / "crm")
    caplog.set_level(logging.DEBUG)
    try:
        open_crm(folder, as_of=AS_OF).close()
    except LeadscoreError as error:
        _assert_clean(str(error))
        assert len(str(error)) < 8_000
        expected_code = error.exit_code
    else:
        assert kind in VALID_AFTER_ALL, f"{kind}: accepted without a word"
        expected_code = 0

    with pytest.raises(SystemExit) as exited:
        main(["validate", str(folder), "--as-of", "2025-01-01"])
    assert exited.value.code == expected_code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    _assert_clean(captured.out + captured.err)
    _assert_clean("\n".join(record.getMessage() for record in caplog.records))


def test_the_planted_data_is_really_there(tmp_path: Path) -> None:
    """The test above is worthless unless the files hold the secrets it looks for."""
    folder = BROKEN["ragged-rows"](tmp_path / "crm")
    text = (folder / "contacts.csv").read_text()
    assert all(secret in text for secret in (EMAIL, PHONE_INTL, NAME))


def test_posted_ids_that_are_emails_are_not_echoed_in_a_422() -> None:
    """Some CRMs key contacts (or accounts) by email: a lead posted twice, or an account
    posted with two sets of values, names the id in the 422, masked."""
    import pydantic

    from leadscore.serving.posted import ScoreRequest

    def lead(contact: str, account: str, created: str) -> dict[str, object]:
        return {
            "contact": {"contact_id": contact, "created_at": "2025-01-01T00:00:00"},
            "account": {"account_id": account, "created_at": created},
        }

    for body in (
        [lead(EMAIL, "a1", "2024-01-01T00:00:00")] * 2,
        [lead("c1", EMAIL, "2024-01-01T00:00:00"), lead("c2", EMAIL, "2024-06-01T00:00:00")],
    ):
        with pytest.raises(pydantic.ValidationError) as caught:
            ScoreRequest.model_validate({"leads": body})
        text = str(caught.value)
        assert "<id that looks like an email address>" in text
        assert not any(secret in text for secret in SECRETS)
