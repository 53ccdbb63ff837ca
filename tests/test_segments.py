"""Models per segment, end to end on a small generated CRM: the minimum-data fallback that says
so (terminal, report, MLflow, artifact), the per-segment evaluation table, and scoring that
routes each lead to its segment's model (batch, explain, HTTP) and says which model scored it."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.crm import open_crm
from leadscore.errors import ArtifactError, ConfigError
from leadscore.model.bots import bot_flags
from leadscore.model.heads import read_heads
from leadscore.serving import explain_contact, load_scorer, score_contact_base
from leadscore.serving.bot_cap import capped_probability
from leadscore.serving.features import iter_features
from leadscore.serving.scorer import Scorer
from leadscore.training import TrainingResult
from tests.posted_leads import lead_from_crm
from tests.test_serving_api import running
from tests.test_serving_support import API_KEY, ServingModel, serving_model

TABLE_NAME = "train.parquet"


@dataclass(frozen=True)
class Segmented:
    base: ServingModel
    result: TrainingResult
    model: Path
    """The local pyfunc folder of the segmented model (scored without a registry)."""
    big: str
    small: str

    @property
    def heads(self) -> Path:
        return self.result.model_dir


def _config(root: Path, big: str, small: str) -> dict[str, Any]:
    """Fast settings (no validation search, small leaves) and segments by region: the largest
    region has enough data for its own model, a small one and an absent one do not."""
    return {
        "report_dir": str(root / "reports"),
        "shap_rows": 0,
        "fit_logistic": False,
        "evaluation": {"n_bootstrap": 40},
        "tuning": {"enabled": False},
        "lightgbm": {
            "min_child_samples": 5,
            "min_sum_hessian_in_leaf": 0.001,
            "lambda_l2": 1.0,
            "negative_fraction": 0.3,
            "max_rounds": 300,
        },
        "targets": ["sql"],  # 2,000 contacts hold too few meetings for a segment model
        "segments": {
            "column": "region",
            "values": [big, small, "atlantis"],
            "min_rows_train": 300,
            "min_positives_train": 10,
            "min_rows_valid": 100,
            "min_positives_valid": 2,
            "fallback_when_worse": False,
        },
    }


def _table(base: ServingModel) -> Path:
    return base.crm_path.parent / TABLE_NAME


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Segmented:
    return segmented_model(tmp_path_factory)


def segmented_model(tmp_path_factory: pytest.TempPathFactory) -> Segmented:
    """The serving tests' 2,000-contact table trained with segments by region (no MLflow run;
    the pyfunc saved to a local folder)."""
    from leadscore.model.pyfunc import save_pyfunc
    from leadscore.training import TrainingConfig, train

    base = serving_model(tmp_path_factory)
    root = tmp_path_factory.mktemp("segments")
    counts = _regions(_table(base))
    big, small = str(counts.index[0]), str(counts.index[-1])
    config = TrainingConfig.model_validate(_config(root, big, small))
    result = train(_table(base), config=config, track=False)
    model = save_pyfunc(result.model_dir, root)
    return Segmented(base, result, model, big, small)


def _regions(table: Path) -> pd.Series:
    return pd.read_parquet(table, columns=["region"])["region"].value_counts()


def _features(s: Segmented) -> pd.DataFrame:
    crm = open_crm(s.base.crm_path)
    try:
        definition = load_scorer(s.model).scorer.require_definition()
        return pd.concat(list(iter_features(crm, definition, as_of=s.base.as_of)))
    finally:
        crm.close()


def test_training_says_which_segments_fall_back_and_why(segmented: Segmented) -> None:
    from leadscore.cli import output

    assert segmented.result.segments is not None
    with output.console.capture() as captured:
        output.print_segments(segmented.result.segments)
    out = " ".join(captured.get().split())
    assert f"Segment region={segmented.big}: own model" in out
    assert "Per segment (region), out-of-time test: global vs segment" in out
    notes = " ".join(segmented.result.outcome.notes)  # printed as warnings, shown in the report
    for value in (segmented.small, "atlantis"):
        assert f"Segment region={value}: scored by the global model, too little data" in notes
    assert "0 training rows (minimum 300)" in notes  # atlantis: the reason gives the counts


def _html_table(html: str, heading: str) -> pd.DataFrame:
    """The report table right after ``heading`` (cells as text)."""
    after = html[html.index(heading) :]
    body = after[after.index("<table>") : after.index("</table>")]
    rows = [
        [unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_report_holds_the_per_segment_evaluation_table(segmented: Segmented) -> None:
    html = segmented.result.report_path.read_text(encoding="utf-8")
    assert "Per segment (region): global model vs segment model" in html
    assert "too little data" in html
    table = _html_table(html, "Per segment (region)")  # headers in words (tidy_frame)
    own = table[(table["Segment"] == segmented.big) & (table["Target"] == "sql")].iloc[0]
    assert own["Model"] == "own model"
    auc_own = float(own["Test roc auc segment"])
    auc_global = float(own["Test roc auc global"])
    assert 0 < auc_own < 1 and 0.5 < auc_global < 1
    assert float(own["Auc gain"]) == pytest.approx(auc_own - auc_global, abs=2e-3)
    verdicts = {"segment model better", "segment model worse", "no clear difference"}
    assert own["Verdict"] in verdicts
    assert re.fullmatch(r"0\.\d{3}-[01]\.\d{3}", own["Test roc auc segment 95ci"])
    assert float(own["Found segment"]) >= 0 and float(own["Found rules"]) >= 0
    fallback = table[table["Segment"] == segmented.small].iloc[0]
    assert fallback["Model"] == "global (fallback)" and "too little data" in fallback["Verdict"]


@pytest.mark.slow
def test_cli_train_prints_and_mlflow_records_segments(segmented: Segmented, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    config = _config(tmp_path, segmented.big, segmented.small)
    config.pop("tuning")  # the default validation search, as users run it
    config.pop("lightgbm")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    args = ["train", str(_table(segmented.base)), "--training-config", str(tmp_path / "train.yaml")]
    result = CliRunner().invoke(app, [*args, "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # rich wraps long lines
    assert f"Segment region={segmented.small}: scored by the global model, too little data" in out
    assert "Per segment (region), out-of-time test: global vs segment" in out
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(client.get_model_version("leadscore", "1").run_id)
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["segments.column"] == "region"
    assert tags[f"segment.{segmented.big}"] == "own model"
    assert tags["segment.atlantis"].startswith("global: too little data")
    assert 0 < metrics[f"segment.{segmented.big}.sql.test_roc_auc_segment"] <= 1
    loaded = load_scorer("1", tracking_uri=uri)  # the registered pyfunc routes by segment
    assert loaded.scorer.segments is not None


def test_artifact_records_segments_and_old_or_incompatible_ones(
    segmented: Segmented, tmp_path: Path
) -> None:
    artifact = read_heads(segmented.heads)
    assert artifact.segments is not None and artifact.segments.column == "region"
    assert set(artifact.segment_heads) == {segmented.big}
    entries = {e.value: e for e in artifact.segments.segments}
    assert (
        entries[segmented.small].folder is None
        and "too little data" in entries[segmented.small].reason
    )
    assert (
        json.loads((segmented.heads / "scorer.json").read_text())["format"] == "leadscore-scorer/2"
    )
    # an artifact from before segments (the serving tests' model) still loads, global only
    old = read_heads(segmented.base.folder / "artifacts" / "heads")
    assert old.segments is None and old.segment_heads == {}
    # a segments record of another format, or a spec naming segments without the record, fail
    copy = tmp_path / "heads"
    shutil.copytree(segmented.heads, copy)
    record = json.loads((copy / "segments.json").read_text())
    (copy / "segments.json").write_text(json.dumps({**record, "format": "leadscore-segments/9"}))
    with pytest.raises(ArtifactError, match="expected format 'leadscore-segments/1'"):
        read_heads(copy)
    (copy / "segments.json").unlink()
    with pytest.raises(ArtifactError, match="disagree on the segment column"):
        read_heads(copy)


def _bot_capped(rows: pd.DataFrame, p: np.ndarray, heads: Any) -> np.ndarray:
    """The graded probability: bot-like rows capped under the bar of the rule's grade."""
    rule = heads.spec.bots
    if rule is None:
        return p
    cap = capped_probability(heads.spec.grades, rule.cap_grade)
    return np.where(bot_flags(rows, rule), np.minimum(p, cap), p)


