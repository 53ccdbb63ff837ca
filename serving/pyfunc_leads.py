"""CRM-shaped lead rows (the MLflow pyfunc's input) to the HTTP API's request, and scores back.

The pyfunc takes the rows of :func:`leadscore.model.pyfunc_schema.lead_signature` (one per lead:
``contact``, ``account``, ``events``, ``stage_changes``); :func:`request_from_rows` checks them
with the API's own request models (:class:`~leadscore.serving.posted.ScoreRequest`), so the
pyfunc and ``POST /score`` accept and refuse the same leads. :func:`scores_in_posted_order`
gives one output row per posted lead, in the posted order, with ``scored`` false for a lead not
eligible at ``as_of`` (already SQL, disqualified, created later).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from leadscore.clock import as_naive_utc, utc_now
from leadscore.errors import ConfigError, DataContractError
from leadscore.model.pyfunc_schema import LEAD_PARTS
from leadscore.serving.posted import ScoreRequest

__all__ = ["as_of_param", "request_from_rows", "scores_in_posted_order"]


def _cell(value: Any, many: bool) -> Any:
    """A cell as the request model wants it: NaN/None arrays are empty, arrays are lists."""
    if many:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return []
        return list(value)
    return value


def as_of_param(params: Mapping[str, Any] | None) -> datetime:
    """The ``as_of`` parameter as naive UTC (empty or absent: now)."""
    raw = (params or {}).get("as_of") or ""
    if isinstance(raw, datetime):
        return as_naive_utc(raw)
    try:
        return as_naive_utc(datetime.fromisoformat(str(raw))) if raw else utc_now()
    except ValueError:
        raise ConfigError(
            f"The pyfunc parameter as_of={str(raw)[:40]!r} is not an ISO 8601 time; pass e.g. "
            '"2025-11-30T00:00:00" (UTC), or leave it empty for now.'
        ) from None


def request_from_rows(
    frame: pd.DataFrame, params: Mapping[str, Any] | None, *, as_of: datetime
) -> ScoreRequest:
    """The :class:`ScoreRequest` of the lead rows of ``frame``; a
    :class:`~leadscore.errors.DataContractError` lists every broken field (never its value)."""
    missing = [c for c, (_, many) in LEAD_PARTS.items() if not many and c not in frame.columns]
    if missing:
        raise ConfigError(
            f"The leadscore pyfunc takes CRM-shaped leads: columns {', '.join(LEAD_PARTS)} "
            f"(missing: {', '.join(missing)}). See the model's input_example.json; to score "
            "a feature frame, use `unwrap_python_model().scorer.score(frame)`."
        )
    leads = [
        {c: _cell(row.get(c), many) for c, (_, many) in LEAD_PARTS.items() if c in frame.columns}
        for row in frame.to_dict("records")
    ]
    complete = bool((params or {}).get("complete_accounts", False))
    try:
        return ScoreRequest.model_validate(
            {"leads": leads, "as_of": as_of, "complete_accounts": complete}
        )
    except ValidationError as exc:
        problems: list[object] = [
            f"{'.'.join(str(p) for p in e.get('loc', ())) or '(input)'}: {e.get('msg', '')}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise DataContractError(
            problems, header=f"The posted leads are invalid ({len(problems)} problem(s)):"
        ) from None


def scores_in_posted_order(
    request: ScoreRequest, features: pd.DataFrame, scores: pd.DataFrame
) -> pd.DataFrame:
    """One row per posted lead: ``contact_id``, ``scored`` and the scorer's columns (missing
    for the leads that were not scored: NaN numbers, no grade, no reasons)."""
    posted = [lead.contact.contact_id for lead in request.leads]
    scored = scores.reset_index(drop=True).assign(
        contact_id=features["contact_id"].astype(str).to_numpy()
    )
    out = pd.DataFrame({"contact_id": posted}).merge(scored, on="contact_id", how="left")
    out.insert(1, "scored", out["contact_id"].isin(set(scored["contact_id"])))
    for column in ("reasons_positive", "reasons_negative"):
        if column in out.columns:
            out[column] = [r if isinstance(r, list) else [] for r in out[column]]
    if "grade" in out.columns:
        out["grade"] = out["grade"].astype(object).where(out["scored"], None)
    return out
