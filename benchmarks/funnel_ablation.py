"""Why the CRM path trails flat mode on a small funnel: the CRM path trained with one
difference to flat mode removed at a time, each against flat mode on the same leads.

Run: ``.venv/bin/python benchmarks/funnel_ablation.py [--leads 1500] [--seeds 0,1,2,3,4]``.

Per seed, the funnel of :mod:`leadscore.synthetic.real_funnel` is built at MQL entry once
(as in ``funnel_vs_flat.py``) and trained per variant:

* ``crm``: the CRM path as configured by default (its own settings and search);
* ``settings``: LightGBM's search replaced by flat mode's grid sized from the same training
  rows (:func:`leadscore.training.flat_fit.adaptive_grid`);
* ``columns``: only the columns flat mode has (landing page, lead source);
* ``no-purge``: no purged gap between training and validation (flat mode has none);
* their combinations (``all``: the three), ``base-only``: the CRM settings without the
  search (one candidate), ``no-duplicate``: without the catalog's ``lead_source`` (the YAML's
  ``source`` is the same column), ``no-industry``: without ``industry`` (noise here).

Every other catalog feature is one value for every lead of this funnel (one event per lead,
scored when it arrives), so ``columns`` removes the duplicate and ``industry`` only.

Flat mode is trained once on the export of the same leads. Prints each variant's shipped and
LightGBM AUCs and the paired bootstrap difference variant - flat, then a table over seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from funnel_vs_flat import (
    TARGET,
    PathScores,
    build_funnel_table,
    compare,
    flat_export,
    flat_path,
)

from leadscore.synthetic.real_funnel import funnel_crm_folder
from leadscore.training import TrainingConfig
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.flat_fit import adaptive_grid
from leadscore.training.pipeline import TrainingOutcome, fit_and_evaluate
from leadscore.training.split import SplitConfig
from leadscore.training.table import TrainingTable
from leadscore.training.tuning import TuningConfig

FLAT_COLUMNS = ("landing_page", "source")
"""The table's features that hold what the flat export has (``landing_page_yaml``)."""
VARIANTS: dict[str, frozenset[str]] = {
    "crm": frozenset(),
    "settings": frozenset({"settings"}),
    "columns": frozenset({"columns"}),
    "no-purge": frozenset({"no-purge"}),
    "settings+columns": frozenset({"settings", "columns"}),
    "settings+no-purge": frozenset({"settings", "no-purge"}),
    "columns+no-purge": frozenset({"columns", "no-purge"}),
    "all": frozenset({"settings", "columns", "no-purge"}),
    "base-only": frozenset({"base-only"}),
    "no-duplicate": frozenset({"no-duplicate"}),
    "no-industry": frozenset({"no-industry"}),
}
"""Each variant: which of flat mode's differences it takes over (``base-only``: no search)."""


def flat_search(train_rows: int, positives: int) -> dict[str, Any]:
    """TrainingConfig fields giving the CRM path flat mode's grid for this many rows."""
    grid = adaptive_grid(train_rows, positives)
    base = grid[0]
    overrides = tuple(
        {k: v for k, v in g.model_dump().items() if v != base.model_dump()[k]} for g in grid[1:]
    )
    return {"lightgbm": base, "tuning": TuningConfig(candidates=overrides)}


def scores_of(table: TrainingTable, outcome: TrainingOutcome, seconds: float) -> PathScores:
    test = outcome.split.mask("test")
    scores = {m.name: np.asarray(m.score[TARGET]) for m in outcome.evaluation.methods}
    shipped = outcome.choices[TARGET].shipped
    scores["shipped"] = scores[shipped]
    return PathScores(
        leads=table.frame.loc[test, "contact_id"].to_numpy(),
        y=outcome.evaluation.labels[TARGET],
        scores=scores,
        shipped=str(shipped),
        seconds=seconds,
        train_rows=int(outcome.fit_mask("train").sum()),
    )


@dataclass
class _ModelColumns(TrainingTable):
    """A table whose models read fewer features while the rules baseline keeps its own."""

    rules_features: list[str] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return self.rules_features


