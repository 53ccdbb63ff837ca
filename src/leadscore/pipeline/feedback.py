"""Feedback into the next training run: a training table with the reps' verdicts applied, point
in time, by the policy of :mod:`leadscore.training.feedback` (``leadscore feedback apply``),
and the model trained with them against the one without (``leadscore feedback compare``).

Verdicts come from the score store (the inbox and ``POST /feedback``) and, when given, from the
CRM's own ``feedback`` table (a CRM export, or the synthetic CRM's reps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.pipeline.defaults import DEFAULT_SCORES_STORE

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.training.feedback import FeedbackMasks, FeedbackPolicy
    from leadscore.training.feedback_compare import FeedbackComparison
    from leadscore.training.pipeline import TrainingConfig

__all__ = [
    "FeedbackCompareSpec",
    "FeedbackTableResult",
    "FeedbackTableSpec",
    "feedback_compare_step",
    "feedback_table_step",
    "verdicts",
]


@dataclass(frozen=True, kw_only=True)
class FeedbackTableSpec:
    """Apply the verdicts of ``store`` to ``training_table``, writing the pair ``out`` (Parquet
    and its metadata); ``policy`` is a YAML file or the object (default: the default policy)."""

    training_table: Path
    out: Path
    store: Path | str = DEFAULT_SCORES_STORE
    policy: Path | FeedbackPolicy | None = None
    crm: str | Path | None = None
    """A CRM whose ``feedback`` table adds verdicts (the store is then read only if it exists)."""


@dataclass(frozen=True)
class FeedbackTableResult:
    """The table written and what the policy changed."""

    path: Path
    rows_before: int
    rows_after: int
    masks: FeedbackMasks
    policy: FeedbackPolicy
    uncoded_rejections: int = 0
    """Rejections whose reason is none of the inbox's codes (free text through the API, a
    misspelt code such as ``spam_or_bot``): the policy leaves their rows alone."""
    codes: tuple[str, ...] = ()
    """The reason codes the inbox and the policy know."""
    after_last_cutoff: int = 0
    """Verdicts given at or after the table's last cutoff: they change no row of this table
    (a verdict changes only the rows cut after it), only of a table built later."""


def _policy(policy: Path | FeedbackPolicy | None) -> FeedbackPolicy:
    from pydantic import ValidationError

    from leadscore.config import format_validation_error, read_yaml_mapping
    from leadscore.errors import ConfigError
    from leadscore.training.feedback import FeedbackPolicy

    if policy is None or isinstance(policy, FeedbackPolicy):
        return policy or FeedbackPolicy()
    try:
        return FeedbackPolicy.model_validate(read_yaml_mapping(policy, "Feedback policy"))
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(
                exc, f"Invalid feedback policy {policy}:", "Keys: exclude, negative (lists)."
            )
        ) from None


def feedback_table_step(spec: FeedbackTableSpec) -> FeedbackTableResult:
    """Write a training table with the verdicts applied (rows dropped or relabelled only when
    the verdict was given before their cutoff), its metadata recomputed to match."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from leadscore.atomic import atomic_path
    from leadscore.errors import ConfigError
    from leadscore.features.meta import CutoffStats, file_sha256, read_meta, write_meta
    from leadscore.training.feedback import feedback_masks

    if spec.out.resolve() == spec.training_table.resolve():
        raise ConfigError("feedback apply writes a new table: give --out another path.")
    policy = _policy(spec.policy)
    meta = read_meta(spec.training_table)
    table = pq.read_table(spec.training_table)
    rows = table.select(["contact_id", "cutoff"]).to_pandas()
    given = verdicts(spec.store, spec.crm)
    masks = feedback_masks(rows, given, policy)
    relabel = pa.array(masks.relabel)
    for label in meta.labels:
        if label in table.column_names:
            column = table.column(label)
            zero = pa.scalar(False if pa.types.is_boolean(column.type) else 0, column.type)
            fixed = pc.if_else(pc.and_(relabel, pc.is_valid(column)), zero, column)
            table = table.set_column(table.column_names.index(label), label, fixed)
    kept = table.filter(pa.array(~masks.drop))
    with atomic_path(spec.out) as tmp:
        pq.write_table(kept, tmp)
        digest = file_sha256(tmp)
    frame = kept.select(["cutoff", *[lb for lb in meta.labels if lb in kept.column_names]])
    counts = frame.to_pandas()
    counts["cutoff"] = _naive(counts["cutoff"])
    per_cutoff = []
    for stats in meta.per_cutoff:
        if stats.censored:
            per_cutoff.append(stats)
            continue
        at = counts[counts["cutoff"] == stats.cutoff]
        rates = {
            lb: (float(at[lb].fillna(False).astype(float).mean()) if len(at) else None)
            for lb in stats.label_rates
            if lb in at.columns
        }
        per_cutoff.append(
            CutoffStats(cutoff=stats.cutoff, rows=len(at), censored=False, label_rates=rates)
        )
    label_rates = {
        lb: (float(counts[lb].fillna(False).astype(float).mean()) if len(counts) else None)
        for lb in meta.label_rates
        if lb in counts.columns
    }
    updated = meta.model_copy(
        update={
            "rows": kept.num_rows,
            "excluded_rows": meta.excluded_rows + masks.excluded_rows,
            "per_cutoff": tuple(per_cutoff),
            "label_rates": label_rates,
            "parquet_sha256": digest,
        }
    )
    write_meta(spec.out, updated)
    codes = _codes(policy)
    rejected = given[given["verdict"] == "rejected"]
    uncoded = int((rejected["reason"].notna() & ~rejected["reason"].isin(codes)).sum())
    last = _naive(rows["cutoff"]).max() if len(rows) else None
    late = 0 if last is None else int((_naive(given["given_at"]) >= last).sum())
    return FeedbackTableResult(
        spec.out, table.num_rows, kept.num_rows, masks, policy, uncoded, codes, late
    )


