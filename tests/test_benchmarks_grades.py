"""Smoke run of the grade-thresholds benchmark (slow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_benchmarks_smoke import run_benchmark


@pytest.mark.slow
def test_grade_thresholds_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark(
        "grade_thresholds.py",
        "--contacts",
        "1500",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "data"),
        cwd=tmp_path,
    )
    capacity = re.search(r"rules' MQL share on validation (\d+\.\d)%", out)
    shares = [float(v) for v in re.findall(r" A (\d+\.\d)%", out)]
    assert capacity is not None and 0 < float(capacity.group(1)) < 100, out
    assert len(shares) == 3 and all(0 <= s <= 100 for s in shares), out
