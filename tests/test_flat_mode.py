"""Flat mode end to end: train -> registry -> promote -> score -> explain, the pyfunc on raw
export rows, mismatched files, and the guards against constant or near-chance models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ArtifactError, ConfigError, DataContractError
from leadscore.model.flat import FlatColumn
from leadscore.pipeline import (
    FlatExplainSpec,
    FlatScoreSpec,
    FlatTrainSpec,
    explain_flat_step,
    list_versions_step,
    score_flat_step,
    train_flat_step,
)
from leadscore.serving import load_scorer
from leadscore.serving.flat import describe_value
from leadscore.synthetic.flat_export import generate_flat_export
from leadscore.training.choice import HeadChoice
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.flat import train_flat_table
from leadscore.training.flat_fit import fit_candidates, is_constant
from leadscore.training.flat_guards import model_warnings
from leadscore.training.models import LightGBMModel, LightGBMParams
from leadscore.training.table import FeatureSpec


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A flat model trained on the generator's export, saved as a local pyfunc folder (the
    registry path, slower, is tested from the CLI below)."""
    from leadscore.model.pyfunc import save_pyfunc

    root = tmp_path_factory.mktemp("flat-e2e")
    path = root / "leads.csv"
    generate_flat_export(2000, seed=5).frame.to_csv(path, index=False)
    result = train_flat_step(
        FlatTrainSpec(
            table=path,
            target="converted",
            time_column="created_at",
            report=root / "report.html",
            track=False,
        )
    )
    used = {f.name for f in result.features}
    assert not used & {"final_score", "rep_notes", "deal_amount", "call_duration"}
    assert "by time on 'created_at'" in result.split_mode
    assert result.model_dir is not None and result.model_version is None
    (root / "pyfunc").mkdir()
    model = save_pyfunc(result.model_dir, root / "pyfunc")
    return path, str(model), root


def test_a_flat_model_scores_and_explains_raw_export_rows(
    trained: tuple[Path, str, Path],
) -> None:
    path, model, root = trained
    out = root / "scores.csv"
    batch = score_flat_step(FlatScoreSpec(table=path, model=model, out=out))
    scores = pd.read_csv(out)
    assert batch.rows == len(scores) == 2000
    assert list(scores.columns) == [
        "lead_id",
        "p_converted",
        "grade",
        "reasons_positive",
        "reasons_negative",
    ]
    assert scores["p_converted"].between(0, 1).all() and scores["p_converted"].nunique() > 100
    assert set(scores["grade"]) == {"A", "B", "C", "D"}

    lead = str(scores.loc[scores["p_converted"].idxmax(), "lead_id"])
    explained = explain_flat_step(FlatExplainSpec(row_id=lead, table=path, model=model))
    assert explained.probability == pytest.approx(scores["p_converted"].max())
    assert explained.positive and explained.grade == "A"
    assert not any("@" in r for r in explained.positive + explained.negative)

    # the pyfunc takes raw export rows (all text, placeholders included) and scores them as
    # the file is scored
    loaded = load_scorer(model)
    raw = pd.read_csv(path, keep_default_na=False, dtype=str).head(20)
    via_pyfunc = loaded.pyfunc.predict(raw)
    assert np.allclose(via_pyfunc["p_converted"], scores["p_converted"].head(20))


def test_a_file_that_is_not_the_models_export_is_refused(
    trained: tuple[Path, str, Path],
) -> None:
    path, model, root = trained
    other = root / "other.csv"
    pd.read_csv(path).drop(columns=["time_on_website", "lead_source"]).to_csv(other, index=False)
    with pytest.raises(DataContractError, match="time_on_website"):
        score_flat_step(FlatScoreSpec(table=other, model=model, out=root / "x.csv"))
    shifted = root / "shifted.csv"
    frame = pd.read_csv(path)
    frame["time_on_website"] = frame["lead_source"]  # columns out of order
    frame.to_csv(shifted, index=False)
    with pytest.raises(DataContractError, match="not numbers"):
        score_flat_step(FlatScoreSpec(table=shifted, model=model, out=root / "x.csv"))
    with pytest.raises(ConfigError, match="no row has lead_id"):
        explain_flat_step(FlatExplainSpec(row_id="nope", table=path, model=model))
    scorer = load_scorer(model).scorer
    with pytest.raises(ArtifactError, match="flat-mode model"):
        scorer.require_definition()
    assert not (root / "x.csv").exists()


