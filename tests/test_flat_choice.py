"""Flat mode ships the candidate best on validation (LightGBM, logistic or the rules), says
which and why, and the registered model serves that head on raw export rows: scores, grades
and exact reasons in words, from the file and from the pyfunc alike. Rules YAML over flat
columns is strictly typed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import ConfigError, OutputError
from leadscore.model.pyfunc import save_pyfunc
from leadscore.pipeline import (
    FlatExplainSpec,
    FlatScoreSpec,
    FlatTrainSpec,
    explain_flat_step,
    score_flat_step,
    train_flat_step,
)
from leadscore.pipeline.rules import rules_init_step
from leadscore.serving import load_scorer
from leadscore.synthetic.flat_export import generate_flat_export
from leadscore.training.flat import read_flat_table
from leadscore.training.flat_choice import choose_flat_head
from leadscore.training.flat_rules import FlatRules, rules_notes
from leadscore.training.flat_rules_yaml import parse_flat_rules


def _linear_export(path: Path, n: int = 3000) -> Path:
    """A conversion linear in three numbers: logistic regression's home ground."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 6))
    p = 1 / (1 + np.exp(-(-2 + 1.2 * x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2])))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).round(3)
    frame.insert(0, "lead_id", [f"L{i:05d}" for i in range(n)])
    frame["segment"] = rng.choice(["smb", "mid", "ent"], n)
    frame["converted"] = (rng.random(n) < p).astype(int)
    frame["created"] = pd.date_range("2024-01-01", periods=n, freq="h").astype(str)
    frame.to_csv(path, index=False)
    return path


def _intent_export(path: Path, n: int = 2500) -> Path:
    """Conversion driven by a sales-intent field the team's rules read but the models are not
    given (dropped with --drop): the rules know more."""
    rng = np.random.default_rng(7)
    high = rng.random(n) < 0.3
    demo = rng.random(n) < 0.4
    p = np.where(high, 0.35, 0.03) + np.where(demo, 0.03, 0.0)
    frame = pd.DataFrame(
        {
            "lead_id": [f"R{i:05d}" for i in range(n)],
            "intent": np.where(high, "high", "low"),
            "demo_requested": np.where(demo, "yes", "no"),
            "lead_source": rng.choice(["Google", "Referral", "Event", "Select"], n),
            "page_views": rng.poisson(4, n),
            "created": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
            "won": (rng.random(n) < p).astype(int),
        }
    )
    frame.to_csv(path, index=False)
    return path


RULES = """\
mql_threshold: 50
rules:
  - name: sales intent
    feature: intent
    points: 60
    when: {equals: high}
  - name: asked for a demo
    feature: demo_requested
    points: 20
    when: {equals: true}
  - name: referral
    feature: lead_source
    points: 10
    when: {in: [Referral]}
"""


def test_logistic_ships_when_it_wins_on_validation_and_serves_flat_rows(tmp_path: Path) -> None:
    path = _linear_export(tmp_path / "linear.csv")
    result = train_flat_step(
        FlatTrainSpec(
            table=path,
            target="converted",
            time_column="created",
            report=tmp_path / "r.html",
            track=False,
        )
    )
    assert result.choice is not None and result.chosen == "logistic" == result.choice.shipped
    valid = result.choice.validation
    assert valid["logistic"]["pr_auc"] > valid["lightgbm"]["pr_auc"]
    assert result.choice.metric == "pr_auc"  # no rules baseline: PR AUC decides
    assert any(n.startswith("Shipped: logistic ships for converted") for n in result.notes)
    assert result.summary.loc[result.summary["shipped"] == "yes", "method"].tolist() == ["logistic"]
    folder = result.model_dir
    assert folder is not None and (folder / "sql.logistic.json").is_file()
    record = json.loads((folder / "sql.json").read_text())
    assert record["kind"] == "logistic" and record["choice"]["shipped"] == "logistic"
    page = result.report_path.read_text(encoding="utf-8")
    assert "Model choice (validation window)" in page
    # a flat report speaks of leads of the export, not of contacts at cutoffs
    assert "leads created from" in page and "cutoff" not in page
    assert "Valid found at mql" not in page  # no rules: nothing is an MQL

    (tmp_path / "pyfunc").mkdir()
    model = str(save_pyfunc(folder, tmp_path / "pyfunc"))
    out = tmp_path / "scores.csv"
    score_flat_step(FlatScoreSpec(table=path, model=model, out=out))
    scores = pd.read_csv(out)
    assert scores["p_converted"].nunique() > 1000 and set(scores["grade"]) == {"A", "B", "C", "D"}
    top = str(scores.loc[scores["p_converted"].idxmax(), "lead_id"])
    explained = explain_flat_step(FlatExplainSpec(row_id=top, table=path, model=model))
    assert explained.grade == "A" and explained.positive
    assert explained.positive[0].startswith(("X0 ", "X1 ", "X2 "))

    loaded = load_scorer(model)
    flat = loaded.scorer.flat
    assert flat is not None and flat.head.kind == "logistic"
    raw = pd.read_csv(path, keep_default_na=False, dtype=str).head(50)  # raw export text
    assert np.allclose(loaded.pyfunc.predict(raw)["p_converted"], scores["p_converted"].head(50))
    # exact linear reasons: bias + contributions is each row's logit
    rows = flat.prepare(raw)
    contributions = flat.explain(raw).contributions
    p_raw = flat.head.predict_raw(rows)
    assert np.allclose(contributions.sum(axis=1), np.log(p_raw / (1 - p_raw)))


