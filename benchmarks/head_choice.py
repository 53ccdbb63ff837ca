"""Is the head chosen on a small validation window the better one on test? And does "prefer the
simpler head unless the other wins beyond its paired bootstrap uncertainty" ship better heads?

Run: ``.venv/bin/python benchmarks/head_choice.py --leads 1500 --seeds 0,1,...,19``
(and ``--leads 8000``).

Per seed, the funnel of :mod:`leadscore.synthetic.real_funnel` is built at MQL entry (as in
``funnel_vs_flat.py``) and the ``sql`` target trained once with the default config (search,
refit, choice by positives found at the rules' MQL volume). From that one run every rule below
is replayed on the same validation scores (the training-period models', which the pipeline's
choice reads) and judged by the test AUC of the head it would ship (the refitted heads'):

* ``current``: the pipeline's choice (:func:`leadscore.training.choice.choose_heads`);
* ``lightgbm`` / ``logistic``: always that head;
* ``valid-auc``: the best validation ROC AUC;
* ``simpler@<metric>/<level>``: the current choice, except that LightGBM replaces logistic only
  when its validation ``<metric>`` beats logistic's in at least ``<level>`` of the paired
  cluster-bootstrap draws (contacts resampled; the same draws for both heads).

Prints per seed the validation and test numbers, then per rule the mean test AUC of the shipped
head, its mean paired difference to ``current`` (standard error over seeds), how often it ships
the head that is better on test (of LightGBM and logistic), and how often it changes the head.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from funnel_vs_flat import build_funnel_table

from leadscore.synthetic.real_funnel import funnel_crm_folder
from leadscore.training import TrainingConfig
from leadscore.training.evaluate import EvaluationConfig, weighted_auc
from leadscore.training.pipeline import fit_and_evaluate
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.table import CONTACT_COLUMN, CUTOFF_COLUMN

TARGET = "sql"
Array = np.ndarray[Any, Any]


def _topk(score: Array, y: Array, codes: Array, mql: Array, w: Array) -> float:
    """Positives among each cutoff's top-K by ``score`` under row weights ``w``, K the weighted
    number of the rules' MQLs at that cutoff (what ``found_at_mql`` counts)."""
    from leadscore.training.evaluate import _TopKKernel

    k = np.bincount(codes, weights=w * mql)
    return _TopKKernel(score, y, codes)(w, k)


def validation_draws(
    scores: dict[str, Array],
    y: Array,
    cutoffs: Array,
    groups: Array,
    mql: Array,
    n: int,
    seed: int = 0,
) -> dict[str, dict[str, Array]]:
    """Per metric (``found_at_mql``, ``pr_auc``, ``roc_auc``), per head: its value on ``n`` cluster-bootstrap
    draws of the validation rows (the same draws for every head)."""
    codes = pd.factorize(cutoffs, sort=True)[0].astype(np.int64)
    _, g = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[float]]] = {"found_at_mql": {}, "pr_auc": {}, "roc_auc": {}}
    for _ in range(n):
        w = rng.multinomial(g.max() + 1, np.full(g.max() + 1, 1 / (g.max() + 1)))[g].astype(float)
        for name, s in scores.items():
            out["found_at_mql"].setdefault(name, []).append(_topk(s, y, codes, mql, w))
            out["pr_auc"].setdefault(name, []).append(
                float(average_precision_score(y, s, sample_weight=w))
            )
            out["roc_auc"].setdefault(name, []).append(weighted_auc(s, y, w))
    return {m: {k: np.asarray(v) for k, v in d.items()} for m, d in out.items()}


def run_seed(leads: int, seed: int, horizon: int, n: int, work: Path) -> dict[str, Any]:
    crm = funnel_crm_folder(work / "crm", leads=leads, seed=seed)
    table = build_funnel_table(crm, work, horizon)
    config = TrainingConfig(
        targets=(TARGET,), evaluation=EvaluationConfig(n_bootstrap=0), shap_rows=0
    )
    outcome = fit_and_evaluate(table, config)
    valid = table.frame[outcome.fit_mask("valid")]
    y_valid = table.labels(TARGET)[valid.index].to_numpy()
    points = score_rules(valid, outcome.rules)
    mql = mql_flags(points, outcome.rules).to_numpy(dtype=np.float64)
    v_scores = {
        "lightgbm": outcome.validated[TARGET].predict_raw(valid),
        "logistic": np.asarray(outcome.logistic[TARGET].valid_raw_),
        "rules": points.to_numpy(dtype=np.float64),
    }
    draws = validation_draws(
        v_scores,
        y_valid,
        valid[CUTOFF_COLUMN].to_numpy(),
        valid[CONTACT_COLUMN].to_numpy(),
        mql,
        n,
        seed,
    )
    y_test = outcome.evaluation.labels[TARGET]
    test_auc = {
        m.name: weighted_auc(np.asarray(m.score[TARGET]), y_test)
        for m in outcome.evaluation.methods
    }
    choice = outcome.choices[TARGET]
    return {
        "seed": seed,
        "valid_rows": len(y_valid),
        "valid_pos": int(y_valid.sum()),
        "test_rows": len(y_test),
        "test_pos": int(y_test.sum()),
        "current": choice.shipped,
        "valid": choice.validation,
        "draws": draws,
        "test_auc": test_auc,
    }


