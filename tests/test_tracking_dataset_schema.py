"""The training dataset's MLflow schema, computed on a sample, equals MLflow's own inference
over every row (which took over a minute on the demo's table)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from leadscore.training.tracking_meta import dataset_schema


def _frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    late_nan = rng.normal(size=n)
    late_nan[2500] = np.nan  # a missing value far past the head
    late_text = np.array([None] * n, dtype=object)
    late_text[1500:] = rng.choice(["a", "b"], size=n - 1500)  # first value after the head
    return pd.DataFrame(
        {
            "contact_id": [f"C{i:06d}" for i in range(n)],
            "cutoff": pd.date_range("2025-01-01", periods=n, freq="h").astype("datetime64[us]"),
            "n_visits": rng.integers(0, 9, size=n),
            "score": late_nan,
            "industry": late_text,
            "is_mql": rng.random(n) < 0.3,
            "became_sql": rng.random(n) < 0.05,
            "ratio": rng.random(n).astype(np.float32),
        }
    )


def test_the_sampled_schema_equals_mlflows_inference_over_every_row() -> None:
    from mlflow.types.utils import _infer_schema

    frame = _frame()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"mlflow\.")
        expected = _infer_schema(frame)
    schema = dataset_schema(frame)
    assert schema is not None
    assert schema.to_dict() == expected.to_dict()
    required = {spec.name: spec.required for spec in schema.inputs}
    assert required["score"] is False and required["industry"] is False
    assert required["n_visits"] is True
