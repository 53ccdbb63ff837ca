"""The report's opening in plain words: what was tested, what the model finds against the rules,
and the caveats a sales manager must read before trusting the numbers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from leadscore.model.grades import GradeThresholds, assign_grades
from leadscore.training.evaluate import Evaluation
from leadscore.training.report_format import (
    count,
    method_label,
    outcome_label,
    percent,
    signed_percent,
)

__all__ = ["caveats", "plain_summary"]

_CANDIDATES = ("lightgbm", "logistic")  # the models; rules and oracle are references


def _period(description: Mapping[str, str]) -> str:
    first, last = description.get("test_first_cutoff"), description.get("test_last_cutoff")
    return f" from {first} to {last}" if first and last else ""


def _spoken(found: float) -> str:
    """A found count in a sentence: an expected value (random tie-breaking) said as "about 3"."""
    value = float(found)
    return count(value) if value.is_integer() else f"about {count(round(value))}"


def plain_summary(
    evaluation: Evaluation,
    description: Mapping[str, str],
    *,
    shipped: str = "lightgbm",
    grades: GradeThresholds | None = None,
    shipped_by_target: Mapping[str, str] | None = None,
    flat: bool = False,
) -> list[str]:
    """Sentences a sales manager reads first: per target, the method that ships for it
    (``shipped_by_target``, else ``shipped``); ``flat``: the rows are leads of one export."""
    level = f"{evaluation.confidence:.0%}"
    if flat:
        first = (
            f"Tested on {evaluation.n_rows:,} leads created{_period(description)}, later than "
            "the leads the models learnt from."
        )
        volume = "in the test period"
    else:
        first = (
            f"Tested on {evaluation.n_contacts:,} contacts scored at {evaluation.n_cutoffs} "
            f"cutoff(s){_period(description)}, a later period than the models learnt from; a "
            "contact scored at several cutoffs counts once per cutoff."
        )
        volume = f"over {evaluation.n_cutoffs} cutoffs"
    out = [first]
    served = dict(shipped_by_target or {})
    headline = evaluation.headline
    served_by = headline["target"].map(lambda t: served.get(str(t), shipped))
    for _, r in headline[headline["method"] == served_by].iterrows():
        outcome = outcome_label(str(r["target"]))
        label = method_label(str(r["method"]))
        label = label if label.startswith("LightGBM") else label[:1].lower() + label[1:]
        within = "" if flat else " within the horizon"
        base = (
            f"Working the same number of leads as today's MQLs ({count(r['leads'])} "
            f"{volume}), the {label} model's top leads "
            f"include {_spoken(r['model_found'])} that {outcome}{within}, against "
            f"{_spoken(r['rules_found'])} for the rules"
        )
        if not np.isfinite(r["relative_gain"]):
            out.append(f"{base}: the rules find none, so no gain can be stated.")
        elif np.isfinite(r["gain_low"]) and np.isfinite(r["gain_high"]):
            sure = r["gain_low"] > 0 or r["gain_high"] < 0
            out.append(
                f"{base}: {signed_percent(r['relative_gain'])} ({level} interval "
                f"{signed_percent(r['gain_low'])} to {signed_percent(r['gain_high'])}"
                + ("" if sure else "; the interval includes no change")
                + ")."
            )
        else:
            out.append(f"{base}: {signed_percent(r['relative_gain'])} (too few to bound).")
    if grades is not None:
        sentence = _grade_sentence(evaluation, grades, shipped)
        if sentence:
            out.append(sentence)
    return out


def _grade_sentence(evaluation: Evaluation, grades: GradeThresholds, shipped: str) -> str | None:
    scores = next((m for m in evaluation.methods if m.name == shipped), None)
    if scores is None or "sql" not in scores.proba or "sql" not in evaluation.labels:
        return None
    assigned = assign_grades(np.asarray(scores.proba["sql"], dtype=np.float64), grades)
    y = evaluation.labels["sql"]
    rate = {g: float(y[assigned == g].mean()) if (assigned == g).any() else np.nan for g in "AD"}
    if not (np.isfinite(rate["A"]) and np.isfinite(rate["D"])):
        return None
    share_a = float(np.mean(assigned == "A"))
    return (
        f"Grade A ({percent(share_a)} of the leads) became SQLs at {percent(rate['A'])}; "
        f"grade D at {percent(rate['D'])}."
    )


def caveats(evaluation: Evaluation, *, shipped: str = "lightgbm") -> list[str]:
    """Warnings the numbers call for: another model or the rules doing better than the one
    shipped on a target, a test window too small to bound the gain."""
    out = []
    capacity = evaluation.capacity
    at_mql = capacity[capacity["capacity"] == "rules' MQL volume"].set_index("method")
    for target in evaluation.targets:
        column = f"{target}_found"
        if shipped not in at_mql.index or column not in at_mql.columns:
            continue
        found = at_mql[column].astype(float)
        mine = float(found[shipped])
        for other in (*(c for c in _CANDIDATES if c != shipped), "rules"):
            if other in found.index and float(found[other]) > mine:
                out.append(
                    f"On '{outcome_label(target)}', {method_label(other)} finds more at the "
                    f"rules' MQL volume ({count(found[other])} vs {count(mine)} for the shipped "
                    f"{method_label(shipped)} model): check the interval before relying on "
                    "the shipped model for this outcome."
                )
    gains = evaluation.headline[evaluation.headline["method"] == shipped]
    bounded = np.isfinite(gains["gain_low"].astype(float)) & np.isfinite(
        gains["gain_high"].astype(float)
    )
    small = gains[~bounded]
    for target in pd.unique(small["target"]):
        out.append(
            f"On '{outcome_label(str(target))}' the test window holds too few positives to "
            "bound the gain: use more cutoffs or a longer history before deciding."
        )
    return out
