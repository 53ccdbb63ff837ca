"""The HTTP scorer (FastAPI): score posted leads, read a lead's score history, take feedback.

Endpoints: ``POST /score`` (leads' current data in, scores, grades and reasons out),
``GET /contacts/{contact_id}/score`` (latest score and trend from the score store),
``POST /feedback`` (a rep's verdict), ``GET /health``; OpenAPI docs at ``/docs``; the lead
inbox for reps at ``/`` (people log in with their own token, see :mod:`leadscore.serving.auth`).
Every endpoint but ``/health`` and the docs needs the ``X-API-Key`` header (16 characters or
more). Limits: 500 leads per request, 5,000 events per lead, and a body limit sized for the
500 leads (:data:`DEFAULT_MAX_BODY_BYTES`, 8 MB; 413 above, declared or chunked). Request
bodies are never logged: one JSON access-log line per request holds its request id, route
template, status, duration and lead count. User errors are 4xx; server faults (store locked,
broken artifact) are 5xx with the request id in the body and the log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from leadscore.clock import utc_now
from leadscore.contract import Verdict
from leadscore.crm import CrmData, open_crm
from leadscore.errors import ConfigError, DataContractError
from leadscore.serving.api_app import health_fields, served_app
from leadscore.serving.api_batch import PythonQueue
from leadscore.serving.api_key import api_key_dependency
from leadscore.serving.api_served import ServedVersion, serve_version
from leadscore.serving.auth import Sessions
from leadscore.serving.feedback import FeedbackIn, is_scored, record_feedback
from leadscore.serving.follow import DEFAULT_FOLLOW_SECONDS, Follower
from leadscore.serving.http import ACCESS_LOGGER, RequestGuard, set_lead_count
from leadscore.serving.in_flight import CountInFlight
from leadscore.serving.inbox import DEFAULT_REJECT_REASONS, inbox_router
from leadscore.serving.loading import (
    DEFAULT_MODEL_NAME,
    LoadedScorer,
    followed_alias,
    load_scorer,
)
from leadscore.serving.online import PYTHON_LEADS, AccountFeaturesRefused
from leadscore.serving.posted import MAX_EVENTS_PER_LEAD, MAX_LEADS, ScoreRequest
from leadscore.serving.recorded import GroupWriter, record_posted_scores
from leadscore.serving.store import DEFAULT_STORE, ScoreStore
from leadscore.serving.store_backend import is_postgres_url

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.serving.scorer import Explanation

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MAX_BODY_BYTES",
    "MIN_API_KEY_LENGTH",
    "PYTHON_THREADS",
    "HistoryPoint",
    "LeadScore",
    "ReasonOut",
    "ScoreResponse",
    "StoredScore",
    "create_app",
    "serve",
]

API_KEY_ENV = "LEADSCORE_API_KEY"
MIN_API_KEY_LENGTH = 16
REALISTIC_LEAD_BYTES = 16_000
"""JSON size of a realistic posted lead with a year of activity, rounded up (measured on the
synthetic CRM: see README, "HTTP API limits")."""
DEFAULT_MAX_BODY_BYTES = MAX_LEADS * REALISTIC_LEAD_BYTES
"""8 MB: room for the 500-lead maximum with realistic leads."""
PYTHON_THREADS = 1
"""Scoring calls on the Python feature path at once (the other requests wait, without a thread,
and single leads among them are then scored together: :mod:`leadscore.serving.api_batch`).
That path is pure Python: more threads only fight over the GIL. Measured at 16 clients (one
lead each, 2 loaded cores), same run: 1 at once 1.6-1.7 ms of server CPU per request, 7.4
requests per call; 2 at once 2.1-2.2 ms, 3.6-4.1 per call; throughput equal within noise.
Before merging: unlimited 11-14 ms per request, 2 at once 5.4 ms, 1 at once 4.8 ms."""


class ReasonOut(BaseModel):
    """A reason and its effect on the SQL log-odds (positive: pushes the score up)."""

    text: str
    effect: float


class LeadScore(BaseModel):
    """The score of one posted lead."""

    contact_id: str
    p_sql: float
    p_meeting: float
    grade: str
    fit_score: float
    engagement_score: float
    reasons_positive: list[ReasonOut]
    reasons_negative: list[ReasonOut]
    scored_by: str = "global"
    """Which model scored the lead: ``global``, or ``column=value`` for a segment's model."""