def test_a_model_column_empty_in_every_row_is_warned_about(
    trained: tuple[Path, str, Path],
) -> None:
    """An export that dropped a field's values scores every lead as if it were unknown: say
    so, naming the column, instead of exit 0 and nothing else."""
    path, model, root = trained
    full = score_flat_step(FlatScoreSpec(table=path, model=model, out=root / "full.csv"))
    assert full.notes == ()
    frame = pd.read_csv(path)
    frame["time_on_website"] = np.nan
    frame["lead_source"] = "Select"  # a form placeholder: missing too
    emptied = root / "emptied.csv"
    frame.to_csv(emptied, index=False)
    batch = score_flat_step(FlatScoreSpec(table=emptied, model=model, out=root / "e.csv"))
    assert batch.rows == 2000 and len(batch.notes) == 1
    assert "2 column(s) the model uses are empty in every row" in batch.notes[0]
    assert "'lead_source'" in batch.notes[0] and "'time_on_website'" in batch.notes[0]


def test_reasons_are_worded_from_the_column_type() -> None:
    spent = FlatColumn(name="time_on_website", kind="numeric", percentiles=tuple(range(101)))
    # the comparison reads right whichever way the value moves the score (a low employee count
    # raising a small-business product's chance was "+ Employee count 15, bottom 15 %")
    assert describe_value(spent, 95.0) == "Time on website 95 (higher than 95 % of leads)"
    assert describe_value(spent, 3.0) == "Time on website 3 (lower than 97 % of leads)"
    assert describe_value(spent, 50.0) == "Time on website 50"
    assert describe_value(spent, 500.0) == "Time on website 500 (higher than 99 % of leads)"
    assert describe_value(spent, -1.0) == "Time on website -1 (lower than 99 % of leads)"
    assert describe_value(spent, None) == "Time on website: missing"
    zeros = FlatColumn(name="demos", kind="numeric", percentiles=(0.0,) * 95 + (1.0,) * 6)
    assert (
        describe_value(zeros, 0) == "Demos 0"
    )  # most rows are 0: no misleading "higher than 94 %"
    source = FlatColumn(name="Lead Source", kind="categorical")
    assert describe_value(source, "Reference") == "Lead Source: Reference"
    assert describe_value(FlatColumn(name="do_not_email", kind="boolean"), "Yes") == (
        "Do not email: yes"
    )


