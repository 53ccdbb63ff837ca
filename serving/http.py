"""ASGI plumbing of the HTTP API: request ids, the access log, body limits and server faults.

:class:`RequestGuard` wraps the whole app. Per request it

* gives a request id (``X-Request-ID`` response header, ``request_id`` in error bodies);
* answers 413 when the body exceeds the limit, whether declared (``Content-Length``) or
  streamed (chunked transfer encoding), before the app reads a byte too many;
* answers 500 with the request id for an unexpected exception, logging its type and place
  only (an exception's message can hold posted values);
* writes one structured access-log line (JSON on the ``leadscore.serving.access`` logger):
  request id, method, route template, status, duration, number of leads. Never a path with
  ids in it, a query string, a header or a value.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "ACCESS_LOGGER",
    "RequestGuard",
    "error_body",
    "log_server_error",
    "request_id_of",
    "set_lead_count",
]

ACCESS_LOGGER = "leadscore.serving.access"
access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger("leadscore.serving.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STATE_ID = "leadscore_request_id"
_STATE_LEADS = "leadscore_leads"


def request_id_of(scope: Scope) -> str:
    """The request id :class:`RequestGuard` gave this request (``-`` outside it)."""
    return str((scope.get("state") or {}).get(_STATE_ID, "-"))


def set_lead_count(scope: Scope, leads: int) -> None:
    """Record the number of leads of the request for its access-log line."""
    state = scope.get("state")
    if isinstance(state, dict):
        state[_STATE_LEADS] = leads


def error_body(scope: Scope, detail: str) -> dict[str, str]:
    """A JSON error body with the request id (quote it when reporting the problem)."""
    return {"detail": detail, "request_id": request_id_of(scope)}


class _BodyTooLarge(BaseException):
    """Raised while the app reads a body over the limit. A ``BaseException``: FastAPI turns any
    ``Exception`` met while parsing a body into a 400, and this must reach the guard."""


class RequestGuard:
    """ASGI middleware around the app: request id, body limit (413), 500 with the request id
    for unexpected exceptions, and one access-log line per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state[_STATE_ID] = request_id
        status: list[int] = [0]
        sent_start = False

        async def send_with_id(message: Message) -> None:
            nonlocal sent_start
            if message["type"] == "http.response.start":
                sent_start = True
                status[0] = int(message["status"])
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if self._declared_too_large(scope):
                await self._respond(scope, send_with_id, 413, self._too_large_detail())
                return
            seen = 0

            async def limited() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.limit:
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, limited, send_with_id)
            except _BodyTooLarge:
                if sent_start:  # pragma: no cover - the app reads the body before answering
                    raise
                await self._respond(scope, send_with_id, 413, self._too_large_detail())
            except Exception as exc:
                _log_fault(request_id, exc)
                if sent_start:
                    raise
                await self._respond(
                    scope,
                    send_with_id,
                    500,
                    "Internal server error: the server could not score this request. Report "
                    "the request id to the operator; the server log has the details.",
                )
        finally:
            if access_log.isEnabledFor(logging.INFO):  # the line is built only to be written
                _log_access(scope, state, request_id, status[0], started)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                return bool(value.isdigit()) and int(value) > self.limit
        return False

    def _too_large_detail(self) -> str:
        return (
            f"Request body too large: the limit is {self.limit:,} bytes (declared or streamed); "
            "send fewer leads or fewer events per request."
        )

    @staticmethod
    async def _respond(scope: Scope, send: Send, status_code: int, detail: str) -> None:
        response = JSONResponse(error_body(scope, detail), status_code=status_code)
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the request
    return {"type": "http.disconnect"}


def _log_access(
    scope: Scope, state: dict[str, Any], request_id: str, status: int, started: float
) -> None:
    """The request's access-log line (JSON; no path with ids, query, header or value)."""
    route = scope.get("route")
    access_log.info(
        json.dumps(
            {
                "request_id": request_id,
                "method": scope.get("method"),
                "route": getattr(route, "path", None) or "(unmatched)",
                "status": status or None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "leads": state.get(_STATE_LEADS),
            },
            separators=(",", ":"),
        )
    )


def _log_fault(request_id: str, exc: BaseException) -> None:
    """Log a server fault by type and place only: messages may hold posted values."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[::-1][:6])
    error_log.error(
        "request %s failed: %s at %s", request_id, type(exc).__name__, where or "(unknown)"
    )


def log_server_error(scope: Scope, exc: BaseException) -> None:
    """Log a handled server fault (a 5xx the app answers itself) with the request id."""
    _log_fault(request_id_of(scope), exc)