class ScoreResponse(BaseModel):
    """Scores of the posted leads; leads not eligible (already SQL, disqualified, created after
    ``as_of``) are listed in ``not_scored``."""

    model_version: str
    as_of: datetime
    scores: list[LeadScore]
    not_scored: list[str] = Field(default_factory=list)


class HistoryPoint(BaseModel):
    """One past score of a lead."""

    scored_at: datetime
    as_of: datetime | None = None
    """The moment the score describes (a batch run's as-of; null: scored as of ``scored_at``)."""
    model_version: str
    p_sql: float
    grade: str


class StoredScore(BaseModel):
    """A lead's latest stored score and its trend (newest first)."""

    model_config = ConfigDict(protected_namespaces=())

    contact_id: str
    scored_at: datetime
    as_of: datetime | None = None
    """The moment the score describes: a backfilled run's as-of is earlier than its
    ``scored_at`` (null: scored as of ``scored_at``, e.g. by the API)."""
    model_version: str
    p_sql: float
    p_meeting: float
    grade: str
    fit_score: float | None
    engagement_score: float | None
    reasons_positive: list[str]
    reasons_negative: list[str]
    history: list[HistoryPoint]


class _Health(BaseModel):
    status: str
    """``ok``, or ``degraded`` when the served version is not the followed alias's (see
    ``model_problem``)."""
    model_version: str
    leadscore_version: str
    following: str | None = None
    """The registry alias the served version follows (``leadscore@champion``); null: a
    fixed version, folder or URI."""
    model_problem: str | None = None
    """Why the alias's version is not served (it does not load, the alias is gone, the
    registry is unreadable): the previous version still scores."""


_KEY_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _resolve_key(api_key: str | None) -> str:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key:
        raise ConfigError(
            f"The HTTP API needs an API key: set {API_KEY_ENV} or pass api_key (make one with "
            f"`{_KEY_HINT}`). Clients send it in the X-API-Key header."
        )
    if len(key.strip()) < MIN_API_KEY_LENGTH:
        raise ConfigError(
            f"The API key ({API_KEY_ENV} or api_key) has {len(key.strip())} character(s); it "
            f"needs at least {MIN_API_KEY_LENGTH}, or it can be guessed. Make one with "
            f"`{_KEY_HINT}`."
        )
    return key


