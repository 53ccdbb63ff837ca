"""Exact SHAP contributions: equal to LightGBM's pred_contrib on every kind of value."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

lgb = pytest.importorskip("lightgbm")

from leadscore.serving import contributions  # noqa: E402
from leadscore.serving.contributions import ThresholdBinner, exact_contributions  # noqa: E402

TOL = 1e-9
N_FEATURES = 6
CATEGORICAL = 5  # feature index of the categorical column


def _training_data(n: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    X = np.empty((n, N_FEATURES))
    X[:, 0] = rng.normal(0.0, 2.0, n)  # continuous
    X[:, 1] = rng.poisson(1.0, n)  # small counts, many zeros
    X[:, 2] = np.where(rng.random(n) < 0.3, np.nan, rng.exponential(3.0, n))  # NaN-heavy
    X[:, 3] = np.where(rng.random(n) < 0.5, 0.0, rng.normal(1.0, 1.0, n))  # zero-heavy
    X[:, 4] = rng.integers(-3, 40, n)  # integers, negatives
    X[:, CATEGORICAL] = rng.integers(0, 12, n)
    logit = (
        0.8 * X[:, 0]
        + 0.7 * X[:, 1]
        - 0.3 * np.nan_to_num(X[:, 2], nan=-2.0)
        + np.where(X[:, 3] == 0.0, 1.0, X[:, 3])
        + 0.05 * X[:, 4]
        + np.isin(X[:, CATEGORICAL], [1, 4, 7]) * 1.5
        - 1.0
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return X, y


def _train(zero_as_missing: bool) -> Any:
    X, y = _training_data(3000, seed=1 if zero_as_missing else 0)
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "learning_rate": 0.2,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": 4,
        "zero_as_missing": zero_as_missing,
        "verbose": -1,
        "num_threads": 1,
        "seed": 7,
    }
    data = lgb.Dataset(X, y, categorical_feature=[CATEGORICAL], free_raw_data=False)
    return lgb.train(params, data, num_boost_round=40)


@pytest.fixture(scope="module", params=[False, True], ids=["nan-missing", "zero-as-missing"])
def booster(request: pytest.FixtureRequest) -> Any:
    return _train(bool(request.param))


def _thresholds(booster: Any) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                continue
            if node["decision_type"] == "<=":
                out.setdefault(node["split_feature"], []).append(float(node["threshold"]))
            stack += [node["left_child"], node["right_child"]]
    return out


def _edge_values(booster: Any, feature: int) -> list[float]:
    """Thresholds, their neighbouring doubles, and every special value LightGBM treats apart."""
    values = [0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, 2e-35, np.nan, np.inf, -np.inf, 1e300]
    values += [-1e300, 1e6, -1e6, 0.5, -0.5, 2.5, -2.5, 3.9999, 11.0, 12.0, 2**31, -(2**31) - 2]
    for t in _thresholds(booster).get(feature, []):
        if abs(t) < 1e299:
            values += [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)]
            values += [float(np.float32(t))]  # float32 rounding of the threshold
    return values


def _assert_exact(booster: Any, X: npt.NDArray[Any], **kwargs: Any) -> npt.NDArray[np.float64]:
    expected = booster.predict(X, pred_contrib=True)
    got = exact_contributions(booster, X, **kwargs)
    assert got.shape == expected.shape == (X.shape[0], N_FEATURES + 1)
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=TOL)
    raw = booster.predict(X, raw_score=True)
    np.testing.assert_allclose(got.sum(axis=1), raw, rtol=0.0, atol=TOL)
    return got


def _edge_rows(booster: Any, n: int, seed: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    X, _ = _training_data(n, seed=seed + 100)
    for j in range(N_FEATURES):
        pool = np.array(_edge_values(booster, j))
        mask = rng.random(n) < 0.5
        X[mask, j] = rng.choice(pool, mask.sum())
    return X


@pytest.mark.parametrize("trees_per_block", [None, 1, 7, 40])
def test_equals_pred_contrib_on_edge_values(booster: Any, trees_per_block: int | None) -> None:
    X = _edge_rows(booster, 4000, seed=3)
    _assert_exact(booster, X, trees_per_block=trees_per_block)


def test_one_block_is_bit_identical(booster: Any) -> None:
    X = _edge_rows(booster, 2000, seed=4)
    got = exact_contributions(booster, X, trees_per_block=40)
    assert np.array_equal(got, booster.predict(X, pred_contrib=True))


def test_outside_training_range(booster: Any) -> None:
    X, _ = _training_data(1000, seed=5)
    X[:, :5] *= 1000.0
    X[:, CATEGORICAL] += 50  # unseen categories
    _assert_exact(booster, X)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_dtypes_are_converted_like_lightgbm(booster: Any, dtype: type[Any]) -> None:
    X = _edge_rows(booster, 1500, seed=6)
    if dtype is np.float32:
        X = np.where(np.abs(X) > 1e38, np.copysign(np.inf, X), X)
    else:  # integers: LightGBM goes through float32, so 2**24 + 1 becomes 2**24
        X = np.clip(np.round(np.nan_to_num(X, nan=0.0, posinf=1e6, neginf=-1e6)), -1e6, 1e6)
        X = X + 2**24 * (np.arange(len(X)) % 2)[:, None]
    _assert_exact(booster, X.astype(dtype), trees_per_block=5)


def test_fortran_order_and_threads(booster: Any) -> None:
    X = np.asfortranarray(_edge_rows(booster, 1500, seed=7))
    _assert_exact(booster, X, n_jobs=-1)
    _assert_exact(booster, X, n_jobs=2, trees_per_block=3)


def test_binner_codes_equal_means_routing_equal(booster: Any) -> None:
    X = _edge_rows(booster, 3000, seed=8)
    codes = ThresholdBinner.from_booster(booster).transform(X)
    assert codes.dtype == np.int32 and codes.shape == X.shape
    leaves = booster.predict(X, pred_leaf=True)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    assert np.array_equal(leaves, leaves[first][inverse.reshape(-1)])


def _row_strategy(booster: Any) -> st.SearchStrategy[list[float]]:
    columns = [
        st.one_of(
            st.sampled_from(_edge_values(booster, j)),
            st.floats(allow_nan=True, allow_infinity=True, width=64),
            st.integers(-5, 50).map(float),
        )
        for j in range(N_FEATURES)
    ]
    return st.tuples(*columns).map(list)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_hypothesis_rows(zero_as_missing: bool) -> None:
    model = _train(zero_as_missing)
    binner = ThresholdBinner.from_booster(model)

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(rows=st.lists(_row_strategy(model), min_size=1, max_size=40))
    def check(rows: list[list[float]]) -> None:
        X = np.array(rows, dtype=np.float64)
        _assert_exact(model, X, binner=binner, trees_per_block=None)
        _assert_exact(model, X, binner=binner, trees_per_block=3)

    check()


class _CountingBooster:
    """A booster that records how many rows pred_contrib is asked to explain."""

    def __init__(self, booster: Any) -> None:
        self._booster = booster
        self.best_iteration = booster.best_iteration
        self.explained = 0

    def model_to_string(self) -> str:
        return str(self._booster.model_to_string())

    def predict(self, X: npt.NDArray[Any], **kwargs: Any) -> Any:
        self.explained += X.shape[0] * kwargs.get("num_iteration", 1)
        return self._booster.predict(X, **kwargs)


def test_dedupe_on_count_features() -> None:
    """Lead-like data (counts, weeks since last touch, a categorical): few distinct rows."""
    rng = np.random.default_rng(11)
    n = 10_000
    engaged = rng.random(n) < 0.2
    X = np.column_stack(
        [rng.poisson(np.where(engaged, 2.0, 0.05), n) for _ in range(4)]
        + [np.where(engaged, rng.integers(0, 13, n), np.nan), rng.integers(0, 6, n)]
    ).astype(np.float64)
    y = (rng.random(n) < 0.05 + 0.3 * engaged).astype(np.int64)
    model = lgb.train(
        {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y, categorical_feature=[5]),
        num_boost_round=30,
    )
    spy = _CountingBooster(model)
    got = exact_contributions(spy, X, trees_per_block=30)
    distinct = spy.explained // 30
    assert distinct < n // 4, distinct  # measured: 2,093 of 10,000 (cold contacts collapse)
    np.testing.assert_allclose(got, model.predict(X, pred_contrib=True), rtol=0.0, atol=TOL)


def test_best_iteration_and_num_iteration(booster: Any) -> None:
    X = _edge_rows(booster, 800, seed=9)
    expected = booster.predict(X, pred_contrib=True, num_iteration=10)
    got = exact_contributions(booster, X, num_iteration=10, trees_per_block=4)
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=TOL)


def test_empty_input(booster: Any) -> None:
    out = exact_contributions(booster, np.empty((0, N_FEATURES)))
    assert out.shape == (0, N_FEATURES + 1)


def test_clear_errors(booster: Any) -> None:
    with pytest.raises(ValueError, match=r"shape \(n_rows, 6\)"):
        exact_contributions(booster, np.zeros((3, 5)))
    with pytest.raises(TypeError, match="2-D numpy array"):
        exact_contributions(booster, [[0.0] * N_FEATURES])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_jobs"):
        exact_contributions(booster, np.zeros((3, N_FEATURES)), n_jobs=0)
    with pytest.raises(ValueError, match="trees_per_block"):
        exact_contributions(booster, np.zeros((3, N_FEATURES)), trees_per_block=0)


def test_multiclass_is_refused() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    model = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, rng.integers(0, 3, 300)),
        num_boost_round=2,
    )
    with pytest.raises(NotImplementedError, match="trees per iteration"):
        exact_contributions(model, X)


def test_threads_split_rows_exactly(booster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows split across worker threads (LightGBM calls serialised) give the same values."""
    monkeypatch.setattr(contributions, "_MIN_ROWS_PER_JOB", 100)
    X = _edge_rows(booster, 3000, seed=12)
    serial = _assert_exact(booster, X, n_jobs=1)
    for n_jobs in (2, 3, -1):
        threaded = _assert_exact(booster, X, n_jobs=n_jobs)
        np.testing.assert_allclose(threaded, serial, rtol=0.0, atol=TOL)
    _assert_exact(booster, X, n_jobs=2, trees_per_block=6)


