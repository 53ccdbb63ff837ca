"""The HTTP scorer of a flat-mode model: rows of the export in, scores with reasons out.

A flat model (``train --table``) reads the columns of a one-row-per-lead export, not a CRM, so
its API takes rows as they appear in the export (``{"rows": [{"lead_source": "Google",
"time_on_website": 1250, ...}]}``, numbers or text, placeholders such as "Select" read as
missing) and answers each row's probability, grade and reasons in words from the head that
shipped (LightGBM, logistic or the rules), as ``leadscore score leads.csv`` and ``leadscore
explain ROW --table leads.csv`` do. ``leadscore serve`` with a flat champion serves this app
(:func:`leadscore.serving.api.create_app` hands over). Endpoints: ``POST /score`` (needs the
``X-API-Key`` header), ``GET /health``. Same limits and access log as the CRM API: at most
:data:`MAX_ROWS` rows a request, the body limit, no body ever logged; rows that are not the
model's export (a missing column, text in a number column) are 422 with the columns named.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from leadscore import __version__
from leadscore.errors import DataContractError, LeadscoreError
from leadscore.serving.api_key import api_key_dependency
from leadscore.serving.flat import FlatScoring
from leadscore.serving.http import RequestGuard, error_body, log_server_error, set_lead_count
from leadscore.serving.loading import LoadedScorer

__all__ = ["MAX_ROWS", "FlatRowScore", "FlatScoreRequest", "FlatScoreResponse", "create_flat_app"]

MAX_ROWS = 500
"""Rows per request (as leads per request on the CRM API)."""

Cell = str | int | float | bool | None


class FlatScoreRequest(BaseModel):
    """Rows of the model's export: column name -> value (text or number; absent = missing)."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS)


class FlatRowScore(BaseModel):
    """One row's score: the row id (the export's id column, when the model knows one), the
    probability of the outcome, the grade and the reasons in words."""

    row_id: str | None
    probability: float
    grade: str
    reasons_positive: list[str]
    reasons_negative: list[str]


class FlatScoreResponse(BaseModel):
    model_version: str
    target: str
    """The export's outcome column the probabilities are of."""
    head: str
    """The head that shipped and scores: ``lightgbm``, ``logistic`` or ``rules``."""
    scores: list[FlatRowScore]


class _Health(BaseModel):
    status: str
    model_version: str
    leadscore_version: str
    target: str


def create_flat_app(loaded: LoadedScorer, *, key: bytes, max_body_bytes: int) -> FastAPI:
    """The app serving the flat model of ``loaded`` (``key``: the API key, already checked)."""
    flat: FlatScoring | None = loaded.scorer.flat
    if flat is None:
        raise ValueError("not a flat-mode model")
    authorised = api_key_dependency(key)

    app = FastAPI(
        title="leadscore (flat export)",
        version=__version__,
        description=(
            f"Scores of rows of a lead export (outcome {flat.flat.target!r}) with reasons in "
            f"words. Limits: {MAX_ROWS} rows per request, {max_body_bytes:,} bytes per body."
        ),
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        return JSONResponse(error_body(request.scope, where), status_code=422)

    @app.exception_handler(LeadscoreError)
    async def _leadscore(request: Request, exc: LeadscoreError) -> JSONResponse:
        if isinstance(exc, DataContractError):  # the rows are not the model's export
            return JSONResponse(error_body(request.scope, str(exc)), status_code=422)
        log_server_error(request.scope, exc)
        return JSONResponse(
            error_body(request.scope, f"Internal server error: {exc}"), status_code=500
        )

    @app.get("/health", response_model=_Health)
    def health() -> _Health:
        """Liveness, the model version served and its outcome column (no key needed)."""
        return _Health(
            status="ok",
            model_version=loaded.model_version,
            leadscore_version=__version__,
            target=flat.flat.target,
        )

    @app.post(
        "/score",
        response_model=FlatScoreResponse,
        dependencies=[Depends(authorised)],
        responses={413: {"description": "Body over the limit"}, 422: {"description": "Invalid"}},
    )
    def score(body: FlatScoreRequest, http: Request) -> FlatScoreResponse:
        """Score up to 500 export rows: probability, grade and reasons in words per row."""
        set_lead_count(http.scope, len(body.rows))
        frame = pd.DataFrame.from_records(body.rows)  # a key absent from a row: missing
        scores = flat.explain(frame).scores
        id_column = flat.flat.id_column
        ids: list[Any] = (
            frame[id_column].tolist() if id_column and id_column in frame else [None] * len(frame)
        )
        out = [
            FlatRowScore(
                row_id=None if row_id is None or row_id != row_id else str(row_id),
                probability=float(row[flat.probability_column]),
                grade=str(row.get("grade", "")),
                reasons_positive=list(row["reasons_positive"]),
                reasons_negative=list(row["reasons_negative"]),
            )
            for row_id, (_, row) in zip(ids, scores.iterrows(), strict=True)
        ]
        return FlatScoreResponse(
            model_version=loaded.model_version,
            target=flat.flat.target,
            head=flat.head.kind,
            scores=out,
        )

    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)
    return app