def create_app(
    model: str | Path | LoadedScorer = "champion",
    *,
    tracking_uri: str | None = None,
    store: ScoreStore | Path | str = DEFAULT_STORE,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    feature_connections: int = 2,
    crm: CrmData | Path | str | None = None,
    reject_reasons: Mapping[str, str] | None = None,
    python_leads: int = PYTHON_LEADS,
    python_threads: int = PYTHON_THREADS,
    follow_seconds: float = DEFAULT_FOLLOW_SECONDS,
) -> FastAPI:
    """The FastAPI app serving ``model`` (alias, version, URI, folder or a loaded scorer).

    A registry alias (``champion``, ``models:/leadscore@champion``) is followed: every
    ``follow_seconds`` (0: never) a thread checks whether it moved, and the new version, once
    loaded, scores every request that starts after (:mod:`leadscore.serving.follow`; a request
    is scored whole by one version, named in its response and recorded rows).

    ``api_key`` defaults to the ``LEADSCORE_API_KEY`` environment variable (read here, not at
    import); without a key of at least 16 characters the app refuses to start
    (:class:`ConfigError`). ``crm`` (a CRM location, opened and validated now, or an open
    :class:`CrmData`) is where account-level features read the posted leads' colleagues, so
    that they equal batch scoring's; without it, requests for a model with such features are
    refused unless they say they hold whole accounts (see :class:`OnlineFeatures`).
    ``feature_connections`` is the number of DuckDB connections validating and computing
    features of posted leads (requests scored at the same time); requests of at most
    ``python_leads`` leads take the Python feature path (0: never; see :class:`OnlineFeatures`),
    at most ``python_threads`` of them at once (:data:`PYTHON_THREADS`).
    The lead inbox for reps
    (:mod:`leadscore.serving.inbox`) is served at ``/``; ``reject_reasons`` (code: label)
    replaces its list of reasons to reject a lead.
    """
    key = _resolve_key(api_key).encode()
    if python_threads < 1:
        raise ConfigError(f"python_threads must be at least 1, got {python_threads}.")
    if max_body_bytes < 1:
        raise ConfigError(f"max_body_bytes must be at least 1, got {max_body_bytes}.")
    loaded = (
        model if isinstance(model, LoadedScorer) else load_scorer(model, tracking_uri=tracking_uri)
    )
    followed = None if isinstance(model, LoadedScorer) else followed_alias(model, tracking_uri)
    if loaded.scorer.flat is not None:  # rows of a flat export, not CRM leads
        from leadscore.serving.flat_api import create_flat_app

        return create_flat_app(
            loaded,
            key=key,
            max_body_bytes=max_body_bytes,
            follow=followed,
            tracking_uri=tracking_uri,
            follow_seconds=follow_seconds,
        )
    loaded.scorer.require_definition()
    crm_data = open_crm(crm) if isinstance(crm, str | Path) else crm
    first = serve_version(
        loaded, crm=crm_data, connections=feature_connections, python_leads=python_leads
    )
    paths, feature_stats = first.online.paths, first.batched.stats
    name, alias, uri = followed or (DEFAULT_MODEL_NAME, None, None)

    def build(version: str) -> ServedVersion:
        new = load_scorer(f"models:/{name}/{version}", tracking_uri=tracking_uri)
        return serve_version(
            new,
            crm=crm_data,
            connections=feature_connections,
            python_leads=python_leads,
            paths=paths,
            stats=feature_stats,
        )

    served = Follower(first, build, uri=uri, name=name, alias=alias, every=follow_seconds)
    scores_store = store if isinstance(store, ScoreStore) else ScoreStore(store)
    # ?record=true: concurrent requests share one store write, each answered once committed
    recorder = GroupWriter(scores_store)
    authorised = api_key_dependency(key)

    def close_crm() -> None:
        if crm_data is not None and crm_data is not crm:
            crm_data.close()

    app = served_app(
        served,
        title="leadscore",
        description=(
            "Predictive lead scores with reasons in words. Limits: "
            f"{MAX_LEADS} leads per request, {MAX_EVENTS_PER_LEAD} events per lead, "
            f"{max_body_bytes:,} bytes per body (413 above)."
        ),
        request_errors=(DataContractError, AccountFeaturesRefused),
        close=close_crm,
    )
    app.state.feature_batches = feature_stats
    app.state.feature_paths = paths
    app.state.record_writes = recorder.stats

    @app.get("/health", response_model=_Health)
    def health() -> _Health:
        """Liveness, the model version served and the alias it follows (no key needed)."""
        return _Health(**health_fields(served))

    @app.post(
        "/score",
        response_model=ScoreResponse,
        dependencies=[Depends(authorised)],
        responses={413: {"description": "Body over the limit"}, 422: {"description": "Invalid"}},
    )
    async def score(body: ScoreRequest, http: Request, record: bool = False) -> ScoreResponse:
        """Score up to 500 leads from their current data (features computed with the model's
        own feature definition; account-level features read the leads' colleagues from the
        server's CRM). With ``?record=true`` the scores are added to the score history, so
        they show in the inbox and take feedback."""
        set_lead_count(http.scope, len(body.leads))
        version = served.acquire()  # the request is scored whole by this version
        # one hop to a thread, for the scoring only (a plain function endpoint costs three:
        # its validation of the response runs in the pool too). Scoring stays off the event
        # loop even when small: measured at 16 clients on a loaded machine, scoring on the
        # loop gave half the throughput (the loop could not read and answer meanwhile)
        queued = False
        try:
            if not version.online.takes_python(body):  # DuckDB releases the GIL: micro-batching
                return await run_in_threadpool(scored, body, record, version)
            queued = True  # the queue releases the version once the request is scored
            return await python_queue.score(body, record, version)  # single leads: one call
        finally:
            if not queued:
                served.release(version)

    def scored(body: ScoreRequest, record: bool, version: ServedVersion) -> ScoreResponse:
        """The response to ``POST /score`` (blocking: features, model, reasons, store)."""
        posted = [lead.contact.contact_id for lead in body.leads]
        model_version, scorer = version.model_version, version.loaded.scorer
        as_of, features = version.batched.features(body, as_of=body.as_of)
        if features.empty:
            return ScoreResponse(
                model_version=model_version, as_of=as_of, scores=[], not_scored=posted
            )
        answers = _Answers(features, scorer.explain(features))
        out = [answers.lead(i) for i in range(len(features))]
        if record:
            record_posted_scores(recorder, out, model_version=model_version)
        scored = {s.contact_id for s in out}
        return ScoreResponse(
            model_version=model_version,
            as_of=as_of,
            scores=out,
            not_scored=[c for c in posted if c not in scored],
        )

    def together(
        bodies: list[ScoreRequest], as_of: datetime | None, version: ServedVersion
    ) -> list[ScoreResponse] | None:
        """The responses to single-lead requests merged by the queue (each the one it gets
        alone, all from ``version``), or ``None`` when they cannot be scored together."""
        for body in bodies:
            version.online.refuse(body)
        moment = as_of or utc_now()
        features = version.online.python_many(bodies, as_of=moment)
        if features is None:
            return None
        row: dict[str, int] = {}
        if not features.empty:
            answers = _Answers(features, version.loaded.scorer.explain(features, by_row=True))
            row = {str(c): i for i, c in enumerate(answers.ids)}
        out = []
        for body in bodies:
            contact = body.leads[0].contact.contact_id
            i = row.get(contact)
            out.append(
                ScoreResponse(
                    model_version=version.model_version,
                    as_of=body.as_of or moment,
                    scores=[] if i is None else [answers.lead(i)],
                    not_scored=[contact] if i is None else [],
                )
            )
        return out

    python_queue: PythonQueue[ScoreResponse, ServedVersion] = PythonQueue(
        scored,
        together,
        threads=python_threads,
        max_leads=max(1, python_leads),
        done=served.release,
    )
    app.state.python_in_flight = python_queue.in_flight
    app.state.python_calls = python_queue.stats

    @app.get(
        "/contacts/{contact_id}/score",
        response_model=StoredScore,
        dependencies=[Depends(authorised)],
    )
    def stored_score(contact_id: str, history: int = 20) -> StoredScore:
        """The lead's latest stored score (batch scoring) and its trend."""
        frame = scores_store.history(contact_id, limit=max(1, min(history, 500)))
        if frame.empty:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "This contact has no stored score.")
        latest = frame.iloc[0]
        return StoredScore(
            contact_id=contact_id,
            scored_at=latest["scored_at"],
            as_of=_moment(latest["as_of"]),
            model_version=str(latest["model_version"]),
            p_sql=float(latest["p_sql"]),
            p_meeting=float(latest["p_meeting"]),
            grade=str(latest["grade"]),
            fit_score=_float(latest["fit_score"]),
            engagement_score=_float(latest["engagement_score"]),
            reasons_positive=_strings(latest["reasons_positive"]),
            reasons_negative=_strings(latest["reasons_negative"]),
            history=[
                HistoryPoint(
                    scored_at=r["scored_at"],
                    as_of=_moment(r["as_of"]),
                    model_version=str(r["model_version"]),
                    p_sql=float(r["p_sql"]),
                    grade=str(r["grade"]),
                )
                for _, r in frame.iterrows()
            ],
        )

    @app.post(
        "/feedback",
        status_code=201,
        dependencies=[Depends(authorised)],
        responses={404: {"description": "The contact has no stored score"}},
    )
    def feedback(verdict: FeedbackIn) -> dict[str, str]:
        """Store a rep's verdict on a scored lead (accepted / rejected, with a reason); 404 for
        a contact the score store holds no score of."""
        codes = reject_reasons or DEFAULT_REJECT_REASONS
        if verdict.verdict == Verdict.REJECTED and verdict.reason and verdict.reason not in codes:
            raise HTTPException(  # never echoes the text: free text may hold names
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "reason: a rejection's reason is one of the codes "
                f"{', '.join(codes)} (the ones `feedback apply` acts on); put free text in "
                "`note` with reason 'other'.",
            )
        if not is_scored(scores_store, verdict.contact_id):
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                "This contact has no stored score: feedback is taken on leads scored into the "
                "score store (`leadscore score --store`). Check the contact id.",
            )
        default = served.current.model_version
        record_feedback(scores_store, verdict, default_model_version=default)
        return {"status": "stored", "verdict": Verdict(verdict.verdict).value}

    app.include_router(
        inbox_router(
            scores_store, Sessions(key), reject_reasons=reject_reasons or DEFAULT_REJECT_REASONS
        )
    )
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)
    app.add_middleware(CountInFlight, in_flight=served.in_flight)  # outermost: counts it all
    return app


