"""Features of posted leads, equal to batch scoring's by construction.

:class:`OnlineFeatures` is the HTTP API's path from a :class:`~leadscore.serving.posted.
ScoreRequest` to a feature frame: the posted rows are checked by the contract's own validation
(:class:`~leadscore.serving.posted.PostedValidator`), joined by the rows of their accounts' other
contacts from the CRM when the server has one (:class:`~leadscore.serving.colleagues.
CrmColleagues`), and run through the feature stage's one query (:class:`~leadscore.serving.
features.PostedFeatures`). Without a CRM, account-level features cannot be computed from a
request alone unless the request says it holds whole accounts: :class:`AccountFeaturesRefused`
says so instead of returning wrong values.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.crm import CrmData
from leadscore.errors import LeadscoreError
from leadscore.features.definition import FeatureDefinition
from leadscore.features.labels import FromStage
from leadscore.features.python_eval import PythonFeatures, Unmirrored
from leadscore.features.python_text import case_maps
from leadscore.model.encoding import SMALL_ROWS
from leadscore.serving.colleagues import CrmColleagues, account_features
from leadscore.serving.features import PostedFeatures
from leadscore.serving.posted import (
    PostedValidator,
    ScoreRequest,
    posted_rows,
    posted_tables,
    tables_of_rows,
)
from leadscore.serving.posted_quick import QuickCheck

__all__ = [
    "PYTHON_LEADS",
    "AccountFeaturesRefused",
    "OnlineFeatures",
    "PathCounts",
    "small_to_pandas",
]

log = logging.getLogger(__name__)

PYTHON_LEADS = 32
"""Requests of at most this many leads take the Python feature path (see :class:`OnlineFeatures`;
the crossover with the SQL path is measured by ``benchmarks/api_profile.py``)."""


class AccountFeaturesRefused(LeadscoreError):
    """The model uses account-level features and nothing tells the lead's colleagues."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        super().__init__(
            "This model uses account-level features that count the lead's colleagues in the "
            f"CRM ({', '.join(features)}), and this server has no CRM to read them from: "
            "computed from the posted leads alone they would be wrong. Start the server with "
            "the CRM (`leadscore serve --crm CRM`), or, when the posted leads are every contact "
            'their accounts have (e.g. a new company), send "complete_accounts": true.'
        )


@dataclass
class PathCounts:
    """Requests whose features came from each path since start (``fallbacks``: requests
    meant for the Python path that took the SQL path, see the debug log)."""

    python: int = 0
    sql: int = 0
    fallbacks: int = 0


