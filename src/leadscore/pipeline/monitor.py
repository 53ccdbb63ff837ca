"""The monitor step: is the champion still right? Drift between its test window and now,
realised conversion per grade of matured scoring cohorts, rep acceptance, and a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leadscore.pipeline.data import open_mapped_crm
from leadscore.pipeline.defaults import DEFAULT_DEMO_CRM, DEFAULT_SCORES_STORE
from leadscore.pipeline.progress import ProgressFn, no_progress, waiting

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.crm import CrmData
    from leadscore.features import FeatureDefinition
    from leadscore.features.labels import FromStage
    from leadscore.training.monitor import MonitorThresholds, MonitorVerdict

__all__ = [
    "DEFAULT_MONITOR_PAGE",
    "MONITOR_EXIT_CODES",
    "MonitorResult",
    "MonitorSpec",
    "monitor_step",
]

DEFAULT_MONITOR_PAGE = Path("reports/monitor.html")
MONITOR_EXIT_CODES = {"ok": 0, "retrain recommended": 7, "stale": 8}
"""The exit code of ``leadscore monitor`` per verdict (README's exit-code table)."""
_MAX_COHORTS = 8


@dataclass(frozen=True, kw_only=True)
class MonitorSpec:
    """What to monitor: the CRM, the score store (history and feedback) or the history of Spark
    runs, the registered model (alias or version), as of when (default: the end of the CRM's
    data), where the page goes."""

    source: str | Path | CrmData = DEFAULT_DEMO_CRM
    store: Path | str = DEFAULT_SCORES_STORE
    history: Path | str | None = None
    """The scores folder of ``score --engine spark`` (runs under ``_runs/``): the cohorts come
    from its runs instead of the store's history (feedback still from ``store``)."""
    model: str = "champion"
    model_name: str = "leadscore"
    as_of: datetime | None = None
    out: Path = DEFAULT_MONITOR_PAGE
    config: Path | None = None
    tracking_uri: str | None = None
    reference_cutoffs: int = 4
    """Moments of the champion's test window (its training period for a run without one) whose
    features form the reference."""
    sample_rows: int = 20_000
    """Rows sampled at most per side (reference, now) for the drift measures."""
    thresholds: MonitorThresholds | None = None
    seed: int = 0


@dataclass(frozen=True)
class MonitorResult:
    """The verdict and the numbers behind it; ``page`` is the HTML written."""

    verdict: MonitorVerdict
    champion: str
    as_of: datetime
    reference: str
    score_psi: float
    features: pd.DataFrame
    calibration: pd.DataFrame
    acceptance: pd.DataFrame
    legacy_rows: int
    page: Path

    @property
    def exit_code(self) -> int:
        return MONITOR_EXIT_CODES[self.verdict.status]


def _sample_features(
    crm: CrmData,
    definition: FeatureDefinition,
    moments: list[datetime],
    from_stage: FromStage,
    rows: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    import pandas as pd

    from leadscore.serving.features import count_eligible, iter_features

    per_moment = max(1, rows // len(moments))
    parts = []
    for moment in moments:
        total = count_eligible(crm, as_of=moment, from_stage=from_stage)
        rate = min(1.0, per_moment / max(total, 1))
        for chunk in iter_features(crm, definition, as_of=moment, from_stage=from_stage):
            keep = rng.random(len(chunk)) < rate if rate < 1 else np.ones(len(chunk), bool)
            parts.append(chunk[keep])
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _registered_tags(model_version: str, source: str, uri: str | None) -> dict[str, str]:
    """The registry tags of the loaded model ``model_version`` (``<name>/<version>``: the name
    it was loaded under, a ``models:/NAME@ALIAS`` one's too); none for a pyfunc folder (whose
    ``model_version`` is its ``source`` path, :class:`~leadscore.serving.LoadedScorer`)."""
    from leadscore.training.tracking import list_versions

    name, _, version = model_version.rpartition("/")
    if model_version == source or not name:
        return {}
    for info in list_versions(name, tracking_uri=uri):
        if info.version == version:
            return info.tags
    return {}


def _cohorts(
    crm: CrmData, store: Any, horizon: int, data_end: datetime, from_stage: FromStage
) -> tuple[pd.DataFrame, int]:
    """Scored leads of matured cohorts with their realised label, and the rows without as-of."""
    import pandas as pd

    from leadscore.features.engine import DuckDBEngine, cutoff_table
    from leadscore.features.label_times import label_times_query
    from leadscore.features.sql import CUTOFFS_TABLE

    runs = store.scoring_runs()
    legacy = int(runs.loc[runs["as_of"].isna(), "contacts"].sum()) if len(runs) else 0
    dated = runs[runs["as_of"].notna()]
    matured = dated[pd.to_datetime(dated["as_of"]) + timedelta(days=horizon) <= data_end]
    parts = []
    engine = DuckDBEngine(crm)
    for r in matured.tail(_MAX_COHORTS).itertuples():
        as_of = pd.Timestamp(r.as_of).to_pydatetime()
        scores = store.scores_as_of(str(r.model_version), as_of)
        labels = engine.run(
            label_times_query(horizon, from_stage), {CUTOFFS_TABLE: cutoff_table([as_of])}
        ).to_pandas()[["contact_id", "became_sql"]]
        joined = scores.merge(labels, on="contact_id", how="inner")
        joined["as_of"] = as_of
        joined["model_version"] = str(r.model_version)
        parts.append(joined)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame, legacy


def _reference_moments(tags: dict[str, str], n: int) -> tuple[str, list[datetime]]:
    """The reference's name and moments: the champion's test window, the newest period it was
    judged on (its training period for a run that records none). Against the training period
    a CRM that only ages (contact ages grow) showed drift on every fresh model, and a retrain
    kept the same reference: "retrain recommended" every night."""
    import pandas as pd

    name, first, last = "test window", tags.get("test_first_cutoff"), tags.get("test_last_cutoff")
    if not first or not last:
        name, first, last = (
            "training period",
            tags.get("train_first_cutoff"),
            tags.get("valid_last_cutoff"),
        )
    if not first or not last:
        from leadscore.errors import ArtifactError

        raise ArtifactError(
            "The model's MLflow run records no training window (train_first_cutoff, "
            "valid_last_cutoff): monitor a model registered by `leadscore train`."
        )
    stamps = np.linspace(pd.Timestamp(first).value, pd.Timestamp(last).value, max(n, 1))
    return name, sorted({pd.Timestamp(int(s)).to_pydatetime() for s in stamps})


def monitor_step(spec: MonitorSpec, *, progress: ProgressFn = no_progress) -> MonitorResult:
    """Measure drift, calibration per grade and acceptance; decide; write the HTML page."""
    import pandas as pd

    from leadscore.features import data_end_of
    from leadscore.registry import resolve_tracking_uri
    from leadscore.serving import ScoreStore
    from leadscore.serving.loading import load_scorer
    from leadscore.serving.spark_history import SparkScoreHistory
    from leadscore.training.monitor import (
        MonitorThresholds,
        acceptance_over_time,
        feature_drift,
        grade_calibration,
        psi,
        small_sample_warning,
        verdict,
    )
    from leadscore.training.monitor_report import MonitorPage, write_monitor

    uri = resolve_tracking_uri(spec.tracking_uri)
    loaded = load_scorer(spec.model, tracking_uri=uri, model_name=spec.model_name)
    tags = _registered_tags(loaded.model_version, loaded.source, uri)
    definition = loaded.scorer.require_definition()
    scorer_spec = loaded.scorer.spec
    horizon = scorer_spec.horizon_days or 30
    rng = np.random.default_rng(spec.seed)
    with open_mapped_crm(spec.source, spec.config) as crm:
        data_end = data_end_of(crm)
        as_of = spec.as_of or data_end
        name, moments = _reference_moments(tags, spec.reference_cutoffs)
        with waiting(progress, f"Monitor: features of the {name}"):
            reference = _sample_features(
                crm, definition, moments, scorer_spec.from_stage, spec.sample_rows, rng
            )
        with waiting(progress, "Monitor: features now"):
            current = _sample_features(
                crm, definition, [as_of], scorer_spec.from_stage, spec.sample_rows, rng
            )
        store = ScoreStore(spec.store)
        scored: Any = store if spec.history is None else SparkScoreHistory(spec.history)
        cohorts, legacy = _cohorts(crm, scored, horizon, data_end, scorer_spec.from_stage)
    if reference.empty or current.empty:
        from leadscore.errors import LeadscoreError

        side = f"the {name}" if reference.empty else f"{as_of:%Y-%m-%d}"
        raise LeadscoreError(
            f"No eligible contact at {side}: nothing to compare. Check --as-of and the CRM."
        )
    ref_scores = loaded.scorer.probabilities(reference)["p_sql"].to_numpy()
    cur_scores = loaded.scorer.probabilities(current)["p_sql"].to_numpy()
    score_psi = psi(pd.Series(ref_scores), pd.Series(cur_scores))
    features = feature_drift(reference, current, list(definition.names))
    thresholds = spec.thresholds
    calibration = grade_calibration(
        cohorts, min_rows=thresholds.min_grade_rows if thresholds else 30
    )
    acceptance = acceptance_over_time(store.feedback(counted=True))
    trained_until = data_end_of_model(tags)
    decision = verdict(
        score_psi=score_psi,
        features=features,
        calibration=calibration,
        weekly_feedback=acceptance,
        champion_version=loaded.model_version,
        model_trained_until=trained_until,
        as_of=as_of,
        thresholds=thresholds,
    )
    small = small_sample_warning(
        len(reference), len(current), len(moments), thresholds or MonitorThresholds()
    )
    if small:
        decision.warnings.append(small)
    if legacy:
        decision.warnings.append(
            f"{legacy} scored leads in the history have no as-of date (scored before the store "
            "recorded it): they are left out of the realised conversion per grade"
        )
    window = f"{name} {moments[0]:%Y-%m-%d}..{moments[-1]:%Y-%m-%d} ({len(moments)} cutoffs)"
    page = MonitorPage(
        champion=loaded.model_version,
        as_of=as_of,
        reference=window,
        verdict=decision,
        score_psi=score_psi,
        reference_scores=ref_scores,
        current_scores=cur_scores,
        features=features,
        calibration=calibration,
        acceptance=acceptance,
    )
    write_monitor(page, spec.out)
    return MonitorResult(
        verdict=decision,
        champion=loaded.model_version,
        as_of=as_of,
        reference=window,
        score_psi=score_psi,
        features=features,
        calibration=calibration,
        acceptance=acceptance,
        legacy_rows=legacy,
        page=spec.out,
    )


def data_end_of_model(tags: dict[str, str]) -> datetime | None:
    """Where a registered model's age counts from: the end of the data it was trained and tested
    on (its test period's last cutoff; the newest validation cutoff for a run without one). A
    fresh model's newest validation cutoff is already a test window and a horizon old, so
    counting from it made every new model stale on day one."""
    import pandas as pd

    moment = tags.get("test_last_cutoff") or tags.get("valid_last_cutoff")
    return pd.Timestamp(moment).to_pydatetime() if moment else None
