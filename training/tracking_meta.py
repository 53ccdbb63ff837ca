"""What a training run says about itself in MLflow: its name, the code's git commit, the
training table as an MLflow dataset, and the logged model of MLflow 3.

Nothing here fails a training run: a checkout without git gives no git tags, and everything
else uses the MLflow client the caller holds.
"""

from __future__ import annotations

import subprocess
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["dataset_schema", "git_tags", "log_logged_model", "log_training_dataset", "run_name"]

GIT_COMMIT_TAG = "mlflow.source.git.commit"


def run_name(model_name: str, window: dict[str, str], *, now: datetime | None = None) -> str:
    """``train-<model>-<test window end>-<UTC time>``: which model, tested up to when, run when
    (unique to the second, sortable)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    tested = window.get("test_last_cutoff", "")[:10].replace("-", "")
    return "-".join(
        p for p in ("train", model_name, f"test{tested}" if tested else "", moment) if p
    )


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_tags(folder: Path | None = None) -> dict[str, str]:
    """The git commit (``mlflow.source.git.commit``), whether the work tree had uncommitted
    changes (``git_dirty``) and the branch of the leadscore code that trains (``folder``:
    default, the source folder of this package); empty outside a git checkout."""
    if folder is None:
        folder = Path(__file__).resolve().parent
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return {}
    tags = {GIT_COMMIT_TAG: commit}
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        tags["git_dirty"] = "true" if status else "false"
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    if branch:
        tags["mlflow.source.git.branch"] = branch
    return tags


def dataset_schema(frame: pd.DataFrame, head: int = 1000) -> Any:
    """The MLflow schema of ``frame`` as ``mlflow.data.from_pandas`` infers it, computed on
    the first ``head`` rows plus each column's first non-missing row, with each column's
    ``required`` flag from the whole column; ``None`` when MLflow cannot infer one."""
    from mlflow.types.schema import ColSpec, Schema
    from mlflow.types.utils import _infer_schema

    rows = set(range(min(len(frame), head)))
    filled = frame.notna().to_numpy()
    for j in range(frame.shape[1]):
        if filled[:, j].any():
            rows.add(int(filled[:, j].argmax()))
    try:
        with warnings.catch_warnings():  # its hint about integer columns, and pandas 3's
            warnings.filterwarnings("ignore", module=r"mlflow\.")
            inferred = _infer_schema(frame.iloc[sorted(rows)])
    except Exception:  # as MLflow does: no schema rather than no run
        return None
    complete = {str(name): bool(filled[:, j].all()) for j, name in enumerate(frame.columns)}
    specs: list[Any] = inferred.inputs
    return Schema(
        [ColSpec(spec.type, spec.name, required=bool(complete[str(spec.name)])) for spec in specs]
    )


def log_training_dataset(
    client: Any, run_id: str, frame: pd.DataFrame, *, source: str | None, name: str, targets: str
) -> str:
    """Log the training table as the run's ``training`` dataset input (schema, digest, row
    count and where it came from, ``None``: in memory; not the rows); returns its digest."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    with warnings.catch_warnings():
        # a local path matches two of MLflow's equivalent local sources: it says so, harmlessly
        warnings.filterwarnings("ignore", message=".*dataset source can be interpreted")
        # MLflow's digest and schema code uses pandas calls that pandas 3 deprecates
        warnings.filterwarnings("ignore", module=r"mlflow\.")
        dataset = (
            from_pandas(frame, source=source, name=name, targets=targets)
            if source is not None
            else from_pandas(frame, name=name, targets=targets)
        )
        # MLflow infers the schema value by value in Python (over a minute for the demo's
        # 620k rows); the same schema from a sample holding each column's first value
        dataset.__dict__["schema"] = dataset_schema(frame)
    client.log_inputs(
        run_id,
        datasets=[
            DatasetInput(
                dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")]
            )
        ],
    )
    return str(dataset.digest)


def log_logged_model(
    client: Any, experiment_id: str, run_id: str, model_dir: Path, tags: dict[str, str]
) -> str:
    """Record the pyfunc as an MLflow 3 logged model of the run (found by
    ``search_logged_models``), its files uploaded; returns its model id."""
    from mlflow.entities import LoggedModelStatus

    logged = client.create_logged_model(
        experiment_id=experiment_id, name="model", source_run_id=run_id, tags=tags
    )
    try:
        client.log_model_artifacts(logged.model_id, str(model_dir))
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return str(logged.model_id)
