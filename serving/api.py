"""The HTTP scorer (FastAPI): score posted leads, read a lead's score history, take feedback.

Endpoints: ``POST /score`` (leads' current data in, scores, grades and reasons out),
``GET /contacts/{contact_id}/score`` (latest score and trend from the score store),
``POST /feedback`` (a rep's verdict), ``GET /health``; OpenAPI docs at ``/docs``.
Every endpoint but ``/health`` and the docs needs the ``X-API-Key`` header. Request bodies are
capped (413) and never logged; the log line of a request holds its method, route template,
status and duration only.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from leadscore import __version__
from leadscore.clock import utc_now
from leadscore.contract import Verdict
from leadscore.errors import ConfigError, DataContractError, LeadscoreError
from leadscore.features.labels import FromStage
from leadscore.serving.features import PostedFeatures, iter_features
from leadscore.serving.feedback import FeedbackIn, record_feedback
from leadscore.serving.loading import LoadedScorer, load_scorer
from leadscore.serving.posted import (
    ScoreRequest,
    crm_from_request,
    meets_contract,
    posted_tables,
)
from leadscore.serving.store import DEFAULT_STORE, ScoreStore

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MAX_BODY_BYTES",
    "HistoryPoint",
    "LeadScore",
    "ReasonOut",
    "ScoreResponse",
    "StoredScore",
    "create_app",
    "serve",
]

API_KEY_ENV = "LEADSCORE_API_KEY"
DEFAULT_MAX_BODY_BYTES = 1_000_000
logger = logging.getLogger("leadscore.serving.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
    model_version: str
    p_sql: float
    grade: str


class StoredScore(BaseModel):
    """A lead's latest stored score and its trend (newest first)."""

    model_config = ConfigDict(protected_namespaces=())

    contact_id: str
    scored_at: datetime
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
    model_version: str
    leadscore_version: str


