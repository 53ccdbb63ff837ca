"""Serving: the tracked scorer, batch scoring with reasons, the score store, the HTTP API.

Typical use::

    from leadscore.serving import explain_contact, score_contact_base

    result = score_contact_base("data/demo/crm.duckdb", "champion", "scores.parquet")
    print(explain_contact("data/demo/crm.duckdb", "C000042").to_dict())

The HTTP API lives in :mod:`leadscore.serving.api` (``create_app``, ``serve``); importing this
package does not import FastAPI, MLflow's tracking client or set anything global.
"""

from __future__ import annotations

from leadscore.model.grades import GRADES, GradeThresholds
from leadscore.serving.batch import (
    BatchResult,
    ContactExplanation,
    explain_contact,
    score_contact_base,
)
from leadscore.serving.loading import LoadedScorer, load_scorer
from leadscore.serving.reasons import Reason
from leadscore.serving.scorer import OUTPUT_COLUMNS, Scorer
from leadscore.serving.store import DEFAULT_STORE, ScoreStore

__all__ = [
    "DEFAULT_STORE",
    "GRADES",
    "OUTPUT_COLUMNS",
    "BatchResult",
    "ContactExplanation",
    "GradeThresholds",
    "LoadedScorer",
    "Reason",
    "ScoreStore",
    "Scorer",
    "explain_contact",
    "load_scorer",
    "score_contact_base",
]
