"""Find and load the tracked scorer: an alias, a version, a ``models:/`` URI or a local folder.

The tracking URI is a parameter (``None``: ``MLFLOW_TRACKING_URI``, else the local sqlite
store); MLflow's global URI is never set. The artifact is downloaded and loaded with
``mlflow.pyfunc.load_model``: serving runs exactly what the registry holds.

A local sqlite registry remembers each resolution (:mod:`leadscore.serving.resolution_cache`):
while the registry and the model's files are unchanged, the next load of the same reference
reads the very heads folder the pyfunc read (:meth:`Scorer.from_folder`, every schema and
version check included) without importing MLflow, and the MLflow pyfunc is loaded only if
asked for (:attr:`LoadedScorer.pyfunc`). Any change goes through MLflow again.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

from leadscore.errors import ArtifactError, LeadscoreError
from leadscore.model.pyfunc import PYFUNC_CLASS
from leadscore.registry import require_registry, resolve_tracking_uri
from leadscore.run_status import sweep_runs
from leadscore.serving import resolution_cache
from leadscore.serving.requirements_drift import warn_on_requirement_drift
from leadscore.serving.scorer import Scorer

__all__ = ["DEFAULT_MODEL_NAME", "LoadedScorer", "followed_alias", "load_scorer"]

DEFAULT_MODEL_NAME = "leadscore"
_OLD_ENTRY_POINT = "leadscore.training.pyfunc"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")
_log = logging.getLogger(__name__)


class LoadedScorer:
    """A loaded pyfunc, its :class:`Scorer` and where it came from.

    Built from a remembered resolution, it holds the scorer only; :attr:`pyfunc` loads the
    MLflow pyfunc of the same folder on first use.
    """

    def __init__(
        self,
        pyfunc: Any,
        scorer: Scorer,
        model_version: str,
        source: str,
        *,
        folder: str | None = None,
    ) -> None:
        if pyfunc is None and folder is None:
            raise ValueError("a LoadedScorer needs its pyfunc or the folder to load it from")
        self._pyfunc = pyfunc
        self._folder = folder
        self._lock = threading.Lock()
        self.scorer = scorer
        self.model_version = model_version
        """``<name>/<version>`` for a registered model, else the local path."""
        self.source = source

    @property
    def pyfunc(self) -> Any:
        """The MLflow pyfunc (``mlflow.pyfunc.PyFuncModel``) of the model."""
        with self._lock:
            if self._pyfunc is None:
                assert self._folder is not None  # checked in __init__
                self._pyfunc = _load_pyfunc(self._folder)
            return self._pyfunc

    def with_scorer(self, scorer: Scorer) -> LoadedScorer:
        """The same model with another :class:`Scorer` (e.g. a changed spec, in tests and
        what-if scoring); the pyfunc is shared, or loaded from the same folder on first use."""
        return LoadedScorer(
            self._pyfunc, scorer, self.model_version, self.source, folder=self._folder
        )

    def __repr__(self) -> str:
        return f"LoadedScorer({self.model_version!r}, source={self.source!r})"


def _parse(ref: str, model_name: str) -> tuple[str, str | None, str | None] | None:
    match = _MODELS_URI.match(ref)
    if match:
        return match["name"], match["version"], match["alias"]
    if ref.isdigit():
        return model_name, ref, None
    if re.fullmatch(r"[A-Za-z][\w-]*", ref) and not Path(ref).exists():
        return model_name, None, ref
    return None


def followed_alias(
    model: str | Path, tracking_uri: str | None, *, model_name: str = DEFAULT_MODEL_NAME
) -> tuple[str, str, str] | None:
    """``(name, alias, tracking URI)`` when ``model`` names a registry alias (``champion``,
    ``models:/name@alias``): what a server follows; ``None`` for a version number, a
    ``models:/name/3`` URI or a folder, which never move."""
    parsed = _parse(str(model), model_name)
    if parsed is None or parsed[2] is None:
        return None
    return parsed[0], parsed[2], resolve_tracking_uri(tracking_uri)


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
    uri = resolve_tracking_uri(tracking_uri)
    require_registry(uri)
    key = f"{name}/{version}" if version else f"{name}@{alias}"
    remembered = resolution_cache.lookup(uri, key)
    if remembered is not None:
        loaded = _load_remembered(remembered)
        if loaded is not None:
            return loaded
    before = resolution_cache.snapshot(uri)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    sweep = sweep_runs(client)  # killed training runs end FAILED (leadscore.run_status)
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
    loaded = LoadedScorer(pyfunc, _scorer_of(pyfunc), f"{name}/{mv.version}", str(mv.source))
    heads = getattr(pyfunc.unwrap_python_model(), "heads_folder", None)
    if isinstance(heads, Path):
        resolution_cache.record(
            uri,
            key,
            before=before,
            model_version=loaded.model_version,
            source=loaded.source,
            local=Path(local),
            heads=heads,
            live_owners=sweep.live_owners,
        )
    return loaded


def _load_remembered(hit: resolution_cache.Resolution) -> LoadedScorer | None:
    """The scorer of a remembered resolution, read as the pyfunc reads it (``None``: let
    MLflow's path load it and say what is wrong)."""
    try:
        scorer = Scorer.from_folder(Path(hit.heads))
    except Exception as exc:  # MLflow's path below raises the user-facing error
        _log.debug("Remembered %s does not load (%s): through MLflow", hit.model_version, exc)
        return None
    warn_on_requirement_drift(hit.local)
    return LoadedScorer(None, scorer, hit.model_version, hit.source, folder=hit.local)


def _scorer_of(pyfunc: Any) -> Scorer:
    model = pyfunc.unwrap_python_model()
    scorer = getattr(model, "scorer", None)
    if not isinstance(scorer, Scorer):
        raise ArtifactError("This MLflow model is not a leadscore scorer.")
    return scorer
