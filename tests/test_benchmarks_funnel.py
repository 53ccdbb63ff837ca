"""The funnel benchmarks keep running at their smoke size (the numbers are theirs to print;
these tests only check that they run and print what the docs quote)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_benchmarks_smoke import run_benchmark


@pytest.mark.slow
def test_lead_age_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("lead_age.py", "--smoke", cwd=tmp_path)
    assert "common test rows" in out and "vs age none" in out
    assert "real-shaped funnel" in out and "synthetic CRM" in out


@pytest.mark.slow
def test_funnel_vs_flat_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark("funnel_vs_flat.py", "--smoke", cwd=tmp_path)
    assert "CRM - flat (shipped heads)" in out and "within 0.01" in out


@pytest.mark.slow
def test_funnel_ablation_benchmark_smoke(tmp_path: Path) -> None:
    out = run_benchmark(
        "funnel_ablation.py",
        "--seeds",
        "0",
        "--bootstrap",
        "20",
        "--variants",
        "crm,settings,all",
        cwd=tmp_path,
    )
    assert "mean(variant - flat)" in out
    assert all(f"\n{name} " in out for name in ("crm", "settings", "all"))
