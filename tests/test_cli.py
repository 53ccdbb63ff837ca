"""The CLI as users run it: a real process, exit codes, messages and no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from leadscore import __version__
from tests.crm_tables import tiny_crm_tables, write_csv_folder


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_help_and_version() -> None:
    help_run = run_cli("--help")
    assert help_run.returncode == 0
    for command in ("generate", "validate", "demo"):
        assert command in help_run.stdout
    version_run = run_cli("--version")
    assert version_run.returncode == 0
    assert __version__ in version_run.stdout


def test_the_command_list_gives_each_command_one_unbroken_summary() -> None:
    """The docstring's own line breaks and reST quotes are not the list's (COLUMNS is 200)."""
    listed = run_cli("--help").stdout
    assert (
        "beside the rules, with the same table and confidence intervals as `leadscore train`."
        in listed
    )
    assert "``" not in listed


def test_help_shows_no_type_label_beside_flags() -> None:
    """A flag takes no value: ``--debug <bool>`` would read as if it wanted one."""
    for command in ([], ["train"], ["features", "build"], ["score"]):
        help_run = run_cli(*command, "--help")
        assert help_run.returncode == 0
        assert "--help" in help_run.stdout
        assert "<bool>" not in help_run.stdout
    assert "<path>" in run_cli("train", "--help").stdout  # options that take a value keep theirs


def test_validate_reports_every_problem_without_traceback(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["accounts"] = tables["accounts"].drop(columns="industry")
    tables["contacts"] = pd.concat([tables["contacts"], tables["contacts"].iloc[[0]]])
    tables["events"].loc[[2, 3], "contact_id"] = "C999"
    folder = write_csv_folder(tables, tmp_path / "crm")

    result = run_cli("validate", str(folder), "--as-of", "2025-01-01")

    assert result.returncode == 4
    assert "Traceback" not in result.stderr + result.stdout
    assert "accounts.industry: required column is missing" in result.stderr
    assert "contacts.contact_id: 2 row(s) (e.g. C1): key values are duplicated" in result.stderr
    assert "events.contact_id: 2 row(s) (e.g. E3, E4): refer to unknown contacts" in result.stderr
    assert "3 problem(s)" in result.stderr


def test_validate_valid_folder_prints_funnel(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    result = run_cli("validate", str(folder), "--as-of", "2025-01-01")
    assert result.returncode == 0, result.stderr
    assert "Valid" in result.stdout
    assert "lead→mql" in result.stdout
    assert "2024-02" in result.stdout


def test_debug_flag_shows_traceback(tmp_path: Path) -> None:
    result = run_cli("--debug", "validate", str(tmp_path / "nowhere"))
    assert result.returncode == 3
    assert "Traceback" in result.stderr


def test_bad_source_and_bad_config_exit_non_zero(tmp_path: Path) -> None:
    missing = run_cli("validate", str(tmp_path / "nowhere"))
    assert missing.returncode == 3
    assert "neither a DuckDB file" in missing.stderr
    assert "Traceback" not in missing.stderr

    config = tmp_path / "leadscore.yaml"
    config.write_text("mapping:\n  stage_label: {New: lead}\n")
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    bad_config = run_cli("validate", str(folder), "--config", str(config))
    assert bad_config.returncode == 2
    assert "mapping.stage_label" in bad_config.stderr
    assert "Traceback" not in bad_config.stderr


def test_config_file_maps_crm_labels(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["stage_changes"]["stage"] = ["New", "MQL", "Sales Accepted", "New", "New"]
    folder = write_csv_folder(tables, tmp_path / "crm")
    config = tmp_path / "leadscore.yaml"
    config.write_text("mapping:\n  stage_labels:\n    New: lead\n    Sales Accepted: sql\n")
    result = run_cli("validate", str(folder), "--config", str(config), "--as-of", "2025-01-01")
    assert result.returncode == 0, result.stderr
    assert "mql→sql" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_pipeline_commands_end_to_end(tmp_path: Path) -> None:
    """generate -> features build -> train -> models -> promote, as a user runs them."""
    crm = tmp_path / "crm.duckdb"
    table = tmp_path / "training.parquet"
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert (
        run_cli("generate", "--contacts", "1500", "--seed", "5", "--out", str(crm)).returncode == 0
    )

    built = run_cli("features", "build", str(crm), "--out", str(table), "--every", "month")
    assert built.returncode == 0, built.stderr
    assert "Training table:" in built.stdout
    assert "Censored" in built.stdout
    assert table.exists()

    config = tmp_path / "training.yaml"
    config.write_text("evaluation:\n  n_bootstrap: 50\nshap_rows: 200\n")
    trained = run_cli(
        "train", str(table), "--tracking-uri", uri, "--oracle-crm", str(crm),
        "--training-config", str(config), "--sample-negatives", "0.5", cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "rules vs models" in trained.stdout
    assert "Registered leadscore version 1 as challenger" in trained.stdout
    assert "INFO mlflow" not in trained.stderr
    # stdout is a pipe: plain progress lines (no bars), one per step, on stderr
    lines = [line for line in trained.stderr.splitlines() if "Training models: " in line]
    assert any("LightGBM candidate 1/6 (0/" in line for line in lines), trained.stderr
    assert any("logistic regression" in line for line in lines), trained.stderr
    assert any("LightGBM refitted on train + validation" in line for line in lines)
    assert lines[-1].endswith("done (18/18)") or lines[-1].endswith("done (9/9)"), lines
    assert "━" not in trained.stderr  # no bar drawn into a pipe

    # the gate itself is tested in test_training_tracking; a tiny CRM may not beat the rules
    first = run_cli("promote", "--tracking-uri", uri, "--force")
    assert first.returncode == 0, first.stderr
    assert "promoted" in first.stdout
    assert "serve` of the champion switches to version" in " ".join(first.stdout.split())
    again = run_cli("promote", "--tracking-uri", uri)  # already champion: not promoted
    assert again.returncode == 6, again.stderr
    assert "not promoted" in again.stdout and "switches to version" not in again.stdout

    mapping = tmp_path / "leadscore.yaml"
    mapping.write_text("mapping:\n  stage_labels:\n    Sales Accepted: sql\n")
    scores = tmp_path / "scores.parquet"
    scored = run_cli(
        "score", str(crm), "--tracking-uri", uri, "--out", str(scores),
        "--store", str(tmp_path / "history.duckdb"), "--as-of", "2025-12-31",
        "--config", str(mapping),
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert "leads scored with model leadscore/1" in scored.stdout
    contact = str(pd.read_parquet(scores)["contact_id"].iloc[0])
    explained = run_cli(
        "explain", contact, "--crm", str(crm), "--tracking-uri", uri, "--as-of", "2025-12-31"
    )
    assert explained.returncode == 0, explained.stderr
    assert f"{contact}: grade" in explained.stdout and ", chance of SQL " in explained.stdout
    unknown = run_cli("explain", "NO-SUCH-CONTACT", "--crm", str(crm), "--tracking-uri", uri)
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stderr and "internal error" not in unknown.stderr
    assert "is not in the CRM" in unknown.stderr

    listed = run_cli("models", "--tracking-uri", uri)
    assert listed.returncode == 0
    assert "champion" in listed.stdout

    flat_missing = run_cli("train", "--table", str(tmp_path / "nope.csv"), "--target", "x")
    assert flat_missing.returncode == 2
    assert "does not exist" in flat_missing.stderr


def test_read_only_commands_never_create_a_registry(tmp_path: Path) -> None:
    listed = run_cli("models", cwd=tmp_path)
    assert listed.returncode == 0
    assert "No version of leadscore is registered yet" in listed.stdout
    crm = tmp_path / "crm.duckdb"
    assert run_cli("generate", "--contacts", "200", "--out", str(crm)).returncode == 0
    scored = run_cli("score", str(crm), "--out", str(tmp_path / "s.parquet"), cwd=tmp_path)
    assert scored.returncode == 5
    assert "No model registry" in scored.stderr
    assert not (tmp_path / "mlruns").exists()


def test_a_date_alone_as_of_means_the_end_of_that_day() -> None:
    """``--as-of 2025-12-30`` (an export's date) must count that day's activity: at midnight a
    lead who asked for a demo that afternoon dropped from A to D in the demo."""
    from datetime import datetime, timedelta

    from leadscore.cli.options import as_of_moment
    from leadscore.clock import utc_now

    assert as_of_moment("2025-12-30") == datetime(2025, 12, 30, 23, 59, 59, 999999)
    assert as_of_moment("2025-12-30T00:00:00") == datetime(2025, 12, 30)
    assert as_of_moment("2025-12-30 08:15") == datetime(2025, 12, 30, 8, 15)
    assert as_of_moment("2025-12-30T10:00:00+02:00") == datetime(2025, 12, 30, 8)
    today = as_of_moment(utc_now().strftime("%Y-%m-%d"))
    assert today <= utc_now() and utc_now() - today < timedelta(minutes=5)  # never the future
    for command in (["score"], ["explain"], ["validate"], ["monitor"]):
        shown = " ".join(run_cli(*command, "--help").stdout.split())
        assert "a date alone means the end of that day" in shown, command
    from leadscore.serving.posted import ScoreRequest  # the HTTP API reads it the same way

    lead = {
        "contact": {"contact_id": "C1", "created_at": "2025-01-01"},
        "account": {"account_id": "A1", "created_at": "2024-01-01"},
    }
    for text in ("2025-12-30", "2025-12-30T08:15:00"):
        request = ScoreRequest.model_validate({"leads": [lead], "as_of": text})
        assert request.as_of == as_of_moment(text)


def test_a_history_too_short_for_the_horizon_is_said_not_shown_as_zero(tmp_path: Path) -> None:
    """Five weeks of data: no quarter-old lead, no cutoff with a full 60-day horizon."""
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    checked = run_cli("validate", str(folder), "--as-of", "2025-01-01")
    assert "within 90 days of creation: not measurable yet" in checked.stdout
    table = tmp_path / "training.parquet"
    default = run_cli("features", "build", str(folder), "--out", str(table))
    assert default.returncode == 2
    assert "before the first default cutoff (2024-04-01: the first of the month" in default.stderr
    built = run_cli(
        "features", "build", str(folder), "--out", str(table), "--every", "week",
        "--start", "2024-02-05", "--horizon", "60",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "Label rates: none (no rows)" in built.stdout
    assert "the training table has no rows" in built.stderr


def test_train_registers_a_training_table_under_model_name(tmp_path: Path) -> None:
    """`train TABLE --model-name NAME` registers NAME (the option was read in flat mode only: a
    training table's version went to `leadscore` without a word)."""
    from typer.testing import CliRunner

    from leadscore.cli import app
    from leadscore.pipeline import (
        FeaturesSpec,
        GenerateSpec,
        build_features_step,
        generate_step,
        list_versions_step,
    )

    crm, table = tmp_path / "crm.duckdb", tmp_path / "training.parquet"
    generate_step(GenerateSpec(out=crm, contacts=600, seed=5))
    build_features_step(FeaturesSpec(source=crm, out=table, every="month"))
    config = tmp_path / "training.yaml"
    config.write_text("evaluation:\n  n_bootstrap: 20\nshap_rows: 50\nfit_logistic: false\n")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    trained = CliRunner().invoke(
        app,
        ["train", str(table), "--training-config", str(config), "--model-name", "crm-leads",
         "--tracking-uri", uri, "--targets", "sql"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "Registered crm-leads version 1" in " ".join(trained.output.split())
    assert [v.version for v in list_versions_step("crm-leads", tracking_uri=uri)] == ["1"]
    assert list_versions_step(tracking_uri=uri) == []


def test_feedback_policy_help_names_the_default_policy() -> None:
    from leadscore.cli.sales import Policy
    from leadscore.training.feedback import FeedbackPolicy

    help_text = Policy.__metadata__[0].help
    default = FeedbackPolicy()
    assert f"(default: {', '.join(default.exclude)})" in help_text and not default.negative


def test_retrain_registers_under_the_training_config_model_name(tmp_path: Path) -> None:
    """`retrain --training-config` names the version as `train TABLE` does: the config's
    model_name unless --model-name says otherwise (it always said `leadscore`)."""
    from typer.testing import CliRunner

    from leadscore.cli import app
    from leadscore.pipeline import GenerateSpec, generate_step, list_versions_step

    crm = tmp_path / "crm.duckdb"
    generate_step(GenerateSpec(out=crm, contacts=600, seed=5))
    config = tmp_path / "training.yaml"
    config.write_text(
        "model_name: crm-leads\nevaluation:\n  n_bootstrap: 20\nshap_rows: 50\n"
        "fit_logistic: false\ntargets: [sql]\n"
    )
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    retrained = CliRunner().invoke(
        app,
        ["retrain", "--crm", str(crm), "--table", str(tmp_path / "training.parquet"),
         "--every", "month", "--training-config", str(config), "--tracking-uri", uri],
    )  # fmt: skip
    assert retrained.exit_code in (0, 6), retrained.output
    assert [v.version for v in list_versions_step("crm-leads", tracking_uri=uri)] == ["1"]
    assert list_versions_step(tracking_uri=uri) == []


def test_flat_training_under_a_model_name_says_how_to_promote_it(tmp_path: Path) -> None:
    """The next step a flat `train --model-name NAME` prints promotes NAME (a bare `leadscore
    promote` would look for the `leadscore` model's challenger)."""
    from typer.testing import CliRunner

    from leadscore.cli import app
    from leadscore.synthetic.flat_export import generate_flat_export

    csv = tmp_path / "leads.csv"
    generate_flat_export(1000, seed=9).frame.to_csv(csv, index=False)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    trained = CliRunner().invoke(
        app,
        ["train", "--table", str(csv), "--target", "converted", "--time-column", "created_at",
         "--model-name", "web-leads", "--tracking-uri", uri,
         "--report", str(tmp_path / "report.html")],
    )  # fmt: skip
    said = " ".join(trained.output.split())
    assert trained.exit_code == 0, said
    assert "Promote it with `leadscore promote --model-name web-leads`" in said
    promoted = CliRunner().invoke(
        app, ["promote", "--model-name", "web-leads", "--force", "--tracking-uri", uri]
    )
    assert promoted.exit_code == 0, promoted.output
