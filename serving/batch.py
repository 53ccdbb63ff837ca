"""Batch scoring of the contact base and single-lead explanations.

:func:`score_contact_base` streams the eligible contacts (not yet SQL, not disqualified) in
chunks through the tracked scorer and writes one Parquet file atomically (a temporary file in the
same folder, then ``os.replace``: an interrupted run leaves the previous output untouched). The
output and the score history share a run id and are committed together: both old or both new
after a crash at any point (see :mod:`leadscore.serving.runs`).

The chunks are scored ahead (:mod:`leadscore.serving.pipeline`): the feature query runs in a
background thread from the start (while the eligible leads are counted), and the next chunks'
features and model numbers (LightGBM predictions and contributions, which release the GIL) are
computed there, one after the other (:data:`AHEAD` parts ahead), while this thread chooses,
words and writes the current chunk's reasons, written in the query's order. The first and the
last chunk are scored in two parts (:func:`_parts`, the same values): nothing overlaps the first
chunk's model numbers otherwise, since the query delivers its first rows only once it is done,
nor the last chunk's reasons.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from leadscore.atomic import atomic_path, check_writable, fault_point
from leadscore.clock import utc_now
from leadscore.crm import CrmData, open_crm
from leadscore.errors import ConfigError
from leadscore.features.engine import DuckDBEngine
from leadscore.model.segments import GLOBAL_MODEL
from leadscore.serving.facets import facet_source
from leadscore.serving.features import count_eligible_and_stale, iter_features
from leadscore.serving.loading import LoadedScorer, load_scorer
from leadscore.serving.not_scored import NotScoredError, stale_reason, why_not_scored
from leadscore.serving.pipeline import ahead
from leadscore.serving.reasons import Reason, RowReasons, flat_sentences
from leadscore.serving.runs import RUN_ID_KEY, new_run_id
from leadscore.serving.scorer import ModelNumbers, Scorer
from leadscore.serving.segments import SCORED_BY
from leadscore.serving.store import DEFAULT_STORE, ScoreStore

__all__ = [
    "SCORES_SCHEMA",
    "BatchResult",
    "ContactExplanation",
    "Progress",
    "explain_contact",
    "score_contact_base",
]

Progress = Callable[[int, int], None]
"""``progress(scored_rows, total_rows)``, called after every chunk."""

SCORES_SCHEMA = pa.schema(
    [
        pa.field("contact_id", pa.string()),
        pa.field("scored_at", pa.timestamp("us")),
        pa.field("model_version", pa.string()),
        pa.field("p_sql", pa.float64()),
        pa.field("p_meeting", pa.float64()),
        pa.field("grade", pa.string()),
        pa.field("fit_score", pa.float64()),
        pa.field("engagement_score", pa.float64()),
        pa.field("reasons_positive", pa.list_(pa.string())),
        pa.field("reasons_negative", pa.list_(pa.string())),
    ]
)
"""Columns of the batch output and of the score history."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote."""

    path: Path
    rows: int
    model_version: str
    scored_at: datetime
    as_of: datetime
    seconds: float
    store: Path | str | None
    """The score store's DuckDB file, or its PostgreSQL URL without password."""
    run_id: str = ""
    stale_left_out: int = 0
    """Leads eligible but for the model's maximum lead age (stale: not trained on, not scored)."""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class ContactExplanation:
    """One lead's score and reasons (``leadscore explain``)."""

    contact_id: str
    model_version: str
    as_of: datetime
    p_sql: float
    p_meeting: float
    grade: str
    fit_score: float
    engagement_score: float
    positive: tuple[Reason, ...]
    negative: tuple[Reason, ...]
    base_value: float
    raw_score: float
    features: dict[str, Any]
    scored_by: str = GLOBAL_MODEL
    """Which model scored the lead: ``global``, or ``column=value`` for a segment's model."""
    notes: tuple[str, ...] = ()
    """Warnings about how the lead was scored (e.g. as of the data's end, not now)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (reasons with their effects in log-odds)."""
        return {
            "contact_id": self.contact_id,
            "model_version": self.model_version,
            "as_of": self.as_of.isoformat(),
            "p_sql": self.p_sql,
            "p_meeting": self.p_meeting,
            "grade": self.grade,
            "fit_score": self.fit_score,
            "engagement_score": self.engagement_score,
            "reasons_positive": [r.text for r in self.positive],
            "reasons_negative": [r.text for r in self.negative],
            "scored_by": self.scored_by,
        }


def _open(crm: CrmData | str | Path) -> tuple[CrmData, bool]:
    if isinstance(crm, CrmData):
        return crm, False
    return open_crm(crm), True


