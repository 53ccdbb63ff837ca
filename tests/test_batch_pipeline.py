"""Batch scoring one step ahead (``serving.pipeline.ahead``: the next chunk's features and
model numbers in a background thread) and the heads run at once (``Scorer.explain_numbers``)
give what the sequential path they replace gives, byte for byte."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadscore.serving import load_scorer, score_contact_base
from leadscore.serving.batch import SCORES_SCHEMA, _table
from leadscore.serving.features import iter_features
from leadscore.serving.pipeline import ahead
from tests.test_serving_support import ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def test_ahead_keeps_order_and_works_in_one_background_thread() -> None:
    threads: set[str] = set()

    def work(x: int) -> int:
        threads.add(threading.current_thread().name)
        return x * x

    assert list(ahead(iter(range(7)), work)) == [(x, x * x) for x in range(7)]
    assert list(ahead(iter([]), work)) == []
    with ahead(iter(range(3)), work) as started:  # the first step runs before iteration
        assert [x for x, _ in started] == [0, 1, 2]
    assert len(threads) == 1 and threading.current_thread().name not in threads


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_ahead_works_depth_items_before_the_caller_takes_one(depth: int) -> None:
    import time

    started: list[int] = []
    stream = ahead(iter(range(6)), lambda x: started.append(x) or -x, depth=depth)
    deadline = time.monotonic() + 30
    while len(started) < depth and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # a step beyond ``depth`` would have started by now
    assert started == list(range(depth))
    assert list(stream) == [(x, -x) for x in range(6)]
    assert started == list(range(6))
    with pytest.raises(ValueError, match="depth"):
        ahead(iter(range(3)), lambda x: x, depth=0)


@pytest.mark.parametrize("depth", [1, 2])
def test_ahead_raises_at_the_failing_item_and_closes_the_stream(depth: int) -> None:
    closed: list[bool] = []

    def items() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.append(True)

    def work(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    seen = []
    with pytest.raises(ValueError, match="three"):
        for item, _ in ahead(items(), work, depth=depth):
            seen.append(item)
    assert seen == [0, 1, 2] and closed == [True]


@pytest.mark.parametrize("depth", [1, 2])
def test_ahead_stopped_early_closes_the_stream(depth: int) -> None:
    closed: list[bool] = []

    def items() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.append(True)

    stream = iter(ahead(items(), lambda x: x, depth=depth))
    assert next(stream) == (0, 0)
    stream.close()  # type: ignore[attr-defined]
    assert closed == [True]
    never = items()
    with ahead(never, lambda x: x):  # never iterated: closed on leaving the block
        pass
    assert never.gi_frame is None  # type: ignore[attr-defined]


def test_concurrent_heads_equal_sequential(
    model: ServingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leadscore.serving.scorer as scorer_module

    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    scorer = loaded.scorer
    frame = _base_features(model, scorer)
    monkeypatch.setattr(scorer_module, "CONCURRENT_FROM", 10**9)
    monkeypatch.setattr(scorer_module, "EXACT_RAW_FROM", 17)  # the leaves' probabilities
    alone = scorer.explain_numbers(frame)
    monkeypatch.setattr(scorer_module, "CONCURRENT_FROM", 1)
    together = scorer.explain_numbers(frame)
    first, second = alone.probabilities(), together.probabilities()
    assert list(first) == list(second) == [f"p_{t}" for t in scorer.heads]
    for name in first:
        assert np.array_equal(first[name], second[name], equal_nan=True)
    assert np.array_equal(alone.contributions, together.contributions)
    assert np.array_equal(alone.raw_score, together.raw_score)
    # the probabilities from the trees' leaves (the reason head's from the contribution
    # pass) are LightGBM's, bit for bit
    assert len(frame) >= 17
    plain = scorer.global_probabilities(frame)
    for name in first:
        assert np.array_equal(first[name], plain[name].to_numpy(), equal_nan=True), name


def _base_features(model: ServingModel, scorer: Any) -> pd.DataFrame:
    """The whole scored base's features, as batch scoring reads them, in one frame."""
    from leadscore.crm import open_crm

    crm = open_crm(model.crm_path)
    try:
        return pd.concat(
            list(iter_features(crm, scorer.require_definition(), as_of=model.as_of)),
            ignore_index=True,
        )
    finally:
        crm.close()


