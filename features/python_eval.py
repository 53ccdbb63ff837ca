"""The feature definition evaluated in Python for the few contacts of one request.

The feature stage's one SQL (:mod:`leadscore.features.sql`) is the definition of every value.
On the HTTP API's requests of a lead or a few, executing its prepared plan (about 150
operators) costs a fixed ~16 ms whatever the rows; this module computes the same values for
one cutoff from the rows in memory, one small function per feature kind, registered by kind
like the SQL compilers (:func:`evaluates`; kinds in :mod:`leadscore.features.python_kinds` and
:mod:`leadscore.features.python_custom`). The semantics are the SQL's, operation by operation:
windows ``[cutoff - N days, cutoff)`` in microseconds, whole days by floating-point division and
floor, DuckDB's ``trim``/``lower``/``upper`` (:mod:`leadscore.features.python_text`), NULLs,
BIGINT and DOUBLE results. ``tests/test_python_eval.py`` proves the values equal to the SQL's.

:class:`PythonFeatures` plans a definition once (:attr:`PythonFeatures.missing` names the kinds
without an evaluator: the caller keeps the SQL path) and :meth:`PythonFeatures.table` returns
the table the SQL path returns for the same rows (schema, row order). A value this module cannot
mirror exactly raises :class:`~leadscore.features.python_text.Unmirrored`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from leadscore.contract import SQL_OR_LATER, EventType
from leadscore.features.build import output_schema
from leadscore.features.definition import FeatureDefinition, Rules
from leadscore.features.labels import FromStage
from leadscore.features.python_text import Unmirrored

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EVALUATORS",
    "US_PER_DAY",
    "Context",
    "Lead",
    "PythonFeatures",
    "Unmirrored",
    "evaluates",
    "micros",
]

US_PER_DAY = 86_400_000_000
_THREADED_ROWS = 256  # smaller tables convert to pandas on the calling thread (cheaper)
_EPOCH = datetime(1970, 1, 1)
TYPE_CODES: dict[str, int] = {t.value: i for i, t in enumerate(EventType)}
"""Event type -> code; any other type gets ``len(TYPE_CODES)``."""
_OTHER_TYPE = len(TYPE_CODES)
_SQL = frozenset(SQL_OR_LATER)
PROPERTIES = ("page_url", "page_category", "campaign", "asset_name")


def micros(moment: datetime) -> int:
    """Microseconds since 1970 of a naive UTC time (exact)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def type_mask(event_types: tuple[Any, ...]) -> np.ndarray:
    """A lookup by type code: true for the codes of ``event_types`` (all when empty)."""
    if not event_types:
        return np.ones(_OTHER_TYPE + 1, dtype=bool)
    mask = np.zeros(_OTHER_TYPE + 1, dtype=bool)
    for t in event_types:
        mask[TYPE_CODES[str(t.value)]] = True
    return mask


@dataclass
class Lead:
    """One contact's rows: profile, account, events (times in microseconds, type codes,
    properties) and stage changes."""

    contact_id: str
    account_id: str | None
    created: int
    contact: dict[str, Any]
    account: dict[str, Any] | None
    occurred: np.ndarray
    codes: np.ndarray
    props: dict[str, list[Any]]
    stages: list[tuple[int, str]]
    cache: dict[Any, Any] = field(default_factory=dict)

    def last_stage(self, stages: Collection[str], cutoff: int) -> int | None:
        """Latest change into one of ``stages`` strictly before ``cutoff`` (``None``: none)."""
        times = [t for t, s in self.stages if s in stages and t < cutoff]
        return max(times) if times else None


@dataclass
class Context:
    """One request's rows at one cutoff, with the measures several features share."""

    cutoff: int
    lookback: int
    rules: Rules
    leads: dict[str, Lead]
    by_account: dict[str, list[Lead]]

    def window(self, lead: Lead, days: int, until: int = 0) -> np.ndarray:
        """Mask of ``lead``'s events in ``[cutoff - days, cutoff - until)`` (whole days)."""
        key = ("w", days, until)
        if key not in lead.cache:
            occ = lead.occurred
            lead.cache[key] = (occ >= self.cutoff - days * US_PER_DAY) & (
                occ < self.cutoff - until * US_PER_DAY
            )
        mask: np.ndarray = lead.cache[key]
        return mask

    def count(self, lead: Lead, types: np.ndarray, days: int, until: int = 0) -> int:
        """Events of the ``types`` lookup in the window (see :meth:`window`)."""
        return int(np.count_nonzero(self.window(lead, days, until) & types[lead.codes]))

    def latest(self, lead: Lead, selected: np.ndarray) -> int | None:
        """Latest time of the ``selected`` events within the lookback (``None``: none)."""
        chosen = lead.occurred[self.window(lead, self.lookback) & selected]
        return int(chosen.max()) if chosen.size else None

    def members(self, lead: Lead) -> list[Lead]:
        """Contacts of ``lead``'s account created before the cutoff (``lead`` included)."""
        if lead.account_id is None:
            return []
        return [m for m in self.by_account.get(lead.account_id, []) if m.created < self.cutoff]

    def days_between(self, earlier: int) -> int:
        """Whole days from ``earlier`` to the cutoff, computed as the SQL does (a DOUBLE
        division floored)."""
        return int(np.floor(float(self.cutoff - earlier) / float(US_PER_DAY)))