def test_hashed_grouping_path(booster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks whose key space is too large to index directly are grouped by hashing."""
    monkeypatch.setattr(contributions, "_DENSE_LIMIT", 1)
    X = _edge_rows(booster, 2000, seed=13)
    for trees_per_block in (None, 1, 9):
        _assert_exact(
            booster,
            X,
            binner=ThresholdBinner.from_booster(booster),
            trees_per_block=trees_per_block,
        )


def test_plan_covers_every_iteration_once(booster: Any) -> None:
    binner = ThresholdBinner.from_booster(booster)
    for n_rows in (10, 5_000, 1_000_000):
        blocks = binner.plan(40, None, n_rows)
        assert [b.start for b in blocks] == [0] + [b.stop for b in blocks[:-1]]
        assert blocks[-1].stop == 40
        limit = max(contributions._MIN_KEYS, n_rows // contributions._ROWS_PER_KEY)
        assert all(b.size <= limit or b.stop - b.start == 1 for b in blocks)
    assert [b.stop - b.start for b in binner.plan(40, 7, 100)] == [7] * 5 + [5]
    assert binner.plan(40, None, 5_000) is binner.plan(40, None, 5_000)  # cached


def test_default_plan_explains_few_rows_on_lead_data() -> None:
    """Per-block key spaces stay small, so LightGBM explains a small share of row x tree
    pairs even when nearly every row is distinct for the whole model."""
    rng = np.random.default_rng(21)
    n = 20_000
    X = np.column_stack(
        [rng.poisson(0.5, n) for _ in range(5)]
        + [rng.integers(0, 365, n), rng.exponential(1000.0, n), rng.integers(0, 8, n)]
    ).astype(np.float64)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(2.0 - 0.5 * X[:, :5].sum(axis=1)))).astype(int)
    model = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y, categorical_feature=[7]),
        num_boost_round=30,
    )
    spy = _CountingBooster(model)
    got = exact_contributions(spy, X)
    assert spy.explained < 0.05 * n * 30, spy.explained
    np.testing.assert_allclose(got, model.predict(X, pred_contrib=True), rtol=0.0, atol=TOL)


def _assert_raw_bit_identical(booster: Any, X: npt.NDArray[Any], **kwargs: Any) -> None:
    from leadscore.serving.contributions import contributions_and_raw, probability_from_raw

    got, raw = contributions_and_raw(booster, X, **kwargs)
    np.testing.assert_allclose(got, booster.predict(X, pred_contrib=True), rtol=0.0, atol=TOL)
    assert np.array_equal(raw, booster.predict(X, raw_score=True))  # bit for bit
    binner = kwargs.get("binner") or ThresholdBinner.from_booster(booster)
    probability = probability_from_raw(raw, binner.objective)
    assert probability is not None and np.array_equal(probability, booster.predict(X))
    none, alone = contributions_and_raw(booster, X, contributions=False, **kwargs)
    assert none.shape == (0, N_FEATURES + 1) and np.array_equal(alone, raw)  # raw scores only


def test_raw_scores_from_the_contribution_pass_are_lightgbms(
    booster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw scores (and probabilities) computed with the contributions equal LightGBM's
    prediction bit for bit: edge values, unseen values, threads, hashed grouping."""
    _assert_raw_bit_identical(booster, _edge_rows(booster, 4000, seed=21))
    X, _ = _training_data(1000, seed=22)
    X[:, :5] *= 1000.0
    X[:, CATEGORICAL] += 50
    _assert_raw_bit_identical(booster, X)
    monkeypatch.setattr(contributions, "_MIN_ROWS_PER_JOB", 100)
    _assert_raw_bit_identical(booster, _edge_rows(booster, 3000, seed=23), n_jobs=2)
    monkeypatch.setattr(contributions, "_DENSE_LIMIT", 1)
    _assert_raw_bit_identical(
        booster, _edge_rows(booster, 2000, seed=24), binner=ThresholdBinner.from_booster(booster)
    )


def test_raw_scores_use_the_best_iteration(booster: Any) -> None:
    from leadscore.serving.contributions import contributions_and_raw

    copy = lgb.Booster(model_str=booster.model_to_string())
    copy.best_iteration = 11
    X = _edge_rows(booster, 800, seed=25)
    got, raw = contributions_and_raw(copy, X)
    assert np.array_equal(raw, copy.predict(X, raw_score=True))
    expected = copy.predict(X, pred_contrib=True, num_iteration=11)
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=TOL)
    empty, none = contributions_and_raw(copy, np.empty((0, N_FEATURES)))
    assert empty.shape == (0, N_FEATURES + 1) and none.shape == (0,)