class _BodyLimit:
    """ASGI middleware: 413 when a request body exceeds ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit, send)
            return
        seen = 0
        exceeded = False

        async def limited() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            if exceeded:
                await _too_large(self.limit, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    response = JSONResponse(
        {"detail": f"Request body too large: the limit is {limit} bytes; send fewer leads."},
        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
    )
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the request
    return {"type": "http.disconnect"}


def _validation_message(exc: RequestValidationError) -> dict[str, Any]:
    """A readable 422 body that never echoes the posted values (they may be personal)."""
    errors = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        errors.append({"field": location or "(body)", "problem": str(error.get("msg", ""))})
    summary = "; ".join(f"{e['field']}: {e['problem']}" for e in errors[:5])
    return {"detail": f"Invalid request: {summary}", "errors": errors}


def _resolve_key(api_key: str | None) -> str:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key:
        raise ConfigError(
            f"The HTTP API needs an API key: set {API_KEY_ENV} or pass api_key. Clients send it "
            "in the X-API-Key header."
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
) -> FastAPI:
    """The FastAPI app serving ``model`` (alias, version, URI, folder or a loaded scorer).

    ``api_key`` defaults to the ``LEADSCORE_API_KEY`` environment variable (read here, not at
    import); without a key the app refuses to start (:class:`ConfigError`).
    ``feature_connections`` is the number of DuckDB connections computing features of posted
    leads (requests scored at the same time; see :class:`PostedFeatures`).
    """
    key = _resolve_key(api_key).encode()
    loaded = (
        model if isinstance(model, LoadedScorer) else load_scorer(model, tracking_uri=tracking_uri)
    )
    definition = loaded.scorer.require_definition()
    posted_features = PostedFeatures(
        definition, connections=feature_connections, from_stage=loaded.scorer.spec.from_stage
    )
    scores_store = store if isinstance(store, ScoreStore) else ScoreStore(store)
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")

    def authorised(value: str | None = Depends(header)) -> None:
        if value is None or not hmac.compare_digest(value.encode(), key):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "Missing or wrong API key: send it in the X-API-Key header.",
                headers={"WWW-Authenticate": "APIKey"},
            )

    app = FastAPI(
        title="leadscore",
        version=__version__,
        description="Predictive lead scores with reasons in words.",
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_message(exc), status_code=422)

    @app.exception_handler(DataContractError)
    async def _contract(_: Request, exc: DataContractError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(LeadscoreError)
    async def _leadscore(_: Request, exc: LeadscoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.middleware("http")
    async def _log(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        logger.info(
            "%s %s %s %.1f ms",
            request.method,
            getattr(route, "path", "(unmatched)"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    @app.get("/health", response_model=_Health)
    def health() -> _Health:
        """Liveness and the model version served (no key needed)."""
        return _Health(
            status="ok", model_version=loaded.model_version, leadscore_version=__version__
        )

    @app.post("/score", response_model=ScoreResponse, dependencies=[Depends(authorised)])
    def score(request: ScoreRequest) -> ScoreResponse:
        """Score leads from their current data (features computed with the model's own
        feature definition on the posted rows)."""
        as_of = request.as_of or utc_now()
        posted = [lead.contact.contact_id for lead in request.leads]
        if meets_contract(request, as_of=as_of):
            # checked by the request models and meets_contract: no contract validation needed
            features = posted_features.features(posted_tables(request), as_of=as_of)
        else:
            # validated like any CRM: raises DataContractError listing every problem
            features = _validated_features(
                request, definition, as_of, loaded.scorer.spec.from_stage
            )
        if features.empty:
            return ScoreResponse(
                model_version=loaded.model_version, as_of=as_of, scores=[], not_scored=posted
            )
        explanation = loaded.scorer.explain(features)
        out = []
        records: list[dict[str, Any]] = explanation.scores.to_dict("records")  # type: ignore[assignment]
        for i, row in enumerate(records):
            reasons = explanation.reasons[i]
            out.append(
                LeadScore(
                    contact_id=str(features["contact_id"].iloc[i]),
                    p_sql=float(row["p_sql"]),
                    p_meeting=float(row["p_meeting"]),
                    grade=str(row["grade"]),
                    fit_score=float(row["fit_score"]),
                    engagement_score=float(row["engagement_score"]),
                    reasons_positive=[
                        ReasonOut(text=r.text, effect=r.effect) for r in reasons.positive
                    ],
                    reasons_negative=[
                        ReasonOut(text=r.text, effect=r.effect) for r in reasons.negative
                    ],
                )
            )
        scored = {s.contact_id for s in out}
        return ScoreResponse(
            model_version=loaded.model_version,
            as_of=as_of,
            scores=out,
            not_scored=[c for c in posted if c not in scored],
        )

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
                    model_version=str(r["model_version"]),
                    p_sql=float(r["p_sql"]),
                    grade=str(r["grade"]),
                )
                for _, r in frame.iterrows()
            ],
        )

    @app.post("/feedback", status_code=201, dependencies=[Depends(authorised)])
    def feedback(verdict: FeedbackIn) -> dict[str, str]:
        """Store a rep's verdict on a scored lead (accepted / rejected, with a reason)."""
        record_feedback(scores_store, verdict, default_model_version=loaded.model_version)
        return {"status": "stored", "verdict": Verdict(verdict.verdict).value}

    app.add_middleware(_BodyLimit, limit=max_body_bytes)
    return app


def _validated_features(
    request: ScoreRequest, definition: Any, as_of: datetime, from_stage: FromStage = "any"
) -> Any:
    """Features of posted leads validated as a CRM by :func:`open_crm` (the slow, general path)."""
    import pandas as pd

    crm = crm_from_request(request, as_of=as_of)
    try:
        frames = list(iter_features(crm, definition, as_of=as_of, from_stage=from_stage))
    finally:
        crm.close()
    if not frames:
        return pd.DataFrame()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


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
) -> None:
    """Run the API with uvicorn until interrupted (access log off: paths may hold contact ids;
    the app logs route templates instead)."""
    import uvicorn

    app = create_app(
        model,
        tracking_uri=tracking_uri,
        store=store,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
    )
    uvicorn.run(app, host=host, port=port, access_log=False, log_level=log_level)
