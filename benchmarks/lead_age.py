"""Which maximum lead age to default to: ``features build --max-lead-age-days`` measured.

Run: ``.venv/bin/python benchmarks/lead_age.py [--contacts 8000] [--ages none,30,90,180,365]``
(``--smoke``: 1,500 contacts, two ages, 50 draws; ``--crm synthetic|funnel|both``).

On the synthetic CRM (``leadscore generate``) and on the real-shaped funnel of
:mod:`leadscore.synthetic.real_funnel` (MQLs with a landing page, won deals, no other events),
with the default monthly schedule and a 30-day horizon, builds the training table once per
maximum age and trains the sql target with the default settings. Prints per age: rows, build
seconds, the test AUC of LightGBM, of the rules and of the head that ships (own population, cluster-bootstrap
CI), and, on the **common** test rows (those every age keeps: the leads created or active in the
smallest age's days before the cutoff, the ones sales still works), the AUC of each age's LightGBM
head and the positives found in the top 10 % of each cutoff's leads against the rules' points, with
CIs. Training on fewer stale rows is worth it when the common-row numbers hold.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stats import paired_aucs, paired_found

from leadscore.pipeline import FeaturesSpec, build_features_step
from leadscore.synthetic import GeneratorConfig, generate_crm
from leadscore.synthetic.real_funnel import funnel_crm_folder, landing_page_yaml
from leadscore.training import TrainingConfig
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.pipeline import fit_and_evaluate
from leadscore.training.table import load_training_table

TARGET = "sql"
SHARE = 0.10


def run_age(
    crm: Path, definition: Path | None, age: int | None, work: Path, n: int
) -> dict[str, Any]:
    """Build and train at one maximum age; the test rows with every head's scores."""
    table_path = work / f"training-{age}.parquet"
    t0 = time.perf_counter()
    built = build_features_step(
        FeaturesSpec(source=crm, out=table_path, definition=definition, max_lead_age_days=age or 0)
    )
    build_s = time.perf_counter() - t0
    table = load_training_table(table_path)
    config = TrainingConfig(
        targets=(TARGET,), evaluation=EvaluationConfig(n_bootstrap=n), shap_rows=0
    )
    t1 = time.perf_counter()
    outcome = fit_and_evaluate(table, config)
    train_s = time.perf_counter() - t1
    metrics = outcome.evaluation.metrics.set_index(["method", "target"])
    shipped = str(outcome.choices[TARGET].shipped)
    test = table.frame.loc[outcome.split.mask("test"), ["contact_id", "cutoff"]]
    scores = {m.name: np.asarray(m.score[TARGET]) for m in outcome.evaluation.methods}
    return {
        "age": "none" if age is None else str(age),
        "rows": built.table.rows,
        "build_s": build_s,
        "train_s": train_s,
        "shipped": shipped,
        "auc": metrics.loc[(shipped, TARGET)],
        "lightgbm_auc": metrics.loc[("lightgbm", TARGET)],
        "rules_auc": metrics.loc[("rules", TARGET)],
        "test": test.assign(
            y=outcome.evaluation.labels[TARGET],
            model=scores["lightgbm"],
            rules=scores["rules"],
        ),
    }


def common_rows(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """The test rows every age keeps, with each age's model score and the rules' points."""
    keys = ["contact_id", "cutoff"]
    merged = runs[0]["test"][[*keys, "y", "rules"]]
    for run in runs:
        merged = merged.merge(
            run["test"][[*keys, "model"]].rename(columns={"model": f"age {run['age']}"}),
            on=keys,
        )
    return merged


def measure(name: str, crm: Path, definition: Path | None, ages: list[int | None], n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run_age(crm, definition, age, Path(tmp), n) for age in ages]
    print(f"\n== {name}: own test population (shipped head vs rules, 95% CI) ==")

    def shown(row: pd.Series) -> str:
        return f"{row['roc_auc']:.3f} [{row['roc_auc_low']:.3f}, {row['roc_auc_high']:.3f}]"

    for r in runs:
        print(
            f"age {r['age']:>5}: {r['rows']:>7,} rows, build {r['build_s']:5.1f} s, train "
            f"{r['train_s']:5.1f} s; LightGBM AUC {shown(r['lightgbm_auc'])}, rules "
            f"{shown(r['rules_auc'])}; ships {r['shipped']} ({shown(r['auc'])})",
            flush=True,
        )
    common = common_rows(runs)
    y = common["y"].to_numpy().astype(int)
    groups = common["contact_id"].to_numpy()
    cutoffs = pd.to_datetime(common["cutoff"]).to_numpy().astype("int64")
    scores = {c: common[c].to_numpy(dtype=float) for c in common.columns if c.startswith("age ")}
    scores["rules"] = common["rules"].to_numpy(dtype=float)
    singles, pairs = paired_aucs(y, scores, groups, n=max(n, 50))
    found = paired_found(y, scores, cutoffs, groups, SHARE, n=max(n, 50))
    base = f"age {runs[0]['age']}"
    print(
        f"== {name}: common test rows ({len(common):,} rows, {int(y.sum())} positives, "
        f"{len(np.unique(cutoffs))} cutoffs) =="
    )
    for key in scores:
        diff = pairs.get((base, key)) if key != base else None
        shown = (
            f"; vs {base}: {-diff.value:+.4f} [{-diff.high:+.4f}, {-diff.low:+.4f}]" if diff else ""
        )
        print(
            f"{key:>10}: AUC {singles[key]}{shown}; found in top {SHARE:.0%} "
            f"{found[key].value:.0f} [{found[key].low:.0f}, {found[key].high:.0f}]",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=8000)
    parser.add_argument("--ages", default="none,30,90,180,365")
    parser.add_argument("--crm", choices=["synthetic", "funnel", "both"], default="both")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.contacts, args.ages, args.bootstrap = 1500, "none,90", 50
    ages = [None if a == "none" else int(a) for a in args.ages.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.crm in ("synthetic", "both"):
            crm = work / "crm.duckdb"
            generate_crm(GeneratorConfig(n_contacts=args.contacts, seed=args.seed), crm)
            measure(f"synthetic CRM, {args.contacts:,} contacts", crm, None, ages, args.bootstrap)
        if args.crm in ("funnel", "both"):
            crm = funnel_crm_folder(work / "funnel", leads=args.contacts, seed=0)
            definition = landing_page_yaml(work / "funnel.yaml")
            measure(
                f"real-shaped funnel, {args.contacts:,} leads",
                crm,
                definition,
                ages,
                args.bootstrap,
            )


if __name__ == "__main__":
    main()