def test_scoring_routes_each_lead_to_its_segments_model(segmented: Segmented) -> None:
    features = _features(segmented).reset_index(drop=True)
    scorer = load_scorer(segmented.model).scorer
    assert scorer.segments is not None
    routed = scorer.score(features)
    in_big = (features["region"] == segmented.big).to_numpy()
    assert in_big.any() and (~in_big).any()
    assert (routed["scored_by"][in_big] == f"region={segmented.big}").all()
    assert (routed["scored_by"][~in_big] == "global").all()
    artifact = read_heads(segmented.heads)
    own_heads = artifact.segment_heads[segmented.big]
    own = own_heads.heads["sql"].predict_proba(features[in_big])
    glob = artifact.heads["sql"].predict_proba(features[~in_big])
    np.testing.assert_allclose(
        routed["p_sql"][in_big], _bot_capped(features[in_big], own, own_heads)
    )
    np.testing.assert_allclose(
        routed["p_sql"][~in_big], _bot_capped(features[~in_big], glob, artifact)
    )
    # the segment's grades and reasons come from its own model, in the rows' order
    alone = Scorer.from_artifact(artifact.segment_heads[segmented.big]).score(features[in_big])
    pd.testing.assert_frame_equal(
        routed[in_big].drop(columns="scored_by"), alone, check_index_type=False
    )
    # a value no segment declared (or a missing one) is scored by the global model
    odd = features.head(3).assign(region=["atlantis", None, segmented.big])
    out = scorer.score(odd)
    assert list(out["scored_by"]) == ["global", "global", f"region={segmented.big}"]