def test_rules_yaml_ship_when_they_know_more_and_are_served(tmp_path: Path) -> None:
    path = _intent_export(tmp_path / "intent.csv")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    result = train_flat_step(
        FlatTrainSpec(
            table=path,
            target="won",
            time_column="created",
            drop=["intent"],
            rules=rules,
            report=tmp_path / "r.html",
            track=False,
        )
    )
    assert "intent" not in {f.name for f in result.features}
    assert result.choice is not None and result.chosen == "rules"
    assert result.choice.metric == "found_at_mql"
    found = {k: v["found_at_mql"] for k, v in result.choice.validation.items()}
    assert found["rules"] > max(found["lightgbm"], found["logistic"])
    # compared at the same sales capacity: the rules' MQL volume on the test period
    assert result.frame is not None and result.split is not None
    test = result.frame[result.split.mask("test")]
    mql = int(
        (
            (test["intent"] == "high") * 60
            + (test["demo_requested"] == "yes") * 20
            + (test["lead_source"] == "Referral") * 10
            >= 50
        ).sum()
    )
    assert set(result.evaluation.headline["leads"]) == {mql}
    assert any("MQL at 50 points" in n and "rules.yaml" in n for n in result.notes)

    folder = result.model_dir
    assert folder is not None and (folder / "sql.rules.json").is_file()
    (tmp_path / "pyfunc").mkdir()
    loaded = load_scorer(str(save_pyfunc(folder, tmp_path / "pyfunc")))
    raw = pd.DataFrame(
        {
            "intent": ["high", "high", "low", "low"],
            "demo_requested": ["yes", "no", "no", "No"],
            "lead_source": ["Google", "Google", "Referral", "Select"],
        }
    )
    scored = loaded.pyfunc.predict(raw)
    p = scored["p_won"].to_numpy()
    assert p[0] > p[1] > p[2] >= p[3]  # 80, 60, 10, 0 points: "no" is not a demo
    assert scored["grade"].iloc[0] == "A" and scored["grade"].iloc[3] == "D"
    assert "Intent: high" in scored["reasons_positive"].iloc[0]
    assert "Demo requested: yes" in scored["reasons_positive"].iloc[0]
    assert "Lead source: missing" not in scored["reasons_positive"].iloc[3]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_source": ["Google", "Yes", "No"],
            "visits": [1, 5, 3],
            "newsletter": ["yes", "no", "yes"],
            "won": [0, 1, 0],
        }
    )


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "{equals: Yes}",
            "rule 'r' (column 'lead_source'): equals: Yes was read by YAML as a "
            "boolean, but the column holds text: write equals: 'Yes'",
        ),
        ("{in: [Google, No]}", "in: No was read by YAML as a boolean"),
        ("{in: [Google, 7]}", "in: 7 is a number, but the column holds text"),
        ("{gte: 3}", "gte: 3 compares numbers, but the column holds text"),
    ],
)
def test_rules_on_a_text_column_are_strictly_typed(when: str, message: str) -> None:
    text = f"rules:\n  - name: r\n    feature: lead_source\n    points: 5\n    when: {when}\n"
    with pytest.raises(ConfigError) as error:
        parse_flat_rules(text, _frame(), target="won")
    assert message in str(error.value)