def _loaded(model: str | Path | LoadedScorer, tracking_uri: str | None) -> LoadedScorer:
    if isinstance(model, LoadedScorer):
        return model
    return load_scorer(model, tracking_uri=tracking_uri)


def score_contact_base(
    crm: CrmData | str | Path,
    model_uri_or_alias: str | Path | LoadedScorer = "champion",
    out_path: Path | str = Path("scores.parquet"),
    *,
    tracking_uri: str | None = None,
    chunk_size: int = 50_000,
    progress: Progress | None = None,
    store: ScoreStore | Path | str | None = DEFAULT_STORE,
    as_of: datetime | None = None,
) -> BatchResult:
    """Score every eligible contact of ``crm`` at ``as_of`` (default: now) with the scorer
    ``model_uri_or_alias`` and write ``out_path`` (Parquet, :data:`SCORES_SCHEMA`, the run id in
    its metadata) atomically, committed together with the rows appended to the score history
    ``store`` (``None``: no history). Both places are checked before anything is written."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1 row, got {chunk_size}.")
    started = time.perf_counter()
    out = Path(out_path)
    check_writable(out)
    history = (
        None if store is None else store if isinstance(store, ScoreStore) else ScoreStore(store)
    )
    if history is not None and history.path is not None and history.path.resolve() == out.resolve():
        raise ConfigError(f"The output and the score store are the same file ({out}).")
    loaded = _loaded(model_uri_or_alias, tracking_uri)
    definition = loaded.scorer.require_definition()
    data, owned = _open(crm)
    scored_at = utc_now()
    moment = as_of or scored_at
    run_id = new_run_id()
    schema = SCORES_SCHEMA
    routing = loaded.scorer.segments
    if routing is not None:  # which model scored each lead (models per segment)
        schema = schema.append(pa.field(SCORED_BY, pa.string()))
    facets = facet_source(data, routing.column if routing is not None else None)
    for extra in facets.fields:  # the inbox's owner and segment filters, when the CRM has them
        schema = schema.append(extra)
    schema = schema.with_metadata({RUN_ID_KEY: run_id.encode()})
    rows = 0
    staged = False
    from_stage = loaded.scorer.spec.from_stage
    max_age = loaded.scorer.spec.max_lead_age_days
    # the feature query on its own cursor, started now in the background (DuckDB and
    # LightGBM release the GIL) while this thread counts the eligible leads
    feature_con = data.con.cursor()
    feature_crm = CrmData(feature_con, description=data.description, problems=[])
    engine = DuckDBEngine(feature_crm)
    chunks = iter_features(
        feature_crm,
        definition,
        as_of=moment,
        chunk_size=chunk_size,
        from_stage=from_stage,
        max_age_days=max_age,
        engine=engine,
    )
    # what the first chunk's numbers need, built while the query runs
    warm = ThreadPoolExecutor(1, thread_name_prefix="leadscore-prepare")
    prepared = warm.submit(_prepare, loaded.scorer, chunk_size)
    warm.shutdown(wait=False)
    # stopping early (an error, Ctrl-C) interrupts the query rather than waiting for it
    compute = partial(_numbers, loaded.scorer, prepared)
    scored = ahead(_parts(chunks), compute, stop=engine.interrupt, depth=AHEAD)
    try:
        if history is not None:  # a bad or locked store fails now, before anything is written
            history.open_check()  # (while the feature query runs)
        total, stale = count_eligible_and_stale(  # one query for both counts
            data, as_of=moment, from_stage=from_stage, max_age_days=max_age
        )
        if total == 0:
            raise NotScoredError(_nobody_eligible(data, moment, stale, max_age))
        if progress:
            progress(0, total)
        with atomic_path(out) as tmp:
            with pq.ParquetWriter(tmp, schema, write_statistics=_with_statistics(schema)) as writer:
                for (features, _), numbers in scored:
                    scores, reasons = _scores(loaded.scorer, features, numbers)
                    scores.insert(0, "contact_id", features["contact_id"].to_numpy())
                    scores.insert(1, "scored_at", scored_at)
                    scores.insert(2, "model_version", loaded.model_version)
                    facets.add(data, features, scores)
                    writer.write_table(_table(scores, reasons, schema))
                    rows += len(scores)
                    fault_point("score.chunk_written")
                    if progress:
                        progress(rows, total)
            if history is not None:
                history.stage_run(run_id, tmp, out, as_of=moment)
                staged = True
            fault_point("score.before_replace")
        fault_point("score.output_replaced")
        if history is not None:
            history.commit_run(run_id)
    except BaseException:
        if staged and history is not None and not _replaced(out, run_id):
            with contextlib.suppress(Exception):  # best effort: the next run reconciles it
                history.discard_run(run_id)
        raise
    finally:
        scored.close()
        feature_con.close()
        if owned:
            data.close()
    return BatchResult(
        path=out,
        rows=rows,
        model_version=loaded.model_version,
        scored_at=scored_at,
        as_of=moment,
        seconds=time.perf_counter() - started,
        store=None if history is None else history.path or str(history),
        run_id=run_id,
        stale_left_out=stale,
    )


def _nobody_eligible(data: CrmData, moment: datetime, stale: int, max_age: int | None) -> str:
    """Why a run would score no lead, and what to pass instead (nothing is written)."""
    from leadscore.features import data_end_of

    end = data_end_of(data)
    why = (
        f"all {stale:,} eligible leads are stale (no activity within the model's maximum lead "
        f"age of {max_age} days)"
        if stale
        else "no contact is eligible (created by then, not yet an SQL, not disqualified)"
    )
    return (
        f"No lead to score as of {moment:%Y-%m-%d %H:%M}: {why}; the data end on "
        f"{end:%Y-%m-%d %H:%M}. Pass --as-of {end:%Y-%m-%d} to score as of the export. "
        "Nothing was written: the previous scores and the score history are unchanged."
    )


REASON_COLUMNS = ("reasons_positive", "reasons_negative")


def _with_statistics(schema: pa.Schema) -> list[str]:
    """The output columns whose Parquet statistics are written: all but the reason lists
    (the minimum and maximum sentence of a chunk serve no reader and cost ~12 % of the
    write)."""
    return [f.name for f in schema if f.name not in REASON_COLUMNS]


FIRST_PART = 2
"""The first and the last chunk of a run are scored in two parts, the first a ``1/FIRST_PART``
of it. First chunk: its reasons start while the rest's model numbers are computed (nothing
else overlaps the first chunk's numbers: the feature query delivers its first rows only when
it is done). Halves: the numbers cost about as much per row as the reasons, so the second
half's numbers end about when the first half's reasons do (a quarter left the reasons waiting
~0.45 s of 3.75, quiet). Last chunk: its reasons would otherwise run alone at the end (nothing
left to compute ahead); in halves, only the second half's do."""

