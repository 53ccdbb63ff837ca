"""Model choice per target: LightGBM, logistic or the rules, chosen on the validation window.

The test window stays untouched for the honest comparison of every candidate; the choice reads
only the validation window, where every candidate is scored by its uncalibrated ranking score.
The metric (``ChoiceConfig.metric``) is one of:

- ``found_at_mql``: positives among each validation cutoff's top-K leads, K the number of leads
  the rules make MQLs at that cutoff (what sales can work today; ties at their expected value);
- ``pr_auc``: average precision; ``roc_auc``: ROC AUC.

The best candidate ships; ties (equal metric) go to the next metric (PR AUC, then ROC AUC) and
then to the order of ``candidates``. LightGBM's early stopping also reads the validation window,
which favours it slightly: a simpler model that still wins there is the better one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import average_precision_score, roc_auc_score

from leadscore.training.evaluate import found_at_k

__all__ = ["CANDIDATES", "ChoiceConfig", "HeadChoice", "choice_table", "choose_heads"]

Candidate = Literal["lightgbm", "logistic", "rules"]
CANDIDATES: tuple[Candidate, ...] = ("lightgbm", "logistic", "rules")
Metric = Literal["found_at_mql", "pr_auc", "roc_auc"]
_METRICS: tuple[Metric, ...] = ("found_at_mql", "pr_auc", "roc_auc")
_WORDS = {
    "found_at_mql": "positives found at the rules' MQL volume",
    "pr_auc": "PR AUC",
    "roc_auc": "ROC AUC",
}
FloatArray = np.ndarray[Any, Any]


class ChoiceConfig(BaseModel):
    """Which head ships per target (the ``choice`` section of a training config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Metric = "found_at_mql"
    candidates: tuple[Candidate, ...] = Field(CANDIDATES, min_length=1)
    """Candidates in order of preference on ties; drop one to never ship it."""


@dataclass(frozen=True)
class HeadChoice:
    """The head that ships for one target, and why."""

    target: str
    shipped: Candidate
    metric: Metric
    validation: dict[str, dict[str, float]]
    """Candidate -> metric -> value on the validation window."""
    rows: int
    positives: int

    @property
    def why(self) -> str:
        """One sentence: the metric that decided (the configured one, or the tie-break that
        separated the shipped head from the runner-up), the shipped head's value against the
        others' and the size of the validation window."""
        others = [name for name in self.validation if name != self.shipped]
        size = f"{self.rows:,} rows, {self.positives:,} positives"
        if not others:
            return (
                f"{self.shipped} ships for {self.target}: the only candidate ({_WORDS[self.metric]}"
                f" {self._value(self.shipped, self.metric)} on the validation window; {size})"
            )
        keys = list(dict.fromkeys((self.metric, *_METRICS)))
        tied: list[str] = []
        for metric in keys:
            runner_up = max(self._number(n, metric) for n in others)
            if self._number(self.shipped, metric) != runner_up:
                break
            tied.append(metric)
        else:
            return (
                f"{self.shipped} ships for {self.target}: tied with "
                f"{_names(others)} on every metric on the validation window ({size}); first in "
                "the candidates' order"
            )
        vs = ", ".join(f"{n} {self._value(n, metric)}" for n in others)
        said = (
            f"{self.shipped} ships for {self.target}: best {_WORDS[metric]} on the validation "
            f"window ({self._value(self.shipped, metric)} vs {vs}"
        )
        if not tied:
            return f"{said}; {size})"
        ties = "; ".join(
            f"{_WORDS[m]} tied at {self._value(self.shipped, m)} with "
            + _names([n for n in others if self._number(n, m) == self._number(self.shipped, m)])
            for m in tied
        )
        return f"{said}), the tie-break: {ties} ({size})"

    def _number(self, name: str, metric: str) -> float:
        return float(np.nan_to_num(self.validation[name][metric], nan=-np.inf))

    def _value(self, name: str, metric: str) -> str:
        return _fmt(metric, self.validation[name][metric])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (model record, MLflow)."""
        return {
            "shipped": self.shipped,
            "metric": self.metric,
            "window": "validation",
            "validation": self.validation,
            "rows": self.rows,
            "positives": self.positives,
            "why": self.why,
        }


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _fmt(metric: str, value: float) -> str:
    """A count of leads as a whole number unless ties made it fractional; AUCs to 4 places."""
    if metric == "found_at_mql":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{value:.4f}"


def _measure(
    score: FloatArray, y: np.ndarray[Any, Any], cutoffs: pd.Series, mql_k: FloatArray
) -> dict[str, float]:
    both = 0 < int(y.sum()) < len(y)
    return {
        "found_at_mql": found_at_k(score, y, cutoffs, mql_k.tolist()),
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, score)) if both else float("nan"),
    }


def choose_heads(
    cutoffs: pd.Series,
    labels: Mapping[str, np.ndarray[Any, Any]],
    scores: Mapping[str, Mapping[str, FloatArray]],
    mql: np.ndarray[Any, Any],
    config: ChoiceConfig | None = None,
) -> dict[str, HeadChoice]:
    """The choice per target from validation ``scores[candidate][target]`` (ranking scores of
    the validation rows, whose ``cutoffs`` and rules' ``mql`` flags are given)."""
    config = config or ChoiceConfig()
    per_cutoff = pd.Series(np.asarray(mql, dtype=np.float64)).groupby(cutoffs.to_numpy()).sum()
    mql_k = per_cutoff.sort_index().to_numpy(dtype=np.float64)  # one per cutoff, in time order
    keys = list(dict.fromkeys((config.metric, *_METRICS)))  # the metric, then the tie-breaks
    out: dict[str, HeadChoice] = {}
    for target, y in labels.items():
        y = np.asarray(y)
        values: dict[str, dict[str, float]] = {
            name: _measure(np.asarray(scores[name][target]), y, cutoffs, mql_k)
            for name in config.candidates
            if name in scores and target in scores[name]
        }
        rank: dict[str, int] = {name: i for i, name in enumerate(config.candidates)}

        def key(
            name: str, v: dict[str, dict[str, float]] = values, r: dict[str, int] = rank
        ) -> tuple[float, ...]:
            return (*(float(np.nan_to_num(v[name][m], nan=-np.inf)) for m in keys), -r[name])

        best = max(values, key=key)
        out[target] = HeadChoice(target, best, config.metric, values, len(y), int(y.sum()))  # type: ignore[arg-type]
    return out


def choice_table(choices: Mapping[str, HeadChoice]) -> pd.DataFrame:
    """One row per (target, candidate): validation metrics and whether it ships."""
    rows = []
    for target, choice in choices.items():
        for name, values in choice.validation.items():
            rows.append(
                {
                    "target": target,
                    "candidate": name,
                    "shipped": "yes" if name == choice.shipped else "",
                    "valid_found_at_mql": round(values["found_at_mql"], 1),
                    "valid_pr_auc": round(values["pr_auc"], 4),
                    "valid_roc_auc": round(values["roc_auc"], 4),
                    "chosen_by": choice.metric,
                }
            )
    return pd.DataFrame(rows)