def train_variant(table: TrainingTable, name: str, sized: dict[str, Any]) -> TrainingOutcome:
    fields: dict[str, Any] = {}
    changes = VARIANTS[name]
    if "settings" in changes:
        fields |= sized
    if "no-purge" in changes:
        fields["split"] = SplitConfig(purge=False)
    if "base-only" in changes:
        fields["tuning"] = TuningConfig(enabled=False)
    dropped = {"no-duplicate": {"lead_source"}, "no-industry": {"industry"}}
    if changes & {"columns", *dropped}:
        keep = [f for f in table.features if "columns" not in changes or f.name in FLAT_COLUMNS]
        for change, names in dropped.items():
            keep = [f for f in keep if change not in changes or f.name not in names]
        table = _ModelColumns(
            rules_features=table.feature_names,
            frame=table.frame,
            features=keep,
            data_fingerprint=table.data_fingerprint,
            definition_hash=table.definition_hash,
            horizon_days=table.horizon_days,
            meta=table.meta,
        )
    config = TrainingConfig(
        targets=(TARGET,), evaluation=EvaluationConfig(n_bootstrap=0), shap_rows=0, **fields
    )
    return fit_and_evaluate(table, config)


def run_seed(
    leads: int, seed: int, horizon: int, n: int, work: Path, variants: list[str]
) -> dict[str, dict[str, Any]]:
    crm = funnel_crm_folder(work / "crm", leads=leads, seed=seed)
    table = build_funnel_table(crm, work, horizon)
    sized: dict[str, Any] = {}
    out: dict[str, PathScores] = {}
    period = None
    for name in variants:
        t0 = time.perf_counter()
        outcome = train_variant(table, name, sized)
        out[name] = scores_of(table, outcome, time.perf_counter() - t0)
        if not sized:  # flat's grid sized from the CRM path's own training rows
            fit = outcome.fit_mask("train")
            positives = int(table.labels(TARGET)[fit].sum())
            sized = flat_search(int(fit.sum()), positives)
            period = outcome.split.period.to_numpy()
    frame = table.frame.assign(period=period)
    test_from = pd.to_datetime(frame.loc[frame["period"] == "test", "cutoff"]).min()
    flat_scores = flat_path(flat_export(crm, frame, work / "flat.csv"), test_from, work)
    results = {}
    for name, crm_scores in out.items():
        r = compare(crm_scores, flat_scores, n)
        r |= {"crm_shipped": crm_scores.shipped, "flat_shipped": flat_scores.shipped}
        r |= {"seconds": crm_scores.seconds, "train_rows": crm_scores.train_rows}
        r |= {"flat_train_rows": flat_scores.train_rows}
        results[name] = r
    return results


def _se(values: np.ndarray[Any, Any]) -> str:
    """The standard error of the mean over seeds (``-`` for one seed)."""
    if len(values) < 2:
        return "-"
    return f"{values.std(ddof=1) / np.sqrt(len(values)):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1500)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = args.variants.split(",")
    assert variants[0] == "crm", "the first variant sizes flat's grid: start with crm"
    table: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            results = run_seed(args.leads, seed, args.horizon, args.bootstrap, Path(tmp), variants)
        for name, r in results.items():
            s = r["singles"]
            print(
                f"seed {seed} {name:<17} {r['leads']} test leads ({r['positives']} won), "
                f"{r['train_rows']} train rows (flat {r['flat_train_rows']}); shipped {r['crm_shipped']} / flat "
                f"{r['flat_shipped']}; AUC shipped {s['crm_shipped'].value:.4f} lightgbm "
                f"{s['crm_lightgbm'].value:.4f} (flat {s['flat_shipped'].value:.4f} / "
                f"{s['flat_lightgbm'].value:.4f}); - flat: shipped {r['shipped_diff']}, "
                f"lightgbm {r['lightgbm_diff']}; {r['seconds']:.0f} s",
                flush=True,
            )
            table[name].append((r["shipped_diff"].value, r["lightgbm_diff"].value))
    print()
    print(
        f"{'variant':<17} mean(variant - flat), standard error over {len(args.seeds.split(','))} seed(s)"
    )
    for name, diffs in table.items():
        shipped, gbm = np.array([d[0] for d in diffs]), np.array([d[1] for d in diffs])
        print(
            f"{name:<17} shipped {shipped.mean():+.4f} (se {_se(shipped)})  "
            f"lightgbm {gbm.mean():+.4f} (se {_se(gbm)})"
        )


if __name__ == "__main__":
    main()
