"""Where the MLflow tracking store and model registry are, and whether one exists.

Shared by training (which logs runs) and serving (which loads registered scorers). Nothing is
read at import time: the URI is a parameter (``None``: ``MLFLOW_TRACKING_URI``, else the local
sqlite store ``sqlite:///mlruns/mlflow.db``), and MLflow's global URI is never set.
"""

from __future__ import annotations

import os
from pathlib import Path

from leadscore.errors import ArtifactError

__all__ = ["DEFAULT_TRACKING_URI", "registry_exists", "require_registry", "resolve_tracking_uri"]

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The URI to use: the parameter, else ``MLFLOW_TRACKING_URI``, else the local default."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def registry_exists(uri: str) -> bool:
    """False only for a local sqlite store whose database file was never created."""
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).is_file()


def require_registry(uri: str) -> None:
    """Reading a registry that does not exist would create an empty one: say what to do."""
    if not registry_exists(uri):
        raise ArtifactError(
            f"No model registry at {uri} yet: train a model first (`leadscore train`), or point "
            "--tracking-uri / MLFLOW_TRACKING_URI at the registry that holds it."
        )
