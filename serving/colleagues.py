"""The account colleagues of posted leads, read from the CRM, so that HTTP scores equal batch ones.

Account-level features (``account_known_contacts``, ``account_has_other_sql``,
``account_engaged_contacts_*``, ``account_events_*``) count every contact of the lead's account.
Batch scoring sees the whole CRM; a request holds only the leads it posts. :class:`CrmColleagues`
adds to the posted rows the rows of the accounts' *other* contacts from the CRM (their contact
rows, their events within the lookback and their stage changes, all before ``as_of``), so the
feature stage's one query computes the same values as in batch. Posted rows win: a posted contact's
CRM rows are never read. :func:`account_features` names the features that need this.

Reading them with SQL scans the CRM's events of the lookback window on every request (~60 % of
a single-lead request's time on the demo CRM, measured by ``benchmarks/api_profile.py``). So the
canonical contacts, events and stage changes are read *once*, when the server starts, into
Arrow tables sorted by account and by contact (:class:`_Snapshot`); a request then takes its
colleagues' rows by slices and filters them by time, with the very conditions of the SQL path.
The snapshot holds what the server validated at start (the CRM is opened once, read-only); a
CRM with more than ``max_cached_events`` events keeps the SQL path (memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.contract import table_spec
from leadscore.crm import CrmData
from leadscore.features.definition import FeatureDefinition

__all__ = ["CrmColleagues", "account_features"]

_IDS = "_ls_posted_ids"
MAX_CACHED_EVENTS = 20_000_000
"""CRMs with more events than this are read with SQL on every request (memory bound)."""


def account_features(definition: FeatureDefinition, used: Sequence[str]) -> list[str]:
    """The features of ``used`` that count the lead's colleagues (kind ``account``)."""
    kinds = {f.name: getattr(f, "kind", None) for f in definition.features}
    return [name for name in used if kinds.get(name) == "account"]


def _columns(table: str, alias: str) -> str:
    return ", ".join(f'{alias}."{c}"' for c in table_spec(table).column_names)


class _Sorted:
    """A canonical table sorted (stably) by one key column, with each key's row range."""

    def __init__(self, table: pa.Table, key: str) -> None:
        order = pc.sort_indices(table, sort_keys=[(key, "ascending")])  # stable
        self.table = table.take(order)
        keys = self.table.column(key).to_numpy(zero_copy_only=False)
        if len(keys) == 0:
            self.ranges: dict[str, tuple[int, int]] = {}
            return
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        stops = np.append(starts[1:], len(keys))
        self.ranges = {
            str(keys[a]): (int(a), int(b))
            for a, b in zip(starts, stops, strict=True)
            if keys[a] is not None  # a null key matches nothing, as in SQL
        }

    def rows(self, keys: Sequence[str]) -> pa.Table:
        """The rows of ``keys`` (absent keys have none), in key order."""
        spans = [self.ranges[k] for k in keys if k in self.ranges]
        if not spans:
            return self.table.slice(0, 0)
        return self.table.take(np.concatenate([np.arange(a, b) for a, b in spans]))


class _Snapshot:
    """The CRM's canonical contacts (by account), events and stage changes (by contact)."""

    def __init__(self, crm: CrmData) -> None:
        con = crm.con.cursor()
        try:
            self.contacts = _Sorted(
                con.sql(f"SELECT {_columns('contacts', 'c')} FROM contacts c").to_arrow_table(),
                "account_id",
            )
            self.events = _Sorted(
                con.sql(f"SELECT {_columns('events', 'e')} FROM events e").to_arrow_table(),
                "contact_id",
            )
            self.stage_changes = _Sorted(
                con.sql(
                    f"SELECT {_columns('stage_changes', 's')} FROM stage_changes s"
                ).to_arrow_table(),
                "contact_id",
            )
        finally:
            con.close()


def _before(table: pa.Table, column: str, end: datetime, start: datetime | None = None) -> pa.Table:
    """Rows of ``table`` with ``start <= column < end`` (a null time is never kept, as in SQL)."""
    values = table.column(column)
    kind = values.type
    keep = pc.less(values, pa.scalar(end, kind))
    if start is not None:
        keep = pc.and_kleene(keep, pc.greater_equal(values, pa.scalar(start, kind)))
    return table.filter(keep)  # nulls dropped


def _ids_table(contacts: pa.Table) -> pa.Table:
    """The posted accounts' and contacts' ids (``kind``, ``id``) for the SQL reads."""
    return pa.table(
        {
            "kind": ["account"] * contacts.num_rows + ["contact"] * contacts.num_rows,
            "id": pa.concat_arrays(
                [
                    contacts.column("account_id").combine_chunks(),
                    contacts.column("contact_id").combine_chunks(),
                ]
            ),
        }
    )


def _event_count(crm: CrmData) -> int:
    row = crm.con.cursor().execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