RULES = (
    "current",
    "lightgbm",
    "logistic",
    "valid-auc",
    "simpler@choice/0.8",
    "simpler@choice/0.9",
    "simpler@roc_auc/0.8",
    "simpler@roc_auc/0.9",
)


def apply_rule(rule: str, r: dict[str, Any]) -> str:
    """The head ``rule`` ships for one seed's run ``r``."""
    if rule in ("lightgbm", "logistic"):
        return rule
    if rule == "valid-auc":
        return max(("lightgbm", "logistic", "rules"), key=lambda h: r["valid"][h]["roc_auc"])
    if rule == "current" or r["current"] != "lightgbm":
        return str(r["current"])
    metric, level = rule.removeprefix("simpler@").split("/")
    return "lightgbm" if ahead(r["draws"], metric) >= float(level) else "logistic"


def ahead(draws: dict[str, dict[str, Array]], metric: str) -> float:
    """Share of the draws in which LightGBM beats logistic on ``metric`` (``choice``: the
    pipeline's order, positives found at the MQL volume, then PR AUC, then ROC AUC)."""
    keys = ("found_at_mql", "pr_auc", "roc_auc") if metric == "choice" else (metric,)
    wins = np.zeros(len(draws[keys[0]]["lightgbm"]), dtype=bool)
    undecided = np.ones_like(wins)
    for k in keys:
        a, b = draws[k]["lightgbm"], draws[k]["logistic"]
        wins |= undecided & (a > b)
        undecided &= a == b
    return float(np.mean(wins))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1500)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--bootstrap", type=int, default=300)
    args = parser.parse_args()
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_seed(args.leads, seed, args.horizon, args.bootstrap, Path(tmp))
        runs.append(r)
        v, t = r["valid"], r["test_auc"]
        p_lgbm, p_auc = ahead(r["draws"], "choice"), ahead(r["draws"], "roc_auc")
        print(
            f"seed {r['seed']}: valid {r['valid_rows']} rows ({r['valid_pos']} won), test "
            f"{r['test_rows']} ({r['test_pos']} won); ships {r['current']}; valid found@MQL "
            f"lgbm {v['lightgbm']['found_at_mql']:.1f} / logistic {v['logistic']['found_at_mql']:.1f}"
            f" / rules {v['rules']['found_at_mql']:.1f}, PR AUC {v['lightgbm']['pr_auc']:.3f} / "
            f"{v['logistic']['pr_auc']:.3f} (lgbm ahead on the choice's keys in {p_lgbm:.0%} "
            "of draws), "
            f"valid AUC {v['lightgbm']['roc_auc']:.3f} / {v['logistic']['roc_auc']:.3f} / "
            f"{v['rules']['roc_auc']:.3f} ({p_auc:.0%}); test AUC {t['lightgbm']:.3f} / "
            f"{t['logistic']:.3f} / {t['rules']:.3f}",
            flush=True,
        )
    print()
    current = np.array([r["test_auc"][r["current"]] for r in runs])
    print(
        f"{len(runs)} seeds, {args.leads} leads. Per rule: mean test AUC of the shipped head, "
        "mean paired difference to current (se over seeds), seeds where it ships the better "
        "of LightGBM / logistic on test, seeds where it changes the current head"
    )
    for rule in RULES:
        heads = [apply_rule(rule, r) for r in runs]
        auc = np.array([r["test_auc"][h] for r, h in zip(runs, heads, strict=True)])
        diff = auc - current
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        better = sum(
            h in ("lightgbm", "logistic")
            and r["test_auc"][h] >= max(r["test_auc"]["lightgbm"], r["test_auc"]["logistic"])
            for r, h in zip(runs, heads, strict=True)
        )
        changed = sum(h != r["current"] for r, h in zip(runs, heads, strict=True))
        shipped = ", ".join(f"{k} {heads.count(k)}" for k in ("lightgbm", "logistic", "rules"))
        print(
            f"{rule:<26} test AUC {auc.mean():.4f}  vs current {diff.mean():+.4f} (se {se:.4f})"
            f"  better head {better}/{len(runs)}  changed {changed}  ({shipped})"
        )


if __name__ == "__main__":
    main()
