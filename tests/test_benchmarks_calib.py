"""Smoke runs of the calibration-after-refit and head-choice benchmarks (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_benchmarks_smoke import run_benchmark


@pytest.mark.slow
def test_refit_calibration_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark(
        "refit_calibration.py",
        "--contacts",
        "1500",
        "--seeds",
        "0",
        "--bootstrap",
        "20",
        "--variants",
        "train-only,refit,crossfit",
        "--out",
        str(tmp_path / "data"),
        "--csv",
        str(tmp_path / "runs.csv"),
        cwd=tmp_path,
    )
    assert "diff = variant - train-only" in out and "diff = variant - refit" in out
    assert all(f"\n  {v} " in out for v in ("train-only", "refit     ", "crossfit  "))
    again = run_benchmark(
        "refit_calibration.py", "--summarise", str(tmp_path / "runs.csv"), cwd=tmp_path
    )
    assert "over 1 run(s)" in again


@pytest.mark.slow
def test_head_choice_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark(
        "head_choice.py", "--leads", "1500", "--seeds", "0", "--bootstrap", "20", cwd=tmp_path
    )
    assert "seed 0: valid" in out and "Per rule" in out
    assert all(f"\n{rule} " in out for rule in ("current", "simpler@roc_auc/0.8"))
