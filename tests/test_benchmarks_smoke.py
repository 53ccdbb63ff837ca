"""Benchmarks keep running: each fast benchmark's smoke size, as a user runs it.

Speed is measured by the benchmarks themselves, side by side; these tests only check that the
scripts run, compare values and print their ratios.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(name: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_generator_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark(
        "generator.py", "--smoke", "--out", str(tmp_path / "crm.duckdb"), cwd=tmp_path
    )
    assert "contacts/s" in out
    assert "peak memory" in out


def test_features_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("features.py", "--smoke", cwd=tmp_path)
    assert "values identical: polars" in out
    assert "values identical: pandas" in out
    assert "speed-up leadscore vs pandas" in out
    assert "speed-up leadscore vs polars" in out


def test_scoring_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("scoring.py", "--smoke", "--data", "simulated", cwd=tmp_path)
    assert "max |diff| vs shap" in out
    assert "1M contacts with reasons" in out


@pytest.mark.slow
@pytest.mark.spark
def test_spark_vs_duckdb_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("spark_vs_duckdb.py", "--smoke", "--work", str(tmp_path), cwd=tmp_path)
    assert "training tables identical" in out
    assert "grades and reasons identical" in out
    assert "spark/duckdb" in out


@pytest.mark.slow
def test_oracle_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("oracle.py", "--smoke", cwd=tmp_path)
    assert out.count("equal to before: True") == 3 and "x CPU" in out


@pytest.mark.slow
def test_logistic_fit_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("logistic_fit.py", "--smoke", cwd=tmp_path)
    assert "identical: True" in out  # the design matrix alone
    assert out.count("identical: fit coefficients True, validation scores True") == 2
    assert out.count("test scores True, head parameters True") == 2
    assert "x wall" in out