RowFunction = Callable[[Context, Lead], Any]
Evaluator = Callable[[Any, FeatureDefinition], RowFunction]
EVALUATORS: dict[str, Evaluator] = {}
"""Feature kind -> evaluator (the feature, the definition -> a function of a lead)."""


def evaluates(kind: str) -> Callable[[Evaluator], Evaluator]:
    """Register the decorated function as the evaluator of feature ``kind``."""

    def register(function: Evaluator) -> Evaluator:
        EVALUATORS[kind] = function
        return function

    return register


def _load_kinds() -> None:
    import leadscore.features.python_custom
    import leadscore.features.python_kinds  # noqa: F401  (registers the kinds)


class PythonFeatures:
    """The features of ``definition`` computed in Python (see the module doc)."""

    def __init__(self, definition: FeatureDefinition, *, from_stage: FromStage = "any") -> None:
        _load_kinds()
        self.definition = definition
        self.from_stage = from_stage
        self.schema = output_schema(definition, labelled=False)
        self.missing = sorted({f.kind for f in definition.features if f.kind not in EVALUATORS})
        """Feature kinds without an evaluator (the definition is then not evaluated here)."""
        self.props = sorted({f.property for f in definition.features if f.kind == "event_property"})
        self._rows: list[RowFunction] = []
        if not self.missing:
            self._rows = [EVALUATORS[f.kind](f, definition) for f in definition.features]

    def table(
        self,
        tables: Mapping[str, pa.Table],
        *,
        as_of: datetime,
        only: Collection[str] | None = None,
    ) -> pa.Table:
        """The feature table of the eligible contacts of ``tables`` (contract tables) at
        ``as_of`` (UTC; naive is read as UTC), as the SQL path gives it; ``only``: just these
        contacts."""
        columns = self._columns(tables, as_of=as_of, only=only)
        arrays = [
            pa.array(values, type=f.type) for values, f in zip(columns, self.schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def frame(
        self,
        tables: Mapping[str, pa.Table],
        *,
        as_of: datetime,
        only: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """``table(...).to_pandas()``, built from the values directly when their conversion is
        certain (:mod:`leadscore.features.python_frame`; a single lead's Arrow round trip
        costs ~0.5 ms), else through Arrow."""
        from leadscore.features.python_frame import frame_of_columns

        columns = self._columns(tables, as_of=as_of, only=only)
        frame = frame_of_columns(columns, self.schema)
        if frame is not None:
            return frame
        arrays = [
            pa.array(values, type=f.type) for values, f in zip(columns, self.schema, strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        out: pd.DataFrame = table.to_pandas(use_threads=table.num_rows > _THREADED_ROWS)
        return out

    def _columns(
        self,
        tables: Mapping[str, pa.Table],
        *,
        as_of: datetime,
        only: Collection[str] | None,
    ) -> list[list[Any]]:
        """The values of :meth:`table`'s columns, in the schema's order."""
        if self.missing:
            raise Unmirrored(f"no evaluator for kind(s) {', '.join(self.missing)}")
        from leadscore.features.python_rows import read_leads

        if as_of.tzinfo is not None:  # as the SQL path: naive UTC
            as_of = as_of.astimezone(UTC).replace(tzinfo=None)
        cutoff = micros(as_of)
        leads = read_leads(tables, self.props)
        by_account: dict[str, list[Lead]] = {}
        for lead in leads.values():
            if lead.account_id is not None:
                by_account.setdefault(lead.account_id, []).append(lead)
        ctx = Context(
            cutoff, self.definition.lookback_days, self.definition.rules, leads, by_account
        )
        wanted = sorted(
            lead.contact_id
            for lead in leads.values()
            if (only is None or lead.contact_id in only) and self._eligible(lead, cutoff)
        )
        columns: list[list[Any]] = [wanted, [as_of] * len(wanted)]
        rows = [leads[c] for c in wanted]
        for function in self._rows:
            columns.append([function(ctx, lead) for lead in rows])
        return columns

    def _eligible(self, lead: Lead, cutoff: int) -> bool:
        """The label times' ``lt`` of one contact: created before the cutoff, never SQL
        before it, not disqualified since last active (and an MQL for ``from_stage="mql"``)."""
        if lead.created >= cutoff:
            return False
        if lead.last_stage(_SQL, cutoff) is not None:
            return False
        last_dq = lead.last_stage(("disqualified",), cutoff)
        if last_dq is not None:
            last_active = lead.last_stage(("lead", "mql"), cutoff)
            if last_active is None or last_dq >= last_active:
                return False
        return self.from_stage != "mql" or lead.last_stage(("mql",), cutoff) is not None
