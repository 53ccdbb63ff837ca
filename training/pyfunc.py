"""The MLflow pyfunc over both LightGBM heads, loaded from native text files (no pickle).

It is logged "from code": MLflow stores a tiny script that builds :class:`LeadscoreScorer`, and
the heads (``<target>.lgb.txt`` + ``<target>.json``) as plain artifacts. Serving loads it from
the registry by alias and gets ``p_sql`` and ``p_meeting`` per input row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from leadscore.training.artifacts import load_heads

__all__ = ["ENTRY_SCRIPT", "HEADS_ARTIFACT", "LeadscoreScorer"]

HEADS_ARTIFACT = "heads"

ENTRY_SCRIPT = '''"""MLflow models-from-code entry point of the leadscore scorer."""
import mlflow.models

from leadscore.training.pyfunc import LeadscoreScorer

mlflow.models.set_model(LeadscoreScorer())
'''


class LeadscoreScorer(PythonModel):
    """Calibrated probabilities of every head: columns ``p_<target>``."""

    def load_context(self, context: Any) -> None:
        self.heads_ = load_heads(Path(context.artifacts[HEADS_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``p_<target>`` for every row of ``model_input`` (a DataFrame of feature columns)."""
        frame = pd.DataFrame(model_input)
        return pd.DataFrame(
            {f"p_{t}": head.predict_proba(frame) for t, head in self.heads_.items()},
            index=frame.index,
        )
