"""What the inbox filters leads by besides grade and date: their owner and their segment.

Both come from the CRM when it has them, and are stored with each score (the history's
``owner`` and ``segment`` columns) by a batch run:

- ``owner``: the contacts table's ``owner`` column (the rep who owns the lead in the CRM:
  HubSpot's contact owner, Salesforce's ``OwnerId``; an extra column the contract keeps);
- ``segment``: the value of the model's segment column when it has models per segment (the
  ``region`` of ``segments: {column: region}``), else a ``segment`` column of the contacts or,
  failing that, of the accounts table.

A CRM without them gives scores without them, and the inbox shows no such filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from leadscore.crm import CrmData
from leadscore.serving.store import FACET_COLUMNS
from leadscore.sql import quote_identifier

__all__ = ["FACET_COLUMNS", "OWNER_COLUMN", "SEGMENT_COLUMN", "FacetSource", "facet_source"]

OWNER_COLUMN, SEGMENT_COLUMN = FACET_COLUMNS


def _columns(data: CrmData, table: str) -> set[str]:
    cursor = data.con.execute(f"SELECT * FROM {quote_identifier(table)} LIMIT 0")
    return {str(d[0]) for d in cursor.description or ()}


@dataclass(frozen=True)
class FacetSource:
    """Where a batch run finds each lead's owner and segment (``None``: nowhere)."""

    owner: bool
    segment_feature: str | None
    """The scorer's segment column (a feature of the scored rows)."""
    segment_table: str | None
    """``contacts`` or ``accounts``: the CRM table holding a ``segment`` column."""

    @property
    def fields(self) -> list[pa.Field]:
        """The output columns this source fills."""
        out = [pa.field(OWNER_COLUMN, pa.string())] if self.owner else []
        if self.segment_feature or self.segment_table:
            out.append(pa.field(SEGMENT_COLUMN, pa.string()))
        return out

    def add(self, data: CrmData, features: pd.DataFrame, scores: pd.DataFrame) -> None:
        """Add the owner and segment columns to ``scores`` (rows of ``features``, in order)."""
        if not self.fields:
            return
        ids = features["contact_id"].astype(str).reset_index(drop=True)
        from_crm = self.owner or (self.segment_feature is None and self.segment_table is not None)
        looked_up = self._lookup(data, ids) if from_crm else pd.DataFrame()
        if self.owner:
            scores[OWNER_COLUMN] = looked_up[OWNER_COLUMN].to_numpy()
        if self.segment_feature is not None:
            values = features[self.segment_feature]
            scores[SEGMENT_COLUMN] = [None if pd.isna(v) else str(v) for v in values]
        elif self.segment_table is not None:
            scores[SEGMENT_COLUMN] = looked_up[SEGMENT_COLUMN].to_numpy()

    def _lookup(self, data: CrmData, ids: pd.Series) -> pd.DataFrame:
        selects = []
        if self.owner:
            selects.append(f"CAST(c.{quote_identifier(OWNER_COLUMN)} AS VARCHAR) AS owner")
        join = ""
        if self.segment_feature is None and self.segment_table is not None:
            alias = "c" if self.segment_table == "contacts" else "a"
            if alias == "a":
                join = "LEFT JOIN accounts a ON a.account_id = c.account_id"
            selects.append(
                f"CAST({alias}.{quote_identifier(SEGMENT_COLUMN)} AS VARCHAR) AS segment"
            )
        frame = pd.DataFrame({"contact_id": ids, "_order": range(len(ids))})
        con = data.con.cursor()  # its own handle: the feature stream's cursor stays untouched
        try:
            con.register("_facet_ids", frame)
            found = con.execute(
                f"SELECT i._order, {', '.join(selects)} "
                f"FROM _facet_ids i JOIN contacts c ON c.contact_id = i.contact_id {join} "
                "ORDER BY i._order"
            ).df()
        finally:
            con.close()
        return found.set_index("_order").reindex(range(len(ids)))


def facet_source(data: CrmData, segment_feature: str | None = None) -> FacetSource:
    """Which facets ``data`` can give; ``segment_feature``: the scorer's segment column."""
    contacts = _columns(data, "contacts")
    table = None
    if segment_feature is None:
        if SEGMENT_COLUMN in contacts:
            table = "contacts"
        elif SEGMENT_COLUMN in _columns(data, "accounts"):
            table = "accounts"
    return FacetSource(
        owner=OWNER_COLUMN in contacts, segment_feature=segment_feature, segment_table=table
    )