def _codes(policy: FeedbackPolicy) -> tuple[str, ...]:
    """The inbox's reason codes, then the policy's own."""
    from leadscore.serving.inbox import DEFAULT_REJECT_REASONS

    return tuple(dict.fromkeys([*DEFAULT_REJECT_REASONS, *policy.exclude, *policy.negative]))


def _naive(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (the metadata's cutoffs are naive UTC)."""
    import pandas as pd

    stamps = pd.to_datetime(values)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz is not None else stamps


def verdicts(store: Path | str | None, crm: str | Path | None = None) -> pd.DataFrame:
    """Every verdict known: the score store's (a DuckDB file or a PostgreSQL URL; when ``crm``
    is given, a DuckDB store only if its file exists) and the CRM's ``feedback`` table; the
    contract's feedback columns, oldest first."""
    import pandas as pd

    from leadscore.serving.store import FEEDBACK_COLUMNS, ScoreStore

    parts = []
    scores = None if store is None else ScoreStore(store)
    if scores is not None and (crm is None or scores.exists()):
        parts.append(scores.feedback())
    if crm is not None:
        from leadscore.crm import open_crm

        data = open_crm(crm)
        try:
            parts.append(data.frame("feedback").loc[:, list(FEEDBACK_COLUMNS)])
        finally:
            data.close()
    if not parts:
        return pd.DataFrame(columns=list(FEEDBACK_COLUMNS))
    frames = [p for p in parts if not p.empty] or parts[:1]
    combined = pd.concat(frames, ignore_index=True)
    combined["given_at"] = _naive(combined["given_at"])
    return combined.sort_values(["given_at", "contact_id"], kind="stable", ignore_index=True)


@dataclass(frozen=True, kw_only=True)
class FeedbackCompareSpec:
    """Train with and without the verdicts of ``store`` (and of ``crm``'s feedback table) on
    ``training_table``; ``config`` is the training config (YAML or object), ``policy`` the
    feedback policy; ``n_bootstrap`` paired contact-bootstrap draws."""

    training_table: Path
    store: Path | str | None = DEFAULT_SCORES_STORE
    crm: str | Path | None = None
    policy: Path | FeedbackPolicy | None = None
    config: Path | TrainingConfig | None = None
    n_bootstrap: int = 1000


def feedback_compare_step(
    spec: FeedbackCompareSpec, *, progress: Callable[[str, int, int], None] | None = None
) -> FeedbackComparison:
    """The model trained with feedback against the one without, on the same test rows."""
    from leadscore.errors import ConfigError
    from leadscore.pipeline.train import load_training_config
    from leadscore.training.feedback_compare import compare_feedback
    from leadscore.training.table import load_training_table

    if spec.n_bootstrap < 1:
        raise ConfigError(f"n_bootstrap must be at least 1, got {spec.n_bootstrap}.")
    policy = _policy(spec.policy)
    config = load_training_config(spec.config)
    table = load_training_table(spec.training_table)
    found = verdicts(spec.store, spec.crm)
    return compare_feedback(
        table,
        found,
        policy=policy,
        config=config,
        n_bootstrap=spec.n_bootstrap,
        progress=progress,
    )
