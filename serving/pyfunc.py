"""The MLflow pyfunc scorer, loaded from native LightGBM text files and JSON (no pickle).

Training logs it "from code" (:mod:`leadscore.model.pyfunc`): MLflow stores a tiny script that
builds :class:`LeadscoreScorer`, and the heads folder (``<target>.lgb.txt`` + ``<target>.json`` +
``scorer.json``: the feature definition, grade thresholds and reason templates) as a plain
artifact. Given a frame of feature columns it returns ``p_sql``, ``p_meeting``, ``grade``,
``fit_score``, ``engagement_score``, ``reasons_positive`` and ``reasons_negative`` per row
(probabilities only for a model trained without a feature definition).
``unwrap_python_model().scorer`` is the :class:`~leadscore.serving.scorer.Scorer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from leadscore.model.pyfunc import HEADS_ARTIFACT
from leadscore.serving.scorer import Scorer

__all__ = ["LeadscoreScorer"]


class LeadscoreScorer(PythonModel):
    """Scores, grades and reasons of every row of a feature frame (see the module doc)."""

    def load_context(self, context: Any) -> None:
        self.scorer: Scorer = Scorer.from_folder(Path(context.artifacts[HEADS_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Output columns for every row of ``model_input`` (a DataFrame of feature columns)."""
        return self.scorer.score(pd.DataFrame(model_input))
