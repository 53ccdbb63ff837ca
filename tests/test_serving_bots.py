"""The bot rule at scoring (issue 14 item 4): batch, ``explain`` and HTTP cap a bot-like lead's
grade alike, and the first negative reason says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from leadscore.model.bots import BotRule, bot_flags, bot_sentence
from leadscore.serving import ScoreStore, explain_contact, load_scorer, score_contact_base
from leadscore.serving.bot_cap import capped_probability
from tests.test_serving_api import lead, running
from tests.test_serving_support import API_KEY, ServingModel, champion_features, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def features(model: ServingModel) -> pd.DataFrame:
    return champion_features(model)


def test_the_model_carries_the_rule_and_caps_a_bursty_top_lead(
    model: ServingModel, features: pd.DataFrame
) -> None:
    scorer = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    rule, grades = scorer.spec.bots, scorer.spec.grades
    assert rule is not None and grades is not None and rule.cap_grade == "C"
    top = features.loc[[scorer.probabilities(features)["p_sql"].idxmax()]].copy()
    explained = scorer.explain(top)
    before, before_reasons = explained.scores.iloc[0], explained.reasons
    assert before["grade"] in "AB"
    assert any(r.group.startswith("events:") for r in before_reasons[0].positive)
    top[rule.hour_feature] = 400
    after = scorer.explain(top)
    row = after.scores.iloc[0]
    assert row["grade"] == "C"
    assert row["p_sql"] == capped_probability(grades, "C") < grades.b
    first = after.reasons[0].negative[0]
    assert first.text.startswith("grade capped at C: 400 interactions within a single hour")
    assert first.effect < 0
    assert row["reasons_negative"][0] == first.text
    assert row["p_meeting"] == before["p_meeting"]  # only the graded probability is capped
    # its own activity looks automated: no reason *for* the lead; its fit stays
    positive = after.reasons[0].positive
    assert not [r.text for r in positive if r.group.startswith(("events:", "property:"))]


def test_batch_explain_and_http_agree_on_bot_like_leads(
    model: ServingModel, features: pd.DataFrame, tmp_path: Path
) -> None:
    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    rule = loaded.scorer.spec.bots
    flags = bot_flags(features, rule)
    bots = features.loc[flags, "contact_id"].astype(str).tolist()
    assert bots, "the synthetic CRM has bot-like contacts at the scoring date"
    batch = score_contact_base(
        model.crm_path,
        loaded,
        tmp_path / "scores.parquet",
        store=None,
        as_of=model.as_of,
    )
    scores = pd.read_parquet(batch.path).set_index("contact_id")
    assert set(scores.loc[bots, "grade"]) <= {"C", "D"}
    for contact in bots[:5]:
        explained = explain_contact(model.crm_path, contact, loaded, as_of=model.as_of)
        assert explained.grade == scores.loc[contact, "grade"]
        assert explained.p_sql == pytest.approx(scores.loc[contact, "p_sql"], rel=1e-12)
        texts = [r.text for r in explained.negative]
        assert texts == list(scores.loc[contact, "reasons_negative"])


def test_a_large_batch_keeps_its_reasons_column_wise_with_bots_capped(
    model: ServingModel, features: pd.DataFrame
) -> None:
    """Over TABLE_REASONS_FROM rows the reasons are a column-wise table; capping bots replaces
    their rows only, and the sentences equal the row-by-row ones."""
    from leadscore.serving.bot_cap import CappedReasons
    from leadscore.serving.reasons import reasons_as_text
    from leadscore.serving.scorer import TABLE_REASONS_FROM

    scorer = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    rule = scorer.spec.bots
    assert rule is not None
    rows = pd.concat([features] * (TABLE_REASONS_FROM // len(features) + 1)).head(
        TABLE_REASONS_FROM + 10
    )
    rows = rows.reset_index(drop=True)
    hot = scorer.probabilities(rows)["p_sql"].to_numpy().argsort()[::-1]
    first, second = int(hot[0]), int(next(i for i in hot if abs(int(i) - int(hot[0])) > 100))
    rows.loc[[first, second], rule.hour_feature] = 400  # two top leads turned bots, far apart
    explained = scorer.explain(rows)
    assert isinstance(explained.reasons, CappedReasons)
    positive, negative = reasons_as_text(explained.reasons)
    by_row = [list(r.negative) for r in explained.reasons]
    assert negative == [[r.text for r in row] for row in by_row]
    assert positive == [[r.text for r in row.positive] for row in explained.reasons]
    for i in (first, second):
        assert negative[i][0].startswith("grade capped at")
        assert list(explained.scores["reasons_negative"].iloc[i]) == negative[i]
    # batch scoring's path: scores without lists, reason columns built from flat sentences
    import pyarrow as pa

    from leadscore.serving.batch import REASON_COLUMNS, _table

    bare = scorer.explain_global(rows, lists=False)
    assert not set(REASON_COLUMNS) & set(bare.scores.columns)
    pd.testing.assert_frame_equal(
        bare.scores, explained.scores.drop(columns=list(REASON_COLUMNS)), check_exact=True
    )
    schema = pa.Schema.from_pandas(explained.scores, preserve_index=False)
    schema = (
        pa.schema([*(f for f in schema if f.name not in REASON_COLUMNS)])
        .append(pa.field("reasons_positive", pa.list_(pa.string())))
        .append(pa.field("reasons_negative", pa.list_(pa.string())))
    )
    expected = pa.Table.from_pandas(explained.scores, schema=schema, preserve_index=False)
    assert _table(bare.scores, bare.reasons, schema).equals(expected)


@pytest.fixture(scope="module")
def server(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from leadscore.serving.api import create_app

    store = ScoreStore(tmp_path_factory.mktemp("bots-store") / "scores.duckdb")
    app = create_app(
        "champion", tracking_uri=model.tracking_uri, api_key=API_KEY, store=store,
        crm=model.crm_path,
    )  # fmt: skip
    with running(app) as url:
        yield url


def test_http_caps_a_posted_bot_and_says_why(server: str, model: ServingModel) -> None:
    person = lead(model, "W1")
    bot = lead(model, "W9")
    hour = (model.as_of - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    bot["events"] = bot["events"] + [
        {"occurred_at": (hour + timedelta(seconds=9 * k)).isoformat(), "event_type": "web_visit"}
        for k in range(300)
    ]
    body = {"leads": [person, bot], "as_of": model.as_of.isoformat()}
    response = httpx.post(f"{server}/score", json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, response.text
    hot, capped = response.json()["scores"]
    assert capped["grade"] in ("C", "D")
    grades = load_scorer("champion", tracking_uri=model.tracking_uri).scorer.spec.grades
    assert grades is not None
    said = [r for r in capped["reasons_negative"] if r["text"].startswith("grade capped")]
    # the cap shows in the probability exactly when the reason says so, and comes first
    assert bool(said) == (capped["p_sql"] == capped_probability(grades, "C"))
    if said:
        assert capped["reasons_negative"][0] == said[0] and said[0]["effect"] < 0
        # the burst's 300 hits plus the lead's own two visits of that hour
        assert "302 interactions within a single hour" in said[0]["text"]
    assert not any(r["text"].startswith("grade capped") for r in hot["reasons_negative"])


def test_the_cap_sentence_agrees_in_number() -> None:
    rule = BotRule()
    one = pd.Series({rule.hour_feature: 412, rule.day_feature: 100})
    both = pd.Series({rule.hour_feature: 405, rule.day_feature: 484})
    assert "412 interactions within a single hour looks automated" in bot_sentence(one, rule)
    assert "and 484 interactions on a single day look automated" in bot_sentence(both, rule)
