"""Find and load the tracked scorer: an alias, a version, a ``models:/`` URI or a local folder.

The tracking URI is a parameter (``None``: ``MLFLOW_TRACKING_URI``, else the local sqlite
store); MLflow's global URI is never set. The artifact is downloaded and loaded with
``mlflow.pyfunc.load_model``: serving runs exactly what the registry holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadscore.errors import ArtifactError, LeadscoreError
from leadscore.model.pyfunc import PYFUNC_CLASS
from leadscore.registry import require_registry, resolve_tracking_uri
from leadscore.run_status import fail_dead_runs
from leadscore.serving.requirements_drift import warn_on_requirement_drift
from leadscore.serving.scorer import Scorer

__all__ = ["DEFAULT_MODEL_NAME", "LoadedScorer", "load_scorer"]

DEFAULT_MODEL_NAME = "leadscore"
_OLD_ENTRY_POINT = "leadscore.training.pyfunc"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@dataclass(frozen=True)
class LoadedScorer:
    """A loaded pyfunc, its :class:`Scorer` and where it came from."""

    pyfunc: Any
    scorer: Scorer
    model_version: str
    """``<name>/<version>`` for a registered model, else the local path."""
    source: str


def _parse(ref: str, model_name: str) -> tuple[str, str | None, str | None] | None:
    match = _MODELS_URI.match(ref)
    if match:
        return match["name"], match["version"], match["alias"]
    if ref.isdigit():
        return model_name, ref, None
    if re.fullmatch(r"[A-Za-z][\w-]*", ref) and not Path(ref).exists():
        return model_name, None, ref
    return None


def _load_pyfunc(path: str) -> Any:
    import mlflow.pyfunc

    try:
        # MLflow's dependency check scans every installed package (~2 s); ours reads the pins
        pyfunc = mlflow.pyfunc.load_model(path, suppress_warnings=True)
        warn_on_requirement_drift(path)
        return pyfunc
    except LeadscoreError:
        raise
    except Exception as exc:  # MLflow wraps or raises its own errors
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, LeadscoreError):
            raise cause from None
        if _OLD_ENTRY_POINT in f"{exc} {cause}":
            raise ArtifactError(
                f"The scorer at {path} was saved by an older leadscore (its entry point "
                f"{_OLD_ENTRY_POINT} is now {PYFUNC_CLASS}). Retrain and register it with "
                "this version (`leadscore train`)."
            ) from None
        raise ArtifactError(f"Cannot load the scorer at {path}: {exc}") from None


def load_scorer(
    model: str | Path = "champion",
    *,
    tracking_uri: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
) -> LoadedScorer:
    """Load the scorer ``model``: an alias (``champion``), a version number, a
    ``models:/name@alias`` or ``models:/name/3`` URI, or a local pyfunc folder.

    Raises :class:`ArtifactError` when it does not exist or is incompatible with this leadscore.
    """
    ref = str(model)
    parsed = _parse(ref, model_name)
    if parsed is None:
        path = Path(ref.removeprefix("file://"))
        if not (path / "MLmodel").is_file():
            raise ArtifactError(
                f"{ref} is neither a registered model alias/version nor a pyfunc folder "
                "(no MLmodel file)."
            )
        pyfunc = _load_pyfunc(str(path))
        return LoadedScorer(pyfunc, _scorer_of(pyfunc), str(path), str(path))
    name, version, alias = parsed
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    require_registry(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    fail_dead_runs(client)  # killed training runs end FAILED (leadscore.run_status)
    try:
        mv = (
            client.get_model_version(name, version)
            if version
            else client.get_model_version_by_alias(name, str(alias))
        )
    except Exception:  # MLflow's RestException: absent model, version or alias
        raise ArtifactError(
            f"Model {name!r} has no {'version' if version else 'alias'} "
            f"{version or alias!r} in {uri}. List them with `leadscore models`."
        ) from None
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, tracking_uri=uri)
    pyfunc = _load_pyfunc(local)
    return LoadedScorer(pyfunc, _scorer_of(pyfunc), f"{name}/{mv.version}", str(mv.source))


def _scorer_of(pyfunc: Any) -> Scorer:
    model = pyfunc.unwrap_python_model()
    scorer = getattr(model, "scorer", None)
    if not isinstance(scorer, Scorer):
        raise ArtifactError("This MLflow model is not a leadscore scorer.")
    return scorer
