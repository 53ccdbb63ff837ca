"""A flat model as a full citizen: heads folder, scorer spec, MLflow run and model version.

The shipped head (the candidate chosen on validation: LightGBM, logistic or the rules; the
models refitted on every row) goes in the primary (``sql``) slot of the heads folder,
with a :class:`~leadscore.model.flat.FlatSpec` in ``scorer.json`` naming the export's columns,
so ``score`` and ``explain`` read raw export rows. Test metrics are logged under the primary
target's names (``test_roc_auc_lightgbm_sql``, and the shipped head's ``_shipped_sql``), so
``models`` and the promotion gate work as in CRM mode; the run and the version are tagged ``model_kind=flat`` with the real outcome column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore import __version__
from leadscore.contract import SCHEMA_VERSION
from leadscore.model.encoding import as_float
from leadscore.model.flat import FlatColumn, FlatSpec, percentiles_of
from leadscore.model.grades import fit_grades
from leadscore.model.heads import AnyHead, HeadToWrite, write_heads
from leadscore.model.spec import ScorerSpec
from leadscore.training.api import flatten_metrics
from leadscore.training.flat import FlatResult
from leadscore.training.kinds import MODEL_KIND_TAG
from leadscore.training.tracking import log_training_run

__all__ = ["flat_metrics", "register_flat", "save_flat_heads"]


def flat_metrics(result: FlatResult, target: str) -> dict[str, float]:
    """Run metrics named for the primary slot: ``test_roc_auc_lightgbm_sql``..., and the
    shipped head's by role (``test_roc_auc_shipped_sql``), as in CRM mode."""
    suffix = f"_{target}"
    out = {}
    for key, value in flatten_metrics(result.evaluation).items():
        out[key[: -len(suffix)] + "_sql" if key.endswith(suffix) else key] = value
    mine = f"_{result.chosen}_sql"
    for key, value in list(out.items()):
        if key.endswith(mine):
            out[key[: -len(mine)] + "_shipped_sql"] = value
    if result.chosen == "rules" and "gain_at_mql_lightgbm_sql" in out:
        out["gain_at_mql_shipped_sql"] = 0.0  # the rules find what the rules find
    return out


def _params(result: FlatResult) -> dict[str, Any]:
    if result.chosen in ("lightgbm", "logistic"):
        params: dict[str, Any] = result.models[result.chosen].params.model_dump(mode="json")
        return params
    return {}


def _fingerprint(path: Path) -> str:
    return "flat:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _a_share(result: FlatResult, valid: pd.DataFrame, base_rate: float) -> float:
    """Grade A's share of leads: with a rules baseline, the share the rules make MQLs on the
    validation rows (what sales works today, as in CRM mode); else the base rate."""
    if result.rules is not None:
        share = float(np.mean(result.rules.points(valid) >= result.rules.bar))
        if share > 0:
            return share
    return float(np.clip(base_rate, 0.02, 0.3))


def save_flat_heads(
    folder: Path,
    result: FlatResult,
    csv_path: Path,
    target: str,
    *,
    time_column: str | None,
    na_values: Sequence[str],
    metrics: dict[str, float],
) -> AnyHead:
    """Write the shipped head (refitted on every row) and the flat scorer spec into
    ``folder``; returns the head."""
    head: AnyHead = result.models["final"]
    frame, y = result.frame, result.y
    assert frame is not None and y is not None  # set by train_flat_table
    columns = tuple(
        FlatColumn(
            name=f.name,
            kind=f.kind,
            percentiles=percentiles_of(as_float(frame[f.name], f.kind))
            if f.kind == "numeric"
            else (),
        )
        for f in head.features
    )
    split = result.split
    valid = frame[split.mask("valid")] if split is not None else frame
    p_valid = head.predict_proba(valid)
    base_rate = float(np.mean(y))
    spec = ScorerSpec(
        definition=None,
        definition_hash="flat",
        data_fingerprint=_fingerprint(csv_path),
        grades=fit_grades(p_valid, _a_share(result, valid, base_rate)),
        reason_target="sql",
        flat=FlatSpec(
            target=target,
            id_column=result.id_column,
            time_column=time_column,
            na_values=tuple(na_values),
            columns=columns,
            split_mode=result.split_mode,
            base_rate=base_rate,
        ),
    )
    write_heads(
        folder,
        {
            "sql": HeadToWrite(
                head,
                params=_params(result),
                metrics={k: v for k, v in metrics.items() if k.endswith(f"_{head.kind}_sql")},
                choice=result.choice.to_dict() if result.choice is not None else {},
            )
        },
        data_fingerprint=spec.data_fingerprint,
        definition_hash="flat",
        spec=spec,
    )
    return head


def register_flat(
    result: FlatResult,
    csv_path: Path,
    target: str,
    *,
    time_column: str | None,
    na_values: Sequence[str],
    out_dir: Path | None = None,
    model_name: str = "leadscore",
    tracking_uri: str | None = None,
    track: bool = True,
) -> FlatResult:
    """Save the heads beside the report and (``track``) log the run and register the version
    as ``challenger``; returns ``result`` with ``model_dir``, ``run_id``, ``model_version``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    model_dir = (out_dir or result.report_path.parent / f"flat-{stamp}") / "heads"
    metrics = flat_metrics(result, target)
    save_flat_heads(
        model_dir,
        result,
        csv_path,
        target,
        time_column=time_column,
        na_values=na_values,
        metrics=metrics,
    )
    result.model_dir = model_dir
    if not track:
        return result
    lgb = result.models["lightgbm"]
    params: dict[str, Any] = {f"lightgbm.sql.{k}": v for k, v in lgb.params.model_dump().items()}
    params |= {
        "n_features": len(result.features),
        "best_iteration.sql": lgb.best_iteration_,
        "flat.chosen_on_validation": result.chosen,
        "flat.excluded": ",".join(sorted(set(result.dropped))),
    }
    if result.rules is not None:
        params["flat.rules"] = result.rules.describe()
    split = result.split
    tags = {
        MODEL_KIND_TAG: "flat",
        "flat_target": target,
        "flat_table": csv_path.name,
        "data_fingerprint": _fingerprint(csv_path),
        "definition_hash": "flat",
        "schema_version": SCHEMA_VERSION,
        "leadscore_version": __version__,
        **(split.windows if split is not None else {}),
    }
    if result.choice is not None:  # as CRM mode tags the head that ships, and why
        tags["shipped.sql"] = result.choice.shipped
        tags["shipped.sql.why"] = result.choice.why
        tags["shipped.sql.metric"] = f"validation {result.choice.metric}"
    result.run_id, result.model_version = log_training_run(
        tracking_uri=tracking_uri,
        model_name=model_name,
        params=params,
        metrics=metrics,
        tags=tags,
        heads=model_dir,
        report=result.report_path,
        features=result.features,
        targets=["sql"],
    )
    return result