AHEAD = 2
"""Parts whose model numbers are computed ahead of the reasons (:func:`ahead`'s ``depth``):
with the reasons column-wise, the numbers take longer than the reasons of a part; two ahead,
the background thread never waits for this one to take a part (one ahead, it did for ~0.3 s
of a 164k run: the write and the end of the previous part's reasons)."""

SPLIT_FROM = 40_000
"""Only a first or last chunk of this many rows or more is split (each part stays a large
batch)."""


def _parts(chunks: Iterator[pd.DataFrame]) -> Iterator[tuple[pd.DataFrame, int]]:
    """Each chunk with the rows its contributions are planned for (its own), the first and the
    last chunk of :data:`SPLIT_FROM` rows or more in two parts planned as the whole chunk: the
    same values as the chunk explained at once (:func:`exact_contributions`' ``plan_rows``).
    A chunk after the first is passed on once the next one is read (to know the last one).
    Closing this closes ``chunks`` (the query's result is released now, not by the GC)."""
    try:
        held: pd.DataFrame | None = None
        for index, chunk in enumerate(chunks):
            if index == 0:
                yield from _halves(chunk)
                continue
            if held is not None:
                yield held, len(held)
            held = chunk
        if held is not None:
            yield from _halves(held)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _halves(chunk: pd.DataFrame) -> Iterator[tuple[pd.DataFrame, int]]:
    """``chunk`` in two parts planned as the whole (see :data:`FIRST_PART`), or whole when
    smaller than :data:`SPLIT_FROM` rows."""
    rows = len(chunk)
    if rows < SPLIT_FROM:
        yield chunk, rows
        return
    cut = rows // FIRST_PART
    yield chunk.iloc[:cut], rows
    yield chunk.iloc[cut:], rows


def _prepare(scorer: Scorer, rows: int) -> None:
    """:meth:`Scorer.prepare_batch` of a global model that explains (else nothing)."""
    if scorer.explains and scorer.segments is None:
        scorer.prepare_batch(rows)


def _numbers(
    scorer: Scorer, prepared: Future[None], part: tuple[pd.DataFrame, int]
) -> ModelNumbers | None:
    """The model numbers of a chunk (``(features, rows planned for)``, see :func:`_parts`) a
    global model explains (computed ahead, in the background:
    :func:`~leadscore.serving.pipeline.ahead`), once ``prepared`` is done (its error, if
    any, is the first chunk's own to raise); ``None`` for other scorers."""
    features, plan_rows = part
    with contextlib.suppress(Exception):
        prepared.result()
    if scorer.explains and scorer.segments is None:
        return scorer.explain_numbers(features, plan_rows=plan_rows)
    return None


