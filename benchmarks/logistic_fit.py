"""The logistic head's fitting before and after the NumPy design matrix, on the demo's table.

Run: ``.venv/bin/python benchmarks/logistic_fit.py [--contacts 20000] [--seed 42]``
(``--table data/demo/training.parquet`` reuses a built table; ``--smoke``: 1,500 contacts).

Builds the demo's training table (synthetic CRM, weekly cutoffs, 30-day horizon) unless given
one, takes the periods ``train`` fits on (time split, bot-like rows out, the refit's train +
validation rows) and, per target, runs the logistic head's whole share of training with

* **before**: :mod:`logistic_reference` (the package's model at 46cec4d): scikit-learn's
  ``ColumnTransformer`` (``OneHotEncoder`` on text columns, ``SimpleImputer``) in a pipeline;
* **after**: :class:`leadscore.training.models.LogisticModel` (text factorized to level codes,
  the one-hot block written from the codes, medians by ``np.partition``),

step by step: fit + calibration on validation, refit on train + validation, test scores, the
served head; and the design matrix alone (scikit-learn's ``ColumnTransformer`` on the text
inputs vs :class:`~leadscore.training.logistic_design.LogisticDesign`) on the refit rows. Prints wall and CPU seconds, the ratios and whether coefficients, scores and the
heads' parameters are identical.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import logistic_reference

from leadscore.model.encoding import FeatureEncoder
from leadscore.pipeline import FeaturesSpec, GenerateSpec, build_features_step, generate_step
from leadscore.training.bots import training_bot_flags
from leadscore.training.logistic_design import LogisticDesign, reference_columns, reference_inputs
from leadscore.training.models import LogisticModel, LogisticParams
from leadscore.training.pipeline import TrainingConfig
from leadscore.training.refit import refit_rows
from leadscore.training.split import time_split
from leadscore.training.table import TrainingTable, load_training_table

STEPS = ("fit + calibration", "refit", "test scores", "head")


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _periods(table: TrainingTable) -> dict[str, pd.DataFrame]:
    """The rows ``train`` fits the logistic model on (default config)."""
    config = TrainingConfig()
    frame = table.frame
    split = time_split(frame, config.split, horizon=pd.Timedelta(days=table.horizon_days))
    excluded = training_bot_flags(frame, config.bots)[0] & config.bots.exclude_from_training
    positive = np.zeros(len(frame), dtype=bool)
    for t in ("sql", "meeting"):
        positive |= table.labels(t).to_numpy().astype(bool)
    refit = refit_rows(frame, split, excluded, positive)
    out = {p: frame[split.mask(p) & ~excluded] for p in ("train", "valid")}
    return out | {"test": frame[split.mask("test")], "refit": frame[refit.mask]}


def _run(cls: Any, table: TrainingTable, rows: dict[str, pd.DataFrame], target: str) -> Any:
    y = {p: table.labels(target)[f.index].to_numpy() for p, f in rows.items()}
    groups = pd.factorize(rows["valid"]["contact_id"])[0]
    encoder = FeatureEncoder(list(table.features)).fit(rows["train"])
    model = cls(list(table.features))
    fitted, *fit_t = _timed(
        lambda: model.fit(rows["train"], y["train"], rows["valid"], y["valid"], valid_groups=groups)
    )
    refitted, *refit_t = _timed(lambda: fitted.refit(rows["refit"], y["refit"]))
    scores, *score_t = _timed(lambda: refitted.predict_raw(rows["test"]))
    head, *head_t = _timed(lambda: refitted.head(encoder))
    return (fitted, refitted, scores, head), [fit_t, refit_t, score_t, head_t]


def _coef(model: Any) -> np.ndarray[Any, Any]:
    classifier = getattr(model, "classifier_", None)
    if classifier is None:
        classifier = model.pipeline_.named_steps["classifier"]
    return np.asarray(classifier.coef_[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--table", type=Path, help="a built training table to use instead")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.contacts = 1500
    with tempfile.TemporaryDirectory() as tmp:
        path = args.table
        if path is None:
            crm, path = Path(tmp) / "crm.duckdb", Path(tmp) / "training.parquet"
            generate_step(GenerateSpec(out=crm, contacts=args.contacts, seed=args.seed))
            build_features_step(FeaturesSpec(source=crm, out=path, every="week", horizon=30))
        table = load_training_table(path)
    rows = _periods(table)
    sizes = ", ".join(f"{p} {len(f):,}" for p, f in rows.items())
    kinds = pd.Series([f.kind for f in table.features]).value_counts().to_dict()
    print(f"table {len(table.frame):,} rows, features {kinds}; rows: {sizes}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    features, params = list(table.features), LogisticParams()
    before = _timed(
        lambda: reference_columns(features, params.min_category_frequency).fit_transform(
            reference_inputs(features, rows["refit"])
        )
    )
    design = LogisticDesign(features, params.min_category_frequency)
    after = _timed(lambda: design.fit_matrix(rows["refit"]))
    print(
        f"design matrix of the refit rows alone: before {before[1]:6.2f} s {before[2]:6.2f} "
        f"CPU-s   after {after[1]:6.2f} s {after[2]:6.2f} CPU-s   {before[1] / after[1]:5.1f}x "
        f"wall {before[2] / after[2]:5.1f}x CPU   identical: {np.array_equal(before[0], after[0])}"
    )
    del before, after
    totals = {"before": [0.0, 0.0], "after": [0.0, 0.0]}
    for target in ("sql", "meeting"):
        old, old_t = _run(logistic_reference.LogisticModel, table, rows, target)
        new, new_t = _run(LogisticModel, table, rows, target)
        for step, (ow, oc), (nw, nc) in zip(STEPS, old_t, new_t, strict=True):
            print(
                f"{target:<8} {step:<18} before {ow:6.2f} s {oc:6.2f} CPU-s   after {nw:6.2f} s "
                f"{nc:6.2f} CPU-s   {ow / nw:5.1f}x wall {oc / nc:5.1f}x CPU"
            )
            totals["before"] = [totals["before"][0] + ow, totals["before"][1] + oc]
            totals["after"] = [totals["after"][0] + nw, totals["after"][1] + nc]
        same = {
            "fit coefficients": np.array_equal(_coef(old[0]), _coef(new[0])),
            "validation scores": np.array_equal(old[0].valid_raw_, new[0].valid_raw_),
            "refit coefficients": np.array_equal(_coef(old[1]), _coef(new[1])),
            "test scores": np.array_equal(old[2], new[2]),
            "head parameters": old[3].model_text == new[3].model_text,
        }
        print(f"{target:<8} identical: " + ", ".join(f"{k} {v}" for k, v in same.items()))
    (bw, bc), (aw, ac) = totals["before"], totals["after"]
    print(
        f"total    before {bw:6.2f} s {bc:6.2f} CPU-s   after {aw:6.2f} s {ac:6.2f} CPU-s   "
        f"{bw / aw:5.1f}x wall {bc / ac:5.1f}x CPU"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
