"""The contract tables of one request as :class:`~leadscore.features.python_eval.Lead` objects
(one per contact: its profile row, its account's row, its events and stage changes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from leadscore.features.python_eval import _OTHER_TYPE, TYPE_CODES, Lead, micros
from leadscore.features.python_text import Unmirrored

__all__ = ["read_leads"]

_NEVER = 2**62
"""The creation time of a contact without one: never before a cutoff (as NULL in the SQL)."""


def _times(column: pa.ChunkedArray) -> np.ndarray:
    """Microseconds of a timestamp column (no nulls: a null time raises :class:`Unmirrored`)."""
    if column.null_count:
        raise Unmirrored("a null time")
    if not pa.types.is_timestamp(column.type) or column.type.tz is not None:
        raise Unmirrored(f"a time column of type {column.type}")
    values = column.cast(pa.timestamp("us")).to_numpy()
    return np.asarray(values).view(np.int64)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def read_leads(tables: Mapping[str, pa.Table], props: Sequence[str] = ()) -> dict[str, Lead]:
    """Every contact of ``tables`` by id (``props``: the event properties to read)."""
    accounts: dict[str, dict[str, Any]] = {}
    for row in _rows(tables["accounts"]):
        if row["account_id"] in accounts:
            raise Unmirrored("an account posted twice")  # the SQL would join both rows
        accounts[row["account_id"]] = row
    contacts = tables["contacts"]
    leads: dict[str, Lead] = {}
    created = contacts.column("created_at")
    for row, when in zip(_rows(contacts), created.to_pylist(), strict=True):
        cid = row["contact_id"]
        if cid is None or cid in leads:
            raise Unmirrored("a contact id null or repeated")
        aid = row["account_id"]
        leads[cid] = Lead(
            contact_id=cid,
            account_id=aid,
            created=_NEVER if when is None else micros(when),
            contact=row,
            account=accounts.get(aid) if aid is not None else None,
            occurred=np.empty(0, np.int64),
            codes=np.empty(0, np.int16),
            props={p: [] for p in props},
            stages=[],
        )
    _add_events(leads, tables["events"], props)
    stages = tables["stage_changes"]
    changed = _times(stages.column("changed_at")).tolist()
    pairs = zip(
        stages.column("contact_id").to_pylist(),
        changed,
        stages.column("stage").to_pylist(),
        strict=True,
    )
    for cid, when, stage in pairs:
        if cid in leads:
            leads[cid].stages.append((when, stage))
    return leads


def _add_events(leads: dict[str, Lead], events: pa.Table, props: Sequence[str]) -> None:
    if events.num_rows == 0:
        return
    occurred = _times(events.column("occurred_at"))
    types = events.column("event_type").to_pylist()
    codes = np.fromiter((TYPE_CODES.get(t, _OTHER_TYPE) for t in types), np.int16, len(types))
    ids = np.asarray(events.column("contact_id").to_numpy(zero_copy_only=False), dtype=object)
    if any(i is None for i in ids):
        raise Unmirrored("an event without a contact")
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    stops = np.append(starts[1:], len(ids))
    values = {p: events.column(p).to_pylist() for p in props}
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        lead = leads.get(ids[a])
        if lead is None:
            continue
        rows = order[a:b]
        lead.occurred = occurred[rows]
        lead.codes = codes[rows]
        lead.props = {p: [values[p][i] for i in rows.tolist()] for p in props}
