"""The MLflow pyfunc artifact of a heads folder, logged "from code" (no pickle).

MLflow stores :data:`ENTRY_SCRIPT`, a tiny script naming the serving class
(``leadscore.serving.pyfunc.LeadscoreScorer``, which wraps the scorer), and the heads folder as a
plain artifact under :data:`HEADS_ARTIFACT`. The class is named in a string, never imported
here: training saves the pyfunc without importing serving.

The model travels: the installed ``leadscore`` package is copied into the model's ``code/``
folder (MLflow ``code_paths``, put on ``sys.path`` when the model loads), and its
``requirements.txt`` pins every other distribution the scorer imports
(:func:`~leadscore.model.pyfunc_schema.pinned_requirements`). So ``pip install -r
requirements.txt`` in a fresh environment is enough for ``mlflow.pyfunc.load_model`` and
``mlflow models serve``; leadscore itself need not be installed there.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.model.pyfunc_schema import (
    example_leads,
    example_params,
    lead_signature,
    pinned_requirements,
)
from leadscore.model.spec import SPEC_FILE, read_spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ENTRY_SCRIPT",
    "HEADS_ARTIFACT",
    "PYFUNC_CLASS",
    "example_leads_frame",
    "leadscore_code_path",
    "save_pyfunc",
]

HEADS_ARTIFACT = "heads"
PYFUNC_CLASS = "leadscore.serving.pyfunc.LeadscoreScorer"

ENTRY_SCRIPT = '''"""MLflow models-from-code entry point of the leadscore scorer."""
import mlflow.models

from leadscore.serving.pyfunc import LeadscoreScorer

mlflow.models.set_model(LeadscoreScorer())
'''


def leadscore_code_path() -> Path:
    """The folder of the installed ``leadscore`` package (what ``code_paths`` copies)."""
    import leadscore

    return Path(leadscore.__file__).parent


def _explains(heads: Path) -> bool:
    """Whether the heads carry a feature definition and grades (they score CRM-shaped leads)."""
    if not (heads / SPEC_FILE).is_file():
        return False
    spec = read_spec(heads / SPEC_FILE)
    return spec.definition is not None and spec.grades is not None


def save_pyfunc(heads: Path, folder: Path) -> Path:
    """Save the pyfunc of the heads folder ``heads`` as ``folder/model``; returns that path.

    A model with a feature definition gets the lead signature and a two-lead input example
    (:mod:`leadscore.model.pyfunc_schema`); a probabilities-only model (no definition) takes a
    feature frame and gets no signature.
    """
    import mlflow.pyfunc

    entry = folder / "leadscore_scorer.py"
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    path = folder / "model"
    explains = _explains(heads)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
        # MLflow's example writer uses pandas calls that pandas 3 deprecates
        warnings.filterwarnings("ignore", module=r"mlflow\.")
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=str(entry),
            artifacts={HEADS_ARTIFACT: str(heads)},
            code_paths=[str(leadscore_code_path())],
            pip_requirements=pinned_requirements(),
            signature=lead_signature() if explains else None,
            input_example=(example_leads_frame(), example_params()) if explains else None,
        )
    return path


def example_leads_frame() -> pd.DataFrame:
    """The input example as a DataFrame (one row per lead)."""
    import pandas as pd

    return pd.DataFrame(example_leads())
