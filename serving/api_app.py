"""The FastAPI app both HTTP scorers start from (the CRM API and the flat-export API): the
followed model's lifespan and leadscore's error answers.

Errors: an invalid body is 422 naming each field, never echoing the values; a
:class:`~leadscore.errors.LeadscoreError` that is the request's fault (``request_errors``) 422;
a store or CRM that cannot be read (locked, unreadable) 503 with ``Retry-After: 5``; a store
that cannot be written (a full disk) 503 with ``Retry-After: 60``; any other fault 500. Every
error body carries the request id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from leadscore import __version__
from leadscore.errors import LeadscoreError, OutputError, SourceError
from leadscore.serving.follow import Follower
from leadscore.serving.http import error_body, log_server_error, request_id_of

__all__ = ["health_fields", "served_app", "validation_message"]


def validation_message(exc: RequestValidationError) -> dict[str, Any]:
    """A readable 422 body that never echoes the posted values (they may be personal)."""
    errors = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        errors.append({"field": location or "(body)", "problem": str(error.get("msg", ""))})
    summary = "; ".join(f"{e['field']}: {e['problem']}" for e in errors[:5])
    return {"detail": f"Invalid request: {summary}", "errors": errors}


def health_fields(served: Follower[Any]) -> dict[str, Any]:
    """``GET /health``'s common fields: ``status`` (``ok``, or ``degraded`` while the followed
    alias's version does not load), the version served, leadscore's, the alias followed and
    why its version is not served."""
    problem = served.problem
    return {
        "status": "ok" if problem is None else "degraded",
        "model_version": served.current.model_version,
        "leadscore_version": __version__,
        "following": served.following,
        "model_problem": problem,
    }


def served_app(
    served: Follower[Any],
    *,
    title: str,
    description: str,
    request_errors: tuple[type[LeadscoreError], ...],
    close: Callable[[], None] | None = None,
) -> FastAPI:
    """An app whose lifespan starts ``served`` following its alias and stops it at shutdown
    (then ``close``), answering errors as the module says."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        served.start()
        try:
            yield
        finally:
            served.stop()
            if close is not None:
                close()

    app = FastAPI(title=title, version=__version__, description=description, lifespan=lifespan)
    app.state.served = served

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {**validation_message(exc), "request_id": request_id_of(request.scope)},
            status_code=422,
        )

    @app.exception_handler(LeadscoreError)
    async def _leadscore(request: Request, exc: LeadscoreError) -> JSONResponse:
        if isinstance(exc, request_errors):  # the request's fault
            return JSONResponse(error_body(request.scope, str(exc)), status_code=422)
        log_server_error(request.scope, exc)
        if isinstance(exc, SourceError):  # the store or the CRM is locked or unreadable
            return JSONResponse(
                error_body(request.scope, f"Service unavailable: {exc}"),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if isinstance(exc, OutputError):  # the store cannot be written (a full disk): retry later
            return JSONResponse(
                error_body(request.scope, f"Service unavailable: {exc}"),
                status_code=503,
                headers={"Retry-After": "60"},
            )
        return JSONResponse(
            error_body(request.scope, f"Internal server error: {exc}"), status_code=500
        )

    return app
