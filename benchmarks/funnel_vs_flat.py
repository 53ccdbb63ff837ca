"""The CRM path against the flat path on the same leads of a real-shaped funnel (issue 12).

Run: ``.venv/bin/python benchmarks/funnel_vs_flat.py [--leads 8000] [--seeds 0,1,2]``
(``--smoke``: 1,500 leads, one seed, 100 draws).

Per seed: writes the funnel CRM of :mod:`leadscore.synthetic.real_funnel` (MQLs with a
first-contact date, lead source and landing page; won deals; no other events; a drifting win
rate), then

* **CRM path**: ``features build --at mql`` with the landing-page YAML (each lead scored once,
  at its MQL entry) and ``train --targets sql`` (the pipeline's split, heads and model choice);
* **flat path**: the export a team would make of the same leads (id, MQL date, lead source,
  landing page, the same label: won within the horizon of the MQL entry), trained by flat mode
  with its test period starting where the CRM path's does.

Both are scored on the leads in both test periods; prints each path's shipped head's AUC (and
LightGBM's) with a bootstrap CI and the paired difference CRM - flat with its CI. The
acceptance bar is a difference above -0.01. The CRM path is trained twice on the same table:
with its heads refitted on train + validation (``refit``, the default, as flat mode does) and
without (``train-only``, ``training.refit: false``), side by side in one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stats import Interval, paired_aucs

from leadscore.pipeline import FeaturesSpec, build_features_step
from leadscore.synthetic.real_funnel import funnel_crm_folder, landing_page_yaml
from leadscore.training import TrainingConfig
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.flat import train_flat_table
from leadscore.training.flat_split import FlatSplitConfig
from leadscore.training.pipeline import fit_and_evaluate
from leadscore.training.table import TrainingTable, load_training_table

TARGET = "sql"


@dataclass
class PathScores:
    """One path's test leads, labels and scores per head (``shipped``: the head that ships)."""

    leads: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    scores: dict[str, np.ndarray[Any, Any]]
    shipped: str
    seconds: float
    train_rows: int


def build_funnel_table(crm: Path, work: Path, horizon: int) -> TrainingTable:
    """The funnel's training table, built at MQL entry with the landing-page features."""
    table_path = work / "training.parquet"
    build_features_step(
        FeaturesSpec(
            source=crm,
            out=table_path,
            definition=landing_page_yaml(work / "features.yaml"),
            at="mql",
            horizon=horizon,
        )
    )
    return load_training_table(table_path)


def crm_path(crm: Path, work: Path, horizon: int) -> tuple[dict[str, PathScores], pd.DataFrame]:
    """Build at MQL entry and train the sql target with and without the refit; the test leads'
    scores per variant and the table."""
    t0 = time.perf_counter()
    table = build_funnel_table(crm, work, horizon)
    built = time.perf_counter() - t0
    out: dict[str, PathScores] = {}
    for name, refit in (("train-only", False), ("refit", True)):
        t1 = time.perf_counter()
        config = TrainingConfig(
            targets=(TARGET,), evaluation=EvaluationConfig(n_bootstrap=0), shap_rows=0, refit=refit
        )
        outcome = fit_and_evaluate(table, config)
        test = outcome.split.mask("test")
        scores = {m.name: np.asarray(m.score[TARGET]) for m in outcome.evaluation.methods}
        shipped = outcome.choices[TARGET].shipped
        scores["shipped"] = scores[shipped]
        out[name] = PathScores(
            leads=table.frame.loc[test, "contact_id"].to_numpy(),
            y=outcome.evaluation.labels[TARGET],
            scores=scores,
            shipped=str(shipped),
            seconds=built + time.perf_counter() - t1,
            train_rows=outcome.refit.rows
            if outcome.refit
            else int(outcome.fit_mask("train").sum()),
        )
    return out, table.frame.assign(period=outcome.split.period.to_numpy())


