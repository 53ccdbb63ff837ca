"""The scorer: both heads, the feature definition, grades, sub-scores and reasons in words.

:class:`Scorer` is what the MLflow pyfunc (:mod:`leadscore.serving.pyfunc`) wraps; batch
scoring, ``explain`` and the HTTP API use it through the loaded pyfunc, so every path runs the
same code on the same artifact. Reasons come from exact SHAP contributions of the SQL head
(LightGBM TreeSHAP via :func:`leadscore.serving.contributions.exact_contributions`, log-odds).
The heads and the spec are the model artifact's (:mod:`leadscore.model`): the scorer only reads
them and predicts through :class:`~leadscore.model.head.ModelHead`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.errors import ArtifactError
from leadscore.features.definition import FeatureDefinition
from leadscore.model.grades import assign_grades
from leadscore.model.head import ModelHead
from leadscore.model.heads import AnyHead, HeadsFolder, read_heads
from leadscore.model.inputs import TARGETS
from leadscore.model.spec import ScorerSpec
from leadscore.serving.bot_cap import cap_bot_rows
from leadscore.serving.contributions import (
    RangeBoosters,
    ThresholdBinner,
    contributions_and_raw,
    exact_contributions,
    prepare,
    probability_from_raw,
)
from leadscore.serving.flat import FlatScoring
from leadscore.serving.reasons import (
    ReasonGroup,
    RowReasons,
    _Renderer,
    explain_rows,
    reason_groups,
    reasons_as_text,
    subscores,
)
from leadscore.serving.reasons_table import explain_table
from leadscore.serving.segments import SegmentRouting, by_segment, explain_by_segment

_log = logging.getLogger(__name__)

__all__ = [
    "CONCURRENT_FROM",
    "OUTPUT_COLUMNS",
    "PROBABILITY_COLUMNS",
    "TABLE_REASONS_FROM",
    "Explanation",
    "ModelNumbers",
    "Scorer",
]

TABLE_REASONS_FROM = 512
"""Batches of this many rows or more choose their reasons column-wise (``explain_table``);
smaller ones (the API's single leads) with the row loop, whose fixed cost is lower (same
output either way; crossover measured between 512 and 1024 rows of ``benchmarks``-like data)."""

PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{t}" for t in TARGETS)
OUTPUT_COLUMNS: tuple[str, ...] = (
    *PROBABILITY_COLUMNS,
    "grade",
    "fit_score",
    "engagement_score",
    "reasons_positive",
    "reasons_negative",
)
"""Columns of :meth:`Scorer.score` for a scorer with a feature definition."""

FloatArray = np.ndarray[Any, Any]

SMALL_BATCH = 16
"""Up to this many rows, LightGBM predicts on one thread and the reasons' SHAP values come
straight from ``pred_contrib``: the grouping of :func:`exact_contributions` pays off on large
batches only, and for one row it makes the very same single LightGBM call."""


EXACT_RAW_FROM = 5_000
"""From this many rows (whole batches), the heads' probabilities come from the trees' leaves
of one representative row per group (:func:`contributions_and_raw`, bit-identical to
LightGBM's ``predict``; for the reason head, from the pass that gives its contributions):
measured break-even with LightGBM's own prediction at about 3-4k rows of the benchmark model,
0.4 -> 0.05 CPU-s (reason head) and 0.37 -> 0.2 (another head) per 100k rows."""

RAW_PLAN_ROWS = 65_536
"""The heads other than the reason head plan their leaves' blocks as for this many rows,
whatever the batch (their raw scores are exact for any plan): one plan per head."""

CHECK_ROWS = 64
"""The first batch a head's probabilities come from its leaves, its first rows are also
predicted by LightGBM and must be equal bit for bit (else that head falls back to LightGBM
for good: a platform whose ``exp`` differs from the C library LightGBM was built with)."""

CONCURRENT_FROM = 20_000
"""From this many rows, :meth:`Scorer.explain_numbers` runs the heads' predictions and the
contributions in threads at once (each LightGBM call on leadscore's one thread count)."""

_CONTRIBUTIONS = "contributions"


@dataclass(frozen=True)
class ModelNumbers:
    """A frame's model outputs before the reasons (:meth:`Scorer.explain_numbers`)."""

    pending: dict[str, Future[FloatArray]]
    """``p_<target>`` per head (calibrated), computed in threads that may still run (the
    reasons need the contributions only: they are chosen meanwhile)."""
    contributions: FloatArray
    """``(rows, features + 1)`` SHAP values of the reason head (log-odds); last column: base."""
    raw_score: FloatArray
    by_row: bool
    """Computed row by row (see :meth:`Scorer.explain`)."""

    def probabilities(self) -> dict[str, FloatArray]:
        """``p_<target>`` per head (waiting for the threads computing them)."""
        return {name: future.result() for name, future in self.pending.items()}


@dataclass(frozen=True)
class Explanation:
    """Scores of a batch plus the raw material of its reasons (for tests and ``explain``)."""

    scores: pd.DataFrame
    reasons: Sequence[RowReasons]
    """Per row (a :class:`~leadscore.serving.reasons_table.ReasonTable`, built column-wise)."""
    contributions: FloatArray
    """``(rows, features + 1)`` SHAP values of the reason head (log-odds); last column: base."""
    raw_score: FloatArray
    """The reason head's raw score (log-odds) per row."""


class Scorer:
    """Calibrated probabilities, grade, sub-scores and reasons for feature rows.

    Safe to share between threads (the HTTP API scores concurrent requests with one scorer):
    every LightGBM booster it predicts with (a head's, see :class:`ModelHead`, or a per-block
    copy of the reason head's) holds exactly the trees it uses and is always asked for its full
    iteration range, so no call changes shared model state (LightGBM writes a requested
    iteration range into the model before predicting).
    """

    def __init__(
        self,
        heads: Mapping[str, AnyHead],
        spec: ScorerSpec,
        *,
        segments: SegmentRouting | None = None,
    ) -> None:
        if not heads:
            raise ArtifactError("A scorer needs at least one head.")
        self.heads: dict[str, AnyHead] = dict(heads)
        self.spec = spec
        self.segments = segments
        """Models per segment (:mod:`leadscore.serving.segments`); ``None``: global only."""
        self.definition: FeatureDefinition | None = spec.feature_definition()
        reason_head = heads.get(spec.reason_target)
        if reason_head is None:
            raise ArtifactError(f"The scorer has no {spec.reason_target!r} head to explain.")
        self._reason_head: AnyHead = reason_head
        # the heads' boosters are immutable and only ever predict over their full range; the
        # reason head's per-block boosters are built once here (a logistic or rules head, the
        # better candidate on validation, gives exact linear contributions itself)
        self._ranges: RangeBoosters | None = None
        self._binner: ThresholdBinner | None = None
        self._exact: dict[str, tuple[ThresholdBinner, RangeBoosters] | None] = {}
        self._exact_checked: set[str] = set()
        self._exact_lock = threading.Lock()
        if isinstance(reason_head, ModelHead):
            self._ranges = RangeBoosters(reason_head.booster)
            self._binner = ThresholdBinner.from_booster(reason_head.booster)
        self.features: list[str] = list(reason_head.feature_names)
        self._groups: list[ReasonGroup] = []
        self._renderer: _Renderer | None = None
        self._concepts: list[str] = [f.concept for f in reason_head.features]
        self.flat: FlatScoring | None = None
        if spec.flat is not None:  # a flat-mode model reads raw export rows (serving.flat)
            self.flat = FlatScoring(reason_head, spec)  # any head kind that shipped
        if self.definition is not None:
            unknown = sorted(set(self.features) - set(self.definition.names))
            if unknown:
                raise ArtifactError(
                    "The scorer's heads use feature(s) its feature definition lacks: "
                    f"{', '.join(unknown)}."
                )
            self._groups = reason_groups(self.definition, self.features)
            # kept across batches: a batch run renders each distinct sentence once, not per chunk
            self._renderer = _Renderer(self.definition, self.features)
            self._concepts = [str(self.definition.feature(n).concept.value) for n in self.features]
        # heads fitted on one table encode a frame identically (same features, kinds and
        # levels): the matrix is built once per distinct encoding (the encoding is ~half of a
        # single lead's model time, benchmarks/api_profile.py)
        self._encoding: dict[str, str] = {}
        described: dict[str, dict[str, Any]] = {}
        for target, head in self.heads.items():
            mine = {"kind": head.kind, **head.encoder.to_dict()}
            if not isinstance(head, ModelHead):  # its matrix is its own design (linear heads)
                mine["model"] = head.model_sha256
            same = next((t for t, known in described.items() if known == mine), None)
            self._encoding[target] = same or target
            if same is None:
                described[target] = mine

    def _matrices(self, frame: pd.DataFrame) -> dict[str, FloatArray]:
        """Each head's encoded matrix of ``frame`` (one array per distinct encoding)."""
        built: dict[str, FloatArray] = {}
        for target, head in self.heads.items():
            owner = self._encoding[target]
            if owner not in built:
                built[owner] = head.matrix(frame)
        return {target: built[self._encoding[target]] for target in self.heads}

    @classmethod
    def from_folder(cls, folder: Path) -> Scorer:
        """The scorer of a heads folder (:class:`ArtifactError` when anything is missing or
        incompatible). A folder without ``scorer.json`` (models from before the serving stage)
        gives a probabilities-only scorer."""
        return cls.from_artifact(read_heads(folder))

    @classmethod
    def from_artifact(cls, artifact: HeadsFolder) -> Scorer:
        """The scorer of a read heads folder."""
        heads = {str(target): head for target, head in artifact.heads.items()}
        routing = None
        if artifact.segments is not None:
            subs = {v: cls.from_artifact(part) for v, part in artifact.segment_heads.items()}
            routing = SegmentRouting(artifact.segments.column, subs)
        scorer = cls(heads, artifact.spec or ScorerSpec(), segments=routing)
        for value, sub in (routing.scorers if routing else {}).items():
            if sub.features != scorer.features or set(sub.heads) != set(scorer.heads):
                raise ArtifactError(
                    f"The model of segment {value!r} has other features or targets than the "
                    "global model: the artifact is inconsistent. Retrain the model."
                )
        return scorer

    @property
    def explains(self) -> bool:
        """Whether this scorer can compute features and reasons (it carries a definition)."""
        return self.definition is not None and self.spec.grades is not None

    def require_definition(self) -> FeatureDefinition:
        """The feature definition, or a clear :class:`ArtifactError` for old/flat models."""
        if self.spec.flat is not None:
            raise ArtifactError(
                "This is a flat-mode model (trained with `leadscore train --table` on an "
                f"export with outcome {self.spec.flat.target!r}): it scores rows of such an "
                "export, not a CRM. Use `leadscore score leads.csv` and `leadscore explain "
                "ROW_ID --table leads.csv`, or pick a version trained on a CRM "
                "(`leadscore models`)."
            )
        if self.definition is None or self.spec.grades is None:
            raise ArtifactError(
                "This model carries no feature definition and grade thresholds (it was trained "
                "on a table without a feature definition, or before the serving stage): it "
                "gives probabilities from a feature frame only. Retrain it on a training table "
                "built by `build_training_table` to score a CRM with reasons."
            )
        return self.definition

    def _contributions(self, matrix: FloatArray, plan_rows: int | None = None) -> FloatArray:
        head = self._reason_head
        if len(matrix) <= SMALL_BATCH or not isinstance(head, ModelHead):
            return head.contributions_from_matrix(matrix)
        return exact_contributions(
            head.booster, matrix, binner=self._binner, boosters=self._ranges, plan_rows=plan_rows
        )

    def _exact_raw(self, target: str, rows: int) -> tuple[ThresholdBinner, RangeBoosters] | None:
        """The binner and range boosters :func:`contributions_and_raw` uses for head
        ``target`` on ``rows`` rows (built on first use), or ``None`` where LightGBM predicts
        itself (fewer than :data:`EXACT_RAW_FROM` rows, linear heads, objectives other than
        ``binary``)."""
        head = self.heads[target]
        if rows < EXACT_RAW_FROM or not isinstance(head, ModelHead):
            return None
        with self._exact_lock:
            if target not in self._exact:
                if target == self.spec.reason_target:
                    assert self._binner is not None and self._ranges is not None
                    binner, ranges = self._binner, self._ranges
                else:
                    binner = ThresholdBinner.from_booster(head.booster)
                    ranges = RangeBoosters(head.booster)
                usable = (
                    binner.trees_per_iteration == 1
                    and probability_from_raw(np.zeros(0), binner.objective) is not None
                )
                self._exact[target] = (binner, ranges) if usable else None
            return self._exact[target]

    def _exact_probability(
        self, target: str, matrix: FloatArray, *, contributions: bool, plan_rows: int | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Head ``target``'s contributions (empty unless ``contributions``) and calibrated
        probabilities from one pass (:func:`contributions_and_raw`: LightGBM's own
        prediction, bit for bit); only where :meth:`_exact_raw` applies."""
        head = self.heads[target]
        exact = self._exact_raw(target, len(matrix))
        assert isinstance(head, ModelHead) and exact is not None
        binner, ranges = exact
        values, raw = contributions_and_raw(
            head.booster,
            matrix,
            binner=binner,
            boosters=ranges,
            contributions=contributions,
            plan_rows=plan_rows,
        )
        probability = probability_from_raw(raw, binner.objective)
        assert probability is not None
        if target not in self._exact_checked:
            if not np.array_equal(probability[:CHECK_ROWS], self._raw(target, matrix[:CHECK_ROWS])):
                with self._exact_lock:
                    self._exact[target] = None  # LightGBM predicts this head from now on
                _log.warning(
                    "The %s head's probabilities from the trees' leaves differ from LightGBM's "
                    "predict on this platform: LightGBM predicts it from now on (same values, "
                    "slower batch scoring).",
                    target,
                )
                return values, self._probability(target, matrix)
            self._exact_checked.add(target)
        return values, head.calibrator.predict(probability)

    def _probability_of_batch(self, target: str, matrix: FloatArray) -> FloatArray:
        """:meth:`_probability`, from the trees' leaves where :meth:`_exact_raw` applies."""
        if self._exact_raw(target, len(matrix)) is None:
            return self._probability(target, matrix)
        return self._exact_probability(
            target, matrix, contributions=False, plan_rows=RAW_PLAN_ROWS
        )[1]

    def prepare_batch(self, rows: int) -> None:
        """Build what explaining a batch of ``rows`` rows needs (each head's bins, blocks and
        block boosters): batch scoring calls it in the background while the feature query
        runs, so that the first chunk's numbers do not pay for it."""
        for target, head in self.heads.items():
            exact = self._exact_raw(target, rows)
            if exact is None or not isinstance(head, ModelHead):
                continue
            plan_rows = rows if target == self.spec.reason_target else RAW_PLAN_ROWS
            prepare(head.booster, binner=exact[0], boosters=exact[1], plan_rows=plan_rows)

    def _raw(self, target: str, matrix: FloatArray) -> FloatArray:
        """Uncalibrated probabilities of one head (full range of its immutable booster)."""
        return self.heads[target].raw_from_matrix(matrix)

    def _probability(self, target: str, matrix: FloatArray) -> FloatArray:
        """Calibrated probabilities of one head."""
        return self.heads[target].calibrator.predict(self._raw(target, matrix))

    def probabilities(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_<target>`` per row (calibrated); a segmented scorer adds ``scored_by``."""
        if self.segments is not None:
            return by_segment(self, self.segments, frame, Scorer.global_probabilities)
        return self.global_probabilities(frame)

    def global_probabilities(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_<target>`` per row from this scorer's own heads (no segment routing)."""
        matrices = self._matrices(frame)
        columns = {
            f"p_{t}": head.calibrator.predict(self._raw(t, matrices[t]))
            for t, head in self.heads.items()
        }
        return pd.DataFrame(_without_missing_targets(columns, len(frame)), index=frame.index)

    def explain(
        self, frame: pd.DataFrame, *, top: int | None = None, by_row: bool = False
    ) -> Explanation:
        """Scores with reasons for the feature rows of ``frame`` (index kept); a segmented
        scorer routes each row to its segment's model and adds ``scored_by``.

        ``by_row``: every number is computed row by row, as if each row were explained alone
        (the API scores single leads that arrive together in one call: one matrix per head,
        one frame, but each lead's answer bit for bit the one it gets alone; BLAS may sum a
        matrix product of many rows in another order than that of one row)."""
        if self.segments is not None:
            self.require_definition()
            return explain_by_segment(self, self.segments, frame, top, by_row=by_row)
        return self.explain_global(frame, top=top, by_row=by_row)

    def explain_global(
        self,
        frame: pd.DataFrame,
        *,
        top: int | None = None,
        lists: bool = True,
        by_row: bool = False,
    ) -> Explanation:
        """:meth:`explain` with this scorer's own heads (no segment routing). ``lists=False``
        leaves the reason columns out of the scores (batch scoring writes them from
        ``reasons`` as Arrow lists: :func:`~leadscore.serving.reasons.flat_sentences`)."""
        numbers = self.explain_numbers(frame, by_row=by_row)
        return self.explain_words(frame, numbers, top=top, lists=lists)

    def explain_numbers(
        self, frame: pd.DataFrame, *, by_row: bool = False, plan_rows: int | None = None
    ) -> ModelNumbers:
        """The first half of :meth:`explain_global`: each head's probabilities and the reason
        head's contributions (LightGBM, which releases the GIL: batch scoring computes them
        for the next chunk while the reasons of the current one are chosen). From
        :data:`CONCURRENT_FROM` rows, the heads' predictions and the contributions run in
        threads at once (the same calls, the same values); from :data:`EXACT_RAW_FROM`, the
        probabilities come from the trees' leaves of one row per group (the reason head's
        with its contributions), bit-identical to LightGBM's prediction. ``plan_rows``: the
        contributions are computed as for a batch of that many rows (batch scoring explains a
        large chunk in parts, each with the values the whole chunk gets)."""
        self.require_definition()
        matrices = self._matrices(frame)
        each = _by_row if by_row and len(frame) > 1 else _whole
        probability = self._probability if each is _by_row else self._probability_of_batch
        calls: dict[str, Callable[[], FloatArray]] = {
            f"p_{target}": partial(each, partial(probability, target), matrices[target])
            for target in self.heads
        }
        reason = self.spec.reason_target
        reason_matrix = matrices[reason]
        fused: list[FloatArray] = []

        def explain_fused() -> FloatArray:
            values, p = self._exact_probability(
                reason, reason_matrix, contributions=True, plan_rows=plan_rows
            )
            fused.append(p)
            return values

        explain: Callable[[], FloatArray] = partial(
            each, partial(self._contributions, plan_rows=plan_rows), reason_matrix
        )
        if each is _whole and len(frame) > SMALL_BATCH and self._exact_raw(reason, len(frame)):
            calls.pop(f"p_{reason}")  # computed with the contributions
            explain = explain_fused
        pending: dict[str, Future[FloatArray]] = {}
        if each is _whole and len(frame) >= CONCURRENT_FROM and calls:
            # the heads in threads of their own, the contributions on this one; returned
            # before the heads are done (ModelNumbers.probabilities waits for them)
            pool = ThreadPoolExecutor(len(calls), thread_name_prefix="leadscore-heads")
            pending = {name: pool.submit(call) for name, call in calls.items()}
            pool.shutdown(wait=False)  # the threads end when their call is done
            contributions = explain()
        else:
            contributions = explain()
            for name, call in calls.items():
                pending[name] = _done(call())
        if fused:
            pending[f"p_{reason}"] = _done(fused[0])
        pending = {f"p_{t}": pending[f"p_{t}"] for t in self.heads}  # the heads' order
        raw_score = each(lambda c: c.sum(axis=1), contributions)
        return ModelNumbers(pending, contributions, raw_score, each is _by_row)

    def explain_words(
        self,
        frame: pd.DataFrame,
        numbers: ModelNumbers,
        *,
        top: int | None = None,
        lists: bool = True,
    ) -> Explanation:
        """The second half of :meth:`explain_global`: grades, sub-scores and reasons of
        ``frame`` from its :meth:`explain_numbers`."""
        definition = self.require_definition()
        grades = self.spec.grades
        assert grades is not None  # checked by require_definition
        contributions = numbers.contributions
        choice = (contributions, frame, self.features, self._groups, definition)
        reasons: Sequence[RowReasons] = (
            explain_table(*choice, top=top or self.spec.top_reasons, renderer=self._renderer)
            if len(frame) >= TABLE_REASONS_FROM
            else explain_rows(
                *choice,
                top=top or self.spec.top_reasons,
                renderer=self._renderer,
                by_row=numbers.by_row,
            )
        )
        columns: dict[str, Any] = numbers.probabilities()  # after the reasons: computed meanwhile
        if not numbers.by_row:
            sub = subscores(contributions[:, :-1], self._concepts)
        else:
            rows = [
                subscores(contributions[i : i + 1, :-1], self._concepts) for i in range(len(frame))
            ]
            sub = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
        columns = _without_missing_targets(columns, len(frame))
        columns["grade"] = assign_grades(columns[f"p_{self.spec.reason_target}"], grades)
        reasons, _ = cap_bot_rows(  # bot-like rows: grade capped, reason first (bot_cap.py)
            frame,
            columns,
            reasons,
            rule=self.spec.bots,
            thresholds=grades,
            target=self.spec.reason_target,
        )
        columns["fit_score"] = sub["fit"]
        columns["engagement_score"] = sub["engagement"]
        if lists:
            columns["reasons_positive"], columns["reasons_negative"] = reasons_as_text(reasons)
        # in output order at once (a column selection afterwards cost ~10 % of a single lead)
        scores = pd.DataFrame(
            {c: columns[c] for c in OUTPUT_COLUMNS if c in columns}, index=frame.index
        )
        return Explanation(scores, reasons, contributions, numbers.raw_score)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Output columns (see :data:`OUTPUT_COLUMNS`); probabilities only for a scorer without
        a feature definition; for a flat-mode model, see :mod:`leadscore.serving.flat`."""
        if self.flat is not None:
            return self.flat.score(frame)
        if not self.explains:
            return self.probabilities(frame)
        return self.explain(frame).scores


def _whole(function: Callable[[FloatArray], FloatArray], rows: FloatArray) -> FloatArray:
    return function(rows)


def _by_row(function: Callable[[FloatArray], FloatArray], rows: FloatArray) -> FloatArray:
    """``function`` of each row alone (a one-row array each), stacked."""
    return np.concatenate([function(rows[i : i + 1]) for i in range(len(rows))])


def _without_missing_targets(columns: dict[str, Any], rows: int) -> dict[str, Any]:
    """``columns`` with a missing-value probability for each target the model has no head for
    (trained on one target): never a number for a target the model does not have."""
    for column in PROBABILITY_COLUMNS:
        columns.setdefault(column, np.full(rows, np.nan))
    return columns


def _done(value: FloatArray) -> Future[FloatArray]:
    """A future already holding ``value``."""
    future: Future[FloatArray] = Future()
    future.set_result(value)
    return future