def _one_signal(n: int, positives: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    x = rng.normal(0, 1, n) + 1.2 * y
    return pd.DataFrame({"signal": x}), y


def test_no_constant_model_with_fifty_positives_and_a_usable_feature() -> None:
    frame, y = _one_signal(2600, 60)
    features = [FeatureSpec("signal", "numeric", "flat")]
    train, valid = frame.iloc[:1800], frame.iloc[1800:]
    # CRM mode's defaults once found no split here (min_child_samples too large for the rows a
    # tree sees after bagging); booster_params now lowers it, in CRM mode too
    default = LightGBMModel(features, LightGBMParams()).fit(train, y[:1800], valid, y[1800:])
    assert not is_constant(default.predict_raw(valid))
    fitted = fit_candidates(features, train, y[:1800], valid, y[1800:])
    assert not fitted.constant
    assert not is_constant(fitted.lightgbm.predict_raw(valid))
    assert fitted.valid_auc["lightgbm"] > 0.7


def _evaluation(gbm: tuple[float, float, float], lr: tuple[float, float, float]) -> SimpleNamespace:
    rows = [("lightgbm", *gbm), ("logistic", *lr)]
    metrics = pd.DataFrame(rows, columns=["method", "roc_auc", "roc_auc_low", "roc_auc_high"])
    return SimpleNamespace(metrics=metrics)


def _choice(shipped: str) -> HeadChoice:
    values = {"lightgbm": {"pr_auc": 0.3}, "logistic": {"pr_auc": 0.31}}
    return HeadChoice("converted", shipped, "pr_auc", values, 500, 60)  # type: ignore[arg-type]


def test_guards_warn_about_chance_level_constant_and_beaten_models() -> None:
    fitted = SimpleNamespace(valid_auc={"lightgbm": 0.70, "logistic": 0.74})
    warnings, notes = model_warnings(
        _evaluation((0.42, 0.38, 0.46), (0.50, 0.47, 0.53)),  # type: ignore[arg-type]
        fitted,  # type: ignore[arg-type]
        _choice("lightgbm"),
        constant=True,
    )
    text = " ".join(warnings)
    assert "constant model" in text and "(and it ships)" in text
    assert "test AUC is 0.420 (below 0.55" in text
    assert (
        "Logistic regression (test AUC 0.500) beats the shipped LightGBM beyond its 95% CI" in text
    )
    assert any("lightgbm ships for converted" in n for n in notes)
    quiet, _ = model_warnings(
        _evaluation((0.80, 0.77, 0.83), (0.79, 0.76, 0.82)),  # type: ignore[arg-type]
        SimpleNamespace(valid_auc={"lightgbm": 0.8, "logistic": 0.78}),  # type: ignore[arg-type]
        _choice("logistic"),
        constant=False,
    )
    assert quiet == []
    beaten, _ = model_warnings(
        _evaluation((0.86, 0.84, 0.88), (0.79, 0.76, 0.82)),  # type: ignore[arg-type]
        SimpleNamespace(valid_auc={"lightgbm": 0.8, "logistic": 0.81}),  # type: ignore[arg-type]
        _choice("logistic"),
        constant=False,
    )
    assert "LightGBM (test AUC 0.860) beats the shipped logistic regression" in " ".join(beaten)


def test_a_drifting_export_is_trained_and_warned_about(tmp_path: Path) -> None:
    """The call-campaign failure: conversion jumps in the test window and the signal flips;
    the result is reported with loud warnings, never silently."""
    n = 2400
    rng = np.random.default_rng(4)
    late = np.arange(n) >= 1900
    x = rng.normal(0, 1, n)
    p = np.where(late, 1 / (1 + np.exp(1.5 * x + 0.8)), 1 / (1 + np.exp(-1.5 * x + 3)))
    y = (rng.random(n) < p).astype(int)
    frame = pd.DataFrame({"row": np.arange(n), "x": x, "noise": rng.normal(0, 1, n), "y": y})
    path = tmp_path / "calls.csv"
    frame.to_csv(path, index=False)
    result = train_flat_table(
        path,
        "y",
        "row",
        report_path=tmp_path / "r.html",
        evaluation=EvaluationConfig(n_bootstrap=20),
    )
    text = " ".join(result.warnings)
    assert "below 0.55" in text and "positive rate shifts" in text
    page = result.report_path.read_text()
    # warnings styled as warnings, the split and how the file was read as information
    assert "<p class='note'>WARNING: " in page and "<p class='info'>Split: " in page
    assert "<p class='info'>Read calls.csv" in page and "<p class='note'>Split" not in page


def test_columns_with_the_same_information_are_warned_about(tmp_path: Path) -> None:
    """An export with "Lead Source" twice (once recoded) and a number copied: trained, and
    the pairs named with what to do."""
    n = 1500
    rng = np.random.default_rng(8)
    source = rng.choice(["web", "event", "partner"], n)
    x = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x + 2 - (source == "event")))).astype(int)
    frame = pd.DataFrame(
        {
            "row": np.arange(n),
            "Lead Source": source,
            "Original Source": pd.Series(source).str.upper(),
            "x": x,
            "x again": x,
            "y": y,
        }
    )
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    result = train_flat_table(path, "y", "row", evaluation=EvaluationConfig(n_bootstrap=20))
    same = [w for w in result.warnings if "carry the same information" in w]
    assert len(same) == 1, result.warnings
    assert "2 pair(s)" in same[0] and "--drop COLUMN" in same[0]
    assert "Lead Source and Original Source (the same categories under other names)" in same[0]
    assert "x and x again (the same value)" in same[0]


def test_copied_rows_and_future_dates_are_warned_about(tmp_path: Path) -> None:
    """The CRM path refuses duplicate keys and future timestamps; a flat export with them is
    trained, with both named."""
    frame = generate_flat_export(1500, seed=3).frame.drop(columns="lead_id")
    frame = pd.concat([frame, frame.iloc[:150]], ignore_index=True)  # 150 rows exported twice
    frame.loc[frame.index[-40:], "created_at"] = "2031-05-01"
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    result = train_flat_table(
        path, "converted", "created_at", evaluation=EvaluationConfig(n_bootstrap=20)
    )
    text = " ".join(result.warnings)
    assert "110 of 1,650 rows are exact copies of other rows" in text, result.warnings
    assert "40 row(s) have created_at after today (latest 2031-05-01)" in text