def test_probability_only_for_the_binary_objective() -> None:
    from leadscore.serving.contributions import probability_from_raw

    raw = np.array([-3.0, 0.0, 2.5])
    assert probability_from_raw(raw, "regression") is None
    assert probability_from_raw(raw, "cross_entropy") is None
    half = probability_from_raw(raw, "binary sigmoid:0.5")
    assert half is not None and half[1] == 0.5


def test_parts_planned_as_the_whole_batch_get_its_values_bit_for_bit() -> None:
    """Batch scoring explains a chunk in parts with the chunk's plan (``plan_rows``): each
    row's values depend on the blocks only, so the parts give the whole chunk's bits."""
    from leadscore.serving.contributions import contributions_and_raw

    X, y = _training_data(3000, seed=27)
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1}
    data = lgb.Dataset(X, y, categorical_feature=[CATEGORICAL])
    booster = lgb.train(params, data, num_boost_round=60)
    rows = np.concatenate([_edge_rows(booster, 10_000, seed=26)] * 4)
    binner = ThresholdBinner.from_booster(booster)

    def bounds(n: int) -> list[tuple[int, int]]:
        return [(b.start, b.stop) for b in binner.plan(60, None, n)]

    assert bounds(40_000) != bounds(5_000)  # the plans differ
    whole = exact_contributions(booster, rows, binner=binner)
    _, whole_raw = contributions_and_raw(booster, rows, binner=binner)
    for lo, hi in ((0, 5_000), (5_000, 40_000), (17, 40)):
        part = exact_contributions(booster, rows[lo:hi], binner=binner, plan_rows=40_000)
        assert np.array_equal(part, whole[lo:hi])
        both, raw = contributions_and_raw(booster, rows[lo:hi], binner=binner, plan_rows=40_000)
        assert np.array_equal(both, whole[lo:hi]) and np.array_equal(raw, whole_raw[lo:hi])