def test_batch_explain_and_http_say_which_model_scored(
    segmented: Segmented, tmp_path: Path
) -> None:
    s = segmented
    batch = score_contact_base(
        s.base.crm_path,
        s.model,
        tmp_path / "scores.parquet",
        store=None,
        as_of=s.base.as_of,
    )
    scores = pq.read_table(batch.path).to_pandas()
    assert set(scores["scored_by"]) == {"global", f"region={s.big}"}
    # the inbox's segment: the lead's value of the segment column, whichever model scored it
    assert (scores.loc[scores["scored_by"] != "global", "segment"] == s.big).all()
    assert scores["segment"].nunique() > 1
    one = scores[scores["scored_by"] == f"region={s.big}"].iloc[0]
    explained = explain_contact(s.base.crm_path, one["contact_id"], s.model, as_of=s.base.as_of)
    assert explained.scored_by == f"region={s.big}"
    assert explained.p_sql == pytest.approx(one["p_sql"])
    from leadscore.serving.api import create_app

    app_ = create_app(
        s.model,
        store=tmp_path / "store.duckdb",
        api_key=API_KEY,
        crm=s.base.crm_path,
    )
    other = scores[scores["scored_by"] == "global"].iloc[0]
    with duckdb.connect(str(s.base.crm_path), read_only=True) as con:
        leads = [lead_from_crm(con, c) for c in (one["contact_id"], other["contact_id"])]
    with running(app_) as url:
        body = {"leads": leads, "as_of": s.base.as_of.isoformat()}
        response = httpx.post(f"{url}/score", json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, response.text
    posted = {r["contact_id"]: r for r in response.json()["scores"]}
    assert posted[one["contact_id"]]["scored_by"] == f"region={s.big}"
    assert posted[other["contact_id"]]["scored_by"] == "global"
    assert posted[one["contact_id"]]["p_sql"] == pytest.approx(one["p_sql"])


def test_segments_config_errors_are_clear(segmented: Segmented, tmp_path: Path) -> None:
    from leadscore.pipeline.train import load_training_config
    from leadscore.training import TrainingConfig, train

    bad = tmp_path / "bad.yaml"
    bad.write_text("segments: {column: region, min_rows: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"segments\.min_rows"):
        load_training_config(bad)
    config = TrainingConfig.model_validate(
        {
            "report_dir": str(tmp_path),
            "shap_rows": 0,
            "fit_logistic": False,
            "evaluation": {"n_bootstrap": 0},
            "segments": {"column": "events_7d"},
        }
    )
    with pytest.raises(ConfigError, match=r"not categorical.*region"):
        train(_table(segmented.base), config=config, track=False)


def test_a_segment_model_worse_on_validation_or_constant_falls_back(segmented: Segmented) -> None:
    from leadscore.training import TrainingConfig
    from leadscore.training.segments import fit_segment_models

    result = segmented.result
    config = TrainingConfig.model_validate(_config(Path("unused"), segmented.big, "atlantis"))
    seg = config.segments
    assert seg is not None
    strict = config.model_copy(
        update={"segments": seg.model_copy(update={"fallback_when_worse": True})}
    )
    _, fits = fit_segment_models(result.outcome.table, result.outcome, strict)
    big = fits[0]
    global_auc, own_auc = big.validation_auc["sql"]
    if own_auc < global_auc:  # this small segment's own model is worse on validation
        assert not big.own_model and "not better than the global model" in big.reason
        assert f"AUC {own_auc:.3f} vs {global_auc:.3f}" in big.reason
    else:
        assert big.own_model
    # a leaf needing more hessian than the segment's rows hold allows no split: constant
    no_split = TrainingConfig.model_validate(
        {
            **_config(Path("unused"), segmented.big, "atlantis"),
            "lightgbm": {"min_sum_hessian_in_leaf": 1e9},
        }
    )
    _, fits = fit_segment_models(result.outcome.table, result.outcome, no_split)
    assert not fits[0].own_model and "model is constant" in fits[0].reason


def test_a_segments_own_heads_are_refitted_like_the_global_ones(segmented: Segmented) -> None:
    """The global heads ship refitted on train + validation; a segment's own heads are too, on
    the segment's share of those rows, so the test compares like with like."""
    from leadscore.model.segments import segment_keys

    outcome = segmented.result.outcome
    segments = segmented.result.segments
    assert outcome.refit is not None and segments is not None
    big = next(f for f in segments.fits if f.value == segmented.big)
    assert big.own_model
    in_segment = segment_keys(outcome.table.frame, "region") == segmented.big
    rows = int((outcome.refit.mask & in_segment).sum())
    assert big.refit["rows"] == rows > big.fitted_rows > 0
    assert f"refitted on {rows:,} train + validation rows" in " ".join(segments.notes())
    folder = next(p for p in segmented.heads.glob("segments/*") if p.is_dir())
    record = read_heads(folder).records["sql"].params["refit"]
    assert record["rows"] == rows and record["train_valid"] is True
    validated, refitted = record["rounds"]["sql"]
    assert refitted == validated  # the validated number of rounds is kept


def test_the_minimum_data_rule_names_every_shortfall() -> None:
    from leadscore.config import SegmentsConfig
    from leadscore.training.segments import shortfall

    rule = SegmentsConfig(column="region")  # defaults: 1000/50 train, 300/15 validation
    enough = {"train_rows": 1000, "valid_rows": 300}
    enough |= {"train_sql_positives": 50, "valid_sql_positives": 15}
    assert shortfall(enough, rule, ["sql"]) == ""
    short = enough | {"valid_sql_positives": 14, "train_rows": 999}
    text = shortfall(short, rule, ["sql"])
    assert text.startswith("too little data: ")
    assert "999 training rows (minimum 1000)" in text
    assert "14 sql positives in validation (minimum 15)" in text
