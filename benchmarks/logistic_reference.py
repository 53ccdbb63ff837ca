"""The logistic model as fitted before the speed-up (leadscore 46cec4d), kept as the reference
that benchmarks/logistic_fit.py times and checks the package against: scikit-learn's
ColumnTransformer (SimpleImputer, signed log, StandardScaler; OneHotEncoder on text columns)
in a Pipeline with the regression; its head read from the fitted pipeline."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from leadscore.model.calibration import Calibrator
from leadscore.model.encoding import FeatureEncoder, as_float, as_text
from leadscore.model.inputs import FeatureSpec
from leadscore.model.linear_head import LogisticHead, LogisticParts
from leadscore.training.calibration import choose_calibrator
from leadscore.training.models import LogisticParams

FloatArray = np.ndarray[Any, Any]


def _signed_log1p(x: FloatArray) -> FloatArray:
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)), dtype=np.float64)


class LogisticModel:
    """Regularised logistic regression: imputation with missing indicators, signed log of
    numbers, scaling, one-hot categoricals (rare levels grouped, unseen ignored)."""

    def __init__(self, features: list[FeatureSpec], params: LogisticParams | None = None) -> None:
        self.features = features
        self.params = params or LogisticParams()

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for spec in self.features:
            if spec.kind == "categorical":
                columns[spec.name] = (
                    as_text(frame[spec.name])
                    .astype(object)
                    .where(frame[spec.name].notna(), "__missing__")
                )
            else:
                columns[spec.name] = as_float(frame[spec.name], spec.kind)
        return pd.DataFrame(columns, index=frame.index)

    def _pipeline(self) -> Pipeline:
        numeric = [f.name for f in self.features if f.kind != "categorical"]
        categorical = [f.name for f in self.features if f.kind == "categorical"]
        numeric_steps = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            FunctionTransformer(_signed_log1p),
            StandardScaler(),
        )
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=self.params.min_category_frequency,
            sparse_output=False,
        )
        columns = ColumnTransformer(
            [("numeric", numeric_steps, numeric), ("categorical", encoder, categorical)],
            remainder="drop",
        )
        classifier = LogisticRegression(C=self.params.C, max_iter=self.params.max_iter)
        return Pipeline([("columns", columns), ("classifier", classifier)])

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
        inputs = self._inputs(train)
        weights = {} if sample_weight is None else {"classifier__sample_weight": sample_weight}
        self.pipeline_ = self._pipeline().fit(inputs, np.asarray(y_train), **weights)
        self._train_inputs = inputs  # the design columns' means, for the head's reasons
        self._train_weights = sample_weight
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
        inputs = model._inputs(frame)
        weights = {} if sample_weight is None else {"classifier__sample_weight": sample_weight}
        model.pipeline_ = model._pipeline().fit(inputs, np.asarray(y), **weights)
        model._train_inputs = inputs
        model._train_weights = sample_weight
        model.valid_raw_ = self.valid_raw_
        model.calibrator_ = self.calibrator_
        model.calibration_losses_ = self.calibration_losses_
        return model

    def head(self, encoder: FeatureEncoder) -> LogisticHead:
        """The servable head of the fitted pipeline (``encoder``: the inputs' names and kinds)."""
        return logistic_head(
            self.pipeline_, self._train_inputs, encoder, self.calibrator_, self._train_weights
        )

    def predict_raw(self, frame: pd.DataFrame) -> FloatArray:
        """Uncalibrated probabilities."""
        return np.asarray(self.pipeline_.predict_proba(self._inputs(frame))[:, 1], dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probabilities of the positive class."""
        return self.calibrator_.predict(self.predict_raw(frame))


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def logistic_head(
    pipeline: Pipeline,
    train_inputs: pd.DataFrame,
    encoder: FeatureEncoder,
    calibrator: Calibrator,
    weights: np.ndarray[Any, Any] | None = None,
) -> LogisticHead:
    """The head replaying ``pipeline`` (fitted on ``train_inputs``, the model's input frame,
    whose rows weigh ``weights``: the reasons' reference is their weighted mean)."""
    columns = pipeline.named_steps["columns"]
    classifier = pipeline.named_steps["classifier"]
    numeric: list[str] = []
    categorical: list[str] = []
    medians: list[float] = []
    indicators: list[int] = []
    scale_mean: list[float] = []
    scale_std: list[float] = []
    levels: list[list[str]] = []
    infrequent: list[list[str] | None] = []
    for name, transformer, names in columns.transformers_:
        if name == "numeric" and len(names):
            numeric = list(names)
            imputer, scaler = transformer.steps[0][1], transformer.steps[2][1]
            medians = [0.0 if np.isnan(v) else float(v) for v in imputer.statistics_]
            if imputer.indicator_ is not None:
                indicators = [int(i) for i in imputer.indicator_.features_]
            scale_mean, scale_std = _floats(scaler.mean_), _floats(scaler.scale_)
        elif name == "categorical" and len(names):
            categorical = list(names)
            rare_sets = getattr(transformer, "infrequent_categories_", [None] * len(names))
            for cats, rare in zip(transformer.categories_, rare_sets, strict=True):
                rare_list = None if rare is None else [str(c) for c in rare]
                levels.append([str(c) for c in cats if rare_list is None or c not in rare_list])
                infrequent.append(rare_list)
    design = columns.transform(train_inputs)
    parts = LogisticParts(
        numeric=numeric,
        medians=medians,
        indicators=indicators,
        scale_mean=scale_mean,
        scale_std=scale_std,
        categorical=categorical,
        levels=levels,
        infrequent=infrequent,
        coef=_floats(classifier.coef_[0]),
        intercept=float(classifier.intercept_[0]),
        column_means=_floats(
            np.average(np.asarray(design, dtype=np.float64), axis=0, weights=weights)
        ),
    )
    return LogisticHead(parts, encoder, calibrator)
