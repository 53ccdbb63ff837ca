"""DuckDB and Spark (local[1]) compute identical features and labels from one definition."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadscore.crm import CrmData, open_crm
from leadscore.features import SparkEngine, build_training_table, load_definition

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def synthetic_crm(tmp_path_factory: pytest.TempPathFactory) -> CrmData:
    from leadscore.synthetic import GeneratorConfig, generate_crm

    path = tmp_path_factory.mktemp("spark") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=300, seed=7), path)
    return open_crm(path, as_of=datetime(2026, 1, 1))


def test_spark_and_duckdb_agree_on_every_value(
    spark: Any, synthetic_crm: CrmData, tmp_path: Path
) -> None:
    definition = load_definition()
    cutoffs = [datetime(2025, m, 1) for m in range(1, 6)] + [datetime(2025, 6, 1, 12, 30)]
    duck = build_training_table(synthetic_crm, definition, cutoffs, 30, tmp_path / "d.parquet")
    sparked = build_training_table(
        synthetic_crm,
        definition,
        cutoffs,
        30,
        tmp_path / "s.parquet",
        engine=SparkEngine(spark, synthetic_crm),
        cutoffs_per_query=len(cutoffs),
    )
    left, right = pd.read_parquet(duck.path), pd.read_parquet(sparked.path)
    assert len(left) > 500 and left["became_sql"].any() and left["booked_meeting"].any()
    assert list(left.columns) == list(right.columns)
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12, atol=0)
    assert duck.metadata["per_cutoff"] == sparked.metadata["per_cutoff"]
    assert sparked.metadata["engine"] == "spark"


def test_spark_and_duckdb_agree_on_given_label_times(
    spark: Any, synthetic_crm: CrmData, tmp_path: Path
) -> None:
    import pyarrow as pa

    from leadscore.features import LabelTimes

    contacts = [
        r[0] for r in synthetic_crm.con.execute("SELECT contact_id FROM contacts").fetchall()
    ]
    moments = [datetime(2025, 3, 1), datetime(2025, 4, 1, 9, 15), datetime(2025, 5, 1, 12, 30)]
    pairs = LabelTimes.of(
        pa.table(
            {
                "contact_id": contacts[::3] * len(moments),
                "cutoff": [m for m in moments for _ in contacts[::3]],
            }
        )
    )
    definition = load_definition()
    duck = build_training_table(
        synthetic_crm, definition, None, 30, tmp_path / "d.parquet", label_times=pairs
    )
    sparked = build_training_table(
        synthetic_crm, definition, None, 30, tmp_path / "s.parquet",
        label_times=pairs, engine=SparkEngine(spark, synthetic_crm),
    )  # fmt: skip
    left, right = pd.read_parquet(duck.path), pd.read_parquet(sparked.path)
    assert len(left) > 100 and list(left.columns) == list(right.columns)
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12, atol=0)
    assert duck.meta.excluded_rows == sparked.meta.excluded_rows


def test_spark_samples_the_same_negatives_as_duckdb_in_the_build_query(
    spark: Any, synthetic_crm: CrmData, tmp_path: Path
) -> None:
    """Issue 17 item 3: the negatives are sampled by the engine (the rows never leave Spark),
    and Spark keeps exactly the rows and weights DuckDB keeps (the same MD5 draw)."""
    from leadscore.features.sampling import WEIGHT_COLUMN, TableSample

    definition = load_definition()
    cutoffs = [datetime(2025, m, 1) for m in range(1, 7)]
    sample = TableSample(fraction=0.3, until=datetime(2025, 4, 1), seed=5)
    duck = build_training_table(
        synthetic_crm, definition, cutoffs, 30, tmp_path / "d.parquet", sample=sample
    )
    sparked = build_training_table(
        synthetic_crm, definition, cutoffs, 30, tmp_path / "s.parquet",
        engine=SparkEngine(spark, synthetic_crm), cutoffs_per_query=len(cutoffs), sample=sample,
    )  # fmt: skip
    left, right = pd.read_parquet(duck.path), pd.read_parquet(sparked.path)
    assert set(left[WEIGHT_COLUMN]) == {1.0, 1 / 0.3}
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12, atol=0)
    assert sparked.meta.sample == sample == duck.meta.sample
