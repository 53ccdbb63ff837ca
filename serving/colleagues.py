"""The account colleagues of posted leads, read from the CRM, so that HTTP scores equal batch ones.

Account-level features (``account_known_contacts``, ``account_has_other_sql``,
``account_engaged_contacts_*``, ``account_events_*``) count every contact of the lead's account.
Batch scoring sees the whole CRM; a request holds only the leads it posts. :class:`CrmColleagues`
adds to the posted rows the rows of the accounts' *other* contacts from the CRM (their contact
rows, their events within the lookback and their stage changes, all before ``as_of``), so the
feature stage's one query computes the same values as in batch. Posted rows win: a posted contact's
CRM rows are never read. :func:`account_features` names the features that need this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pyarrow as pa

from leadscore.contract import table_spec
from leadscore.crm import CrmData
from leadscore.features.definition import FeatureDefinition

__all__ = ["CrmColleagues", "account_features"]

_IDS = "_ls_posted_ids"


def account_features(definition: FeatureDefinition, used: Sequence[str]) -> list[str]:
    """The features of ``used`` that count the lead's colleagues (kind ``account``)."""
    kinds = {f.name: getattr(f, "kind", None) for f in definition.features}
    return [name for name in used if kinds.get(name) == "account"]


def _columns(table: str, alias: str) -> str:
    return ", ".join(f'{alias}."{c}"' for c in table_spec(table).column_names)


class CrmColleagues:
    """Reads the colleagues of posted leads from ``crm`` (a validated CRM, kept open).

    Calls from several threads are safe: each uses its own cursor of the CRM's connection.
    Events older than ``lookback_days`` before ``as_of`` are not read: no account feature looks
    further back.
    """

    def __init__(self, crm: CrmData, *, lookback_days: int) -> None:
        self.crm = crm
        self.lookback_days = lookback_days
        self._sql = {
            "contacts": (
                f"SELECT {_columns('contacts', 'c')} FROM contacts c "
                f"WHERE c.account_id IN (SELECT id FROM {_IDS} WHERE kind = 'account') "
                f"AND c.contact_id NOT IN (SELECT id FROM {_IDS} WHERE kind = 'contact') "
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

    def merge(self, tables: Mapping[str, pa.Table], *, as_of: datetime) -> dict[str, pa.Table]:
        """``tables`` (posted contract tables) plus the CRM rows of the posted accounts' other
        contacts known before ``as_of`` (naive UTC)."""
        contacts = tables["contacts"]
        ids = pa.table(
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
        params = {"as_of": as_of, "since": as_of - timedelta(days=self.lookback_days + 1)}
        merged = dict(tables)
        con = self.crm.con.cursor()
        try:
            con.register(_IDS, ids)
            colleagues = con.sql(self._sql["contacts"], params={"as_of": as_of}).to_arrow_table()
            if colleagues.num_rows == 0:
                return merged
            con.register("_ls_colleagues", colleagues)
            for name in ("contacts", "events", "stage_changes"):
                rows = (
                    colleagues
                    if name == "contacts"
                    else con.sql(
                        self._sql[name], params=params if name == "events" else {"as_of": as_of}
                    ).to_arrow_table()
                )
                posted = tables[name]
                merged[name] = pa.concat_tables([posted, rows.cast(posted.schema)])
        finally:
            con.close()
        return merged
