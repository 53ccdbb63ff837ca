"""The MLflow pyfunc scorer, loaded from native LightGBM text files and JSON (no pickle).

Training logs it "from code" (:mod:`leadscore.model.pyfunc`): MLflow stores a tiny script that
builds :class:`LeadscoreScorer`, the heads folder (``<target>.lgb.txt`` + ``<target>.json`` +
``scorer.json``: the feature definition, grade thresholds and reason templates) as a plain
artifact, and the leadscore code itself (``code/``).

``predict`` takes CRM-shaped leads (the signature of
:func:`leadscore.model.pyfunc_schema.lead_signature`, the JSON of ``POST /score``), computes their
features with the model's own definition through the API's path
(:class:`~leadscore.serving.online.OnlineFeatures`), and returns one row per lead:
``contact_id``, ``scored``, ``p_sql``, ``p_meeting``, ``grade``, ``fit_score``,
``engagement_score``, ``reasons_positive``, ``reasons_negative``. A model trained without a
feature definition (probabilities only) takes a frame of feature columns instead.
``unwrap_python_model().scorer`` is the :class:`~leadscore.serving.scorer.Scorer`, which scores
feature frames directly (batch scoring and the HTTP API use it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from leadscore.model.pyfunc import HEADS_ARTIFACT
from leadscore.model.pyfunc_schema import LEAD_PARTS
from leadscore.serving.online import OnlineFeatures
from leadscore.serving.pyfunc_leads import as_of_param, request_from_rows, scores_in_posted_order
from leadscore.serving.scorer import OUTPUT_COLUMNS, Scorer

__all__ = ["LeadscoreScorer"]


class LeadscoreScorer(PythonModel):
    """Scores, grades and reasons of CRM-shaped leads (see the module doc)."""

    def load_context(self, context: Any) -> None:
        self.heads_folder = Path(context.artifacts[HEADS_ARTIFACT])
        """The model's heads folder (batch scoring on Spark ships its files to executors)."""
        self.scorer: Scorer = Scorer.from_folder(self.heads_folder)
        self._online: OnlineFeatures | None = None
        self._lock = threading.Lock()

    def online(self) -> OnlineFeatures:
        """The feature path of posted leads, opened on first use (DuckDB connections)."""
        with self._lock:
            if self._online is None:
                self._online = OnlineFeatures(
                    self.scorer.require_definition(),
                    self.scorer.features,
                    from_stage=self.scorer.spec.from_stage,
                )
            return self._online

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One output row per lead of ``model_input`` (see the module doc)."""
        frame = pd.DataFrame(model_input)
        if not self.scorer.explains or not set(LEAD_PARTS) & set(frame.columns):
            return self.scorer.score(frame)  # a feature frame (old or probabilities-only models)
        as_of = as_of_param(params)
        request = request_from_rows(frame, params, as_of=as_of)
        features = self.online().features(request, as_of=as_of)
        empty = pd.DataFrame(columns=list(OUTPUT_COLUMNS))
        scores = self.scorer.score(features) if len(features) else empty
        return scores_in_posted_order(request, features, scores)
