"""A synthetic CRM written the way a HubSpot or Salesforce export labels things, with the
mapping config that brings it back onto the data contract.

Real exports name stages and events in the vendor's words ("Sales Qualified Lead",
"Closed Won", "Viewed Pricing Page"). This writes such a folder (one CSV per contract table)
so the "bring your own CRM" notebook and tests can show the mapping step on data that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from leadscore.atomic import atomic_write_text, check_writable
from leadscore.contract import TABLE_NAMES
from leadscore.errors import SourceError

__all__ = ["VENDOR_LABELS", "Vendor", "VendorExport", "write_vendor_export"]

Vendor = Literal["hubspot", "salesforce"]

VENDOR_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "hubspot": {
        "stages": {
            "lead": "Lead",
            "mql": "Marketing Qualified Lead",
            "sql": "Sales Qualified Lead",
            "meeting": "Meeting Booked",
            "customer": "Customer",
            "disqualified": "Unqualified",
        },
        "events": {
            "web_visit": "Page View",
            "pricing_page_visit": "Viewed Pricing Page",
            "content_download": "Downloaded Content Offer",
            "webinar_registration": "Registered for Webinar",
            "webinar_attendance": "Attended Webinar",
            "email_open": "Marketing Email Opened",
            "email_click": "Marketing Email Clicked",
            "form_fill": "Form Submission",
            "demo_request": "Demo Request Form",
            "chat": "Chat Conversation",
            "unsubscribe": "Unsubscribed from Email",
        },
    },
    "salesforce": {
        "stages": {
            "lead": "Open - Not Contacted",
            "mql": "Marketing Qualified",
            "sql": "Sales Accepted",
            "meeting": "Meeting Scheduled",
            "customer": "Closed Won",
            "disqualified": "Closed - Not Converted",
        },
        "events": {
            "web_visit": "Web Activity",
            "pricing_page_visit": "Web Activity - Pricing",
            "content_download": "Content Download",
            "webinar_registration": "Webinar - Registered",
            "webinar_attendance": "Webinar - Attended",
            "email_open": "Email Opened",
            "email_click": "Email Clicked",
            "form_fill": "Web-to-Lead Form",
            "demo_request": "Demo Requested",
            "chat": "Live Chat",
            "unsubscribe": "Email Opt Out",
        },
    },
}


@dataclass(frozen=True)
class VendorExport:
    """Where the relabelled CSV folder and its mapping config were written."""

    folder: Path
    config: Path
    vendor: str


def _config_text(vendor: str) -> str:
    labels = VENDOR_LABELS[vendor]
    mapping = {
        "mapping": {
            "stage_labels": {label: stage for stage, label in labels["stages"].items()},
            "event_types": {label: event for event, label in labels["events"].items()},
        }
    }
    header = f"# {vendor} labels -> the leadscore data contract (docs/data-contract.md)\n"
    return header + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True)


def write_vendor_export(crm: Path, out: Path, vendor: Vendor = "hubspot") -> VendorExport:
    """Copy the DuckDB CRM ``crm`` into the folder ``out`` as CSV files labelled in
    ``vendor``'s words, and write ``<out>.yaml`` beside it mapping them back onto the contract
    (outside the folder: a CRM folder holds only contract tables)."""
    import duckdb

    if vendor not in VENDOR_LABELS:
        raise SourceError(f"Unknown vendor {vendor!r}: expected one of {sorted(VENDOR_LABELS)}.")
    if not crm.is_file():
        raise SourceError(f"{crm} does not exist: generate a CRM first (`leadscore generate`).")
    labels = VENDOR_LABELS[vendor]
    check_writable(out / "contacts.csv", what="export folder")
    out.mkdir(parents=True, exist_ok=True)
    relabel = {"stage_changes": ("stage", "stages"), "events": ("event_type", "events")}
    with duckdb.connect(str(crm), read_only=True) as con:
        for table in TABLE_NAMES:
            frame = con.table(table).df()
            if table in relabel:
                column, kind = relabel[table]
                frame[column] = frame[column].map(labels[kind]).fillna(frame[column])
            atomic_write_text(out / f"{table}.csv", frame.to_csv(index=False))
    config = out.parent / f"{out.name}.yaml"
    atomic_write_text(config, _config_text(vendor))
    return VendorExport(folder=out, config=config, vendor=vendor)
