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

from leadscore.training.evaluate import _TopKKernel, found_at_k, weighted_auc

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

BOOTSTRAP_DRAWS = 200
"""Paired contact-bootstrap draws of a small validation window, to say how sure the choice is."""
MAX_BOOTSTRAP_ROWS = 20_000
"""Largest validation window resampled (above, the choice is stable and the draws cost time)."""


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
    ahead: tuple[str, float, int] | None = None
    """On a small validation window (at most :data:`MAX_BOOTSTRAP_ROWS` rows): the runner-up,
    the share of paired contact-bootstrap draws in which the shipped head stays ahead of it on
    the choice's metrics (ties lose) and the number of draws; ``None``: not measured."""

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
        metric = self.decided_by
        if metric not in keys:
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
        tied = keys[: keys.index(metric)]
        if not tied:
            return f"{said}; {size}){self._sureness}"
        ties = "; ".join(
            f"{_WORDS[m]} tied at {self._value(self.shipped, m)} with "
            + _names([n for n in others if self._number(n, m) == self._number(self.shipped, m)])
            for m in tied
        )
        return f"{said}), the tie-break: {ties} ({size}){self._sureness}"

    @property
    def decided_by(self) -> str:
        """The metric that separated the shipped head from the others: the configured one, or
        the first tie-break that did; ``"candidates' order"`` when they tie on every metric."""
        others = [name for name in self.validation if name != self.shipped]
        if not others:
            return self.metric
        for metric in dict.fromkeys((self.metric, *_METRICS)):
            if self._number(self.shipped, metric) != max(self._number(n, metric) for n in others):
                return metric
        return "candidates' order"

    @property
    def _sureness(self) -> str:
        """How often the lead survives resampling the validation contacts (small windows)."""
        if self.ahead is None:
            return ""
        other, share, draws = self.ahead
        return (
            f"; resampling the validation contacts, it stays ahead of {other} in "
            f"{share:.0%} of {draws} draws"
        )

    def _number(self, name: str, metric: str) -> float:
        return float(np.nan_to_num(self.validation[name][metric], nan=-np.inf))

    def _value(self, name: str, metric: str) -> str:
        return _fmt(metric, self.validation[name][metric])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (model record, MLflow)."""
        ahead = (
            {"ahead_of": self.ahead[0], "ahead_share": self.ahead[1], "draws": self.ahead[2]}
            if self.ahead is not None
            else {}
        )
        return {
            "shipped": self.shipped,
            "metric": self.metric,
            "window": "validation",
            "validation": self.validation,
            "rows": self.rows,
            "positives": self.positives,
            "why": self.why,
            **ahead,
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


def _ahead_share(
    mine: FloatArray,
    other: FloatArray,
    y: np.ndarray[Any, Any],
    cutoffs: pd.Series,
    mql: FloatArray,
    groups: np.ndarray[Any, Any],
    keys: list[Metric],
    draws: int,
) -> float:
    """Share of paired cluster-bootstrap draws (``groups`` resampled, the same draw for both
    scores) in which ``mine`` beats ``other`` on ``keys`` in order (a tie goes to the next key;
    a tie on every key is not a win)."""
    codes = pd.factorize(cutoffs, sort=True)[0].astype(np.int64)
    g = pd.factorize(np.asarray(groups))[0]
    n = int(g.max()) + 1
    kernels = [
        _TopKKernel(np.asarray(s, dtype=np.float64), np.asarray(y), codes) for s in (mine, other)
    ]
    rng = np.random.default_rng(0)
    wins = 0
    for _ in range(draws):
        w = np.bincount(rng.integers(0, n, n), minlength=n)[g].astype(np.float64)
        if not 0 < float(np.sum(w * y)) < float(np.sum(w)):
            continue
        for key in keys:
            if key == "found_at_mql":
                k = np.bincount(codes, weights=w * mql, minlength=int(codes.max()) + 1)
                a, b = (kernel(w, k) for kernel in kernels)
            elif key == "pr_auc":
                a, b = (
                    float(average_precision_score(y, s, sample_weight=w)) for s in (mine, other)
                )
            else:
                a, b = (weighted_auc(s, y, w) for s in (mine, other))
            if a != b:
                wins += a > b
                break
    return wins / draws


def choose_heads(
    cutoffs: pd.Series,
    labels: Mapping[str, np.ndarray[Any, Any]],
    scores: Mapping[str, Mapping[str, FloatArray]],
    mql: np.ndarray[Any, Any],
    config: ChoiceConfig | None = None,
    groups: np.ndarray[Any, Any] | None = None,
) -> dict[str, HeadChoice]:
    """The choice per target from validation ``scores[candidate][target]`` (ranking scores of
    the validation rows, whose ``cutoffs`` and rules' ``mql`` flags are given). On a window of
    at most :data:`MAX_BOOTSTRAP_ROWS` rows, the choice also records how often the shipped head
    stays ahead of the runner-up when the validation ``groups`` (contacts; default: rows) are
    resampled (:attr:`HeadChoice.ahead`): it informs, it does not decide (measured:
    ``benchmarks/head_choice.py``, docs/bots-and-model-choice.md)."""
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
        ahead = None
        runners = sorted((n for n in values if n != best), key=key, reverse=True)
        if runners and len(y) <= MAX_BOOTSTRAP_ROWS and 0 < int(y.sum()) < len(y):
            share = _ahead_share(
                np.asarray(scores[best][target]),
                np.asarray(scores[runners[0]][target]),
                y,
                cutoffs,
                np.asarray(mql, dtype=np.float64),
                np.arange(len(y)) if groups is None else np.asarray(groups),
                keys,
                BOOTSTRAP_DRAWS,
            )
            ahead = (runners[0], share, BOOTSTRAP_DRAWS)
        out[target] = HeadChoice(target, best, config.metric, values, len(y), int(y.sum()), ahead)  # type: ignore[arg-type]
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
                    "chosen_by": choice.decided_by,
                }
            )
    return pd.DataFrame(rows)
