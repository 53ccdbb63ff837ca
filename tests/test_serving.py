"""The tracked scorer: pyfunc output, exact SHAP additivity, reasons in words, batch scoring
(atomic output, score history), compatibility errors and Spark UDF parity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from leadscore.errors import ArtifactError
from leadscore.features import load_definition
from leadscore.model.bots import bot_flags
from leadscore.serving import (
    OUTPUT_COLUMNS,
    ScoreStore,
    explain_contact,
    load_scorer,
    score_contact_base,
)
from leadscore.serving.bot_cap import capped_probability
from leadscore.serving.reasons import explain_rows, reason_groups
from tests.test_serving_support import ServingModel, champion_features, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def features(model: ServingModel) -> pd.DataFrame:
    return champion_features(model)


def test_pyfunc_loads_and_returns_scores_grades_and_reasons(
    model: ServingModel, features: pd.DataFrame
) -> None:
    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model(str(model.folder))
    # the pyfunc's predict takes CRM-shaped leads (tests/test_pyfunc_travel.py); its scorer
    # takes feature frames
    out = pyfunc.unwrap_python_model().scorer.score(features.head(200))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == 200
    assert out["p_sql"].between(0, 1, inclusive="neither").all()
    assert out["p_meeting"].between(0, 1, inclusive="neither").all()
    assert set(out["grade"]) <= {"A", "B", "C", "D"}
    assert out["fit_score"].between(0, 100).all() and out["engagement_score"].between(0, 100).all()
    assert all(isinstance(r, list) and len(r) <= 3 for r in out["reasons_positive"])
    assert sum(len(r) for r in out["reasons_positive"]) > 0
    assert sum(len(r) for r in out["reasons_negative"]) > 0
    # grades follow p_sql: every A lead is at least as likely as every B lead, and so on
    worst = out.groupby("grade")["p_sql"].min()
    best = out.groupby("grade")["p_sql"].max()
    for high, low in (("A", "B"), ("B", "C"), ("C", "D")):
        if high in worst and low in best:
            assert worst[high] >= best[low]


def test_contributions_add_up_to_the_raw_score(model: ServingModel, features: pd.DataFrame) -> None:
    scorer = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    explanation = scorer.explain(features)
    head = scorer.heads["sql"]
    matrix = head.matrix(features)
    raw = head.booster.predict(matrix, raw_score=True)
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), raw, rtol=0, atol=1e-9)
    direct = head.booster.predict(matrix, pred_contrib=True)
    np.testing.assert_allclose(explanation.contributions, direct, rtol=0, atol=1e-9)
    p = head.calibrator.predict(1 / (1 + np.exp(-raw)))
    # bot-like rows (leadscore.model.bots) have their graded probability capped, no others
    bots = bot_flags(features, scorer.spec.bots)
    assert scorer.spec.grades is not None
    p = np.where(bots, np.minimum(p, capped_probability(scorer.spec.grades, "C")), p)
    np.testing.assert_allclose(explanation.scores["p_sql"], p, rtol=1e-12)


def _crafted_reasons() -> list[Any]:
    definition = load_definition()
    names = list(definition.names)
    row = {name: 0 for name in names}
    row.update(
        {
            "seniority": "vp",
            "employee_band": "200-499",
            "industry": "software",
            "is_target_industry": True,
            "pricing_visits_7d": 3,
            "pricing_visits_30d": 3,
            "days_since_last_event": 45,
            "email_domain_kind": "webmail",
        }
    )
    frame = pd.DataFrame([row])
    effects = {
        "pricing_visits_7d": 0.9,
        "pricing_visits_30d": 0.3,  # same reason as the 7-day window: one sentence
        "seniority": 0.7,
        "employee_band": 0.5,
        "is_target_industry": 0.3,
        "days_since_last_event": -0.8,
        "email_domain_kind": -0.2,
    }
    contributions = np.zeros((1, len(names) + 1))
    for name, value in effects.items():
        contributions[0, names.index(name)] = value
    groups = reason_groups(definition, names)
    return explain_rows(contributions, frame, names, groups, definition, top=3)


def test_reasons_in_words_for_a_crafted_contact() -> None:
    (reasons,) = _crafted_reasons()
    assert [r.text for r in reasons.positive] == [
        "3 pricing-page visits in the last 7 days",
        "company of 200-499 employees, target industry",
        "VP-level title",
    ]
    assert reasons.positive[0].effect == pytest.approx(1.2)
    assert [r.text for r in reasons.negative] == [
        "no activity for 45 days",
        "webmail email address",
    ]


def test_batch_scoring_writes_scores_and_history(model: ServingModel, tmp_path: Path) -> None:
    out, store = tmp_path / "scores.parquet", ScoreStore(tmp_path / "scores.duckdb")
    seen: list[tuple[int, int]] = []
    result = score_contact_base(
        model.crm_path,
        "champion",
        out,
        tracking_uri=model.tracking_uri,
        chunk_size=500,
        progress=lambda done, total: seen.append((done, total)),
        store=store,
        as_of=model.as_of,
    )
    frame = pd.read_parquet(out)
    assert len(frame) == result.rows > 1000 and frame["contact_id"].is_unique
    assert result.model_version == "leadscore/1"
    assert seen[0][0] == 0 and seen[-1] == (result.rows, result.rows) and len(seen) >= 4
    assert list(frame.columns)[:3] == ["contact_id", "scored_at", "model_version"]
    assert store.count() == result.rows
    lead = frame.sort_values("p_sql").iloc[-1]
    history = store.history(str(lead["contact_id"]))
    assert len(history) == 1 and history["grade"].iloc[0] == lead["grade"] == "A"
    assert list(history["reasons_positive"].iloc[0]) == list(lead["reasons_positive"])

    explained = explain_contact(
        model.crm_path,
        str(lead["contact_id"]),
        "champion",
        tracking_uri=model.tracking_uri,
        as_of=model.as_of,
    )
    assert explained.p_sql == pytest.approx(float(lead["p_sql"]), rel=1e-12)
    assert [r.text for r in explained.positive] == list(lead["reasons_positive"])
    assert explained.base_value + sum(
        v for v in [explained.raw_score - explained.base_value]
    ) == pytest.approx(explained.raw_score)


def test_interrupted_batch_leaves_the_previous_output_intact(
    model: ServingModel, tmp_path: Path
) -> None:
    out, store = tmp_path / "scores.parquet", ScoreStore(tmp_path / "scores.duckdb")
    first = score_contact_base(
        model.crm_path,
        "champion",
        out,
        tracking_uri=model.tracking_uri,
        store=store,
        as_of=model.as_of,
    )
    before = out.read_bytes()

    def crash(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt  # as if the process were stopped mid-run

    with pytest.raises(KeyboardInterrupt):
        score_contact_base(
            model.crm_path,
            "champion",
            out,
            tracking_uri=model.tracking_uri,
            store=store,
            chunk_size=300,
            progress=crash,
            as_of=model.as_of,
        )
    assert out.read_bytes() == before
    assert pq.read_metadata(out).num_rows == first.rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.duckdb", "scores.parquet"]
    assert store.count() == first.rows  # the interrupted run appended nothing


def test_incompatible_scorer_fails_with_a_clear_error(model: ServingModel, tmp_path: Path) -> None:
    for key, value, message in (
        ("package_version", "9.0.0", "major versions differ"),
        ("schema_version", "99", "schema 99"),
    ):
        copy = tmp_path / key
        shutil.copytree(model.folder, copy)
        (spec_path,) = copy.glob("artifacts/**/scorer.json")
        spec = json.loads(spec_path.read_text())
        spec[key] = value
        spec_path.write_text(json.dumps(spec))
        with pytest.raises(ArtifactError, match=message):
            load_scorer(copy)


def _plain(value: Any) -> Any:
    """A numpy scalar as a JSON-ready Python value."""
    return value.item()


@pytest.mark.spark
def test_spark_udf_gives_the_pandas_results(model: ServingModel, spark: Any) -> None:
    """The pyfunc as a Spark UDF over CRM-shaped leads (read from JSON, as an export would be)
    gives the pandas pyfunc's output."""
    import duckdb
    import mlflow.pyfunc

    from tests.posted_leads import lead_from_crm

    with duckdb.connect(str(model.crm_path), read_only=True) as con:
        ids = [
            str(r[0])
            for r in con.execute(
                "SELECT min(contact_id) FROM contacts GROUP BY account_id "
                "HAVING count(*) = 1 ORDER BY 1 LIMIT 40"
            ).fetchall()
        ]
        leads = [lead_from_crm(con, c, before=model.as_of) for c in ids]
    params = {"as_of": model.as_of.isoformat(), "complete_accounts": True}
    expected = mlflow.pyfunc.load_model(str(model.folder)).predict(
        pd.DataFrame(leads), params=params
    )
    assert expected["scored"].sum() >= 5
    columns = ["contact_id", "scored", *OUTPUT_COLUMNS]
    udf = mlflow.pyfunc.spark_udf(
        spark,
        str(model.folder),
        result_type=(
            "contact_id string, scored boolean, p_sql double, p_meeting double, grade string, "
            "fit_score double, engagement_score double, reasons_positive array<string>, "
            "reasons_negative array<string>"
        ),
        env_manager="local",
        params=params,
    )
    rows = spark.sparkContext.parallelize([json.dumps(lead, default=_plain) for lead in leads])
    frame = spark.read.json(rows).coalesce(1)  # one batch: the leads are whole accounts
    parts = ["contact", "account", "events", "stage_changes"]
    got = frame.select(udf(*parts).alias("s")).select("s.*").toPandas()
    assert got["scored"].tolist() == expected["scored"].tolist()
    # MLflow's UDF casts a string column with numpy: an unscored lead's grade reads "None"
    scored = expected["scored"].to_numpy()
    got, expected = got[scored], expected[scored]
    for column in columns:
        left, right = got[column].tolist(), expected[column].tolist()
        if column.startswith("reasons"):
            assert [list(v) for v in left] == [list(v) for v in right]
        elif column.startswith("p_") or column.endswith("_score"):
            np.testing.assert_allclose(left, right, rtol=1e-12, equal_nan=True)
        else:
            assert left == right, column
