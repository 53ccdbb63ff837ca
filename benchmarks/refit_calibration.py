"""Calibration on test of the refitted heads against the training-period ones, over several
synthetic CRMs: is the top grade over-predicted after the refit, systematically or by chance?

Run: ``.venv/bin/python benchmarks/refit_calibration.py --contacts 5000 --seeds 0,1,2,3,4``
(CRMs and tables are cached under ``--out``, default ``data/bench-calib``).

Per (size, seed): the default synthetic CRM, its weekly training table (as ``leadscore demo``
builds it), and one training run of the ``sql`` target with the default config (refit on).
From that one run, the LightGBM head is measured on the test period as

* ``train-only``: the training-period model (``outcome.validated``, what ``training.refit:
  false`` ships) with its validation calibrator;
* ``refit``: the refitted model with the same calibrator (``refit_calibration: validation``,
  the default: what ships);
* ``crossfit``: the refitted model with the calibrator
  :func:`leadscore.training.crossfit.crossfit_calibrator` fits on cross-fitted validation scores
  of models boosted like it (``refit_calibration: crossfit``), computed after the run from the
  same inputs the pipeline gives it.

``--summarise a.csv b.csv`` only prints the summary of earlier runs' ``--csv`` files.

Grade thresholds are fitted as the scorer spec fits them: on each model's own validation
probabilities, A = the share of validation leads the rules make MQLs. Measured on test: AUC,
Brier, ECE (10 equal-count bins), calibration in the large (mean predicted / realised),
calibration slope and intercept (logistic regression of the label on the logit of the
probability), and grade A's share, predicted and realised rate (with a contact-bootstrap CI).
Then per variant: the mean over runs and the paired difference to ``train-only`` with its
standard error over runs.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from leadscore.crm import open_crm
from leadscore.features import CutoffSchedule, build_training_table, load_definition
from leadscore.model.calibration import Calibrator, logit
from leadscore.model.grades import assign_grades, fit_grades
from leadscore.synthetic import GeneratorConfig, generate_crm
from leadscore.training.evaluate import EvaluationConfig, weighted_auc
from leadscore.training.pipeline import TrainingConfig, TrainingOutcome, fit_and_evaluate
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.table import CONTACT_COLUMN, TrainingTable, load_training_table

TARGET = "sql"
Array = np.ndarray[Any, Any]


def prepare(contacts: int, seed: int, out: Path) -> Path:
    """Generate (or reuse) the CRM and its weekly 30-day training table; the table's path."""
    out.mkdir(parents=True, exist_ok=True)
    crm_path = out / f"crm-{contacts}-{seed}.duckdb"
    if not crm_path.exists():
        generate_crm(GeneratorConfig(n_contacts=contacts, seed=seed), crm_path)
    table_path = out / f"training-{contacts}-{seed}.parquet"
    if not table_path.exists():
        crm = open_crm(crm_path)
        try:
            start = crm.frame("contacts")["created_at"].min().date()
            end = crm.frame("events", order_by_key=False)["occurred_at"].max().date()
            schedule = CutoffSchedule(date(start.year, start.month, 1), end, every="week")
            build_training_table(crm, load_definition(), schedule, 30, table_path)
        finally:
            crm.close()
    return table_path


def calibration_line(y: Array, p: Array) -> tuple[float, float]:
    """Calibration slope and intercept: ``logit P(y) = intercept + slope * logit(p)``."""
    x = logit(p).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


