"""The feature query's single-cutoff form (batch scoring) gives the rows and values of its
general form, whatever the cutoff's time of day and the feature kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from leadscore.crm import CrmData, open_crm
from leadscore.features import build_training_table, load_definition
from leadscore.features.definition import FeatureDefinition
from leadscore.features.engine import DuckDBEngine, cutoff_table
from leadscore.features.sql import CUTOFFS_TABLE, feature_query
from leadscore.serving.features import _full_chunks, iter_features
from leadscore.synthetic import GeneratorConfig, generate_crm
from tests.test_features_custom import _tables, custom_definition
from tests.test_features_data import crm_from_frames

MOMENTS = [
    datetime(2025, 6, 1),
    datetime(2025, 9, 14, 13, 37, 12, 500_000),
    datetime(2025, 12, 31, 23, 59, 59),
    datetime(2023, 1, 1),  # before most of the data
]


def _both(crm: CrmData, definition: FeatureDefinition, as_of: datetime) -> None:
    engine = DuckDBEngine(crm)
    tables = {CUTOFFS_TABLE: cutoff_table([as_of])}
    general = engine.run(feature_query(definition), tables).to_pandas()
    single = engine.run(feature_query(definition, one_cutoff=True), tables).to_pandas()
    pd.testing.assert_frame_equal(single, general, check_exact=True)
    at = engine.run(feature_query(definition, one_cutoff=True, at=as_of), tables).to_pandas()
    pd.testing.assert_frame_equal(at, general, check_exact=True)  # the cutoff as constants
    assert len(general) > 0 or as_of.year < 2024


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> CrmData:
    path = tmp_path_factory.mktemp("one-cutoff") / "crm.duckdb"
    generate_crm(GeneratorConfig(n_contacts=400, seed=5), path)
    return open_crm(path)


@pytest.mark.parametrize("as_of", MOMENTS)
def test_default_features_at_one_cutoff(synthetic: CrmData, as_of: datetime) -> None:
    # active days at one cutoff count day bits in 62-day words: windows around the word
    # boundaries, typed and untyped, and the whole lookback (365 days, 6 words)
    extra = [
        {"name": "active_web_days_{window}d", "kind": "active_days", "event_types": ["web_visit"],
         "windows": [30, 61, 62, 63, 124], "concept": "engagement", "type": "numeric",
         "explanation": "{value} days with a web visit"},
        {"name": "active_mail_days_{window}d", "kind": "active_days",
         "event_types": ["email_open", "email_click"], "windows": [7, 200],
         "concept": "engagement", "type": "numeric", "explanation": "{value} days with mail"},
        {"name": "active_any_days_{window}d", "kind": "active_days", "windows": [365],
         "concept": "engagement", "type": "numeric", "explanation": "{value} active days"},
    ]  # fmt: skip
    base = load_definition()
    added = [str(f["name"]) for f in extra]  # the added features are tested too
    names = [*base.names, *added]
    definition = load_definition({"include": names, "add": extra})
    _both(synthetic, definition, as_of)


def test_iter_features_uses_the_single_cutoff_form(synthetic: CrmData) -> None:
    definition = load_definition()
    as_of = MOMENTS[1]
    general = DuckDBEngine(synthetic).run(
        feature_query(definition), {CUTOFFS_TABLE: cutoff_table([as_of])}
    )
    frames = list(iter_features(synthetic, definition, as_of=as_of, chunk_size=97))
    batch = pd.concat(frames, ignore_index=True)
    assert len(batch) == general.num_rows
    assert batch["contact_id"].tolist() == general.column("contact_id").to_pylist()
    assert [len(f) for f in frames[:-1]] == [97] * (len(frames) - 1)  # full chunks
    assert 0 < len(frames[-1]) <= 97


def test_full_chunks_join_the_engine_batches() -> None:
    # DuckDB hands a sorted result over in its own blocks (100,000 + 22,880 + 41,432 rows for
    # a chunk size of 100,000): the chunks are exactly chunk_size rows, the same rows in order
    sizes = [4, 10, 1, 2, 10, 3, 7]
    start = [sum(sizes[:i]) for i in range(len(sizes))]
    batches = [pa.table({"i": list(range(s, s + n))}) for s, n in zip(start, sizes, strict=True)]
    for rows in (1, 4, 5, 10, 37, 100):
        chunks = list(_full_chunks(iter(batches), rows))
        assert [c.num_rows for c in chunks[:-1]] == [rows] * (len(chunks) - 1)
        assert 0 < chunks[-1].num_rows <= rows
        assert pa.concat_tables(chunks).column("i").to_pylist() == list(range(sum(sizes)))
    empty: list[pa.Table] = []
    assert list(_full_chunks(iter(empty), 10)) == []


def test_iter_features_closes_the_query_when_stopped(synthetic: CrmData) -> None:
    engine = DuckDBEngine(synthetic)
    frames = iter_features(
        synthetic, load_definition(), as_of=MOMENTS[1], chunk_size=50, engine=engine
    )
    assert len(next(frames)) == 50
    assert engine._streaming  # the query's connection is open while the result is read
    frames.close()
    assert not engine._streaming


def test_custom_kinds_at_one_cutoff(tmp_path: Path) -> None:
    crm = crm_from_frames(_tables())
    built = build_training_table(
        crm, custom_definition(), [datetime(2024, 3, 1)], 30, tmp_path / "t.parquet",
        data_end=datetime(2024, 6, 1),
    )  # fmt: skip
    for as_of in (datetime(2024, 2, 10, 9, 30), datetime(2024, 3, 1), datetime(2024, 5, 1)):
        _both(crm, built.meta.definition, as_of)


def test_one_cutoff_refuses_other_forms() -> None:
    with pytest.raises(ValueError):
        feature_query(load_definition(), one_cutoff=True, many_cutoffs=True)
    with pytest.raises(ValueError):
        feature_query(load_definition(), at=MOMENTS[0])  # a constant cutoff needs one_cutoff
    with pytest.raises(ValueError):
        feature_query(load_definition(), one_cutoff=True, at=MOMENTS[0].replace(tzinfo=UTC))


def test_events_at_the_window_edges_at_one_cutoff(synthetic: CrmData) -> None:
    """The constant cutoff bounds the windows on the event times (no grid days): an event
    exactly at the cutoff (not read), exactly ``window`` days before it (in the window) and a
    microsecond later (out of it) give the general form's values."""
    definition = load_definition()
    windows = sorted({f.window for f in definition.features if f.window})
    con = synthetic.con.cursor()
    try:  # an event of a contact still eligible 90 days later: its row is in the results
        general = DuckDBEngine(synthetic)
        for contact, moment in con.sql(
            "SELECT contact_id, occurred_at FROM events ORDER BY occurred_at DESC, contact_id"
        ).fetchall()[::97]:
            later = general.run(
                feature_query(definition), {CUTOFFS_TABLE: cutoff_table([moment + timedelta(90)])}
            )
            if contact in later.column("contact_id").to_pylist():
                break
        else:
            pytest.fail("no eligible contact with an event")
    finally:
        con.close()
    for days in (0, *windows):
        for us in (0, 1):  # at the edge, and the edge a microsecond after the event
            _both(synthetic, definition, moment + timedelta(days=days, microseconds=us))
