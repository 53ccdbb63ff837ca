"""Negatives sampled in the build query (issue 17 item 3): every positive and every row from the
sample's date on kept, a seeded share of the earlier negatives kept with weight 1/share, the
label rates still the population's; training reads the weights and refuses a split whose
validation or test period holds sampled rows."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.crm import CrmData, open_crm
from leadscore.errors import ConfigError
from leadscore.features import CutoffSchedule, build_training_table, load_definition
from leadscore.features.sampling import WEIGHT_COLUMN, TableSample
from leadscore.training import TrainingConfig, fit_and_evaluate, load_training_table
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.split import SplitConfig

UNTIL = datetime(2025, 3, 1)
FAST = TrainingConfig(evaluation=EvaluationConfig(n_bootstrap=0), shap_rows=0, fit_logistic=False)


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> CrmData:
    from leadscore.synthetic import GeneratorConfig, generate_crm

    path = tmp_path_factory.mktemp("sampling") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=2000, seed=1), path)
    return open_crm(path)


@pytest.fixture(scope="module")
def tables(crm: CrmData, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sampled-tables")
    schedule = CutoffSchedule(date(2024, 3, 1), date(2025, 11, 1), every="month")
    out = {}
    for name, sample in (("full", None), ("part", TableSample(fraction=0.2, until=UNTIL, seed=3))):
        out[name] = root / f"{name}.parquet"
        build_training_table(crm, load_definition(), schedule, 30, out[name], sample=sample)
    return out


def _negative(frame: pd.DataFrame) -> pd.Series:
    return ~(frame["became_sql"] | frame["booked_meeting"])


def test_the_build_keeps_positives_later_rows_and_a_share_of_earlier_negatives(
    crm: CrmData, tables: dict[str, Path], tmp_path: Path
) -> None:
    full = pd.read_parquet(tables["full"])
    part = pd.read_parquet(tables["part"])
    key = ["contact_id", "cutoff"]
    assert WEIGHT_COLUMN not in full.columns
    merged = full.merge(part[[*key, WEIGHT_COLUMN]], on=key, how="left")
    early = merged["cutoff"] < UNTIL
    kept = merged[WEIGHT_COLUMN].notna()
    assert kept[~early].all() and kept[~_negative(merged)].all()  # later rows, every positive
    share = kept[early & _negative(merged)].mean()
    assert 0.17 < share < 0.23, share
    weights = merged.loc[kept, WEIGHT_COLUMN]
    assert set(weights[early & _negative(merged)]) == {5.0}
    assert set(weights[~(early & _negative(merged))]) == {1.0}
    # the same rows on a rebuild over fewer cutoffs (the draw hashes contact, cutoff and seed)
    cutoffs = [datetime(2024, 6, 1), datetime(2024, 12, 1), datetime(2025, 6, 1)]
    sample = TableSample(fraction=0.2, until=UNTIL, seed=3)
    again = build_training_table(
        crm, load_definition(), cutoffs, 30, tmp_path / "again.parquet", sample=sample
    )
    rebuilt = pd.read_parquet(again.path)
    subset = part[part["cutoff"].isin(cutoffs)].reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt, subset)


def test_sampling_at_training_keeps_the_rows_the_build_keeps(tables: dict[str, Path]) -> None:
    """One draw for both places: the unsampled table sampled at training time (same share and
    seed) keeps exactly the early rows the build query kept."""
    from leadscore.training.sampling import sample_negatives

    full = pd.read_parquet(tables["full"])
    part = pd.read_parquet(tables["part"])
    early = full[full["cutoff"] < UNTIL].reset_index(drop=True)
    labels = [early["became_sql"].to_numpy(), early["booked_meeting"].to_numpy()]
    kept = early[sample_negatives(early, labels, 0.2, seed=3).keep]
    built = part[part["cutoff"] < UNTIL]
    key = ["contact_id", "cutoff"]
    pd.testing.assert_frame_equal(
        kept[key].sort_values(key).reset_index(drop=True),
        built[key].sort_values(key).reset_index(drop=True),
    )


@pytest.mark.parametrize(
    "ids",
    [["c1", "c2", None], [5, 6, 7], [5.0, None, 7.0]],
    ids=["text", "integer", "float with a missing id"],
)
def test_row_draws_cast_the_ids_as_the_build_query_does(ids: list[object]) -> None:
    """The draw of a table whose id column is not text (integer ids read with a blank become
    floats) is the build query's on the same column, not Python's ``str`` of each id."""
    import duckdb

    from leadscore.features.sampling import _draw, row_draws

    column = pd.Series(ids)
    cutoffs = np.array(["2025-01-01T00:00", "2025-02-01T12:30", "2025-03-01"], "datetime64[us]")
    frame = pd.DataFrame({"contact_id": column, "cutoff": cutoffs})
    with duckdb.connect() as con:
        con.register("s", frame)
        expected = con.execute(f"SELECT {_draw('duckdb').format(seed=7)} FROM s").fetchnumpy()
    got = row_draws(column, cutoffs, 7)
    np.testing.assert_array_equal(got, np.asarray(next(iter(expected.values())), dtype=float))


def test_the_metadata_records_the_sample_and_the_population_rates(
    tables: dict[str, Path],
) -> None:
    full = load_training_table(tables["full"]).meta
    part = load_training_table(tables["part"]).meta
    assert full is not None and part is not None
    assert full.sample is None and part.sample == TableSample(fraction=0.2, until=UNTIL, seed=3)
    for label, rate in full.label_rates.items():  # weighted: the population's, not the sample's
        assert rate is not None and part.label_rates[label] == pytest.approx(rate, rel=0.1)
    assert part.rows < full.rows


def test_training_uses_the_weights_and_refuses_a_sampled_evaluation(
    tables: dict[str, Path],
) -> None:
    table = load_training_table(tables["part"])
    assert WEIGHT_COLUMN not in table.feature_names
    late = SplitConfig(valid_fraction=0.15, test_fraction=0.15)
    outcome = fit_and_evaluate(table, FAST.model_copy(update={"split": late}))
    assert outcome.sample is not None and outcome.sample.built is not None
    assert "sampled when built" in outcome.sample.describe()
    assert outcome.sample.record()["taken"] == "build"
    weights = outcome.sample_weights()
    assert weights is not None and set(np.unique(weights)) == {1.0, 5.0}
    early = SplitConfig(valid_fraction=0.45, test_fraction=0.2)  # validation reaches back
    with pytest.raises(ConfigError, match="--sample-until"):
        fit_and_evaluate(table, FAST.model_copy(update={"split": early}))
    with pytest.raises(ConfigError, match="already sampled"):
        fit_and_evaluate(table, FAST.model_copy(update={"split": late, "sample_negatives": 0.5}))


def test_the_command_line_needs_a_date_with_a_share() -> None:
    from leadscore.pipeline.build import build_sample

    assert build_sample(None, None) is None and build_sample(1.0, None) is None
    assert build_sample(0.25, UNTIL, 7) == TableSample(fraction=0.25, until=UNTIL, seed=7)
    with pytest.raises(ConfigError, match="--sample-until"):
        build_sample(0.25, None)
    with pytest.raises(ConfigError, match="goes with --sample-negatives"):
        build_sample(None, UNTIL)