class OnlineFeatures:
    """Validated, CRM-complete features of posted leads (thread-safe; see the module doc).

    ``used`` are the features the model reads (the account-level ones among them decide
    whether a request needs the CRM); ``crm``, when given, stays open and owned by the caller.

    Requests of at most ``python_leads`` leads (0: none) take the Python path: the features
    from :class:`~leadscore.features.python_eval.PythonFeatures` (the feature SQL's values,
    proven equal by ``tests/test_python_eval.py``) instead of the DuckDB query, whose prepared
    plan costs a fixed ~16 ms, and the contract checks from :class:`~leadscore.serving.
    posted_quick.QuickCheck` when it finds the rows clean (else the DuckDB check, for its
    message). A definition with a kind the Python path lacks, or a value it cannot mirror,
    takes the SQL path (said in a debug log line): same frame either way.
    """

    def __init__(
        self,
        definition: FeatureDefinition,
        used: list[str],
        *,
        crm: CrmData | None = None,
        connections: int = 2,
        from_stage: FromStage = "any",
        python_leads: int = PYTHON_LEADS,
    ) -> None:
        self.account_features = account_features(definition, used)
        self.colleagues = (
            CrmColleagues(crm, lookback_days=definition.lookback_days) if crm is not None else None
        )
        self._validator = PostedValidator(connections=connections, built_by_posted_tables=True)
        # validation runs beside the feature query (its own connection; DuckDB releases the
        # GIL): a request waits for the longer of the two, not their sum
        self._beside = ThreadPoolExecutor(connections, thread_name_prefix="leadscore-validate")
        features: PostedFeatures | None = None
        try:
            features = PostedFeatures(definition, connections=connections, from_stage=from_stage)
            self._python = _python_path(definition, from_stage) if python_leads > 0 else None
            self._quick = QuickCheck(self._validator.checks if self._validator.fast else [])
        except BaseException:  # nothing left open when the set-up fails half-way
            if features is not None:
                features.close()
            self._validator.close()
            self._beside.shutdown()
            raise
        self._features = features
        self.python_leads = python_leads
        self.paths = PathCounts()
        self._count_lock = threading.Lock()
        if not self._quick.enabled:
            log.debug("contract checks of posted rows: DuckDB only (%s)", self._quick.unknown)

    def takes_python(self, request: ScoreRequest) -> bool:
        """Whether ``request`` takes the Python feature path (see the class doc)."""
        return self._python is not None and len(request.leads) <= self.python_leads

    def features(self, request: ScoreRequest, *, as_of: datetime) -> pd.DataFrame:
        """Feature frame of the posted leads eligible at ``as_of`` (naive UTC), in the feature
        query's order. Raises :class:`~leadscore.errors.DataContractError` for rows that break
        the contract and :class:`AccountFeaturesRefused` as said above."""
        self.refuse(request)
        if self.takes_python(request):
            try:
                frame = self._python_features(request, as_of=as_of)
            except Unmirrored as exc:
                log.debug("Python feature path not taken (%s): the SQL path runs", exc)
                self._count("fallbacks")
            else:
                self._count("python")
                return frame
        self._count("sql")
        tables = posted_tables(request)
        checked = self._beside.submit(self._validator.check, tables, as_of=as_of)
        try:
            merged = tables
            if self.colleagues is not None and self.account_features:
                merged = self.colleagues.merge(tables, as_of=as_of)
            frame = self._features.features(merged, as_of=as_of)
        finally:
            checked.result()  # raises the contract's error first: rows that break it score nothing
        if merged is tables or merged["contacts"].num_rows == tables["contacts"].num_rows:
            return frame
        posted = {lead.contact.contact_id for lead in request.leads}
        return frame[frame["contact_id"].isin(posted)].reset_index(drop=True)

    def _count(self, path: str) -> None:
        with self._count_lock:
            setattr(self.paths, path, getattr(self.paths, path) + 1)

    def _python_features(self, request: ScoreRequest, *, as_of: datetime) -> pd.DataFrame:
        """:meth:`features` by the Python path (raises :class:`Unmirrored` when it cannot)."""
        assert self._python is not None
        rows = posted_rows(request)
        tables = tables_of_rows(rows)
        if not self._quick.passes(rows, as_of=as_of):
            self._validator.check(tables, as_of=as_of)  # the contract's own error, or clean
        merged = tables
        if self.colleagues is not None and self.account_features:
            merged = self.colleagues.merge(tables, as_of=as_of)
        posted = {lead.contact.contact_id for lead in request.leads}
        return self._python.frame(merged, as_of=as_of, only=posted)

    def python_many(
        self, requests: Sequence[ScoreRequest], *, as_of: datetime
    ) -> pd.DataFrame | None:
        """The Python path's frame of several requests at once (rows in contact id order), each
        lead's row the one its own request gets from :meth:`features` at ``as_of``; ``None``
        when they cannot be computed together and each must run alone: the Python path is
        off, rows the quick checks do not pass (the DuckDB check words each request's error),
        a value the path cannot mirror, or a posted contact that the CRM has in another
        request's account (see :meth:`_hides_across`). The requests must share no account, contact or event id, and each must
        pass :meth:`refuse`."""
        if self._python is None:
            return None
        leads = [lead for request in requests for lead in request.leads]
        merged = ScoreRequest.model_construct(leads=leads, as_of=as_of, complete_accounts=False)
        rows = posted_rows(merged)
        if not self._quick.passes(rows, as_of=as_of):
            return None
        tables = tables_of_rows(rows)
        if self.colleagues is not None and self.account_features:
            if self._hides_across(requests, tables, as_of=as_of):
                return None
            tables = self.colleagues.merge(tables, as_of=as_of)
        posted = {lead.contact.contact_id for lead in leads}
        try:
            frame = self._python.frame(tables, as_of=as_of, only=posted)
        except Unmirrored as exc:
            log.debug("Python feature path not taken together (%s): each request alone", exc)
            return None
        with self._count_lock:
            self.paths.python += len(requests)
        return frame

    def _hides_across(
        self, requests: Sequence[ScoreRequest], tables: Mapping[str, pa.Table], *, as_of: datetime
    ) -> bool:
        """Whether a contact posted by one of ``requests`` (merged into ``tables``) is, in the
        CRM, a colleague in another one's account: posted rows win, so merged, that request
        would lose the colleague it counts alone."""
        assert self.colleagues is not None
        hidden = self.colleagues.hidden(tables, as_of=as_of)
        if not hidden:
            return False
        owner: dict[tuple[str, str], int] = {}
        for i, request in enumerate(requests):
            for lead in request.leads:
                owner[("account", lead.account.account_id)] = i
                owner[("contact", lead.contact.contact_id)] = i
        return any(owner[("contact", c)] != owner[("account", a)] for c, a in hidden)

    def refuse(self, request: ScoreRequest) -> None:
        """Raise :class:`AccountFeaturesRefused` when the request needs a CRM the server has
        not got (see the class doc)."""
        if self.account_features and self.colleagues is None and not request.complete_accounts:
            raise AccountFeaturesRefused(self.account_features)

    def features_many(
        self, requests: list[ScoreRequest], *, as_of: datetime
    ) -> list[pd.DataFrame | BaseException]:
        """:meth:`features` of requests sharing no account, contact or event id, with one
        feature query and one contract check for all; the frame or the error of each. When the
        merged rows break the contract, each request runs alone (its own error message), and
        so does each when one posts a contact the CRM has in another's account
        (:meth:`_hides_across`)."""
        for request in requests:
            self.refuse(request)
        parts = [posted_tables(r) for r in requests]
        tables = {name: pa.concat_tables([p[name] for p in parts]) for name in parts[0]}
        colleagues = self.colleagues is not None and bool(self.account_features)
        if colleagues and self._hides_across(requests, tables, as_of=as_of):
            return [self._alone(r, as_of=as_of) for r in requests]
        checked = self._beside.submit(self._validator.check, tables, as_of=as_of)
        try:
            merged = tables
            if self.colleagues is not None and colleagues:
                merged = self.colleagues.merge(tables, as_of=as_of)
            result: pa.Table | None = self._features.table(merged, as_of=as_of)
        except LeadscoreError:
            result = None
        try:
            checked.result()
        except LeadscoreError:
            result = None
        if result is None:
            return [self._alone(r, as_of=as_of) for r in requests]
        return _split(result, merged["contacts"], requests)

    def _alone(self, request: ScoreRequest, *, as_of: datetime) -> pd.DataFrame | BaseException:
        try:
            return self.features(request, as_of=as_of)
        except Exception as exc:  # handed to the request it belongs to
            return exc

    def close(self) -> None:
        """Close the DuckDB connections (not the CRM)."""
        self._beside.shutdown()
        self._validator.close()
        self._features.close()