def _moment(value: Any) -> datetime | None:
    """A stored timestamp, or ``None`` for a null one (NaT, None)."""
    import pandas as pd

    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


_SCORE_COLUMNS = ("p_sql", "p_meeting", "grade", "fit_score", "engagement_score")


class _Answers:
    """The answers for the rows of an explained feature frame, one :class:`LeadScore` each."""

    def __init__(self, features: pd.DataFrame, explanation: Explanation) -> None:
        scores = explanation.scores
        self.reasons = explanation.reasons
        # column-wise (a frame's to_dict("records") costs more than the rest of the answer)
        self.column: dict[str, list[Any]] = {c: scores[c].tolist() for c in _SCORE_COLUMNS}
        self.ids: list[Any] = features["contact_id"].tolist()
        self.by: list[Any] = (
            scores["scored_by"].tolist() if "scored_by" in scores else ["global"] * len(self.ids)
        )

    def lead(self, i: int) -> LeadScore:
        """The answer for row ``i``."""
        column, reasons = self.column, self.reasons[i]
        return LeadScore(
            contact_id=str(self.ids[i]),
            p_sql=float(column["p_sql"][i]),
            p_meeting=float(column["p_meeting"][i]),
            grade=str(column["grade"][i]),
            fit_score=float(column["fit_score"][i]),
            engagement_score=float(column["engagement_score"][i]),
            reasons_positive=[ReasonOut(text=r.text, effect=r.effect) for r in reasons.positive],
            reasons_negative=[ReasonOut(text=r.text, effect=r.effect) for r in reasons.negative],
            scored_by=str(self.by[i]),
        )