def _general_codes(binner: ThresholdBinner, X: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Bin codes without the whole-number lookup (each value binned by ``fine``)."""
    from leadscore.serving._split_bins import as_lightgbm_values

    codes = np.zeros(X.shape, dtype=np.intp, order="F")
    for j, bins in enumerate(binner._bins):
        if bins is not None:
            codes[:, j] = bins.fine_to_code[bins.fine(as_lightgbm_values(X[:, j]))]
    return codes


@pytest.mark.parametrize(
    "kind", ["small", "minus-zero", "top-of-table", "beyond-table", "negative", "fraction", "nan"]
)
def test_whole_number_lookup_equals_binning_each_value(booster: Any, kind: str) -> None:
    """Columns of whole numbers in [0, _WHOLE_LIMIT) take their codes from a table (counts,
    days, categories); others (negative, fractional, NaN, larger) are binned value by value:
    the same codes and contributions either way."""
    rng = np.random.default_rng(11)
    n = 400
    limit = contributions._WHOLE_LIMIT
    X = rng.integers(0, 13, (n, N_FEATURES)).astype(np.float64)
    X[:, 0] = {
        "small": rng.integers(0, 40, n),
        "minus-zero": np.where(rng.random(n) < 0.5, -0.0, 3.0),
        "top-of-table": np.where(rng.random(n) < 0.5, limit - 1, 0),
        "beyond-table": np.where(rng.random(n) < 0.5, limit, 1),
        "negative": rng.integers(-3, 3, n),
        "fraction": rng.integers(0, 5, n) + np.where(rng.random(n) < 0.1, 0.5, 0.0),
        "nan": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 5, n)),
    }[kind]
    binner = ThresholdBinner.from_booster(booster)
    assert np.array_equal(binner._codes(X, np.intp), _general_codes(binner, X))
    assert binner._whole  # the other columns (whole numbers) went through the tables
    _assert_exact(booster, X, binner=binner)
    assert np.array_equal(binner._codes(X[:0], np.intp), _general_codes(binner, X[:0]))
