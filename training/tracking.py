"""MLflow tracking and registry: runs, the pyfunc scorer, challenger/champion aliases.

Nothing happens at import time: every function takes the tracking URI as a parameter
(``None``: the ``MLFLOW_TRACKING_URI`` environment variable, else the local sqlite store
``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/``). The global MLflow URI is
never set; a :class:`~mlflow.MlflowClient` is built per call.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadscore import __version__
from leadscore.atomic import fault_point, write_failure
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ArtifactError, ConfigError, OutputError
from leadscore.model.inputs import FeatureSpec
from leadscore.model.pyfunc import save_pyfunc
from leadscore.registry import (
    DEFAULT_TRACKING_URI,
    registry_exists,
    require_registry,
    resolve_tracking_uri,
)
from leadscore.run_status import fail_dead_runs, owner_tags
from leadscore.training.metric_words import metric_in_words
from leadscore.training.tracking_meta import (
    git_tags,
    log_logged_model,
    log_training_dataset,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_TRACKING_URI",
    "ModelVersionInfo",
    "PromotionDecision",
    "TrainingDataset",
    "download_heads",
    "list_versions",
    "log_training_run",
    "promote_version",
    "registry_exists",
    "require_registry",
    "resolve_tracking_uri",
]

CHALLENGER, CHAMPION = "challenger", "champion"
EXPERIMENT = "leadscore"
WINDOW_TAGS = ("test_first_cutoff", "test_last_cutoff")


def _client(tracking_uri: str | None, *, create: bool = False) -> tuple[Any, str]:
    """An MLflow client; only ``create`` (logging a run) may create a local sqlite store."""
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    if create and uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif not create:
        require_registry(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if registry_exists(uri):
        fail_dead_runs(client)  # runs of killed processes end FAILED, not RUNNING forever
    return client, uri


def _experiment_id(client: Any, uri: str) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = None
    if uri.startswith("sqlite:///"):  # artifacts next to the database, never in the cwd
        location = Path(uri.removeprefix("sqlite:///")).resolve().parent.as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


@dataclass
class ModelVersionInfo:
    """One registered version with its aliases and headline metrics."""

    name: str
    version: str
    aliases: list[str]
    run_id: str
    created: int
    metrics: dict[str, float]
    tags: dict[str, str]


@dataclass(frozen=True)
class TrainingDataset:
    """The training table as an MLflow dataset: its rows, where it came from, its name and
    label column."""

    frame: pd.DataFrame
    source: str | None
    name: str
    targets: str


@dataclass
class PromotionDecision:
    """Whether the challenger became champion, and why."""

    promoted: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    metric: str
    challenger_value: float
    champion_value: float | None
    details: dict[str, Any] = field(default_factory=dict)


def log_training_run(
    *,
    tracking_uri: str | None,
    model_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    heads: Path,
    report: Path,
    features: list[FeatureSpec],
    targets: list[str],
    run_name: str = "train",
    dataset: TrainingDataset | None = None,
) -> tuple[str, str]:
    """Log a run named ``run_name`` (params, metrics, tags with the git commit, report, heads,
    the training table as an MLflow dataset, the pyfunc as the run's logged model) and register
    the pyfunc as a new version aliased ``challenger``. Returns ``(run_id, version)``.

    A full disk (or another file-system condition) is an :class:`OutputError` naming the
    registry and saying what the registry holds afterwards."""
    registered: list[str] = []
    try:
        return _log_training_run(
            tracking_uri=tracking_uri,
            model_name=model_name,
            params=params,
            metrics=metrics,
            tags=tags,
            heads=heads,
            report=report,
            run_name=run_name,
            dataset=dataset,
            registered=registered,
        )
    except Exception as exc:
        why = write_failure(exc)
        if why is None:
            raise
        after = (
            f"Version {registered[0]} was registered but is not the challenger: "
            f"promote it with --version {registered[0]} once there is space, or train again."
            if registered
            else "The training run failed and no version was registered (the champion and "
            "challenger are unchanged)."
        )
        raise OutputError(
            f"Cannot write the model registry {_where(tracking_uri)}: {why}. {after}"
        ) from None


def _where(tracking_uri: str | None) -> str:
    """The registry as a user finds it: the sqlite file (artifacts beside it), else the URI."""
    uri = resolve_tracking_uri(tracking_uri)
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri


def _log_training_run(
    *,
    tracking_uri: str | None,
    model_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    heads: Path,
    report: Path,
    run_name: str,
    dataset: TrainingDataset | None,
    registered: list[str],
) -> tuple[str, str]:
    client, uri = _client(tracking_uri, create=True)
    experiment_id = _experiment_id(client, uri)
    run = client.create_run(
        experiment_id, tags=dict(tags) | git_tags() | owner_tags(), run_name=run_name
    )
    run_id = str(run.info.run_id)
    model_id: str | None = None
    try:
        fault_point("train.run_created")
        from mlflow.entities import Metric, Param

        client.log_batch(
            run_id,
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()],
        )
        client.log_artifact(run_id, str(report))
        client.log_artifacts(run_id, str(heads), "heads")
        if dataset is not None:
            log_training_dataset(
                client,
                run_id,
                dataset.frame,
                source=dataset.source,
                name=dataset.name,
                targets=dataset.targets,
            )
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = save_pyfunc(heads, Path(tmp))
            client.log_artifacts(run_id, str(model_dir), "model")
            model_id = log_logged_model(client, experiment_id, run_id, model_dir, dict(tags))
        fault_point("train.before_finished")
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        with contextlib.suppress(Exception):  # a full disk: the next command ends it FAILED
            client.set_terminated(run_id, "FAILED")
        raise
    try:
        client.get_registered_model(model_name)
    except Exception:  # MLflow raises its own RestException when absent
        client.create_registered_model(model_name)
    source = f"{run.info.artifact_uri}/model"
    version = client.create_model_version(
        model_name, source, run_id=run_id, tags=dict(tags), model_id=model_id
    )
    registered.append(str(version.version))
    fault_point("train.version_registered")
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return run_id, str(version.version)


def _version_info(client: Any, name: str, mv: Any) -> ModelVersionInfo:
    mv = client.get_model_version(name, mv.version)  # search results carry no aliases
    run = client.get_run(mv.run_id)
    return ModelVersionInfo(
        name=name,
        version=str(mv.version),
        aliases=list(getattr(mv, "aliases", []) or []),
        run_id=str(mv.run_id),
        created=int(mv.creation_timestamp),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
    )


def list_versions(model_name: str, *, tracking_uri: str | None = None) -> list[ModelVersionInfo]:
    """Every registered version of ``model_name`` (newest first) with aliases and metrics."""
    if not registry_exists(resolve_tracking_uri(tracking_uri)):
        return []
    client, _ = _client(tracking_uri)
    versions = client.search_model_versions(f"name = '{model_name}'")
    infos = [_version_info(client, model_name, mv) for mv in versions]
    return sorted(infos, key=lambda v: int(v.version), reverse=True)


def _by_alias(client: Any, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # absent alias
        return None


def download_heads(
    model_name: str, ref: str, dst: Path, *, tracking_uri: str | None = None
) -> tuple[Path, ModelVersionInfo]:
    """Download the heads folder of a version (``ref``: a version number or an alias)."""
    import mlflow.artifacts

    client, uri = _client(tracking_uri)
    mv = (
        _get_version(client, model_name, ref)
        if ref.isdigit()
        else _by_alias(client, model_name, ref)
    )
    if mv is None:
        raise ArtifactError(f"Model {model_name!r} has no version or alias {ref!r}.")
    run = client.get_run(mv.run_id)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{run.info.artifact_uri}/heads", dst_path=str(dst), tracking_uri=uri
    )
    return Path(local), _version_info(client, model_name, mv)


def _get_version(client: Any, model_name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(model_name, version)
    except MlflowException:
        raise ArtifactError(
            f"Model {model_name!r} has no version {version!r}; `leadscore models` lists them."
        ) from None


def _refuse_unaliased_newer(client: Any, model_name: str, challenger: str) -> None:
    """A version newer than the challenger without any alias was registered by a training run
    that died before naming it challenger (killed, full disk): promoting "the challenger" would
    silently ship the older model the user did not mean."""
    versions = client.search_model_versions(f"name = '{model_name}'")
    newest = max((int(v.version) for v in versions), default=0)
    if newest <= int(challenger):
        return
    latest = client.get_model_version(model_name, str(newest))
    if getattr(latest, "aliases", None):
        return
    raise ArtifactError(
        f"Version {newest} of {model_name!r} is newer than the challenger ({challenger}) but has "
        "no alias: the training run that registered it stopped before naming it challenger. "
        f"Promote the one you mean with --version {newest} (or --version {challenger}), or train "
        "again."
    )


def _direction(metric: str) -> int:
    """+1 when a higher value is better (AUC, gains), -1 for losses (Brier, log loss)."""
    return -1 if ("brier" in metric or "log_loss" in metric) else 1


DEFAULT_GATE_METRIC = "test_roc_auc_shipped_sql"
"""The gate's default: the test AUC of the head that ships for sql, whatever its kind."""


def _rules_figure(metric: str, metrics: Mapping[str, float]) -> tuple[str, float | None]:
    """The rules' figure a first champion must beat on ``metric``: the rules' own metric of
    the same measure and target (for any model's head), 0 for a gain at the rules' MQL volume
    (a gain over the rules already); ``None`` when the rules were not evaluated."""
    if metric.startswith("gain_at_mql_"):
        return "the rules", 0.0
    rules_metric = re.sub(r"_(lightgbm|shipped|logistic)_", "_rules_", metric, count=1)
    known = metrics.get(rules_metric)
    return rules_metric, None if known is None else float(known)


def _window(info: ModelVersionInfo) -> str:
    return f"{info.tags.get('test_first_cutoff')}..{info.tags.get('test_last_cutoff')}"


def metric_key(metrics: Collection[str], metric: str) -> str:
    """``metric`` as named in ``metrics``: a ``_shipped_`` name falls back to the LightGBM one
    for runs from before the model choice per target (and flat-mode runs), whose shipped head
    was always LightGBM."""
    legacy = metric.replace("_shipped_", "_lightgbm_")
    return legacy if metric not in metrics and legacy in metrics else metric


def promote_version(
    model_name: str,
    *,
    tracking_uri: str | None = None,
    version: str | None = None,
    metric: str = DEFAULT_GATE_METRIC,
    margin: float = 0.005,
    force: bool = False,
    recomputed: Mapping[str, float] | None = None,
) -> PromotionDecision:
    """Make ``version`` (default: the ``challenger``) the ``champion`` if it beats the current
    champion on ``metric`` by at least ``margin`` on the same out-of-time window (lower is
    better for Brier and log loss). The first champion must beat the rules by the margin.

    ``recomputed`` maps version -> metric value measured on one shared window (used when the
    two versions were tested on different windows). ``force`` promotes regardless and records
    it as a tag.
    """
    client, _ = _client(tracking_uri)
    mv = (
        _get_version(client, model_name, version)
        if version
        else _by_alias(client, model_name, CHALLENGER)
    )
    if mv is None:
        raise ArtifactError(f"Model {model_name!r} has no challenger to promote.")
    if version is None:
        _refuse_unaliased_newer(client, model_name, str(mv.version))
    challenger = _version_info(client, model_name, mv)
    champion_mv = _by_alias(client, model_name, CHAMPION)
    champion = _version_info(client, model_name, champion_mv) if champion_mv is not None else None
    if metric_key(challenger.metrics, metric) not in challenger.metrics:
        raise ConfigError(
            f"Version {challenger.version} has no metric {metric!r}; "
            f"available: {', '.join(sorted(challenger.metrics))}."
        )
    metric = metric_key(challenger.metrics, metric)  # as this version logged it
    value = float(challenger.metrics[metric])
    champion_value: float | None = None
    if champion is not None and champion.version == challenger.version:
        return PromotionDecision(
            False,
            "it is already the champion",
            challenger.version,
            champion.version,
            metric,
            value,
            value,
        )
    flat = (
        challenger.tags.get("flat_target") if challenger.tags.get("model_kind") == "flat" else None
    )
    words = metric_in_words(metric, flat_target=flat)
    sign = _direction(metric)
    better = " (lower is better)" if sign < 0 else ""
    if champion is None:
        # the first champion must at least beat the team's own rules on the same test window
        rules_metric, rules_value = _rules_figure(metric, challenger.metrics)
        if rules_value is None:
            promoted = True
            reason = f"no champion yet, and no rules baseline to beat ({words} {value:.4f})"
        elif rules_metric == metric:
            promoted, reason = True, f"no champion yet ({words} {value:.4f})"
        else:
            promoted = sign * (value - float(rules_value)) >= margin
            reason = (
                f"no champion yet; {words} {value:.4f} "
                f"{'beats' if promoted else 'does not beat'} the rules' "
                f"{float(rules_value):.4f} by the margin {margin:g}{better}"
            )
    else:
        other_window = False
        if recomputed is not None:
            value, champion_value = (
                float(recomputed[challenger.version]),
                float(recomputed[champion.version]),
            )
        else:
            same = all(challenger.tags.get(t) == champion.tags.get(t) for t in WINDOW_TAGS)
            other_window = not same  # only when forced: refused below otherwise
            if not same and not force:
                raise ArtifactError(
                    f"Champion {champion.version} was tested on another window "
                    f"({champion.tags.get('test_first_cutoff')}..{champion.tags.get('test_last_cutoff')}) "
                    f"than challenger {challenger.version} "
                    f"({challenger.tags.get('test_first_cutoff')}..{challenger.tags.get('test_last_cutoff')}); "
                    "pass the training table so both are scored on the same window, or force."
                )
            shipped = metric.replace("_lightgbm_", "_shipped_")  # what the champion serves
            known = champion.metrics.get(metric_key(champion.metrics, shipped))
            champion_value = None if known is None else float(known)
        if other_window:  # forced: no comparison holds (the promotion is the force's)
            promoted = False
            reason = (
                "it was tested on another window than the champion "
                f"({_window(challenger)} vs {_window(champion)}): its {words} {value:.4f}"
                + (
                    " has nothing to compare with"
                    if champion_value is None
                    else f" and the champion's {champion_value:.4f} are not comparable"
                )
            )
        elif champion_value is None:  # no evidence either way: the champion stays
            promoted = False
            reason = (
                f"{words} {value:.4f}; the champion (version {champion.version}) has no "
                "such figure to compare with: pass the training table (both are then scored "
                "on one test window), choose a metric both have, or force"
            )
        else:
            promoted = sign * (value - champion_value) >= margin
            reason = (
                f"{words} {value:.4f} {'beats' if promoted else 'does not beat'} the "
                f"champion's {champion_value:.4f} by the margin {margin:g}{better}"
                + (" (both scored on one test window)" if recomputed is not None else "")
            )
    forced = force and not promoted
    if forced:
        promoted, reason = True, f"forced, though {reason}"
    if promoted:
        try:
            client.set_registered_model_alias(model_name, CHAMPION, challenger.version)
        except Exception as exc:
            why = write_failure(exc)
            if why is None:
                raise
            raise OutputError(
                f"Cannot write the model registry {_where(tracking_uri)}: {why}. Nothing was "
                f"promoted: the champion is still {champion.version if champion else 'none'}."
            ) from None
        with contextlib.suppress(Exception):  # notes: the alias above is the promotion
            if forced:
                client.set_model_version_tag(
                    model_name, challenger.version, "promoted_by_force", "true"
                )
            client.set_model_version_tag(
                model_name, challenger.version, "promotion_reason", reason[:5000]
            )
    return PromotionDecision(
        promoted,
        reason,
        challenger.version,
        champion.version if champion else None,
        metric,
        value,
        champion_value,
        {"schema_version": SCHEMA_VERSION, "package_version": __version__},
    )