def flat_export(crm: Path, table: pd.DataFrame, out: Path) -> Path:
    """The one-row-per-lead export of the table's leads: what a team exports from its CRM."""
    contacts = pd.read_csv(crm / "contacts.csv")
    events = pd.read_csv(crm / "events.csv").sort_values("occurred_at")
    landing = events.groupby("contact_id")["page_url"].first().rename("landing_page")
    rows = table[["contact_id", "cutoff", "became_sql"]].merge(
        contacts[["contact_id", "lead_source"]], on="contact_id"
    )
    rows = rows.join(landing, on="contact_id")
    export = pd.DataFrame(
        {
            "lead_id": rows["contact_id"],
            "mql_at": pd.to_datetime(rows["cutoff"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "lead_source": rows["lead_source"],
            "landing_page": rows["landing_page"],
            "won": rows["became_sql"].astype(int),
        }
    )
    export.to_csv(out, index=False)
    return out


def flat_path(export: Path, test_from: pd.Timestamp, work: Path) -> PathScores:
    t0 = time.perf_counter()
    result = train_flat_table(
        export,
        "won",
        "mql_at",
        report_path=work / "flat.html",
        split=FlatSplitConfig(test_from=test_from.date()),
        evaluation=EvaluationConfig(n_bootstrap=0),
    )
    assert result.split is not None and result.frame is not None
    test = result.split.mask("test")
    scores = {m.name: np.asarray(m.score["won"]) for m in result.evaluation.methods}
    scores["shipped"] = scores[result.chosen]
    return PathScores(
        leads=result.frame.loc[test, "lead_id"].to_numpy(),
        y=result.evaluation.labels["won"],
        scores=scores,
        shipped=str(result.chosen),
        seconds=time.perf_counter() - t0,
        train_rows=int(result.split.mask("train").sum()),
    )


def compare(crm_scores: PathScores, flat_scores: PathScores, n: int) -> dict[str, Any]:
    """AUCs of both paths on the leads in both test periods, and the paired differences."""
    common = np.intersect1d(crm_scores.leads, flat_scores.leads)
    ci = pd.Series(np.arange(len(crm_scores.leads)), index=crm_scores.leads)[common].to_numpy()
    fi = pd.Series(np.arange(len(flat_scores.leads)), index=flat_scores.leads)[common].to_numpy()
    y = crm_scores.y[ci]
    assert (y == flat_scores.y[fi]).all(), "the two paths must see the same labels"
    scores = {
        "crm_shipped": crm_scores.scores["shipped"][ci],
        "flat_shipped": flat_scores.scores["shipped"][fi],
        "crm_lightgbm": crm_scores.scores["lightgbm"][ci],
        "flat_lightgbm": flat_scores.scores["lightgbm"][fi],
    }
    singles, pairs = paired_aucs(y, scores, n=n)
    return {
        "leads": len(common),
        "positives": int(y.sum()),
        "singles": singles,
        "shipped_diff": pairs[("crm_shipped", "flat_shipped")],
        "lightgbm_diff": pairs[("crm_lightgbm", "flat_lightgbm")],
    }


def run_seed(leads: int, seed: int, horizon: int, n: int, work: Path) -> dict[str, dict[str, Any]]:
    """Per CRM variant (``train-only``, ``refit``): the comparison with the flat path."""
    crm = funnel_crm_folder(work / "crm", leads=leads, seed=seed)
    variants, table = crm_path(crm, work, horizon)
    test_from = pd.to_datetime(table.loc[table["period"] == "test", "cutoff"]).min()
    export = flat_export(crm, table, work / "flat.csv")
    flat_scores = flat_path(export, test_from, work)
    results = {}
    for name, crm_scores in variants.items():
        out = compare(crm_scores, flat_scores, n)
        out |= {
            "seed": seed,
            "crm_shipped": crm_scores.shipped,
            "flat_shipped": flat_scores.shipped,
            "crm_train_rows": crm_scores.train_rows,
            "flat_train_rows": flat_scores.train_rows,
            "crm_s": crm_scores.seconds,
            "flat_s": flat_scores.seconds,
        }
        results[name] = out
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=8000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.seeds, args.bootstrap = 1500, "0", 100
    rows: dict[str, list[dict[str, Any]]] = {"train-only": [], "refit": []}
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            variants = run_seed(args.leads, seed, args.horizon, args.bootstrap, Path(tmp))
        for variant, r in variants.items():
            s: dict[str, Interval] = r["singles"]
            print(
                f"seed {seed}, CRM {variant}: {r['leads']:,} test leads ({r['positives']} won); "
                f"rows fitted CRM {r['crm_train_rows']:,} / flat train {r['flat_train_rows']:,}; "
                f"shipped CRM {r['crm_shipped']} / flat {r['flat_shipped']}; "
                f"{r['crm_s']:.0f} s / {r['flat_s']:.0f} s",
                flush=True,
            )
            for name, interval in s.items():
                print(f"  AUC {name:<14} {interval}")
            print(f"  CRM - flat (shipped heads)  {r['shipped_diff']}")
            print(f"  CRM - flat (LightGBM heads) {r['lightgbm_diff']}", flush=True)
            rows[variant].append(r)
    print()
    for variant, done in rows.items():
        diffs = [r["shipped_diff"].value for r in done]
        lows = [r["shipped_diff"].low for r in done]
        print(
            f"CRM ({variant}) - flat AUC, shipped heads: mean {np.mean(diffs):+.4f} over "
            f"{len(done)} seed(s), lowest CI bound {min(lows):+.4f}; within 0.01: "
            f"{'yes' if np.mean(diffs) > -0.01 else 'no'}"
        )


if __name__ == "__main__":
    main()