def _strings(value: Any) -> list[str]:
    return [] if value is None else [str(v) for v in value]


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def serve(
    model: str | Path = "champion",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tracking_uri: str | None = None,
    store: Path | str = DEFAULT_STORE,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "info",
    crm: Path | str | None = None,
    follow_seconds: float = DEFAULT_FOLLOW_SECONDS,
) -> None:
    """Run the API with uvicorn until interrupted. uvicorn's access log is off (paths hold
    contact ids): the app writes one JSON line per request on the ``leadscore.serving.access``
    logger instead (to stderr here, at ``log_level`` info or lower)."""
    import gc
    import logging

    import uvicorn

    if not isinstance(store, ScoreStore) and is_postgres_url(store):
        ScoreStore(store).open_check()  # an unreachable server fails now, not on each request
    app = create_app(
        model,
        tracking_uri=tracking_uri,
        store=store,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        crm=crm,
        follow_seconds=follow_seconds,
    )
    # the hundreds of thousands of objects built at start (model, libraries, CRM snapshot)
    # never die: out of the collector's sight, each request's collections stay short (a
    # version the followed alias replaces is collected, then the rest frozen again when no
    # request is in flight: follow.py)
    gc.collect()
    gc.freeze()
    for name in (ACCESS_LOGGER, "leadscore.serving.api"):
        service_log = logging.getLogger(name)
        if not service_log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            service_log.addHandler(handler)
            service_log.setLevel(log_level.upper())
            service_log.propagate = False
    uvicorn.run(app, host=host, port=port, access_log=False, log_level=log_level)
