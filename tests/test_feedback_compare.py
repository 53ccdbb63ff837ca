"""The model trained with reps' verdicts against the one without, on the synthetic CRM: same
test rows, paired CIs, the policy applied to training and validation rows only; printed by
``leadscore feedback compare``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from leadscore.pipeline.feedback import FeedbackCompareSpec, feedback_compare_step, verdicts
from leadscore.training.feedback import FeedbackPolicy
from leadscore.training.feedback_compare import POPULATIONS, FeedbackComparison
from leadscore.training.pipeline import TrainingConfig
from leadscore.training.split import time_split
from leadscore.training.table import load_training_table
from tests.test_cli import run_cli

_CONFIG = "tuning:\n  enabled: false\nshap_rows: 0\nfit_logistic: false\n"


@pytest.fixture(scope="module")
def crm_and_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from leadscore.crm import open_crm
    from leadscore.features import CutoffSchedule, build_training_table, load_definition
    from leadscore.synthetic import GeneratorConfig, generate_crm

    root = tmp_path_factory.mktemp("feedback-compare")
    crm_path, table = root / "crm.duckdb", root / "train.parquet"
    generate_crm(GeneratorConfig(n_contacts=4000, seed=3), crm_path)
    crm = open_crm(crm_path)
    try:
        schedule = CutoffSchedule(date(2024, 3, 1), date(2025, 11, 1), every="month")
        build_training_table(crm, load_definition(), schedule, 30, table)
    finally:
        crm.close()
    config = root / "train.yaml"
    config.write_text(_CONFIG, encoding="utf-8")
    return crm_path, table, config


@pytest.fixture(scope="module")
def comparison(crm_and_table: tuple[Path, Path, Path]) -> FeedbackComparison:
    crm, table, config = crm_and_table
    spec = FeedbackCompareSpec(
        training_table=table, store=None, crm=crm, config=config, n_bootstrap=200
    )
    return feedback_compare_step(spec)


def test_verdicts_are_read_from_the_crm_feedback_table(
    crm_and_table: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    crm, _, _ = crm_and_table
    with duckdb.connect(str(crm), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM feedback").fetchone()
    found = verdicts(tmp_path / "absent.duckdb", crm)  # a missing store is not created
    assert row is not None and len(found) == row[0] > 100
    assert not (tmp_path / "absent.duckdb").exists()
    assert found["given_at"].is_monotonic_increasing


def test_both_models_are_scored_on_the_same_test_rows(
    comparison: FeedbackComparison, crm_and_table: tuple[Path, Path, Path]
) -> None:
    _, table_path, _ = crm_and_table
    table = load_training_table(table_path)
    test_rows = int(time_split(table.frame, TrainingConfig().split).mask("test").sum())
    assert comparison.masks.verdicts > 100 and comparison.masks.excluded_rows > 0
    without, with_feedback = comparison.fitted_rows
    assert with_feedback < without  # the policy dropped rejected leads' later rows
    assert comparison.relabelled_rows == 0  # the default policy relabels nothing
    assert 0 < comparison.capacity_share < 1
    targets = {key[0] for key in comparison.comparisons}
    assert "sql" in targets
    for (_, population, _), c in comparison.comparisons.items():
        assert population in POPULATIONS
        if population == "all":
            assert c.n_rows == test_rows
        else:
            assert c.n_rows <= test_rows
        assert c.low <= c.difference <= c.high
        assert c.difference == pytest.approx(c.challenger - c.champion)
    frame = comparison.table()
    assert len(frame) == len(comparison.comparisons)
    assert "CI" in comparison.verdict("sql")


def test_a_stricter_policy_relabels_training_rows(
    crm_and_table: tuple[Path, Path, Path],
) -> None:
    crm, table, config = crm_and_table
    strict = FeedbackPolicy(exclude=(), negative=("bad_fit", "spam_bot", "student"))
    spec = FeedbackCompareSpec(
        training_table=table, store=None, crm=crm, config=config, policy=strict, n_bootstrap=50
    )
    result = feedback_compare_step(spec)
    assert result.fitted_rows[0] == result.fitted_rows[1]  # nothing dropped
    assert result.relabelled_rows > 0


def test_cli_prints_the_comparison_with_cis(crm_and_table: tuple[Path, Path, Path]) -> None:
    crm, table, config = crm_and_table
    run = run_cli(
        "feedback",
        "compare",
        str(table),
        "--crm",
        str(crm),
        "--store",
        str(table.parent / "no-store.duckdb"),
        "--training-config",
        str(config),
        "--bootstrap",
        "100",
    )
    assert run.returncode == 0, run.stderr
    assert "With feedback vs without" in run.stdout
    assert "ROC AUC" in run.stdout and "found@MQL vol." in run.stdout
    assert "95% CI" in run.stdout and "sql:" in run.stdout


def test_apply_reads_the_crm_verdicts(crm_and_table: tuple[Path, Path, Path]) -> None:
    from leadscore.features import read_training_table
    from leadscore.pipeline.feedback import FeedbackTableSpec, feedback_table_step

    crm, table, _ = crm_and_table
    out = table.parent / "with-feedback.parquet"
    spec = FeedbackTableSpec(
        training_table=table, out=out, store=table.parent / "absent.duckdb", crm=crm
    )
    result = feedback_table_step(spec)
    assert result.masks.verdicts > 100 and result.masks.excluded_rows > 0
    written, meta = read_training_table(out)
    assert len(written) == meta.rows == result.rows_before - result.masks.excluded_rows
    assert not (table.parent / "absent.duckdb").exists()