class CrmColleagues:
    """Reads the colleagues of posted leads from ``crm`` (a validated CRM, kept open).

    Calls from several threads are safe: the snapshot is read-only, and the SQL path uses its
    own cursor of the CRM's connection per call. Events older than ``lookback_days`` before
    ``as_of`` are not read: no account feature looks further back. ``max_cached_events``: the
    largest CRM (in events) read into memory at start (see the module doc); 0 keeps SQL.
    """

    def __init__(
        self, crm: CrmData, *, lookback_days: int, max_cached_events: int = MAX_CACHED_EVENTS
    ) -> None:
        self.crm = crm
        self.lookback_days = lookback_days
        self._snapshot = (
            _Snapshot(crm)
            if max_cached_events > 0 and _event_count(crm) <= max_cached_events
            else None
        )
        self._sql = {
            "contacts": (
                f"SELECT {_columns('contacts', 'c')} FROM contacts c "
                f"WHERE c.account_id IN (SELECT id FROM {_IDS} WHERE kind = 'account') "
                f"AND c.contact_id NOT IN (SELECT id FROM {_IDS} WHERE kind = 'contact') "
                "AND c.created_at < $as_of"
            ),
            "hidden": (
                "SELECT c.contact_id, c.account_id FROM contacts c "
                f"WHERE c.account_id IN (SELECT id FROM {_IDS} WHERE kind = 'account') "
                f"AND c.contact_id IN (SELECT id FROM {_IDS} WHERE kind = 'contact') "
                "AND c.created_at < $as_of"
            ),
            "events": (
                f"SELECT {_columns('events', 'e')} FROM events e "
                "WHERE e.contact_id IN (SELECT contact_id FROM _ls_colleagues) "
                "AND e.occurred_at < $as_of AND e.occurred_at >= $since"
            ),
            "stage_changes": (
                f"SELECT {_columns('stage_changes', 's')} FROM stage_changes s "
                "WHERE s.contact_id IN (SELECT contact_id FROM _ls_colleagues) "
                "AND s.changed_at < $as_of"
            ),
        }

    @property
    def cached(self) -> bool:
        """Whether the colleagues come from the snapshot taken at start (else: SQL)."""
        return self._snapshot is not None

    def merge(self, tables: Mapping[str, pa.Table], *, as_of: datetime) -> dict[str, pa.Table]:
        """``tables`` (posted contract tables) plus the CRM rows of the posted accounts' other
        contacts known before ``as_of`` (naive UTC)."""
        merged = dict(tables)
        for name, rows in self.read(tables, as_of=as_of).items():
            merged[name] = pa.concat_tables([tables[name], rows])
        return merged

    def read(self, tables: Mapping[str, pa.Table], *, as_of: datetime) -> dict[str, pa.Table]:
        """Only the CRM rows :meth:`merge` adds (``contacts``, ``events``, ``stage_changes``,
        with the posted tables' schemas; none when the accounts have no other contact)."""
        if self._snapshot is not None:
            return self._read_snapshot(self._snapshot, tables, as_of=as_of)
        return self._read_sql(tables, as_of=as_of)

    def _read_snapshot(
        self, snap: _Snapshot, tables: Mapping[str, pa.Table], *, as_of: datetime
    ) -> dict[str, pa.Table]:
        posted = tables["contacts"]
        accounts = sorted(set(posted.column("account_id").to_pylist()) - {None})
        known = set(posted.column("contact_id").to_pylist())
        rows = _before(snap.contacts.rows(accounts), "created_at", as_of)
        rows = rows.filter(
            pc.invert(
                pc.is_in(
                    rows.column("contact_id"),
                    pa.array(sorted(known - {None}), rows.column("contact_id").type),
                )
            )
        )
        if rows.num_rows == 0:
            return {}
        ids = rows.column("contact_id").to_pylist()
        since = as_of - timedelta(days=self.lookback_days + 1)
        found = {
            "contacts": rows,
            "events": _before(snap.events.rows(ids), "occurred_at", as_of, since),
            "stage_changes": _before(snap.stage_changes.rows(ids), "changed_at", as_of),
        }
        return {name: t.cast(tables[name].schema) for name, t in found.items()}

    def hidden(self, tables: Mapping[str, pa.Table], *, as_of: datetime) -> list[tuple[str, str]]:
        """``(contact id, account id)`` of the CRM contacts of the posted accounts known before
        ``as_of`` that :meth:`merge` leaves out because they are posted themselves (posted rows
        win), wherever posted. Requests merged into one call check with it that none hides
        another's colleague."""
        posted = tables["contacts"]
        if self._snapshot is None:
            con = self.crm.con.cursor()
            try:
                con.register(_IDS, _ids_table(posted))
                found = con.sql(self._sql["hidden"], params={"as_of": as_of}).fetchall()
            finally:
                con.close()
            return [(str(c), str(a)) for c, a in found]
        accounts = sorted(set(posted.column("account_id").to_pylist()) - {None})
        known = set(posted.column("contact_id").to_pylist()) - {None}
        rows = _before(self._snapshot.contacts.rows(accounts), "created_at", as_of)
        pairs = zip(
            rows.column("contact_id").to_pylist(),
            rows.column("account_id").to_pylist(),
            strict=True,
        )
        return [(str(c), str(a)) for c, a in pairs if c in known]

    def _read_sql(self, tables: Mapping[str, pa.Table], *, as_of: datetime) -> dict[str, pa.Table]:
        ids = _ids_table(tables["contacts"])
        params = {"as_of": as_of, "since": as_of - timedelta(days=self.lookback_days + 1)}
        found: dict[str, pa.Table] = {}
        con = self.crm.con.cursor()
        try:
            con.register(_IDS, ids)
            colleagues = con.sql(self._sql["contacts"], params={"as_of": as_of}).to_arrow_table()
            if colleagues.num_rows == 0:
                return found
            con.register("_ls_colleagues", colleagues)
            for name in ("contacts", "events", "stage_changes"):
                rows = (
                    colleagues
                    if name == "contacts"
                    else con.sql(
                        self._sql[name], params=params if name == "events" else {"as_of": as_of}
                    ).to_arrow_table()
                )
                found[name] = rows.cast(tables[name].schema)
        finally:
            con.close()
        return found
