"""Models per segment, end to end on a small generated CRM: the minimum-data fallback that says
so (terminal, report, MLflow, artifact), the per-segment evaluation table, and scoring that
routes each lead to its segment's model (batch, explain, HTTP) and says which model scored it."""

from __future__ import annotations

import json
import re
from html import unescape
import shutil
from dataclasses import dataclass
from pathlib import Path

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
from leadscore.model.heads import read_heads
from leadscore.serving import explain_contact, load_scorer, score_contact_base
from leadscore.serving.features import iter_features
from leadscore.serving.scorer import Scorer
from tests.posted_leads import lead_from_crm
from tests.test_serving_api import running
from tests.test_serving_support import API_KEY, ServingModel, serving_model

TABLE_NAME = "train.parquet"


@dataclass(frozen=True)
class Segmented:
    base: ServingModel
    uri: str
    stdout: str
    report: Path
    heads: Path
    big: str
    small: str


def _regions(table: Path) -> pd.Series:
    return pd.read_parquet(table, columns=["region"])["region"].value_counts()


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Segmented:
    """`leadscore train` on the serving tests' 2,000-contact table with segments by region: the
    largest region has enough data for its own model, a small one and an absent one fall back."""
    base = serving_model(tmp_path_factory)
    root = tmp_path_factory.mktemp("segments")
    table = base.crm_path.parent / TABLE_NAME
    counts = _regions(table)
    big, small = str(counts.index[0]), str(counts.index[-1])
    config = {
        "report_dir": str(root / "reports"),
        "shap_rows": 0,
        "fit_logistic": False,
        "evaluation": {"n_bootstrap": 40},
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
    (root / "train.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    args = ["train", str(table), "--training-config", str(root / "train.yaml")]
    result = CliRunner().invoke(app, [*args, "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    report = next((root / "reports").glob("train-*/report.html"))
    return Segmented(base, uri, result.output, report, report.parent / "heads", big, small)


def _features(s: Segmented) -> pd.DataFrame:
    crm = open_crm(s.base.crm_path)
    try:
        loaded = load_scorer("1", tracking_uri=s.uri)
        return pd.concat(
            list(iter_features(crm, loaded.scorer.require_definition(), as_of=s.base.as_of))
        )
    finally:
        crm.close()


def test_training_says_which_segments_fall_back_and_why(segmented: Segmented) -> None:
    out = " ".join(segmented.stdout.split())  # rich wraps long lines
    assert f"Segment region={segmented.big}: own model" in out
    for value in (segmented.small, "atlantis"):
        assert f"Segment region={value}: scored by the global model, too little data" in out
    assert "0 training rows (minimum 300)" in out  # atlantis: the reason gives the counts
    assert "Per segment (region), out-of-time test: global vs segment" in out


def _html_table(html: str, heading: str) -> pd.DataFrame:
    """The report table right after ``heading`` (cells as text)."""
    after = html[html.index(heading) :]
    body = after[after.index("<table>") : after.index("</table>")]
    rows = [
        [unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_report_holds_the_per_segment_evaluation_table(segmented: Segmented) -> None:
    html = segmented.report.read_text(encoding="utf-8")
    assert "Per segment (region): global model vs segment model" in html
    assert "too little data" in html
    table = _html_table(html, "Per segment (region)")
    own = table[(table["segment"] == segmented.big) & (table["target"] == "sql")].iloc[0]
    assert own["model"] == "own model"
    assert 0.5 < float(own["test_roc_auc_segment"]) <= 1 and float(own["test_roc_auc_global"]) > 0.5
    assert re.fullmatch(r"0\.\d{3}-[01]\.\d{3}", own["test_roc_auc_segment_95ci"])
    assert float(own["found_segment"]) >= 0 and float(own["found_rules"]) >= 0
    fallback = table[table["segment"] == segmented.small].iloc[0]
    assert fallback["model"] == "global (fallback)" and "too little data" in fallback["verdict"]


def test_mlflow_run_records_segments_and_fallback_reasons(segmented: Segmented) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=segmented.uri)
    run = client.get_run(client.get_model_version("leadscore", "1").run_id)
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["segments.column"] == "region"
    assert tags[f"segment.{segmented.big}"] == "own model"
    assert tags["segment.atlantis"].startswith("global: too little data")
    assert 0.5 < metrics[f"segment.{segmented.big}.sql.test_roc_auc_segment"] <= 1


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


def test_scoring_routes_each_lead_to_its_segments_model(segmented: Segmented) -> None:
    features = _features(segmented).reset_index(drop=True)
    scorer = load_scorer("1", tracking_uri=segmented.uri).scorer
    assert scorer.segments is not None
    routed = scorer.score(features)
    in_big = (features["region"] == segmented.big).to_numpy()
    assert in_big.any() and (~in_big).any()
    assert (routed["scored_by"][in_big] == f"region={segmented.big}").all()
    assert (routed["scored_by"][~in_big] == "global").all()
    artifact = read_heads(segmented.heads)
    own = artifact.segment_heads[segmented.big].heads["sql"].predict_proba(features[in_big])
    glob = artifact.heads["sql"].predict_proba(features[~in_big])
    np.testing.assert_allclose(routed["p_sql"][in_big], own)
    np.testing.assert_allclose(routed["p_sql"][~in_big], glob)
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
        "1",
        tmp_path / "scores.parquet",
        tracking_uri=s.uri,
        store=None,
        as_of=s.base.as_of,
    )
    scores = pq.read_table(batch.path).to_pandas()
    assert set(scores["scored_by"]) == {"global", f"region={s.big}"}
    one = scores[scores["scored_by"] == f"region={s.big}"].iloc[0]
    explained = explain_contact(
        s.base.crm_path, one["contact_id"], "1", tracking_uri=s.uri, as_of=s.base.as_of
    )
    assert explained.scored_by == f"region={s.big}"
    assert explained.p_sql == pytest.approx(one["p_sql"])
    from leadscore.serving.api import create_app

    app_ = create_app(
        "1",
        tracking_uri=s.uri,
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
        train(segmented.base.crm_path.parent / TABLE_NAME, config=config, track=False)