def _scores(
    scorer: Scorer, features: pd.DataFrame, numbers: ModelNumbers | None = None
) -> tuple[pd.DataFrame, Sequence[RowReasons]]:
    """A chunk's scores and, when the scores leave them out, its reasons (a global model's
    reasons go to Arrow lists straight from the column-wise table, never a list per row);
    ``numbers``: the chunk's :func:`_numbers`, when computed already."""
    if scorer.explains and scorer.segments is None:
        numbers = numbers or scorer.explain_numbers(features)
        explanation = scorer.explain_words(features, numbers, lists=False)
        return explanation.scores, explanation.reasons
    return scorer.score(features), ()


def _table(scores: pd.DataFrame, reasons: Sequence[RowReasons], schema: pa.Schema) -> pa.Table:
    """The chunk's Arrow table of ``schema``; the reason columns from ``reasons`` when
    ``scores`` lacks them (the same lists :func:`reasons_as_text` gives)."""
    if all(c in scores.columns for c in REASON_COLUMNS):
        return pa.Table.from_pandas(scores, schema=schema, preserve_index=False)
    rest = pa.schema([f for f in schema if f.name not in REASON_COLUMNS])
    table = pa.Table.from_pandas(scores, schema=rest, preserve_index=False)
    arrow = getattr(reasons, "arrow_sentences", None)  # a ReasonTable: taken by sentence id
    sides = arrow() if callable(arrow) else flat_sentences(reasons)
    lists = dict(zip(REASON_COLUMNS, sides, strict=True))
    columns = []
    for field in schema:
        if field.name not in lists:
            columns.append(table.column(field.name))
            continue
        values, counts = lists[field.name]
        offsets = np.zeros(len(counts) + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        texts = (
            values
            if isinstance(values, pa.Array)
            else pa.array(values, type=pa.string())
            if len(values)
            else pa.array([], pa.string())
        )
        columns.append(pa.ListArray.from_arrays(pa.array(offsets), texts, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _replaced(out: Path, run_id: str) -> bool:
    from leadscore.serving.runs import output_run_id

    return output_run_id(out) == run_id


def explain_contact(
    crm: CrmData | str | Path,
    contact_id: str,
    model_uri_or_alias: str | Path | LoadedScorer = "champion",
    *,
    tracking_uri: str | None = None,
    as_of: datetime | None = None,
    top: int = 3,
) -> ContactExplanation:
    """One lead's current score, grade, sub-scores and top reasons (features computed from the
    whole CRM, so account-level features are right). Raises :class:`LeadscoreError` when the
    contact is unknown or not eligible (:class:`NotScoredError` says which: unknown id, created
    after ``as_of``, already SQL, disqualified)."""
    loaded = _loaded(model_uri_or_alias, tracking_uri)
    definition = loaded.scorer.require_definition()
    data, owned = _open(crm)
    moment = as_of or utc_now()
    spec = loaded.scorer.spec

    def features_of_contact(max_age_days: int | None) -> list[pd.DataFrame]:
        return list(
            iter_features(
                data,
                definition,
                as_of=moment,
                contact_ids=[contact_id],
                from_stage=spec.from_stage,
                max_age_days=max_age_days,
            )
        )

    try:
        frames = features_of_contact(spec.max_lead_age_days)
        if not frames:  # stale: eligible by the same query once the maximum age is lifted
            if spec.max_lead_age_days is not None and features_of_contact(None):
                raise NotScoredError(stale_reason(contact_id, moment, spec.max_lead_age_days))
            raise NotScoredError(why_not_scored(data, contact_id, moment, spec.from_stage))
    finally:
        if owned:
            data.close()
    features = pd.concat(frames, ignore_index=True)
    explanation = loaded.scorer.explain(features, top=top)
    row = explanation.scores.iloc[0]
    reasons = explanation.reasons[0]
    return ContactExplanation(
        contact_id=contact_id,
        model_version=loaded.model_version,
        as_of=moment,
        p_sql=float(row["p_sql"]),
        p_meeting=float(row["p_meeting"]),
        grade=str(row["grade"]),
        fit_score=float(row["fit_score"]),
        engagement_score=float(row["engagement_score"]),
        positive=reasons.positive,
        negative=reasons.negative,
        base_value=float(explanation.contributions[0, -1]),
        raw_score=float(explanation.raw_score[0]),
        features={k: _plain(v) for k, v in features.iloc[0].items() if k in loaded.scorer.features},
        scored_by=str(row.get(SCORED_BY, GLOBAL_MODEL)),
    )


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value
