"""The function-level API the CLI calls: train, evaluate, promote, list models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore import __version__
from leadscore.contract import SCHEMA_VERSION
from leadscore.errors import ConfigError
from leadscore.training.choice import choice_table
from leadscore.training.evaluate import Evaluation
from leadscore.training.guards import training_warnings
from leadscore.training.heads import save_heads, scorer_spec, shipped_heads
from leadscore.training.kinds import refuse_mixed_kinds
from leadscore.training.pipeline import Progress, TrainingConfig, TrainingOutcome, fit_and_evaluate
from leadscore.training.registered_eval import evaluate_registered
from leadscore.training.report import ReportContext, headline_sentences, write_report
from leadscore.training.segments import refuse_segment_column
from leadscore.training.segments_eval import SegmentsOutcome, train_segments
from leadscore.training.table import (
    TrainingTable,
    label_column,
    load_training_table,
)
from leadscore.training.tracking import (
    DEFAULT_GATE_METRIC,
    ModelVersionInfo,
    PromotionDecision,
    TrainingDataset,
    list_versions,
    log_training_run,
    metric_key,
    promote_version,
)
from leadscore.training.tracking_meta import run_name

__all__ = [
    "TrainingResult",
    "evaluate",
    "flatten_metrics",
    "list_models",
    "promote",
    "summary_table",
    "train",
]


@dataclass
class TrainingResult:
    """What ``train`` returns: the summary, the report, where the models went."""

    summary: pd.DataFrame
    headline: list[str]
    report_path: Path
    model_dir: Path
    run_id: str | None
    model_version: str | None
    metrics: dict[str, float]
    outcome: TrainingOutcome
    warnings: list[str] = field(default_factory=list)
    """Guards against silent failure (:mod:`leadscore.training.guards`): print them."""
    segments: SegmentsOutcome | None = None
    """Models per segment and their evaluation, when the config declares segments."""
    choice: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per target and candidate: validation metrics and which head ships
    (:func:`leadscore.training.choice.choice_table`)."""


def flatten_metrics(evaluation: Evaluation) -> dict[str, float]:
    """Run metrics: ``test_<metric>_<method>_<target>`` and ``gain_at_mql_<method>_<target>``."""
    out: dict[str, float] = {}
    columns = ["roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc", "brier", "log_loss"]
    columns += [c for c in ("normalized_auc",) if c in evaluation.metrics.columns]
    for _, r in evaluation.metrics.iterrows():
        for c in columns:
            out[f"test_{c}_{r['method']}_{r['target']}"] = float(r[c])
    for _, r in evaluation.headline.iterrows():
        for c, key in (("relative_gain", ""), ("gain_low", "_low"), ("gain_high", "_high")):
            out[f"gain_at_mql_{r['method']}_{r['target']}{key}"] = float(r[c])
    return {k: v for k, v in out.items() if np.isfinite(v)}


