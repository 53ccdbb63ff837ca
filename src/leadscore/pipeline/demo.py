"""The demo as a library function: the whole pipeline on a synthetic CRM, step by step.

:func:`run_demo` calls the same steps as the commands and hands each result to ``on_event`` as
soon as it exists (a :class:`DemoStage` announces each stage), so a caller shows them as they come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from leadscore.pipeline.build import FeaturesResult, FeaturesSpec, build_features_step
from leadscore.pipeline.data import (
    GenerateSpec,
    ValidateSpec,
    ValidationReport,
    generate_step,
    open_mapped_crm,
    validate_step,
)
from leadscore.pipeline.defaults import DEFAULT_DEMO_CRM
from leadscore.pipeline.progress import ProgressFn, no_progress
from leadscore.pipeline.score import (
    ExplainSpec,
    ScoreSpec,
    ScoreStepResult,
    explain_step,
    score_step,
    top_leads,
)
from leadscore.pipeline.train import (
    PromoteSpec,
    TrainSpec,
    TrainStepResult,
    list_versions_step,
    promote_step,
    train_step,
)

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.serving import ContactExplanation
    from leadscore.synthetic import GenerationSummary
    from leadscore.training import PromotionDecision

__all__ = ["DemoEvent", "DemoResult", "DemoSpec", "DemoStage", "TopLeads", "run_demo"]


@dataclass(frozen=True, kw_only=True)
class DemoSpec:
    """The demo CRM's location and size, the seed, the MLflow tracking URI. The training table
    and the scores are written beside the CRM."""

    out: Path = DEFAULT_DEMO_CRM
    contacts: int = 20_000
    seed: int = 42
    tracking_uri: str | None = None
    top: int = 10
    store: Path | str | None = None
    """The score store the scores are appended to (default: ``scores.duckdb`` beside the CRM;
    the command line passes ``data/scores.duckdb``, the store ``leadscore serve`` reads)."""


@dataclass(frozen=True)
class DemoStage:
    """A stage starts: its number and title."""

    number: int
    title: str


@dataclass(frozen=True)
class TopLeads:
    """The best-scored leads (empty when no lead was eligible)."""

    leads: pd.DataFrame

    @property
    def best(self) -> str | None:
        return None if self.leads.empty else str(self.leads.iloc[0]["contact_id"])


DemoEvent: TypeAlias = (
    "DemoStage | GenerationSummary | ValidationReport | FeaturesResult | TrainStepResult"
    " | PromotionDecision | ScoreStepResult | TopLeads | ContactExplanation"
)
"""What ``run_demo`` hands to ``on_event``: a stage starting, or a step's result."""


@dataclass(frozen=True)
class DemoResult:
    """Every step's result. ``promotion`` is None when a champion already existed (or nothing
    was registered); ``model`` is the alias scored with; ``explanation`` the best lead's."""

    generation: GenerationSummary
    validation: ValidationReport
    features: FeaturesResult
    training: TrainStepResult
    promotion: PromotionDecision | None
    model: str
    scores: ScoreStepResult
    top: TopLeads
    explanation: ContactExplanation | None


def _ignore(event: DemoEvent) -> None:
    """The default event handler: nothing to show."""


def run_demo(
    spec: DemoSpec,
    *,
    progress: ProgressFn = no_progress,
    on_event: Callable[[DemoEvent], None] = _ignore,
) -> DemoResult:
    """Generate a synthetic CRM, validate it, build weekly features, train, promote the first
    model (or score with the challenger when the gate refuses it), score the base as of the end
    of the data, explain the best lead. Same seed, same headline numbers."""
    from leadscore.features import data_end_of

    def stage(number: int, title: str) -> None:
        on_event(DemoStage(number, title))

    stage(1, "Synthetic CRM")
    gen_spec = GenerateSpec(out=spec.out, contacts=spec.contacts, seed=spec.seed)
    generation = generate_step(gen_spec, progress=progress)
    on_event(generation)
    stage(2, "Validation and funnel")
    validation = validate_step(ValidateSpec(source=spec.out), progress=progress)
    on_event(validation)
    stage(3, "Point-in-time features and labels")
    table = spec.out.parent / "training.parquet"
    features_spec = FeaturesSpec(source=spec.out, out=table, every="week", horizon=30)
    features = build_features_step(features_spec, progress=progress)
    on_event(features)
    stage(4, "Training and out-of-time evaluation")
    train_spec = TrainSpec(
        training_table=table, oracle_crm=spec.out, tracking_uri=spec.tracking_uri
    )
    training = train_step(train_spec, progress=progress)
    on_event(training)
    model, promotion = "champion", None
    if training.result.model_version and not any(
        "champion" in v.aliases
        for v in list_versions_step(training.model_name, tracking_uri=spec.tracking_uri)
    ):
        promote = PromoteSpec(model_name=training.model_name, tracking_uri=spec.tracking_uri)
        promotion = promote_step(promote)
        on_event(promotion)
        if not promotion.promoted:  # show what the challenger would do, without promoting it
            model = "challenger"
    stage(5, f"Batch scoring of the contact base with the {model}")
    with open_mapped_crm(spec.out) as crm:
        # the synthetic history ends on its last day: score as of then, not as of today
        as_of = data_end_of(crm)
        score_spec = ScoreSpec(
            source=crm,
            model=model,
            out=spec.out.parent / "scores.parquet",
            store=spec.store or spec.out.parent / "scores.duckdb",
            record=True,  # the demo's own store: its inbox shows the model it trained
            as_of=as_of,
            tracking_uri=spec.tracking_uri,
        )
        scores = score_step(score_spec, progress=progress)
        on_event(scores)
        top = TopLeads(top_leads(scores.batch.path, spec.top))
        on_event(top)
        explanation = None
        if top.best is not None:
            stage(6, f"leadscore explain {top.best}")
            explain_spec = ExplainSpec(
                contact_id=top.best,
                source=crm,
                model=model,
                as_of=as_of,
                tracking_uri=spec.tracking_uri,
            )
            explanation = explain_step(explain_spec)
            on_event(explanation)
    return DemoResult(
        generation=generation,
        validation=validation,
        features=features,
        training=training,
        promotion=promotion,
        model=model,
        scores=scores,
        top=top,
        explanation=explanation,
    )
