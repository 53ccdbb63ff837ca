"""The MLflow pyfunc artifact of a heads folder, logged "from code" (no pickle).

MLflow stores :data:`ENTRY_SCRIPT`, a tiny script naming the serving class
(``leadscore.serving.pyfunc.LeadscoreScorer``, which wraps the scorer), and the heads folder as a
plain artifact under :data:`HEADS_ARTIFACT`. The class is named in a string, never imported
here: training saves the pyfunc without importing serving.
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["ENTRY_SCRIPT", "HEADS_ARTIFACT", "PYFUNC_CLASS", "save_pyfunc"]

HEADS_ARTIFACT = "heads"
PYFUNC_CLASS = "leadscore.serving.pyfunc.LeadscoreScorer"

ENTRY_SCRIPT = '''"""MLflow models-from-code entry point of the leadscore scorer."""
import mlflow.models

from leadscore.serving.pyfunc import LeadscoreScorer

mlflow.models.set_model(LeadscoreScorer())
'''


def save_pyfunc(heads: Path, folder: Path) -> Path:
    """Save the pyfunc of the heads folder ``heads`` as ``folder/model``; returns that path.

    No signature: the heads' records carry the feature list and kinds, and MLflow's schema
    enforcement would refuse integer counts for float columns.
    """
    import lightgbm
    import mlflow.pyfunc

    entry = folder / "leadscore_scorer.py"
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    path = folder / "model"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=str(entry),
            artifacts={HEADS_ARTIFACT: str(heads)},
            pip_requirements=[f"lightgbm=={lightgbm.__version__}", f"mlflow=={mlflow.__version__}"],
        )
    return path
