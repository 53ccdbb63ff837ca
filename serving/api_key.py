"""The machines' API key check, one FastAPI dependency for every app that serves a model."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader

__all__ = ["api_key_dependency"]


def api_key_dependency(key: bytes) -> Callable[..., Awaitable[None]]:
    """A dependency refusing (401) a request without ``key`` in its ``X-API-Key`` header;
    the comparison takes the same time whatever the value sent. A coroutine: FastAPI runs a
    plain function dependency in its thread pool, a hop per request for a microsecond's work."""
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")

    async def authorised(value: str | None = Depends(header)) -> None:
        if value is None or not hmac.compare_digest(value.encode(), key):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "Missing or wrong API key: send it in the X-API-Key header.",
                headers={"WWW-Authenticate": "APIKey"},
            )

    return authorised
