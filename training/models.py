"""The two model families per target: a LightGBM head and a regularised logistic baseline.

Both follow scikit-learn conventions (``fit`` returns ``self``, learned state ends in ``_``)
and output *calibrated* probabilities: the raw model is fitted on the training period, early
stopping and calibration use the validation period. A fitted LightGBM model's product is its
:class:`~leadscore.model.head.ModelHead` (``head_``): the very object that is saved and served,
so evaluation and serving predict through the same code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression

from leadscore.model.calibration import CalibrationMethod, Calibrator
from leadscore.model.encoding import FeatureEncoder
from leadscore.model.head import ModelHead
from leadscore.model.inputs import FeatureSpec
from leadscore.model.lgb_threads import predict
from leadscore.model.linear_head import LogisticHead
from leadscore.training.calibration import choose_calibrator
from leadscore.training.logistic_design import LogisticDesign

__all__ = [
    "LightGBMData",
    "LightGBMModel",
    "LightGBMParams",
    "LogisticModel",
    "LogisticParams",
]

FloatArray = np.ndarray[Any, Any]

MIN_BAGGED_ROWS = 1000
"""Fewest training rows a tree must see for negative bagging to apply: below, every negative
is in every tree. On a funnel of 1,500 leads scored at MQL entry (692 training rows, 32
positives) a tenth of the negatives left 98 rows per tree and a constant model (refused);
with every negative, LightGBM reached test AUC 0.70 (benchmarks/funnel_vs_flat.py)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LightGBMParams(_Strict):
    """LightGBM settings, regularised for rare positives (a few hundred per period).

    ``negative_fraction`` < 1 bags negatives: every tree sees all positives and that fraction
    of the negatives (LightGBM's ``neg_bagging_fraction``), which is faster and acts as an
    implicit positive weight of ``1 / negative_fraction``; ``bagging_fraction`` applies only
    when it is 1. ``imbalance`` adds an explicit positive weight: ``sqrt`` sqrt(neg/pos),
    ``balanced`` neg/pos, ``none`` none. Calibration on the validation period removes both
    distortions. ``max_bin`` is fixed when the data are binned.
    """

    num_leaves: int = Field(7, ge=2)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_rounds: int = Field(1000, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    min_child_samples: int = Field(200, ge=1)
    min_sum_hessian_in_leaf: float = Field(1.0, ge=0)
    feature_fraction: float = Field(0.7, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    negative_fraction: float = Field(0.1, gt=0, le=1)
    lambda_l2: float = Field(10.0, ge=0)
    max_bin: int = Field(63, ge=2)
    min_data_per_group: int = Field(50, ge=1)
    cat_smooth: float = Field(10.0, ge=0)
    imbalance: Literal["none", "sqrt", "balanced"] = "none"
    early_stopping_metric: Literal["binary_logloss", "auc", "average_precision"] = "binary_logloss"
    calibration: tuple[CalibrationMethod, ...] = ("platt", "isotonic")
    seed: int = 0
    num_threads: int = Field(0, ge=0)
    """0: one thread below 200k training rows (OpenMP threads lose badly on small data or busy
    machines), all cores above."""

    @property
    def dataset_key(self) -> int:
        """The setting fixed when the data are binned (``max_bin``): fits sharing it can share
        one :class:`LightGBMData`."""
        return self.max_bin


class LogisticParams(_Strict):
    """Logistic regression settings: inverse L2 strength ``C``; counts are log-transformed."""

    C: float = Field(0.1, gt=0)
    max_iter: int = Field(2000, ge=10)
    min_category_frequency: int = Field(20, ge=1)
    calibration: tuple[CalibrationMethod, ...] = ("platt", "isotonic")


def _positive_weight(
    y: np.ndarray[Any, Any], imbalance: str, weight: FloatArray | None = None
) -> float:
    w = np.ones(len(y)) if weight is None else weight
    pos = float(np.sum(w * (np.asarray(y) == 1)))
    neg = float(np.sum(w) - pos)
    if pos == 0 or imbalance == "none":
        return 1.0
    ratio = neg / pos
    return float(np.sqrt(ratio)) if imbalance == "sqrt" else ratio


@dataclass(frozen=True)
class LightGBMData:
    """Both periods encoded and binned once, shared by the fits of a search."""

    encoder: FeatureEncoder
    train: lgb.Dataset
    valid: lgb.Dataset
    x_valid: FloatArray
    y_train: np.ndarray[Any, Any]
    y_valid: np.ndarray[Any, Any]
    dataset_key: int
    w_train: FloatArray | None = None
    """Row weights of the training period (a negative sample's ``1 / fraction``); ``None``: 1."""

    @property
    def negative_sample(self) -> float:
        """The share of the population's negatives the training rows hold (1: not sampled):
        the inverse of the largest weight of a negative sample's rows."""
        if self.w_train is None or not len(self.w_train):
            return 1.0
        return min(1.0, 1.0 / float(np.max(self.w_train)))


class LightGBMModel:
    """A LightGBM binary classifier with fixed feature encoding and a calibrator."""

    def __init__(self, features: list[FeatureSpec], params: LightGBMParams | None = None) -> None:
        self.features = features
        self.params = params or LightGBMParams()

    def negative_bagging(self, negative_sample: float = 1.0) -> float:
        """The share of the training rows' negatives each tree sees. ``negative_fraction`` is a
        share of the population's negatives: on a negative sample holding ``negative_sample``
        of them, each tree bags ``negative_fraction / negative_sample`` of the sample (all of
        it when the sample is smaller), so a tree sees as many distinct negatives as on the
        unsampled table."""
        return min(1.0, self.params.negative_fraction / negative_sample)

    def booster_params(
        self,
        n_rows: int = 0,
        rows_per_tree: float | None = None,
        negative_sample: float = 1.0,
        bag: float | None = None,
    ) -> dict[str, Any]:
        """The LightGBM parameter dict used for training on ``n_rows`` rows (``rows_per_tree``:
        the rows one tree sees after bagging; when ``min_child_samples`` leaves no split
        possible in that many rows, it is lowered to an eighth of them: a small funnel must
        not come out as a constant model; ``negative_sample``: the share of the population's
        negatives the rows hold, see :meth:`negative_bagging`; ``bag``: the share of negatives
        each tree sees when the caller decided it, by default :meth:`negative_bagging`)."""
        p = self.params
        min_child = p.min_child_samples
        if rows_per_tree is not None and 2 * min_child > rows_per_tree:
            min_child = max(5, int(rows_per_tree // 8))
        threads = p.num_threads or (1 if n_rows < 200_000 else (os.cpu_count() or 1))
        bagging: dict[str, Any] = {"bagging_freq": p.bagging_freq}
        negatives = self.negative_bagging(negative_sample) if bag is None else bag
        if negatives < 1:
            bagging |= {"pos_bagging_fraction": 1.0, "neg_bagging_fraction": negatives}
            bagging["bagging_freq"] = max(1, p.bagging_freq)
        elif p.negative_fraction < 1:  # the sample is the bag: no row bagging on top
            bagging["bagging_freq"] = 0
        else:
            bagging["bagging_fraction"] = p.bagging_fraction
        return {
            "objective": "binary",
            "metric": p.early_stopping_metric,
            "num_leaves": p.num_leaves,
            "learning_rate": p.learning_rate,
            "min_child_samples": min_child,
            "min_sum_hessian_in_leaf": p.min_sum_hessian_in_leaf,
            "feature_fraction": p.feature_fraction,
            **bagging,
            "lambda_l2": p.lambda_l2,
            "max_bin": p.max_bin,
            "min_data_per_group": p.min_data_per_group,
            "cat_smooth": p.cat_smooth,
            "feature_pre_filter": False,
            "seed": p.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": threads,
            "verbosity": -1,
        }

    def prepare(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray[Any, Any],
        valid: pd.DataFrame,
        y_valid: np.ndarray[Any, Any],
        *,
        sample_weight: FloatArray | None = None,
    ) -> LightGBMData:
        """Encode and bin both periods once (reusable by fits with the same
        :attr:`LightGBMParams.dataset_key`); ``sample_weight``: training rows' weights."""
        encoder = FeatureEncoder(self.features).fit(train)
        x_valid = encoder.transform(valid)
        binning = {
            "max_bin": self.params.max_bin,
            "feature_pre_filter": False,
            "verbosity": -1,
            "num_threads": self.booster_params(len(train))["num_threads"],
        }
        dtrain = lgb.Dataset(
            encoder.transform(train),
            label=np.asarray(y_train),
            feature_name=encoder.feature_names,
            categorical_feature=encoder.categorical_indices,
            params=binning,
            free_raw_data=False,
        ).construct()
        dvalid = lgb.Dataset(
            x_valid,
            label=np.asarray(y_valid),
            reference=dtrain,
            params=binning,
            free_raw_data=False,
        ).construct()
        return LightGBMData(
            encoder,
            dtrain,
            dvalid,
            x_valid,
            np.asarray(y_train),
            np.asarray(y_valid),
            self.params.dataset_key,
            None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
        )

    def fit(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray[Any, Any],
        valid: pd.DataFrame,
        y_valid: np.ndarray[Any, Any],
        *,
        valid_groups: np.ndarray[Any, Any] | None = None,
        sample_weight: FloatArray | None = None,
    ) -> Self:
        """Fit on ``train`` (rows weighted by ``sample_weight``), stop early and calibrate on
        ``valid``; returns ``self``."""
        data = self.prepare(train, y_train, valid, y_valid, sample_weight=sample_weight)
        return self.fit_booster(data).calibrate(data, valid_groups)

    def fit_booster(self, data: LightGBMData) -> Self:
        """Boost on prepared data with early stopping on the validation period (uncalibrated
        until :meth:`calibrate`); returns ``self``."""
        if data.dataset_key != self.params.dataset_key:
            raise ValueError("the data were binned with another max_bin")
        self.encoder_ = data.encoder
        self.positive_weight_ = _positive_weight(data.y_train, self.params.imbalance, data.w_train)
        w, sample = self.positive_weight_, data.negative_sample
        bag = self.negative_bagging(sample)
        positives = float(np.sum(data.y_train == 1))
        if positives + bag * (len(data.y_train) - positives) < MIN_BAGGED_ROWS:
            bag = 1.0  # a small table: every negative in every tree (see MIN_BAGGED_ROWS)
        rows = data.w_train if data.w_train is not None else 1.0
        data.train.set_weight(np.where(data.y_train == 1, w, 1.0) * rows)
        # validation rows carry the weights the trees effectively see (positive weight, and
        # negatives thinned by bagging: a population negative is in a tree's bag with chance
        # sample * bag, at weight 1 / sample), so early stopping scores the objective that is
        # trained; calibration removes the distortion afterwards
        data.valid.set_weight(np.where(data.y_valid == 1, w, bag))
        seen = positives + bag * (len(data.y_train) - positives)
        self.booster_params_ = self.booster_params(
            data.train.num_data(), rows_per_tree=seen, negative_sample=sample, bag=bag
        )
        self.booster_ = lgb.train(
            self.booster_params_,
            data.train,
            num_boost_round=self.params.max_rounds,
            valid_sets=[data.valid],
            valid_names=["valid"],
            callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(
            self.booster_.best_iteration or self.booster_.current_iteration()
        )
        return self

    def calibrate(
        self, data: LightGBMData, valid_groups: np.ndarray[Any, Any] | None = None
    ) -> Self:
        """Choose and fit the calibrator on the validation period and build the head
        (:attr:`head_`); returns ``self``."""
        raw_valid = self._predict_matrix(data.x_valid)
        groups = valid_groups if valid_groups is not None else np.arange(len(data.y_valid))
        self.calibrator_, self.calibration_losses_ = choose_calibrator(
            raw_valid, data.y_valid, groups, methods=self.params.calibration
        )
        self.head_ = ModelHead.from_booster(
            self.booster_, self.encoder_, self.calibrator_, best_iteration=self.best_iteration_
        )
        return self

    def refit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray[Any, Any],
        rounds: int,
        *,
        sample_weight: FloatArray | None = None,
    ) -> LightGBMModel:
        """A new model boosted on ``frame`` (train + validation) for ``rounds`` rounds with this
        fitted model's exact LightGBM parameters (leaves, bagging, ``min_child_samples`` as
        validated) and positive weight, keeping its validation calibrator: no rows are left to
        stop early or calibrate on. ``sample_weight``: the rows' negative-sample weights."""
        encoder, data = self.refit_data(frame, y, sample_weight=sample_weight)
        return self.boost(encoder, data, rounds)

    def refit_data(
        self,
        frame: pd.DataFrame,
        y: np.ndarray[Any, Any],
        *,
        sample_weight: FloatArray | None = None,
    ) -> tuple[FeatureEncoder, lgb.Dataset]:
        """The encoder fitted on ``frame`` and the (unbinned) dataset :meth:`refit` boosts on:
        labels, this model's positive weight times ``sample_weight``."""
        encoder = FeatureEncoder(self.features).fit(frame)
        y = np.asarray(y)
        rows = 1.0 if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        data = lgb.Dataset(
            encoder.transform(frame),
            label=y,
            weight=np.where(y == 1, self.positive_weight_, 1.0) * rows,
            feature_name=encoder.feature_names,
            categorical_feature=encoder.categorical_indices,
            params={
                "max_bin": self.params.max_bin,
                "feature_pre_filter": False,
                "verbosity": -1,
                "num_threads": self.booster_params_["num_threads"],
            },
        )
        return encoder, data

    def boost(self, encoder: FeatureEncoder, data: lgb.Dataset, rounds: int) -> LightGBMModel:
        """A new model boosted on ``data`` (encoded by ``encoder``; a :meth:`refit_data` dataset
        or a subset of it) for ``rounds`` rounds with this model's exact parameters, keeping its
        calibrator."""
        model = LightGBMModel(self.features, self.params)
        model.encoder_ = encoder
        model.positive_weight_ = self.positive_weight_
        model.booster_params_ = dict(self.booster_params_)
        model.booster_ = lgb.train(model.booster_params_, data, num_boost_round=rounds)
        model.best_iteration_ = int(rounds)
        model.calibrator_ = self.calibrator_
        model.calibration_losses_ = self.calibration_losses_
        model.head_ = ModelHead.from_booster(
            model.booster_, model.encoder_, model.calibrator_, best_iteration=model.best_iteration_
        )
        return model

    def recalibrate(self, calibrator: Calibrator, losses: dict[str, float]) -> Self:
        """Replace the calibrator (and the head built on it); returns ``self``."""
        self.calibrator_, self.calibration_losses_ = calibrator, losses
        self.head_ = ModelHead.from_booster(
            self.booster_, self.encoder_, calibrator, best_iteration=self.best_iteration_
        )
        return self

    def _predict_matrix(self, x: FloatArray) -> FloatArray:
        """Uncalibrated probabilities of the boosted trees (before the head exists)."""
        return predict(self.booster_, x, num_iteration=self.best_iteration_)

    def predict_raw(self, frame: pd.DataFrame) -> FloatArray:
        """Uncalibrated probabilities."""
        return self.head_.predict_raw(frame)

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probabilities of the positive class."""
        return self.head_.predict_proba(frame)

    def contributions(self, frame: pd.DataFrame) -> FloatArray:
        """Exact SHAP values in log-odds (rows x (features + 1), last column = bias)."""
        return self.head_.contributions(frame)


class LogisticModel:
    """Regularised logistic regression: imputation with missing indicators, signed log of
    numbers, scaling, one-hot categoricals (rare levels grouped, unseen ignored); the design
    matrix is :class:`~leadscore.training.logistic_design.LogisticDesign`'s."""

    def __init__(self, features: list[FeatureSpec], params: LogisticParams | None = None) -> None:
        self.features = features
        self.params = params or LogisticParams()

    def _fit_design(
        self, frame: pd.DataFrame, y: np.ndarray[Any, Any], sample_weight: FloatArray | None
    ) -> None:
        """Fit the design and the regression on ``frame`` (rows weighted by ``sample_weight``)
        and keep the design columns' weighted means (the head's reasons' reference)."""
        self.design_ = LogisticDesign(self.features, self.params.min_category_frequency)
        matrix = self.design_.fit_matrix(frame)
        self.classifier_ = LogisticRegression(C=self.params.C, max_iter=self.params.max_iter)
        self.classifier_.fit(matrix, np.asarray(y), sample_weight=sample_weight)
        self.column_means_ = np.average(matrix, axis=0, weights=sample_weight)

    def fit(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray[Any, Any],
        valid: pd.DataFrame,
        y_valid: np.ndarray[Any, Any],
        *,
        valid_groups: np.ndarray[Any, Any] | None = None,
        sample_weight: FloatArray | None = None,
    ) -> Self:
        """Fit on ``train`` (rows weighted by ``sample_weight``), calibrate on ``valid``; returns
        ``self``. The servable head (:attr:`head_`,
        :func:`leadscore.training.linear.logistic_head`) is built on demand."""
        self._fit_design(train, y_train, sample_weight)
        groups = valid_groups if valid_groups is not None else np.arange(len(valid))
        self.valid_raw_ = self.predict_raw(valid)  # the validation period's raw scores
        self.calibrator_, self.calibration_losses_ = choose_calibrator(
            self.valid_raw_, np.asarray(y_valid), groups, methods=self.params.calibration
        )
        return self

    def refit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray[Any, Any],
        *,
        sample_weight: FloatArray | None = None,
    ) -> LogisticModel:
        """A new model with the same settings fitted on ``frame`` (train + validation), keeping
        this model's validation calibrator and validation scores (the choice read them)."""
        model = LogisticModel(self.features, self.params)
        model._fit_design(frame, y, sample_weight)
        model.valid_raw_ = self.valid_raw_
        model.calibrator_ = self.calibrator_
        model.calibration_losses_ = self.calibration_losses_
        return model

    def head(self, encoder: FeatureEncoder) -> LogisticHead:
        """The servable head of the fitted pipeline (``encoder``: the inputs' names and kinds)."""
        from leadscore.training.linear import logistic_head

        return logistic_head(
            self.design_, self.classifier_, self.column_means_, encoder, self.calibrator_
        )

    def predict_raw(self, frame: pd.DataFrame) -> FloatArray:
        """Uncalibrated probabilities."""
        matrix = self.design_.matrix(frame)
        return np.asarray(self.classifier_.predict_proba(matrix)[:, 1], dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probabilities of the positive class."""
        return self.calibrator_.predict(self.predict_raw(frame))
