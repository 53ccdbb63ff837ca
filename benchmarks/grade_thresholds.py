"""Grade thresholds of the served (refitted) head: its own validation probabilities or the
training-period model's? Grade A's share of the test leads each way, against the capacity.

Run (after ``make demo``): ``.venv/bin/python benchmarks/grade_thresholds.py
--table data/demo/training.parquet``; without ``--table``, the synthetic CRM and weekly table of
``--contacts``/``--seed`` that ``benchmarks/refit_calibration.py`` builds (no maximum lead age,
unlike the demo's table).

One training run of the sql target with the default config (refit on, no bootstrap, LightGBM only).
The grades are fitted as the scorer spec fits them (A = the share of validation leads the rules
make MQLs), on the validation probabilities of either the training-period model (out of sample)
or the refitted head (what ships: it has seen those rows), and applied to the test rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refit_calibration import TARGET, prepare, probabilities

from leadscore.model.grades import assign_grades, fit_grades
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.pipeline import TrainingConfig, fit_and_evaluate
from leadscore.training.rules import mql_flags, score_rules
from leadscore.training.table import load_training_table

Array = np.ndarray[Any, Any]


def a_share(p_test: Array, p_valid: Array, share: float) -> float:
    """Share of the test rows graded A with thresholds fitted on ``p_valid``."""
    return float(np.mean(assign_grades(p_test, fit_grades(p_valid, share)) == "A"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="a training table (the demo's: after make demo)")
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/bench-calib"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    path = args.table or prepare(args.contacts, args.seed, args.out)
    table = load_training_table(path)
    config = TrainingConfig(
        evaluation=EvaluationConfig(n_bootstrap=0),
        targets=(TARGET,),
        shap_rows=0,
        fit_logistic=False,
    )
    outcome = fit_and_evaluate(table, config)
    valid = table.frame[outcome.fit_mask("valid")]
    share = float(np.mean(mql_flags(score_rules(valid, outcome.rules), outcome.rules)))
    probs = probabilities(table, outcome, ["train-only", "refit"])
    (tp_test, tp_valid), (rf_test, rf_valid) = probs["train-only"], probs["refit"]
    print(f"{path} ({TARGET}): capacity, the rules' MQL share on validation {share:.1%}")
    print(
        f"  served head, thresholds from the training-period model: A "
        f"{a_share(rf_test, tp_valid, share):.1%} of the test rows"
    )
    print(f"  served head, its own thresholds: A {a_share(rf_test, rf_valid, share):.1%}")
    print(
        f"  training-period model (refit: false), its own thresholds: A "
        f"{a_share(tp_test, tp_valid, share):.1%}"
    )
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
