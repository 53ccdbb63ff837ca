"""The logistic model's NumPy design matrix equals the scikit-learn pipeline it replaced, value
for value, so the fitted coefficients and scores are the same (issue 15 item 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from leadscore.model.encoding import FeatureEncoder
from leadscore.model.inputs import FeatureSpec
from leadscore.training.logistic_design import (
    LogisticDesign,
    reference_columns,
    reference_inputs,
    text_codes,
)
from leadscore.training.models import LogisticModel, LogisticParams
from leadscore.training.split import time_split
from tests.simulate import simulate_training_table

EXTRA = [
    FeatureSpec("plan_code", "categorical", "firmographic"),  # whole numbers with blanks
    FeatureSpec("all_rare", "categorical", "firmographic"),  # every level rare
    FeatureSpec("never_seen", "numeric", "engagement"),  # no value at all
    FeatureSpec("opted_in", "boolean", "engagement"),  # text booleans
]


def _frame(n_contacts: int, seed: int) -> tuple[pd.DataFrame, list[FeatureSpec], pd.Series]:
    """A simulated table with odd columns: numeric-coded and all-rare categoricals, an empty
    number, booleans as text, a level spelled like the missing marker, missing values."""
    table = simulate_training_table(n_contacts, 8, seed=seed)[0]
    rng = np.random.default_rng(seed)
    frame = table.frame.copy()
    n = len(frame)
    frame["plan_code"] = np.where(rng.random(n) < 0.1, np.nan, rng.integers(1, 6, n) * 1.0)
    frame["all_rare"] = [f"x{i}" for i in rng.integers(0, n, n)]
    frame["never_seen"] = np.nan
    frame["opted_in"] = pd.Series(rng.choice(["yes", "no", None], n), dtype=object)
    frame.loc[frame.index[:30], "industry"] = "__missing__"
    frame.loc[rng.random(n) < 0.05, "seniority"] = None
    frame.loc[rng.random(n) < 0.1, "days_since_last_visit"] = np.nan
    return frame, [*table.features, *EXTRA], table.labels("sql")


def _unseen(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with levels never seen in fitting, missing values where fitting had none."""
    odd = frame.head(6).copy()
    odd["industry"] = ["never-seen", None, "__missing__", "never-seen", "a", "b"]
    odd["all_rare"] = "never-seen"
    odd["plan_code"] = [7.0, np.nan, 1.0, 2.0, 3.0, 99.0]
    odd["pricing_visits_30d"] = np.nan
    return pd.concat([frame, odd])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, list[FeatureSpec], pd.Series]:
    return _frame(1200, 4)


@pytest.mark.parametrize(
    ("min_frequency", "numbers_missing"), [(1, True), (20, True), (200, True), (20, False)]
)
def test_design_matrix_equals_the_scikit_learn_pipeline(
    data: tuple[pd.DataFrame, list[FeatureSpec], pd.Series],
    min_frequency: int,
    numbers_missing: bool,
) -> None:
    frame, features, _ = data
    if not numbers_missing:  # no missing indicator: scikit-learn's block was row-major
        features = [f for f in features if f.name not in ("never_seen", "opted_in")]
        frame = frame.assign(days_since_last_visit=frame["days_since_last_visit"].fillna(0.0))
    split = time_split(frame)
    train, test = frame[split.mask("train")], _unseen(frame[split.mask("test")])
    design = LogisticDesign(features, min_frequency)
    reference = reference_columns(features, min_frequency)
    expected = reference.fit_transform(reference_inputs(features, train))
    got = design.fit_matrix(train)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        design.matrix(test), reference.transform(reference_inputs(features, test))
    )
    encoder = reference.named_transformers_["categorical"]
    rare = getattr(encoder, "infrequent_categories_", [None] * len(encoder.categories_))
    columns = zip(design.categorical_, encoder.categories_, rare, strict=True)
    for column, categories, infrequent in columns:
        assert sorted(column.levels + (column.infrequent or [])) == list(map(str, categories))
        assert column.infrequent == (None if infrequent is None else list(map(str, infrequent)))
    imputer = reference.named_transformers_["numeric"].steps[0][1]
    assert design.indicators_ == list(imputer.indicator_.features_)
    assert bool(design.indicators_) == numbers_missing


def test_logistic_model_fits_the_same_coefficients_and_scores(
    data: tuple[pd.DataFrame, list[FeatureSpec], pd.Series],
) -> None:
    frame, features, labels = data
    split = time_split(frame)
    train, valid = frame[split.mask("train")], frame[split.mask("valid")]
    test = _unseen(frame[split.mask("test")])
    y_train = labels[train.index].to_numpy()
    weights = np.random.default_rng(0).uniform(0.5, 3.0, len(train))
    params = LogisticParams()
    model = LogisticModel(features, params).fit(
        train, y_train, valid, labels[valid.index].to_numpy(), sample_weight=weights
    )
    reference = Pipeline(
        [
            ("columns", reference_columns(features, params.min_category_frequency)),
            ("classifier", LogisticRegression(C=params.C, max_iter=params.max_iter)),
        ]
    ).fit(reference_inputs(features, train), y_train, classifier__sample_weight=weights)
    classifier = reference.named_steps["classifier"]
    np.testing.assert_array_equal(model.classifier_.coef_, classifier.coef_)
    np.testing.assert_array_equal(model.classifier_.intercept_, classifier.intercept_)
    expected = reference.predict_proba(reference_inputs(features, test))[:, 1]
    np.testing.assert_array_equal(model.predict_raw(test), expected)
    # the served head replays it: the same scores, reasons centred on the weighted means
    head = model.head(FeatureEncoder(features).fit(train))
    np.testing.assert_allclose(head.predict_raw(test), expected, rtol=1e-9)
    design = reference.named_steps["columns"].transform(reference_inputs(features, train))
    np.testing.assert_array_equal(
        head.parts.column_means, np.average(design, axis=0, weights=weights)
    )


def test_text_codes_spell_values_as_the_text_column() -> None:
    column = pd.Series(["b", None, "a", "__missing__", "b", np.nan], dtype=object)
    codes, texts = text_codes(column)
    assert [texts[c] for c in codes] == ["b", "__missing__", "a", "__missing__", "b", "__missing__"]
    mixed = pd.Series([1, True, "1", 2.5, None], dtype=object)  # 1 == True, spelled apart
    codes, texts = text_codes(mixed)
    assert [texts[c] for c in codes] == ["1", "True", "1", "2.5", "__missing__"]
    whole = pd.Series([3.0, np.nan, 3.0, 12.0])
    codes, texts = text_codes(whole)
    assert [texts[c] for c in codes] == ["3", "__missing__", "3", "12"]
