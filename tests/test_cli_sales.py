"""The sales-loop commands as users run them (a real process): ``users add``, ``feedback
report``, ``feedback apply`` errors, ``export`` and its delta."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from leadscore.serving.auth import user_for_token
from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore
from tests.test_cli import run_cli


def scored_store(path: Path) -> ScoreStore:
    store = ScoreStore(path)
    store.record_scores(
        pd.DataFrame(
            [
                {
                    "contact_id": f"c{i}",
                    "scored_at": datetime(2026, 11, 30, 8),
                    "model_version": "2",
                    "p_sql": 0.1 * i,
                    "p_meeting": 0.05 * i,
                    "grade": "ABCD"[3 - i],
                    "fit_score": 40.0,
                    "engagement_score": 60.0,
                    "reasons_positive": ["visited the pricing page"],
                    "reasons_negative": [],
                }
                for i in range(4)
            ],
            columns=list(HISTORY_COLUMNS),
        )
    )
    return store


def test_users_add_prints_a_working_token(tmp_path: Path) -> None:
    store = ScoreStore(tmp_path / "scores.duckdb")
    run = run_cli("users", "add", "jane.doe", "--store", str(store.path))
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip().splitlines()[-1]
    assert user_for_token(store, token) == "jane.doe"
    bad = run_cli("users", "add", "jane doe", "--store", str(store.path))
    assert bad.returncode != 0 and "not valid" in bad.stderr and "Traceback" not in bad.stderr


def test_store_from_the_environment(tmp_path: Path) -> None:
    """LEADSCORE_STORE stands for --store (a password-bearing URL stays out of ``ps``)."""
    store = ScoreStore(tmp_path / "from-env.duckdb")
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "leadscore", "users", "add", "ann"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**env, "LEADSCORE_STORE": str(store.path)},
    )
    assert run.returncode == 0, run.stderr
    assert user_for_token(store, run.stdout.strip().splitlines()[-1]) == "ann"
    assert not (tmp_path / "data").exists()  # not the default store


@pytest.mark.slow  # seven processes (~20 s each on a loaded machine); the steps' own tests are fast
def test_feedback_report_and_export(tmp_path: Path) -> None:
    store = scored_store(tmp_path / "scores.duckdb")
    empty = run_cli("feedback", "report", "--store", str(store.path))
    assert empty.returncode == 0 and "No verdict" in empty.stdout
    store.add_feedback("c3", "rejected", reason="spam_bot", rep="ann", grade="A")
    store.add_feedback("c2", "accepted", rep="ann", grade="B")
    report = run_cli("feedback", "report", "--store", str(store.path))
    assert report.returncode == 0, report.stderr
    assert "2 verdicts, 1 accepted (50%)" in report.stdout and "spam_bot" in report.stdout
    assert "100%" in report.stdout and "0.0 " not in report.stdout  # acceptance in percent
    out = tmp_path / "scores.csv"
    first = run_cli("export", "--store", str(store.path), "--out", str(out))
    assert first.returncode == 0 and "Wrote 4 of 4 leads" in first.stdout
    with out.open(encoding="utf-8") as handle:
        assert [r["grade"] for r in csv.DictReader(handle)] == ["D", "C", "B", "A"]
    again = run_cli("export", "--store", str(store.path), "--out", str(out))
    assert (
        "Wrote 0 of 4 leads (0 new or changed since last sent, 0 whose rank moved by more than "
        "5 points)" in " ".join(again.stdout.split())
    )
    ranks = run_cli(
        "export", "--store", str(store.path), "--out", str(out), "--rank-tolerance", "101"
    )
    assert ranks.returncode == 2 and "rank-tolerance" in ranks.stderr
    assert "4 row(s) of the file it replaces were kept" in again.stdout  # not imported yet
    refused = run_cli("export", "--target", "hubspot", "--store", str(store.path))
    assert refused.returncode != 0 and "HubSpot record ids" in refused.stderr
    missing = run_cli(
        "feedback", "apply", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o.parquet")
    )
    assert missing.returncode != 0 and "features build" in missing.stderr
