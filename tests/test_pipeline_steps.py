"""The pipeline steps as a notebook uses them: library calls, no CLI, no terminal output."""

from __future__ import annotations

import copy
import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from leadscore.clock import frozen_clock, utc_now
from leadscore.errors import ConfigError, DataContractError
from leadscore.pipeline import (
    EvaluateSpec,
    ExplainSpec,
    FeaturesSpec,
    FlatTrainSpec,
    GenerateSpec,
    PromoteSpec,
    ScoreSpec,
    TrainSpec,
    ValidateSpec,
    build_features_step,
    evaluate_step,
    explain_step,
    generate_step,
    list_versions_step,
    open_mapped_crm,
    promote_step,
    score_step,
    top_leads,
    train_flat_step,
    train_step,
    validate_step,
)
from leadscore.serving import load_scorer, score_contact_base
from leadscore.serving.not_scored import NotScoredError
from leadscore.serving.store import ScoreStore
from leadscore.sql import quote_identifier, quote_literal
from leadscore.training import TrainingConfig
from tests.crm_tables import tiny_crm_tables, write_csv_folder


class Recorder:
    """A progress callback keeping the last (done, total) of every task."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[int, int | None]] = {}

    def __call__(self, task: str, done: int, total: int | None) -> None:
        self.tasks[task] = (done, total)


def test_notebook_runs_generate_features_train_score_explain(tmp_path: Path) -> None:
    progress = Recorder()
    crm = tmp_path / "crm.duckdb"
    generated = generate_step(GenerateSpec(out=crm, contacts=1500, seed=5), progress=progress)
    assert generated.path == crm and crm.is_file()
    assert progress.tasks["Generating contacts"] == (1500, 1500)
    with duckdb.connect(str(crm), read_only=True) as con:
        for table, count in generated.counts.items():
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (count,)

    report = validate_step(ValidateSpec(source=crm), progress=progress)
    assert report.row_counts == {t: generated.counts[t] for t in report.row_counts}
    assert report.funnel.reached["lead"] == generated.counts["contacts"]
    assert len(report.fingerprint) == 16

    table = tmp_path / "training.parquet"
    built = build_features_step(FeaturesSpec(source=crm, out=table), progress=progress)
    frame = pd.read_parquet(table)
    assert built.path == table and built.table.rows == len(frame) > 0
    n_cutoffs = len(built.table.per_cutoff)
    assert built.censored_cutoffs >= 1  # the last cutoffs' horizons run past the data's end
    assert frame["cutoff"].nunique() == n_cutoffs - built.censored_cutoffs
    assert frame.groupby(["contact_id", "cutoff"]).size().max() == 1
    assert progress.tasks["Building features (cutoffs)"] == (n_cutoffs, n_cutoffs)
    assert built.n_features > 20 and built.horizon == 30

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    config = TrainingConfig.model_validate({"evaluation": {"n_bootstrap": 50}, "shap_rows": 200})
    trained = train_step(
        TrainSpec(training_table=table, config=config, oracle_crm=crm, tracking_uri=uri),
        progress=progress,
    )
    result = trained.result
    assert trained.model_name == "leadscore" and result.model_version == "1"
    assert {"rules", "lightgbm", "oracle"} <= set(result.summary["method"])
    assert result.report_path.is_file()
    assert "Computing the oracle's true probabilities..." in progress.tasks
    (version,) = list_versions_step(tracking_uri=uri)
    assert "challenger" in version.aliases

    decision = promote_step(PromoteSpec(force=True, tracking_uri=uri))
    assert decision.promoted and decision.challenger_version == "1"

    # the registered champion, re-scored on the same test window, gives train's own rows: the
    # rules (their probabilities calibrated on validation as train does: one Brier), and per
    # target the head that shipped (chosen on validation; any kind)
    evaluated = evaluate_step(EvaluateSpec(training_table=table, config=config, tracking_uri=uri))
    columns = ["target", "roc_auc", "roc_auc_95ci", "found_at_mql_volume", "brier"]
    summary = result.summary.set_index(["method", "target"])
    for row in evaluated.summary.itertuples(index=False):
        method = "rules" if row.method == "rules" else result.outcome.choices[row.target].shipped
        trained = summary.loc[(method, row.target)]
        for column in columns[1:]:
            assert getattr(row, column) == trained[column], (row.method, row.target, column)
    for target, chosen in result.outcome.choices.items():
        assert (
            evaluated.metrics[f"test_roc_auc_shipped_{target}"]
            == result.metrics[f"test_roc_auc_{chosen.shipped}_{target}"]
        )

    with open_mapped_crm(crm) as opened:  # a notebook keeps one validated CRM open
        scored = score_step(
            ScoreSpec(
                source=opened,
                out=tmp_path / "scores.parquet",
                store=tmp_path / "history.duckdb",
                as_of=datetime(2025, 12, 31),
                tracking_uri=uri,
            ),
            progress=progress,
        )
        scores = pd.read_parquet(scored.batch.path)
        assert scored.batch.rows == len(scores) > 0
        assert scored.batch.model_version == "leadscore/1"
        assert scores["p_sql"].between(0, 1).all()
        assert scored.days_after_data_end is None  # the data ends the day before
        stale = dataclasses.replace(scored, data_end=datetime(2025, 11, 1))
        assert stale.days_after_data_end == 60
        best = top_leads(scored.batch.path, 5)
        assert len(best) == 5 and best["p_sql"].is_monotonic_decreasing
        assert best["p_sql"].iloc[0] == scores["p_sql"].max()

        contact = str(best["contact_id"].iloc[0])
        explained = explain_step(
            ExplainSpec(
                contact_id=contact, source=opened, as_of=datetime(2025, 12, 31), tracking_uri=uri
            )
        )
        assert explained.contact_id == contact
        assert explained.p_sql == pytest.approx(best["p_sql"].iloc[0], abs=1e-6)
        assert explained.grade == best["grade"].iloc[0]
        assert explained.positive

        # the training table's maximum lead age travels with the model: stale leads (created
        # over 180 days before, no event or stage change since) are scored as they were
        # trained: not at all, and explain says why
        assert built.table.meta.max_age_days == 180
        loaded = load_scorer("champion", tracking_uri=uri)
        assert loaded.scorer.spec.max_lead_age_days == 180
        moment = datetime(2025, 12, 31)
        since = moment - timedelta(days=180)
        stale_ids = {
            str(r[0])
            for r in opened.con.execute(
                "SELECT c.contact_id FROM contacts c WHERE c.created_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.contact_id "
                "AND e.occurred_at < ? AND e.occurred_at >= ?) "
                "AND NOT EXISTS (SELECT 1 FROM stage_changes s WHERE s.contact_id = c.contact_id "
                "AND s.changed_at < ? AND s.changed_at >= ?)",
                [since, moment, since, moment, since],
            ).fetchall()
        }
        assert stale_ids and not stale_ids & set(scores["contact_id"].astype(str))
        every = loaded.with_scorer(_with_spec(loaded.scorer, max_lead_age_days=None))
        unlimited = score_contact_base(
            opened, every, tmp_path / "all.parquet", store=None, as_of=moment
        )
        assert unlimited.rows > scored.batch.rows  # the stale leads come back without the limit
        assert scored.batch.stale_left_out == unlimited.rows - scored.batch.rows
        assert unlimited.stale_left_out == 0
        otherwise_eligible = stale_ids & set(pd.read_parquet(unlimited.path)["contact_id"])
        candidate = sorted(otherwise_eligible)[0]
        with pytest.raises(NotScoredError, match="no event or stage change in the 180 days"):
            explain_step(
                ExplainSpec(contact_id=candidate, source=opened, as_of=moment, tracking_uri=uri)
            )

        # a stale as-of date scores nobody: an error, and the previous output and history stay
        before = (tmp_path / "scores.parquet").read_bytes()
        runs = ScoreStore(tmp_path / "history.duckdb").runs()
        with pytest.raises(NotScoredError, match=r"all .* eligible leads are stale") as raised:
            score_step(
                ScoreSpec(
                    source=opened,
                    out=tmp_path / "scores.parquet",
                    store=tmp_path / "history.duckdb",
                    as_of=datetime(2027, 12, 31),
                    tracking_uri=uri,
                )
            )
        assert "Pass --as-of 2025-12-30" in str(raised.value)
        assert (tmp_path / "scores.parquet").read_bytes() == before
        pd.testing.assert_frame_equal(ScoreStore(tmp_path / "history.duckdb").runs(), runs)
    assert progress.tasks["Scoring contacts"][0] == scored.batch.rows


def test_steps_raise_the_error_tree_not_print(tmp_path: Path) -> None:
    tables = tiny_crm_tables()
    tables["events"].loc[[2, 3], "contact_id"] = "C999"
    folder = write_csv_folder(tables, tmp_path / "crm")
    with pytest.raises(DataContractError, match="refer to unknown contacts"):
        validate_step(ValidateSpec(source=folder, as_of=datetime(2025, 1, 1)))
    with pytest.raises(ConfigError, match="--target"):
        train_flat_step(FlatTrainSpec(table=tmp_path / "leads.csv", target=None))


def test_frozen_clock_sets_the_default_as_of(tmp_path: Path) -> None:
    folder = write_csv_folder(tiny_crm_tables(), tmp_path / "crm")
    # the tiny CRM's events run through 2024: "now" in 2024-02 puts most of them in the future
    with frozen_clock(datetime(2024, 2, 2)), pytest.raises(DataContractError, match="future"):
        validate_step(ValidateSpec(source=folder))
    assert validate_step(ValidateSpec(source=folder)).row_counts["contacts"] == 3


def test_frozen_clock_is_naive_utc_everywhere_and_restored() -> None:
    before = utc_now()
    assert before.tzinfo is None
    assert abs(before - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)
    paris = timezone(timedelta(hours=1))
    with frozen_clock(datetime(2025, 3, 1, 10, 0, tzinfo=paris)) as moment:
        assert moment == utc_now() == datetime(2025, 3, 1, 9, 0)
        seen: list[datetime] = []
        worker = threading.Thread(target=lambda: seen.append(utc_now()))
        worker.start()
        worker.join()
        assert seen == [datetime(2025, 3, 1, 9, 0)]  # API handlers run in threads
        with frozen_clock(datetime(2030, 1, 1)):
            assert utc_now() == datetime(2030, 1, 1)
        assert utc_now() == datetime(2025, 3, 1, 9, 0)
    assert utc_now() >= before


@pytest.mark.parametrize(
    ("value", "identifier", "literal"),
    [
        ("plain", '"plain"', "'plain'"),
        ('my "col"', '"my ""col"""', "'my \"col\"'"),
        ("O'Brien", '"O\'Brien"', "'O''Brien'"),
        ("", '""', "''"),
    ],
)
def test_quoting_round_trips_through_duckdb(value: str, identifier: str, literal: str) -> None:
    assert quote_identifier(value) == identifier
    assert quote_literal(value) == literal
    if not value:
        return  # DuckDB refuses empty identifiers; the literal still round-trips
    with duckdb.connect() as con:
        row = con.execute(f"SELECT {quote_literal(value)} AS {quote_identifier(value)}").fetchone()
        assert row == (value,)
        assert con.execute(
            f"SELECT {quote_identifier(value)} FROM (SELECT 1 AS {identifier})"
        ).fetchone() == (1,)


def test_quote_literal_takes_paths(tmp_path: Path) -> None:
    path = tmp_path / "it's here.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(path)
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT sum(x) FROM read_parquet({quote_literal(path)})").fetchone()
    assert rows == (3,)


def _with_spec(scorer: Any, **update: Any) -> Any:
    """A shallow copy of ``scorer`` whose spec has ``update`` applied."""
    copied = copy.copy(scorer)
    copied.spec = scorer.spec.model_copy(update=update)
    return copied


def test_spark_scoring_resolves_the_model_before_starting_spark(tmp_path: Path) -> None:
    """A missing champion is said at once, not after a minute of JVM start-up and validation
    (the source does not even exist: the model is checked first)."""
    from leadscore.errors import ArtifactError

    spec = ScoreSpec(
        source=tmp_path / "lake",
        model="champion",
        out=tmp_path / "scores",
        engine="spark",
        tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db",
    )
    with pytest.raises(ArtifactError, match=r"registry|champion"):
        score_step(spec)  # the missing source folder (Spark's first step) was never opened