def _sequential(model: ServingModel, chunk_size: int) -> pa.Table:
    """The path ``score_contact_base`` replaced: each chunk's features, then
    ``explain_global``, then its table, one after the other."""
    from leadscore.crm import open_crm

    loaded = load_scorer("champion", tracking_uri=model.tracking_uri)
    scorer = loaded.scorer
    crm = open_crm(model.crm_path)
    tables = []
    try:
        for features in iter_features(
            crm,
            scorer.require_definition(),
            as_of=model.as_of,
            chunk_size=chunk_size,
            from_stage=scorer.spec.from_stage,
            max_age_days=scorer.spec.max_lead_age_days,
        ):
            explanation = scorer.explain_global(features, lists=False)
            scores = explanation.scores
            scores.insert(0, "contact_id", features["contact_id"].to_numpy())
            scores.insert(1, "scored_at", pd.Timestamp("2026-01-01"))
            scores.insert(2, "model_version", loaded.model_version)
            tables.append(_table(scores, explanation.reasons, SCORES_SCHEMA))
    finally:
        crm.close()
    return pa.concat_tables(tables)


@pytest.mark.parametrize("chunk_size", [97, 100_000])
def test_pipelined_batch_equals_sequential(
    model: ServingModel, tmp_path: Path, chunk_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leadscore.serving.batch as batch_module
    import leadscore.serving.scorer as scorer_module

    monkeypatch.setattr(scorer_module, "CONCURRENT_FROM", 50)  # the threaded heads too
    monkeypatch.setattr(scorer_module, "EXACT_RAW_FROM", 20)  # the leaves' probabilities too
    monkeypatch.setattr(batch_module, "SPLIT_FROM", 2)  # the first and last chunks in parts too
    out = tmp_path / "scores.parquet"
    progress: list[tuple[int, int]] = []
    result = score_contact_base(
        model.crm_path,
        "champion",
        out,
        tracking_uri=model.tracking_uri,
        chunk_size=chunk_size,
        store=None,
        as_of=model.as_of,
        progress=lambda done, total: progress.append((done, total)),
    )
    written = pq.read_table(out).drop_columns(["scored_at"])
    assert chunk_size > written.num_rows or written.num_rows % chunk_size != 1  # a split last
    expected = _sequential(model, chunk_size).drop_columns(["scored_at"])
    assert written.column_names == expected.column_names
    assert written.equals(expected)
    assert result.rows == written.num_rows == progress[-1][0] == progress[-1][1]
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})


def test_stop_is_called_when_closing_during_a_running_step() -> None:
    release = threading.Event()
    started = threading.Event()

    def items() -> Iterator[int]:
        started.set()
        release.wait(30)  # a long query, until stopped
        yield 1

    stream = ahead(items(), lambda x: x, stop=release.set, depth=2)
    assert started.wait(30)
    stream.close()  # returns once ``stop`` has cut the step short
    assert release.is_set()


def test_duckdb_engine_interrupts_its_running_query() -> None:
    import duckdb

    from leadscore.crm import CrmData
    from leadscore.features.engine import DuckDBEngine

    engine = DuckDBEngine(CrmData(duckdb.connect(), description="memory", problems=[]))
    slow = "SELECT count(*) AS n FROM range(100000000000) a"
    stream = ahead(engine.batches(slow, {}, 10), lambda table: table.num_rows)
    done = threading.Event()

    def keep_interrupting() -> None:  # until the query has started and been interrupted
        while not done.wait(0.1):
            engine.interrupt()

    threading.Thread(target=keep_interrupting, daemon=True).start()
    try:
        with pytest.raises(duckdb.InterruptException):
            list(stream)
    finally:
        done.set()


def test_first_and_last_chunks_in_two_parts_planned_as_a_whole_and_closing_closes_the_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import leadscore.serving.batch as batch_module

    monkeypatch.setattr(batch_module, "SPLIT_FROM", 8)
    closed: list[bool] = []

    def chunks(sizes: tuple[int, ...] = (12, 9, 10)) -> Iterator[pd.DataFrame]:
        try:
            start = 0
            for rows in sizes:
                yield pd.DataFrame({"x": range(start, start + rows)})
                start += rows
        finally:
            closed.append(True)

    def parts(sizes: tuple[int, ...]) -> list[tuple[int, int]]:
        got = list(batch_module._parts(chunks(sizes)))
        rows = [x for frame, _ in got for x in frame["x"].tolist()]
        assert rows == list(range(sum(sizes)))  # every row once, in order
        return [(len(frame), plan) for frame, plan in got]

    half = 12 // batch_module.FIRST_PART
    # the first and the last chunk in two parts, each planned as its whole chunk
    assert parts((12, 9, 10)) == [(half, 12), (12 - half, 12), (9, 9), (5, 10), (5, 10)]
    assert parts((12, 9, 5)) == [(half, 12), (12 - half, 12), (9, 9), (5, 5)]  # small last
    assert parts((12,)) == [(half, 12), (12 - half, 12)]
    assert parts((12, 8)) == [(half, 12), (12 - half, 12), (4, 8), (4, 8)]
    assert parts(()) == []
    assert closed == [True] * 5
    stream = batch_module._parts(chunks())
    next(stream)
    stream.close()  # stopped early: the query's stream is released at once
    assert closed == [True] * 6


