"""Serving steps: score the whole contact base, pick the top leads, explain one lead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from leadscore.errors import ConfigError
from leadscore.pipeline.data import open_mapped_crm
from leadscore.pipeline.defaults import (
    DEFAULT_DEMO_CRM,
    DEFAULT_SCORES_OUT,
    DEFAULT_SCORES_STORE,
)
from leadscore.pipeline.progress import ProgressFn, no_progress, per_task

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.crm import CrmData
    from leadscore.serving import BatchResult, ContactExplanation

__all__ = [
    "STALE_AFTER",
    "ExplainSpec",
    "ScoreSpec",
    "ScoreStepResult",
    "explain_step",
    "score_step",
    "top_leads",
]

STALE_AFTER = timedelta(days=30)
"""Scoring this long after the data ends makes every lead look cold (recency features)."""


@dataclass(frozen=True, kw_only=True)
class ScoreSpec:
    """Score a CRM's whole contact base with a model (alias, version, ``models:/`` URI or pyfunc
    folder) as of a moment (default: now), to a Parquet file and the score history."""

    source: str | Path | CrmData = DEFAULT_DEMO_CRM
    model: str = "champion"
    out: Path = DEFAULT_SCORES_OUT
    store: Path | str = DEFAULT_SCORES_STORE
    chunk_size: int = 50_000
    as_of: datetime | None = None
    config: Path | None = None
    tracking_uri: str | None = None
    engine: Literal["duckdb", "spark"] = "duckdb"
    """``spark``: features and scores computed on Spark, written under ``out/run_id=<id>/``,
    the run's summary under ``out/_runs/`` (the history of Spark runs; ``store`` unused)."""
    master: str | None = None
    """Spark master (``--master``); default: the active session, ``SPARK_REMOTE`` or config."""
    record: bool | None = None
    """Append the run to the score history (what reps see as current, what ``export`` sends).
    ``None``: yes, unless ``model`` names a registry alias other than ``champion`` (scoring
    with the challenger to compare must not replace the reps' current scores)."""

    @property
    def records(self) -> bool:
        """Whether this run is appended to the score history."""
        return self.record if self.record is not None else not is_other_alias(self.model)


def is_other_alias(model: str) -> bool:
    """Whether ``model`` names a registry alias other than ``champion`` (``challenger``,
    ``models:/leadscore@challenger``); a version number, a version URI or a folder is not."""
    from pathlib import Path

    text = model.strip()
    if text.startswith("models:/"):
        alias = text.rsplit("@", 1)[1] if "@" in text else "champion"
        return alias != "champion"
    if text == "champion" or text.isdigit() or Path(text).exists():
        return False
    return not any(sep in text for sep in ("/", "\\"))


@dataclass(frozen=True)
class ScoreStepResult:
    """The batch written, and the end of the CRM's data (to tell a stale ``as_of``)."""

    batch: BatchResult
    data_end: datetime

    @property
    def days_after_data_end(self) -> int | None:
        """Days between the data's end and ``as_of`` when past :data:`STALE_AFTER`, else None."""
        gap = self.batch.as_of - self.data_end
        return gap.days if gap > STALE_AFTER else None


def score_step(spec: ScoreSpec, *, progress: ProgressFn = no_progress) -> ScoreStepResult:
    """Score every eligible contact with grades and reasons, write the scores atomically and
    append them to the score history; progress is reported under ``"Scoring contacts"``."""
    from leadscore.features import data_end_of
    from leadscore.run_lock import output_run_lock
    from leadscore.serving import score_contact_base

    if spec.engine == "spark":
        from leadscore.pipeline.spark_steps import spark_score

        return spark_score(spec)
    _require_parquet_out(spec.out)
    _refuse_out_in_source(spec.source, spec.out)
    # one run per output: the file and the store's latest run are the same run's
    with output_run_lock(spec.out), open_mapped_crm(spec.source, spec.config) as crm:
        batch = score_contact_base(
            crm,
            spec.model,
            spec.out,
            tracking_uri=spec.tracking_uri,
            chunk_size=spec.chunk_size,
            store=spec.store if spec.records else None,
            as_of=spec.as_of,
            progress=per_task(progress, "Scoring contacts"),
        )
        return ScoreStepResult(batch=batch, data_end=data_end_of(crm))


def _require_parquet_out(out: Path) -> None:
    """CRM scores are written as Parquet: refuse another suffix rather than mislabel a file."""
    if out.suffix and out.suffix.lower() != ".parquet":
        raise ConfigError(
            f"Scores of a CRM are written as Parquet, but --out {out.name} ends in "
            f"{out.suffix!r}. Give a .parquet path (for a CSV, export them: leadscore export)."
        )


def _refuse_out_in_source(source: object, out: Path) -> None:
    """``--out`` must not replace the CRM being scored: the file itself, or a table of a CRM
    folder (``contacts.parquet``, a part under ``events/``). Other files in the folder are
    fine."""
    from leadscore.contract import TABLE_NAMES

    if not isinstance(source, str | Path) or "://" in str(source):
        return
    crm, target = Path(source).resolve(), out.resolve()
    table = (target.parent == crm and target.stem in TABLE_NAMES) or (
        target.parent.parent == crm and target.parent.name in TABLE_NAMES
    )
    if target == crm or table:
        raise ConfigError(
            f"--out {out} is a table of the CRM being scored ({source}): give another path "
            "(the CRM's own data would be replaced by the scores)."
        )


def top_leads(scores_path: Path, top: int = 10) -> pd.DataFrame:
    """The ``top`` scored leads by SQL probability (empty when no lead was eligible)."""
    import pandas as pd

    return pd.read_parquet(scores_path).nlargest(top, "p_sql")


@dataclass(frozen=True, kw_only=True)
class ExplainSpec:
    """One contact to explain, from which CRM, with which model, as of when (default: now, or
    the data's end when the data stop more than :data:`STALE_AFTER` before now)."""

    contact_id: str
    source: str | Path | CrmData = DEFAULT_DEMO_CRM
    model: str = "champion"
    as_of: datetime | None = None
    config: Path | None = None
    tracking_uri: str | None = None


def explain_step(spec: ExplainSpec) -> ContactExplanation:
    """One lead's score, grade, sub-scores and top reasons in words. Raises
    :class:`~leadscore.errors.LeadscoreError` for an unknown or ineligible contact."""
    import dataclasses

    from leadscore.clock import utc_now
    from leadscore.features import data_end_of
    from leadscore.serving import explain_contact

    with open_mapped_crm(spec.source, spec.config) as crm:
        as_of = spec.as_of
        notes: tuple[str, ...] = ()
        if as_of is None:
            data_end = data_end_of(crm)
            late = utc_now() - data_end
            if late > STALE_AFTER:  # now would make every lead look cold: use the data's end
                as_of = data_end
                notes = (
                    f"explained as of the data's end ({data_end:%Y-%m-%d}), not now: the data "
                    f"stop {late.days} days ago and recency features would make every lead "
                    "look cold. Pass --as-of to choose the moment.",
                )
        explained = explain_contact(
            crm, spec.contact_id, spec.model, tracking_uri=spec.tracking_uri, as_of=as_of
        )
    return dataclasses.replace(explained, notes=notes) if notes else explained