def small_to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()``; a small table is converted on the calling thread (the same frame:
    Arrow's conversion threads cost a single lead ~0.25 ms of CPU, ~40 % of the conversion)."""
    frame: pd.DataFrame = table.to_pandas(use_threads=table.num_rows > SMALL_ROWS)
    return frame


def _python_path(definition: FeatureDefinition, from_stage: FromStage) -> PythonFeatures | None:
    python = PythonFeatures(definition, from_stage=from_stage)
    if python.missing:
        log.debug("Python feature path off: no evaluator for %s", ", ".join(python.missing))
        return None
    try:
        case_maps()  # read now, not by the first request with non-ASCII text
    except Unmirrored as exc:
        log.debug("Python feature path off: %s", exc)
        return None
    return python


def _split(
    result: pa.Table, contacts: pa.Table, requests: list[ScoreRequest]
) -> list[pd.DataFrame | BaseException]:
    """Each request's frame out of a merged query's ``result``, as its own query would give it:
    the rows of its contacts and of their accounts' colleagues converted to pandas together
    (same dtypes), then only the posted contacts when colleagues were added."""
    owner = {}
    for i, request in enumerate(requests):
        owner.update({lead.account.account_id: i for lead in request.leads})
    members: list[list[str]] = [[] for _ in requests]
    pairs = zip(
        contacts.column("contact_id").to_pylist(),
        contacts.column("account_id").to_pylist(),
        strict=True,
    )
    for contact, account in pairs:
        members[owner[account]].append(contact)
    ids = result.column("contact_id")
    out: list[pd.DataFrame | BaseException] = []
    for request, own in zip(requests, members, strict=True):
        frame = small_to_pandas(result.filter(pc.is_in(ids, pa.array(own, pa.string()))))
        posted = {lead.contact.contact_id for lead in request.leads}
        if len(own) > len(posted):
            frame = frame[frame["contact_id"].isin(posted)].reset_index(drop=True)
        out.append(frame)
    return out
