"""Sales-loop steps: people's logins for the inbox, the feedback report, scores back into the
CRM (import files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.pipeline.defaults import DEFAULT_SCORES_STORE

if TYPE_CHECKING:
    from leadscore.serving.export import ExportResult
    from leadscore.serving.feedback_report import FeedbackReport

__all__ = ["ExportSpec", "add_user_step", "export_step", "feedback_report_step"]


def add_user_step(name: str, *, store: Path | str = DEFAULT_SCORES_STORE) -> str:
    """Create inbox user ``name`` (or renew their token) in ``store``; returns the token, of
    which only a hash is stored."""
    from leadscore.serving.auth import add_user
    from leadscore.serving.store import ScoreStore

    return add_user(ScoreStore(store), name)


def feedback_report_step(*, store: Path | str = DEFAULT_SCORES_STORE) -> FeedbackReport:
    """The report of the reps' verdicts in ``store``."""
    from leadscore.serving.feedback_report import feedback_report
    from leadscore.serving.store import ScoreStore

    return feedback_report(ScoreStore(store))


@dataclass(frozen=True, kw_only=True)
class ExportSpec:
    """Export the latest scores of ``store`` for ``target`` (generic, hubspot, salesforce,
    dynamics) to ``out`` (default ``exports/<target>-scores.csv``); only changed leads unless
    ``full``, a lead whose rank moved by more than ``rank_tolerance`` points counting as
    changed."""

    store: Path | str = DEFAULT_SCORES_STORE
    target: str = "generic"
    out: Path | None = None
    full: bool = False
    rank_tolerance: int = 5


def export_step(spec: ExportSpec) -> ExportResult:
    """Write the CRM import file (see :mod:`leadscore.serving.export` for each target's
    columns)."""
    from leadscore.serving.export import export_scores
    from leadscore.serving.store import ScoreStore

    out = spec.out or Path("exports") / f"{spec.target}-scores.csv"
    return export_scores(
        ScoreStore(spec.store),
        spec.target,
        out,
        full=spec.full,
        rank_tolerance=spec.rank_tolerance,
    )