def test_rules_on_number_and_yes_no_columns_are_strictly_typed() -> None:
    def check(feature: str, body: str) -> str:
        text = f"rules:\n  - name: r\n    feature: {feature}\n    points: 5\n    {body}\n"
        with pytest.raises(ConfigError) as error:
            parse_flat_rules(text, _frame(), target="won")
        return str(error.value)

    assert "equals: 'five' is not a number" in check("visits", "when: {equals: 'five'}")
    assert "in: lists text values, but the column holds numbers" in check(
        "visits", "when: {in: ['1']}"
    )
    assert "the column holds yes/no values: write equals: true or false" in check(
        "newsletter", "when: {equals: 'yes'}"
    )
    assert "per_unit: true needs a number column" in check("lead_source", "per_unit: true")
    assert "no such column in the export" in check("country", "per_unit: true")
    assert "the outcome column cannot be a rule's input" in check("won", "per_unit: true")
    ok = parse_flat_rules(
        "mql_threshold: 10\nrules:\n"
        "  - {name: a, feature: lead_source, points: 5, when: {in: ['Yes', Google]}}\n"
        "  - {name: b, feature: visits, points: 2, per_unit: true, max_points: 8}\n"
        "  - {name: c, feature: newsletter, points: 3, when: {equals: yes}}\n",
        _frame(),
        target="won",
    )
    assert ok.points(_frame()).tolist() == [5 + 2 + 3, 5 + 8, 0 + 6 + 3]


def test_rules_init_flat_writes_a_starter_that_passes_the_strict_checks(tmp_path: Path) -> None:
    export = generate_flat_export(1500, seed=4)
    path = tmp_path / "leads.csv"
    export.frame.to_csv(path, index=False, sep=";", encoding="cp1252")
    out = tmp_path / "start.yaml"
    rules_init_step(out, flat=path, target=export.target)
    text = out.read_text(encoding="utf-8")
    frame = read_flat_table(path)
    rules = parse_flat_rules(text, frame, target=export.target)
    read = {r.feature for r in rules.as_ruleset().rules}
    assert read and not read & set(export.leaks)  # no planted leak in the example rules
    assert "lead_id" not in read and export.target not in read
    assert "left out, flagged as likely leakage" in text
    assert (rules.points(frame) >= rules.bar).any()  # the example MQL bar is reachable
    with pytest.raises(OutputError, match="already exists"):
        rules_init_step(out, flat=path, target=export.target)


def test_choice_edge_cases_constant_lightgbm_and_no_mql_on_validation() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(int)
    signal = y + rng.normal(0, 0.8, 400)
    scores = {"lightgbm": signal, "logistic": signal * 0.5 + rng.normal(0, 0.5, 400)}
    assert choose_flat_head("won", y, scores, None).shipped == "lightgbm"
    # a constant LightGBM never ships, even when ties would hand it the choice
    flat = {"lightgbm": np.zeros(400), "logistic": scores["logistic"]}
    chosen = choose_flat_head("won", y, flat, None, constant_lightgbm=True)
    assert chosen.shipped == "logistic" and "lightgbm" not in chosen.validation
    # rules that make no MQL on validation: the count at volume 0 says nothing, PR AUC decides
    none = choose_flat_head("won", y, {**scores, "rules": np.zeros(400)}, np.zeros(400, bool))
    assert none.metric == "pr_auc" and none.shipped == "lightgbm"
    some = choose_flat_head("won", y, {**scores, "rules": y * 60.0}, y == 1)
    assert some.metric == "found_at_mql" and some.shipped == "rules"


def test_a_score_column_served_as_rules_counts_negative_scores_as_zero() -> None:
    frame = pd.DataFrame({"hubspot": [80, -20, None, 45.5]})
    rules = FlatRules("hubspot", 50)
    assert rules.points(frame).tolist() == [80.0, 0.0, 0.0, 45.5]
    ruleset = rules.as_ruleset()
    assert ruleset.mql_threshold == 50 and ruleset.features == ["hubspot"]
    notes = rules_notes(rules, rules.points(frame), frame)
    assert any("1 row(s) have a negative 'hubspot': read as 0 points" in n for n in notes)