def ece(y: Array, p: Array, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins of ``p``."""
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, bins)
    return float(sum(len(i) * abs(p[i].mean() - y[i].mean()) for i in parts) / len(p))


def measure(
    y: Array,
    p_test: Array,
    p_valid: Array,
    share: float,
    groups: Array,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Test metrics of probabilities ``p_test`` with grades fitted on ``p_valid``."""
    grades = fit_grades(p_valid, share)
    top = assign_grades(p_test, grades) == "A"
    intercept, slope = calibration_line(y, p_test)
    row = {
        "auc": weighted_auc(p_test, y),
        "brier": float(np.mean((p_test - y) ** 2)),
        "ece": ece(y, p_test),
        "mean_pred": float(p_test.mean()),
        "mean_real": float(y.mean()),
        "slope": slope,
        "intercept": intercept,
        "a_share": float(top.mean()),
        "a_pred": float(p_test[top].mean()),
        "a_real": float(y[top].mean()),
    }
    row["a_gap"] = row["a_pred"] - row["a_real"]
    if n_boot:  # contact-bootstrap CI of grade A's predicted - realised gap
        g = pd.factorize(groups[top])[0]
        yt, pt = y[top], p_test[top]
        gaps = []
        for _ in range(n_boot):
            w = np.bincount(rng.integers(0, g.max() + 1, g.max() + 1), minlength=g.max() + 1)[g]
            gaps.append(float(np.sum(w * (pt - yt)) / np.sum(w)))
        row["a_gap_low"], row["a_gap_high"] = (float(v) for v in np.quantile(gaps, [0.025, 0.975]))
    return row


def crossfitted(table: TrainingTable, outcome: TrainingOutcome) -> Calibrator:
    """The cross-fitted calibrator of the refitted LightGBM head, computed after the run (the
    same inputs the pipeline gives :func:`crossfit_calibrator` with ``refit_calibration:
    crossfit``)."""
    from leadscore.training.crossfit import crossfit_calibrator

    refit = outcome.refit
    assert refit is not None, "crossfit needs the refit"
    rows = table.frame[refit.mask]
    period = outcome.split.period.to_numpy()[refit.mask]
    calibrator, _, _ = crossfit_calibrator(
        outcome.validated[TARGET],
        rows,
        table.labels(TARGET)[rows.index].to_numpy(),
        outcome.refit_rounds[TARGET][1],
        period == "valid",
        period == "purged",
        rows[CONTACT_COLUMN].to_numpy(),
        sample_weight=refit.weight,
    )
    return calibrator


def probabilities(
    table: TrainingTable, outcome: TrainingOutcome, variants: list[str]
) -> dict[str, tuple[Array, Array]]:
    """Per variant: (test, validation) calibrated probabilities of the LightGBM head."""
    frame = table.frame
    valid, test = frame[outcome.fit_mask("valid")], frame[outcome.split.mask("test")]
    refit = outcome.lightgbm[TARGET]
    validated = outcome.validated.get(TARGET, refit)
    out: dict[str, tuple[Array, Array]] = {}
    for name in variants:
        if name == "train-only":
            out[name] = (validated.predict_proba(test), validated.predict_proba(valid))
        elif name == "refit":
            out[name] = (refit.predict_proba(test), refit.predict_proba(valid))
        elif name == "crossfit":
            calibrator = crossfitted(table, outcome)
            raw_t, raw_v = refit.predict_raw(test), refit.predict_raw(valid)
            out[name] = (calibrator.predict(raw_t), calibrator.predict(raw_v))
    return out


def run(contacts: int, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    table = load_training_table(prepare(contacts, seed, args.out))
    built = time.perf_counter() - t0
    fields: dict[str, Any] = {"targets": (TARGET,), "shap_rows": 0, "fit_logistic": False}
    if "refit_calibration" in TrainingConfig.model_fields:  # the refit keeps validation's
        fields["refit_calibration"] = "validation"
    config = TrainingConfig(evaluation=EvaluationConfig(n_bootstrap=0), **fields)
    t1 = time.perf_counter()
    outcome = fit_and_evaluate(table, config)
    fitted = time.perf_counter() - t1
    frame = table.frame
    valid, test = frame[outcome.fit_mask("valid")], frame[outcome.split.mask("test")]
    share = float(np.mean(mql_flags(score_rules(valid, outcome.rules), outcome.rules)))
    y = table.labels(TARGET)[test.index].to_numpy()
    groups = test[CONTACT_COLUMN].to_numpy()
    rng = np.random.default_rng(seed)
    rows = []
    t2 = time.perf_counter()
    probs = probabilities(table, outcome, args.variants)
    scored = time.perf_counter() - t2
    for name, (p_test, p_valid) in probs.items():
        row = {"contacts": contacts, "seed": seed, "variant": name}
        rows.append(row | measure(y, p_test, p_valid, share, groups, args.bootstrap, rng))
    print(
        f"{contacts} contacts, seed {seed}: {len(test):,} test rows ({int(y.sum())} SQL), "
        f"rules' MQL share {share:.3f}; table {built:.0f} s, training {fitted:.0f} s, variants "
        f"{scored:.0f} s",
        flush=True,
    )
    for r in rows:
        ci = (
            f" [{r['a_gap_low'] * 100:+.2f}, {r['a_gap_high'] * 100:+.2f}]"
            if "a_gap_low" in r
            else ""
        )
        print(
            f"  {r['variant']:<10} AUC {r['auc']:.4f} Brier {r['brier']:.5f} ECE "
            f"{r['ece'] * 100:.3f} pp  mean pred/real {r['mean_pred'] * 100:.2f}/"
            f"{r['mean_real'] * 100:.2f} %  slope {r['slope']:.2f} intercept "
            f"{r['intercept']:+.2f}  A {r['a_share'] * 100:.1f} % of leads: pred "
            f"{r['a_pred'] * 100:.2f} % real {r['a_real'] * 100:.2f} % (gap "
            f"{r['a_gap'] * 100:+.2f} pp{ci})",
            flush=True,
        )
    return rows


SUMMARY = (
    "auc",
    "brier",
    "ece",
    "mean_pred",
    "mean_real",
    "slope",
    "intercept",
    "a_share",
    "a_pred",
    "a_real",
    "a_gap",
    "a_abs_gap",
)


def summarise(frame: pd.DataFrame, against: str = "train-only") -> None:
    """Mean per variant and the paired difference to ``against`` (se over runs)."""
    keys = ["contacts", "seed"]
    frame = frame.assign(a_abs_gap=frame["a_gap"].abs())
    base = frame[frame["variant"] == against].set_index(keys)
    print(f"\nover {len(base)} run(s): mean (se over runs); diff = variant - {against}, paired")
    for name, part in frame.groupby("variant", sort=False):
        if name == "train-only" and against != "train-only":
            continue
        part = part.set_index(keys)
        cells = []
        for col in SUMMARY:
            v = part[col]
            d = v - base[col]
            n = len(v)
            se = d.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
            scale = (
                100
                if col
                in (
                    "ece",
                    "mean_pred",
                    "mean_real",
                    "a_share",
                    "a_pred",
                    "a_real",
                    "a_gap",
                    "a_abs_gap",
                )
                else 1
            )
            cells.append(
                f"{col} {v.mean() * scale:.4f}"
                + (
                    ""
                    if name == "train-only"
                    else f" (diff {d.mean() * scale:+.4f} se {se * scale:.4f})"
                )
            )
        print(f"{name:<10} " + "; ".join(cells))
        if name != against:
            d, e = part["a_gap"] - base["a_gap"], part["ece"] - base["ece"]
            print(
                f"{'':<10} vs {against}: grade A gap larger in {int((d > 0).sum())}/{len(d)} "
                f"runs, ECE larger in {int((e > 0).sum())}/{len(e)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", default="5000", help="comma-separated sizes")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="train-only,refit")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("data/bench-calib"))
    parser.add_argument("--csv", type=Path)
    parser.add_argument(
        "--summarise", nargs="+", type=Path, help="only summarise these CSVs of earlier runs"
    )
    args = parser.parse_args()
    if args.summarise:
        both = pd.concat([pd.read_csv(p) for p in args.summarise], ignore_index=True)
        for against in ("train-only", "refit"):
            summarise(both, against)
        return
    args.variants = args.variants.split(",")
    rows = []
    for contacts in [int(c) for c in args.contacts.split(",")]:
        for seed in [int(s) for s in args.seeds.split(",")]:
            rows += run(contacts, seed, args)
    frame = pd.DataFrame(rows)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    summarise(frame)
    if "refit" in args.variants and len(args.variants) > 2:
        summarise(frame, "refit")


if __name__ == "__main__":
    main()