def test_an_export_that_repeats_a_few_leads_keeps_its_id_column(tmp_path: Path) -> None:
    """30 of 1,530 rows exported twice (ids and all): the id column is still the rows' id, so
    the scores carry it (a CRM import needs it) instead of coming out without any id."""
    frame = generate_flat_export(1500, seed=3).frame
    frame = pd.concat([frame, frame.iloc[:30]], ignore_index=True)
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    result = train_flat_table(
        path, "converted", "created_at", evaluation=EvaluationConfig(n_bootstrap=20)
    )
    assert result.id_column == "lead_id"
    assert result.dropped["lead_id"] == "row id (1,500 distinct values for 1,530 rows)"
    assert "lead_id" not in {f.name for f in result.features}


@pytest.mark.slow
def test_cli_train_models_promote_score_explain(tmp_path: Path) -> None:
    """The acceptance path from the command line, each command a real process."""
    generate_flat_export(2500, seed=9).frame.to_csv(tmp_path / "leads.csv", index=False)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "leadscore", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )

    trained = run(
        "train", "--table", "leads.csv", "--target", "converted", "--time-column", "created_at"
    )
    assert trained.returncode == 0, trained.stderr
    assert "leak? final_score excluded" in trained.stderr
    assert "Registered leadscore version 1" in trained.stdout
    assert " ships for converted: best PR AUC on the validation window" in trained.stdout
    # not a terminal: plain progress lines, no bar drawing
    assert "Training on the flat table: 0/" in trained.stderr and "\x1b[" not in trained.stderr
    assert "Read leads.csv: UTF-8, comma-separated, 2,500 rows." in trained.stdout
    listed = run("models")
    assert listed.returncode == 0 and "challenger" in listed.stdout
    (version,) = list_versions_step(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert version.tags["model_kind"] == "flat" and version.tags["flat_target"] == "converted"
    assert 0.6 < version.metrics["test_roc_auc_lightgbm_sql"] < 0.95
    assert run("promote").returncode == 0
    scored = run("score", "leads.csv", "--model", "champion", "--out", "scores.csv")
    assert scored.returncode == 0, scored.stderr
    assert "2,500 rows scored (p_converted)" in scored.stdout
    first = str(pd.read_csv(tmp_path / "scores.csv")["lead_id"].iloc[0])
    # --out's suffix chooses the format, even when it is the CRM default's name
    assert run("score", "leads.csv", "--out", "scores.parquet").returncode == 0
    assert len(pd.read_parquet(tmp_path / "scores.parquet")) == 2_500
    assert not (tmp_path / "flat-scores.csv").exists()
    explained = run("explain", first, "--table", "leads.csv")
    assert explained.returncode == 0, explained.stderr
    assert f"{first}: grade" in explained.stdout and "  + " in explained.stdout
    wrong = run("explain", "C000001")  # a flat champion asked about a CRM contact
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr

    # the team's rules as YAML over the export's columns, from a starter
    assert (
        run("rules", "init", "r.yaml", "--flat", "leads.csv", "--target", "converted").returncode
        == 0
    )
    with_rules = run(
        "train",
        "--table",
        "leads.csv",
        "--target",
        "converted",
        "--time-column",
        "created_at",
        "--rules",
        "r.yaml",
    )
    assert with_rules.returncode == 0, with_rules.stderr
    assert "Rules baseline: the rules in r.yaml, MQL at 50 points" in with_rules.stdout
    # the choice line, its metric at r.yaml's MQL volume: the configured metric or, on a tie,
    # the tie-break names it ("..., the tie-break: positives found at the rules' MQL volume
    # tied at 33 with logistic"); the terminal may wrap the line
    said = " ".join(with_rules.stdout.split())
    assert " ships for converted: best " in said and " on the validation window " in said
    assert "positives found at the rules' MQL volume" in said
    assert "Registered leadscore version 2" in with_rules.stdout
    (tmp_path / "bad.yaml").write_text(
        "rules:\n  - {name: src, feature: lead_source, points: 5, when: {equals: Yes}}\n"
    )
    bad = run("train", "--table", "leads.csv", "--target", "converted", "--rules", "bad.yaml")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "rule 'src' (column 'lead_source'): equals: Yes was read by YAML as a boolean" in (
        bad.stderr
    )


def test_crm_training_warns_about_a_leaking_profile_field() -> None:
    """CRM mode runs the same detector on a training table: a profile field filled only once a
    lead converted is reported (CRM features come from the user's definition: warned, kept)."""
    import dataclasses

    from leadscore.training.guards import training_warnings
    from leadscore.training.pipeline import TrainingConfig, fit_and_evaluate
    from tests.simulate import simulate_training_table

    table, _ = simulate_training_table(1500, 8, seed=3)
    rng = np.random.default_rng(0)
    sql = table.frame["became_sql"].to_numpy(dtype=bool)
    frame = table.frame.assign(
        deal_size=np.where(sql & (rng.random(len(sql)) < 0.5), 1000.0, np.nan)
    )
    leaky = dataclasses.replace(
        table, frame=frame, features=[*table.features, FeatureSpec("deal_size", "numeric", "fit")]
    )
    config = TrainingConfig(evaluation=EvaluationConfig(n_bootstrap=10), shap_rows=50)
    warned = training_warnings(fit_and_evaluate(leaky, config))
    assert any("sql: column deal_size may leak" in w for w in warned), warned
    assert not any("deal_size" not in w and "may leak" in w for w in warned), warned


def test_ids_with_leading_zeros_and_a_line_of_separators_score_as_written(
    trained: tuple[Path, str, Path],
) -> None:
    """Numeric ids such as ``000600`` go back to the CRM as written (not the number 600, which
    matches no record or another one), and the line of separators Excel leaves at the end of a
    semicolon CSV with a byte-order mark and CRLF line ends is no phantom lead without an id."""
    path, model, root = trained
    frame = pd.read_csv(path, dtype={"lead_id": str})
    frame["lead_id"] = frame["lead_id"].str.replace("L", "00", regex=False)
    frame.loc[3, "rep_notes"] = 'called;\n"later", maybe'  # a quoted line break
    text = frame.to_csv(index=False, sep=";", lineterminator="\r\n")
    text += ";" * (frame.shape[1] - 1) + "\r\n"
    export = root / "excel.csv"
    export.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    out = root / "excel-scores.csv"
    batch = score_flat_step(FlatScoreSpec(table=export, model=model, out=out))
    scores = pd.read_csv(out, dtype={"lead_id": str})
    assert batch.rows == len(scores) == 2000
    assert scores["lead_id"].tolist() == frame["lead_id"].tolist()
    assert "1 row(s) with no value at all (only separators) skipped" in batch.read_as
    lead = str(frame["lead_id"].iloc[7])
    explained = explain_flat_step(FlatExplainSpec(row_id=lead, table=export, model=model))
    assert explained.probability == pytest.approx(scores["p_converted"].iloc[7])


def test_ids_excel_wrote_in_scientific_notation_are_warned_about(
    trained: tuple[Path, str, Path],
) -> None:
    """Excel shows long numeric ids as 1.23E+05 and saves them so: several leads share one
    id, and the output would update one CRM record with several scores, silently."""
    path, model, root = trained
    frame = pd.read_csv(path, dtype={"lead_id": str})
    frame.loc[:9, "lead_id"] = "1.23E+05"
    frame.loc[10, "lead_id"] = ""
    mangled = root / "mangled.csv"
    frame.to_csv(mangled, index=False)
    batch = score_flat_step(FlatScoreSpec(table=mangled, model=model, out=root / "m.csv"))
    assert batch.rows == 2000
    assert any(
        n.startswith("10 row(s) share their lead_id") and "1.23E+05" in n for n in batch.notes
    )
    assert "1 row(s) have no lead_id: their scores cannot be imported." in batch.notes
    assert batch.notes and not any("L0" in n for n in batch.notes)  # no id echoed


def test_scoring_an_export_onto_itself_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """`leadscore score leads.csv --out leads.csv` replaced the export by its scores (exit 0);
    likewise --out inside the Parquet CRM folder being scored."""
    from leadscore.pipeline import ScoreSpec, score_step

    export = tmp_path / "leads.csv"
    export.write_text("lead_id,x\nL1,1\n")
    with pytest.raises(ConfigError, match="is the export being scored"):
        score_flat_step(FlatScoreSpec(table=export, model="champion", out=tmp_path / "leads.csv"))
    assert export.read_text() == "lead_id,x\nL1,1\n"
    crm = tmp_path / "crm"
    crm.mkdir()
    for table in (crm / "contacts.parquet", crm / "events" / "part-1.parquet"):
        with pytest.raises(ConfigError, match="is a table of the CRM being scored"):
            score_step(ScoreSpec(source=crm, out=table))
    with pytest.raises(DataContractError):  # scores beside the tables are fine; no tables is not
        score_step(ScoreSpec(source=crm, out=crm / "scores.parquet", model=str(tmp_path)))
