"""Label times at stage entry: each lead once, at the moment it entered the CRM or became an MQL
(or N days after), instead of every lead at every cutoff of a schedule.

The cutoff is the entry time plus :data:`ENTRY_DELAY` (one second), so that the entry itself
and whatever the CRM recorded with it (the landing-page visit of a new lead, the MQL stage
change) is known at the cutoff, which the point-in-time rule (known = strictly before the
cutoff) would otherwise hide. Entries after the end of the data are left out; the build
censors those whose horizon is not fully observed, as for any cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from leadscore.errors import ConfigError
from leadscore.features.engine import Engine
from leadscore.features.label_times import LabelTimes

__all__ = ["ENTRY_DELAY", "EntryStage", "StageEntry", "stage_entry_label_times"]

EntryStage = Literal["created", "mql"]
ENTRY_DELAY = timedelta(seconds=1)
"""How long after the entry a lead is scored (makes the entry known at the cutoff)."""


@dataclass(frozen=True)
class StageEntry:
    """Score each lead ``offset_days`` after it entered ``stage`` (``created``: the contact's
    creation; ``mql``: its first MQL stage change)."""

    stage: EntryStage = "mql"
    offset_days: int = 0

    def describe(self) -> str:
        """``"mql entry"``, ``"created + 7 days"``..., for metadata and messages."""
        what = "creation" if self.stage == "created" else "mql entry"
        return what + (f" + {self.offset_days} days" if self.offset_days else "")


def stage_entry_label_times(engine: Engine, entry: StageEntry, end: datetime) -> LabelTimes:
    """One pair per lead that entered ``entry.stage``: its entry time plus the offset and
    :data:`ENTRY_DELAY`, kept when no later than ``end`` (the end of the data)."""
    if entry.stage not in ("created", "mql"):
        raise ConfigError(f"Unknown entry stage {entry.stage!r}; allowed: created, mql.")
    if not 0 <= entry.offset_days <= 3650:
        raise ConfigError(
            f"The entry offset must be 0 to 3650 days, got {entry.offset_days}: score leads "
            "at entry (0) or some days after it."
        )
    delay = f"INTERVAL {entry.offset_days} DAY + INTERVAL {int(ENTRY_DELAY.total_seconds())} SECOND"
    if entry.stage == "created":
        sql = f"SELECT contact_id, created_at + {delay} AS cutoff FROM contacts"
    else:
        sql = (
            f"SELECT contact_id, min(changed_at) + {delay} AS cutoff FROM stage_changes"
            " WHERE stage = 'mql' GROUP BY contact_id"
        )
    table = engine.run(f"SELECT contact_id, cutoff FROM ({sql}) x", {})
    if table.num_rows:
        table = LabelTimes.of(table).table
        before_end = pc.less_equal(table.column("cutoff"), pa.scalar(end, pa.timestamp("us")))
        table = table.filter(before_end)
    if table.num_rows == 0:
        raise ConfigError(
            f"No lead has a {entry.describe()} before the end of the data ({end:%Y-%m-%d}): "
            + (
                "no contact has an 'mql' stage change; map your CRM's MQL label under "
                "mapping.stage_labels, or score at creation (--at created)."
                if entry.stage == "mql"
                else "the contacts table is empty."
            )
        )
    return LabelTimes(table, source=f"stage entry ({entry.describe()})")