def test_leaves_probabilities_checked_against_lightgbm_once_and_given_up_when_unequal(
    model: ServingModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A platform whose ``exp`` is not LightGBM's (simulated: the last bit changed) gets
    LightGBM's probabilities, checked on the first batch, and keeps them (and says so once)."""
    import leadscore.serving.scorer as scorer_module
    from leadscore.model.head import ModelHead

    scorer = load_scorer("champion", tracking_uri=model.tracking_uri).scorer
    frame = _base_features(model, scorer)
    real = scorer_module.probability_from_raw

    def off_by_a_bit(raw: np.ndarray, objective: str) -> np.ndarray | None:
        out = real(raw, objective)
        return None if out is None else np.nextafter(out, 2.0)

    monkeypatch.setattr(scorer_module, "EXACT_RAW_FROM", 17)
    monkeypatch.setattr(scorer_module, "probability_from_raw", off_by_a_bit)
    monkeypatch.setattr(scorer, "_exact", {})  # a scorer shared with other tests: restored
    monkeypatch.setattr(scorer, "_exact_checked", set())
    plain = scorer.global_probabilities(frame)
    caplog.set_level("WARNING", logger="leadscore.serving.scorer")
    for _ in range(2):
        got = scorer.explain_numbers(frame).probabilities()
        for name in got:
            assert np.array_equal(got[name], plain[name].to_numpy(), equal_nan=True), name
    reason = scorer.spec.reason_target
    assert reason in scorer._exact and scorer._exact[reason] is None  # given up for good
    assert all(scorer._exact.get(t) is None for t in scorer.heads)
    said = [r.getMessage() for r in caplog.records if "differ from LightGBM" in r.getMessage()]
    trees = [t for t, head in scorer.heads.items() if isinstance(head, ModelHead)]
    assert trees and len(said) == len(trees), said  # once per tree head, not once per batch


@pytest.mark.parametrize("failing", ["numbers-2", "numbers-3", "interrupt-2"])
def test_a_failing_part_leaves_the_previous_output_and_store_and_no_thread(
    model: ServingModel, tmp_path: Path, failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parts ahead: an error in the background step of the 2nd or 3rd part, or Ctrl-C
    while the 2nd part is written, fails the run as a whole: the previous output and store
    are unchanged (nothing partial), and no background thread is left running."""
    import leadscore.serving.batch as batch_module
    from leadscore.serving.store import ScoreStore

    out, store = tmp_path / "scores.parquet", tmp_path / "store.duckdb"
    first = score_contact_base(
        model.crm_path, "champion", out, tracking_uri=model.tracking_uri,
        chunk_size=211, store=store, as_of=model.as_of,
    )  # fmt: skip
    before = out.read_bytes()
    kind, at = failing.split("-")
    calls: list[int] = []
    numbers = batch_module._numbers

    def failing_numbers(*args: Any) -> Any:
        calls.append(1)
        if kind == "numbers" and len(calls) == int(at):
            raise RuntimeError("numbers failed")
        return numbers(*args)

    def progress(done: int, total: int) -> None:
        if kind == "interrupt" and done >= 2 * 211:
            raise KeyboardInterrupt

    monkeypatch.setattr(batch_module, "_numbers", failing_numbers)
    error = RuntimeError if kind == "numbers" else KeyboardInterrupt
    with pytest.raises(error):
        score_contact_base(
            model.crm_path, "champion", out, tracking_uri=model.tracking_uri,
            chunk_size=211, store=store, as_of=model.as_of, progress=progress,
        )  # fmt: skip
    assert out.read_bytes() == before and first.rows > 3 * 211
    runs = ScoreStore(store).runs()
    assert runs["visible"].tolist() == [True] and runs["run_id"].tolist()[0] == first.run_id
    assert ScoreStore(store).count() == first.rows
    assert not [t for t in threading.enumerate() if t.name.startswith("leadscore-ahead")]
    assert not list(tmp_path.glob("*.tmp*")) and sorted(p.name for p in tmp_path.iterdir()) == [
        "scores.parquet", "store.duckdb"
    ]  # fmt: skip