def summary_table(evaluation: Evaluation) -> pd.DataFrame:
    """Rules vs models on the headline metrics, one row per (method, target)."""
    m = evaluation.metrics
    at_mql = evaluation.capacity[evaluation.capacity["capacity"] == "rules' MQL volume"]
    rows = []
    for _, r in m.iterrows():
        found = at_mql.loc[at_mql["method"] == r["method"], f"{r['target']}_found"]
        row = {
            "method": r["method"],
            "target": r["target"],
            "roc_auc": round(float(r["roc_auc"]), 4),
            "roc_auc_95ci": f"{r['roc_auc_low']:.3f}-{r['roc_auc_high']:.3f}",
            "pr_auc": round(float(r["pr_auc"]), 4),
            "brier": round(float(r["brier"]), 5),
            "found_at_mql_volume": float(found.iloc[0]) if len(found) else float("nan"),
        }
        if "normalized_auc" in m.columns:
            row["normalized_auc"] = round(float(r["normalized_auc"]), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def _read_oracle(oracle: pd.DataFrame | Path | None) -> pd.DataFrame | None:
    if oracle is None or isinstance(oracle, pd.DataFrame):
        return oracle
    return pd.read_parquet(oracle) if oracle.suffix == ".parquet" else pd.read_csv(oracle)


def train(
    training_table: Path | TrainingTable,
    *,
    tracking_uri: str | None = None,
    config: TrainingConfig | None = None,
    oracle: pd.DataFrame | Path | None = None,
    progress: Progress | None = None,
    track: bool = True,
) -> TrainingResult:
    """Train rules calibration, logistic and LightGBM per target on a training table; evaluate
    out of time; write the report and the models; log and register them in MLflow (``track``)."""
    config = config or TrainingConfig()
    table = (
        training_table
        if isinstance(training_table, TrainingTable)
        else load_training_table(training_table)
    )
    if config.segments is not None:  # a bad segment column fails before any model is fitted
        refuse_segment_column(table, config.segments.column)
    outcome = fit_and_evaluate(table, config, oracle=_read_oracle(oracle), progress=progress)
    warnings = training_warnings(outcome)
    outcome.notes.extend(f"WARNING: {w}" for w in warnings)
    segments = (
        train_segments(table, outcome, config, progress=progress) if config.segments else None
    )
    if segments is not None:
        outcome.notes.extend(segments.notes(own_models=False))  # the fallbacks, and why
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out_dir = config.report_dir / f"train-{stamp}"
    model_dir = out_dir / "heads"
    metrics = flatten_metrics(outcome.evaluation)
    for target, chosen in outcome.choices.items():  # the shipped head's test metrics, by role
        suffix = f"_{chosen.shipped}_{target}"
        for key, value in list(metrics.items()):
            if key.endswith(suffix):
                metrics[key[: -len(suffix)] + f"_shipped_{target}"] = value
    choices = choice_table(outcome.choices)
    # heads + definition and grades for serving (and each segment's own heads)
    save_heads(model_dir, table, outcome, metrics, segments=segments)
    served = scorer_spec(table, outcome, shipped_heads(table, outcome))
    window = outcome.split.describe()
    context = ReportContext(
        title="leadscore: rules vs models, out-of-time evaluation",
        data_fingerprint=table.data_fingerprint,
        definition_hash=table.definition_hash,
        split_description=window,
        split_mode="by cutoff time (train < validation < test; never random)",
        rules=[r.model_dump(exclude_none=True, by_alias=True) for r in outcome.rules.rules],
        shap=outcome.shap,
        notes=list(outcome.notes),
        info=[*outcome.info, *(c.why for c in outcome.choices.values())],
        extra_tables={
            **(
                {
                    "Model choice per target (validation window; the test window is untouched)": choices
                }
                if len(choices)
                else {}
            ),
            **(
                {
                    f"Per segment ({segments.column}): global model vs segment model": segments.evaluation
                }
                if segments is not None
                else {}
            ),
        },
        grades=served.grades if served is not None else None,
        shipped=outcome.choices["sql"].shipped if "sql" in outcome.choices else "lightgbm",
        shipped_by_target={t: c.shipped for t, c in outcome.choices.items()},
    )
    report = write_report(outcome.evaluation, context, out_dir / "report.html")
    run_id = version = None
    if track:
        if progress is not None:
            progress("MLflow logging", 0, 1)
        # the settings each head was fitted with (the validation search may pick other ones)
        params: dict[str, Any] = {
            f"lightgbm.{target}.{k}": v
            for target, head in outcome.lightgbm.items()
            for k, v in head.params.model_dump(mode="json").items()
        }
        params |= {f"tuning.{k}": v for k, v in config.tuning.model_dump(mode="json").items()}
        params |= {"logistic." + k: v for k, v in config.logistic.model_dump(mode="json").items()}
        params |= {"split." + k: v for k, v in config.split.model_dump(mode="json").items()}
        params |= {
            "rules.mql_threshold": outcome.rules.mql_threshold,
            "n_features": len(table.features),
        }
        if outcome.sample is not None:  # the training period's negative sample
            params |= {f"sample.{k}": v for k, v in outcome.sample.record().items()}
        for target, model in outcome.lightgbm.items():
            validated = outcome.validated.get(target, model)
            params[f"best_iteration.{target}"] = validated.best_iteration_
            params[f"calibration.{target}"] = model.calibrator_.method
        params["refit.train_valid"] = outcome.refit is not None
        if outcome.refit is not None:  # the shipped heads' rows: train + validation
            params |= {f"refit.{k}": v for k, v in outcome.refit.record().items()}
            params |= {f"refit.rounds.{t}": n for t, (_, n) in outcome.refit_rounds.items()}
            params["refit.calibration"] = config.refit_calibration
        tags = {
            "data_fingerprint": table.data_fingerprint,
            "definition_hash": table.definition_hash,
            "schema_version": SCHEMA_VERSION,
            "leadscore_version": __version__,
            "split_mode": "time",
            **window,
            **(segments.tags() if segments is not None else {}),
        }
        tags["shipped.fitted_on"] = "train+valid" if outcome.refit is not None else "train"
        for target, chosen in outcome.choices.items():
            tags[f"shipped.{target}"] = chosen.shipped
            tags[f"shipped.{target}.why"] = chosen.why
            tags[f"shipped.{target}.metric"] = f"validation {chosen.metric}"
        run_id, version = log_training_run(
            run_name=run_name(config.model_name, window),
            dataset=TrainingDataset(
                frame=table.frame,
                source=(
                    str(training_table.resolve()) if isinstance(training_table, Path) else None
                ),
                name=f"training-table-{table.data_fingerprint[:12]}",
                targets=label_column("sql"),
            ),
            tracking_uri=tracking_uri,
            model_name=config.model_name,
            params=params,
            metrics=metrics | (segments.metrics() if segments is not None else {}),
            tags=tags,
            heads=model_dir,
            report=report,
            features=table.features,
            targets=list(outcome.lightgbm),
        )
        if progress is not None:
            progress("MLflow logging", 1, 1)
    return TrainingResult(
        summary=summary_table(outcome.evaluation),
        headline=headline_sentences(
            outcome.evaluation, {t: c.shipped for t, c in outcome.choices.items()}
        ),
        report_path=report,
        model_dir=model_dir,
        run_id=run_id,
        model_version=version,
        metrics=metrics,
        outcome=outcome,
        warnings=warnings,
        segments=segments,
        choice=choices,
    )


def evaluate(
    training_table: Path | TrainingTable,
    *,
    model_name: str = "leadscore",
    ref: str = "champion",
    tracking_uri: str | None = None,
    config: TrainingConfig | None = None,
) -> dict[str, float]:
    """Score the test period of a training table with a registered model (version or alias)
    and the rules; returns metrics named like a training run's (``test_roc_auc_lightgbm_sql``)."""
    scored = evaluate_registered(
        training_table,
        model_name=model_name,
        ref=ref,
        tracking_uri=tracking_uri,
        config=config,
        bootstrap=False,
    )
    metrics = flatten_metrics(scored.evaluation)
    mine = {k: v for k, v in metrics.items() if f"_{scored.method}_" in k}
    # the served heads by role too (``test_roc_auc_shipped_sql``), whatever their kind
    return mine | {k.replace(f"_{scored.method}_", "_shipped_"): v for k, v in mine.items()}


def promote(
    model_name: str = "leadscore",
    *,
    tracking_uri: str | None = None,
    version: str | None = None,
    metric: str = DEFAULT_GATE_METRIC,
    margin: float = 0.005,
    force: bool = False,
    training_table: Path | TrainingTable | None = None,
    config: TrainingConfig | None = None,
) -> PromotionDecision:
    """Promote the challenger (or ``version``) to champion if it beats the champion by
    ``margin`` on ``metric``; with ``training_table``, both are re-scored on its test window."""
    refuse_mixed_kinds(model_name, tracking_uri=tracking_uri, version=version, force=force)
    recomputed = None
    if training_table is not None:
        versions = {v.version: v for v in list_versions(model_name, tracking_uri=tracking_uri)}
        champion = next((v for v in versions.values() if "champion" in v.aliases), None)
        challenger = version or next(
            (v.version for v in versions.values() if "challenger" in v.aliases), None
        )
        if champion is not None and challenger is not None:
            on_window = {
                ref: evaluate(
                    training_table,
                    model_name=model_name,
                    ref=ref,
                    tracking_uri=tracking_uri,
                    config=config,
                )
                for ref in {champion.version, challenger}
            }
            metric = metric_key(set.intersection(*(set(v) for v in on_window.values())), metric)
            if any(metric not in values for values in on_window.values()):
                available = sorted(set.intersection(*(set(v) for v in on_window.values())))
                raise ConfigError(
                    f"Metric {metric!r} cannot be recomputed on a training table; available: "
                    f"{', '.join(available)}."
                )
            recomputed = {ref: values[metric] for ref, values in on_window.items()}
    return promote_version(
        model_name,
        tracking_uri=tracking_uri,
        version=version,
        metric=metric,
        margin=margin,
        force=force,
        recomputed=recomputed,
    )


def list_models(
    model_name: str = "leadscore", *, tracking_uri: str | None = None
) -> list[ModelVersionInfo]:
    """Registered versions (newest first) with aliases and headline metrics."""
    return list_versions(model_name, tracking_uri=tracking_uri)
