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

from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from leadscore.errors import ArtifactError, DataContractError
from leadscore.serving.api_app import health_fields, served_app
from leadscore.serving.api_key import api_key_dependency
from leadscore.serving.flat import FlatScoring
from leadscore.serving.follow import Follower
from leadscore.serving.http import RequestGuard, set_lead_count
from leadscore.serving.in_flight import CountInFlight
from leadscore.serving.loading import DEFAULT_MODEL_NAME, LoadedScorer, load_scorer

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
    following: str | None = None
    model_problem: str | None = None


@dataclass(eq=False)
class _FlatVersion:
    """One served flat version (nothing to close)."""

    loaded: LoadedScorer
    flat: FlatScoring

    @property
    def model_version(self) -> str:
        return self.loaded.model_version

    def close(self) -> None:
        pass


def _flat_version(loaded: LoadedScorer, target: str | None = None) -> _FlatVersion:
    """``loaded`` as a flat version (:class:`ArtifactError`: a CRM model, or a flat model of
    another outcome than ``target``, which this server's clients do not expect)."""
    flat = loaded.scorer.flat
    if flat is None:
        raise ArtifactError(
            f"{loaded.model_version} is not a flat-mode model: this server scores export rows. "
            "Restart `leadscore serve` to serve it."
        )
    if target is not None and flat.flat.target != target:
        raise ArtifactError(
            f"{loaded.model_version} predicts {flat.flat.target!r}, this server {target!r}: "
            "restart `leadscore serve` to serve it."
        )
    return _FlatVersion(loaded, flat)


def create_flat_app(
    loaded: LoadedScorer,
    *,
    key: bytes,
    max_body_bytes: int,
    follow: tuple[str, str, str] | None = None,
    tracking_uri: str | None = None,
    follow_seconds: float = 0.0,
) -> FastAPI:
    """The app serving the flat model of ``loaded`` (``key``: the API key, already checked);
    ``follow`` (name, alias, tracking URI): the registry alias followed every
    ``follow_seconds`` (:mod:`leadscore.serving.follow`), for versions of the same outcome."""
    if loaded.scorer.flat is None:
        raise ValueError("not a flat-mode model")
    first = _flat_version(loaded)
    target = first.flat.flat.target
    name, alias, uri = follow or (DEFAULT_MODEL_NAME, None, None)

    def build(version: str) -> _FlatVersion:
        new = load_scorer(f"models:/{name}/{version}", tracking_uri=tracking_uri)
        return _flat_version(new, target)

    served = Follower(first, build, uri=uri, name=name, alias=alias, every=follow_seconds)
    authorised = api_key_dependency(key)

    app = served_app(
        served,
        title="leadscore (flat export)",
        description=(
            f"Scores of rows of a lead export (outcome {target!r}) with reasons in "
            f"words. Limits: {MAX_ROWS} rows per request, {max_body_bytes:,} bytes per body."
        ),
        request_errors=(DataContractError,),  # the rows are not the model's export
    )

    @app.get("/health", response_model=_Health)
    def health() -> _Health:
        """Liveness, the model version served and its outcome column (no key needed)."""
        return _Health(**health_fields(served), target=target)

    @app.post(
        "/score",
        response_model=FlatScoreResponse,
        dependencies=[Depends(authorised)],
        responses={413: {"description": "Body over the limit"}, 422: {"description": "Invalid"}},
    )
    def score(body: FlatScoreRequest, http: Request) -> FlatScoreResponse:
        """Score up to 500 export rows: probability, grade and reasons in words per row."""
        set_lead_count(http.scope, len(body.rows))
        version = served.acquire()  # the request is scored whole by this version
        try:
            return _scored(body, version)
        finally:
            served.release(version)

    def _scored(body: FlatScoreRequest, version: _FlatVersion) -> FlatScoreResponse:
        flat = version.flat
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
            model_version=version.model_version,
            target=flat.flat.target,
            head=flat.head.kind,
            scores=out,
        )

    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)
    app.add_middleware(CountInFlight, in_flight=served.in_flight)  # outermost: counts it all
    return app
