"""The score history records each scoring run's as-of date; stores written before keep working."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from leadscore.serving.store import HISTORY_COLUMNS, ScoreStore

OLD_SCHEMA = """
CREATE TABLE score_history (
    contact_id VARCHAR NOT NULL, scored_at TIMESTAMP NOT NULL, model_version VARCHAR NOT NULL,
    p_sql DOUBLE, p_meeting DOUBLE, grade VARCHAR, fit_score DOUBLE, engagement_score DOUBLE,
    reasons_positive VARCHAR[], reasons_negative VARCHAR[], run_id VARCHAR
);
INSERT INTO score_history VALUES
    ('c1', '2025-01-10 08:00', 'leadscore/1', 0.4, 0.1, 'A', 0.5, 0.5, ['r'], [], NULL),
    ('c2', '2025-01-10 08:00', 'leadscore/1', 0.01, 0.0, 'D', 0.1, 0.1, [], [], NULL);
"""


def _scores(ids: list[str], p: list[float], grades: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contact_id": ids,
            "scored_at": datetime(2025, 6, 2, 3),
            "model_version": "leadscore/2",
            "p_sql": p,
            "p_meeting": [x / 3 for x in p],
            "grade": grades,
            "fit_score": 0.5,
            "engagement_score": 0.5,
            "reasons_positive": [["a"]] * len(ids),
            "reasons_negative": [[]] * len(ids),
        },
        columns=list(HISTORY_COLUMNS),
    )


def test_a_store_written_before_gets_the_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(OLD_SCHEMA)
    store = ScoreStore(path)
    assert store.count() == 2  # the read path works before any write
    history = store.history("c1")
    assert history.loc[0, "grade"] == "A"
    # the first write migrates: old rows keep a null as-of date
    parquet = tmp_path / "run.parquet"
    _scores(["c1", "c3"], [0.3, 0.05], ["A", "C"]).to_parquet(parquet)
    store.stage_run("run-1", parquet, tmp_path / "out.parquet", as_of=datetime(2025, 6, 1))
    store.commit_run("run-1")
    runs = store.scoring_runs()
    assert runs["as_of"].isna().sum() == 1
    assert int(runs.loc[runs["as_of"].isna(), "contacts"].iloc[0]) == 2
    dated = runs[runs["as_of"].notna()].iloc[0]
    assert pd.Timestamp(dated["as_of"]) == pd.Timestamp("2025-06-01")
    assert dated["model_version"] == "leadscore/2" and dated["contacts"] == 2
    cohort = store.scores_as_of("leadscore/2", datetime(2025, 6, 1))
    assert list(cohort["contact_id"]) == ["c1", "c3"] and list(cohort["grade"]) == ["A", "C"]
    assert store.count() == 4


def test_record_scores_takes_an_optional_as_of(store_location: Path | str) -> None:
    store = ScoreStore(store_location)
    store.record_scores(_scores(["c1"], [0.2], ["B"]))
    dated = _scores(["c2"], [0.2], ["B"]).assign(as_of=datetime(2025, 5, 1))
    store.record_scores(dated)
    runs = store.scoring_runs()
    assert runs["as_of"].isna().sum() == 1 and runs["as_of"].notna().sum() == 1
    assert len(store.scores_as_of("leadscore/2", datetime(2025, 5, 1))) == 1
