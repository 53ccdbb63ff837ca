"""Score a flat export file, or explain one of its rows, with a registered flat model.

The file is read with the same reader as in training (:func:`leadscore.flat_csv.read_flat_csv`,
with the model's placeholders), scored through the loaded MLflow pyfunc's scorer, and written
atomically (CSV or Parquet by the output's suffix).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadscore.atomic import atomic_path
from leadscore.errors import ArtifactError, ConfigError, SourceError
from leadscore.flat_csv import clean_placeholders, how_read, read_flat_csv
from leadscore.safe_text import safe_example
from leadscore.serving.flat import FlatScoring
from leadscore.serving.loading import LoadedScorer, load_scorer

__all__ = ["FlatBatchResult", "FlatRowExplanation", "explain_flat_row", "score_flat_file"]


@dataclass(frozen=True)
class FlatBatchResult:
    """What scoring a flat export wrote."""

    path: Path
    rows: int
    model_version: str
    seconds: float
    target: str
    grades: dict[str, int]
    read_as: str = ""
    """How the file was read: encoding and separator (:func:`leadscore.flat_csv.how_read`)."""
    notes: tuple[str, ...] = ()
    """Warnings about the file: model columns empty in every row."""


@dataclass(frozen=True)
class FlatRowExplanation:
    """One row's probability, grade and reasons in words (``leadscore explain --table``)."""

    row_id: str
    model_version: str
    target: str
    probability: float
    grade: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]


def _flat(loaded: LoadedScorer) -> FlatScoring:
    flat = loaded.scorer.flat
    if flat is None:
        raise ArtifactError(
            f"Model {loaded.model_version} was trained on a CRM's training table, not on a flat "
            "export: score a CRM with it (`leadscore score CRM`), or pick a version trained "
            "with `leadscore train --table` (`leadscore models`)."
        )
    return flat


def _read(path: Path, flat: FlatScoring) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(f"Flat table {path} does not exist.")
    id_column = flat.flat.id_column  # as written: 00123 is not the number 123
    return read_flat_csv(path, flat.flat.na_values or (), (id_column,) if id_column else ())


def score_flat_file(
    path: Path,
    model: str = "champion",
    out: Path = Path("scores.csv"),
    *,
    tracking_uri: str | None = None,
) -> FlatBatchResult:
    """Score every row of the export ``path`` with a flat model; the output holds the row id
    (when the model knows one), ``p_<target>``, ``grade`` and the reasons."""
    started = time.perf_counter()
    if Path(out).resolve() == Path(path).resolve():
        raise ConfigError(
            f"--out {out} is the export being scored: give another path (the export would be "
            "replaced by its scores)."
        )
    loaded = load_scorer(model, tracking_uri=tracking_uri)
    flat = _flat(loaded)
    frame = _read(path, flat)
    scores = loaded.pyfunc.predict(frame)  # the pyfunc takes raw export rows
    id_column = flat.flat.id_column
    if id_column and id_column in frame.columns:
        scores.insert(0, id_column, frame[id_column].to_numpy())
    for column in ("reasons_positive", "reasons_negative"):
        scores[column] = ["; ".join(r) for r in scores[column]]
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            scores.to_parquet(tmp, index=False)
        else:
            scores.to_csv(tmp, index=False)
    grades = scores["grade"].value_counts().to_dict() if "grade" in scores else {}
    return FlatBatchResult(
        out,
        len(scores),
        loaded.model_version,
        time.perf_counter() - started,
        flat.flat.target,
        {str(k): int(v) for k, v in sorted(grades.items())},
        how_read(frame),
        _empty_columns(frame, flat) + _id_problems(frame, id_column),
    )


def _empty_columns(frame: pd.DataFrame, flat: FlatScoring) -> tuple[str, ...]:
    """A note per model column that no row of ``frame`` fills (after the placeholders): the
    model learnt from it, and every score here treats it as unknown, silently otherwise (an
    export that dropped a field's values)."""
    if frame.empty:
        return ()
    names = [c for c in flat.head.feature_names if c in frame.columns]
    cleaned = clean_placeholders(frame[names], flat.flat.na_values)
    empty = [c for c in names if cleaned[c].isna().all()]
    if not empty:
        return ()
    shown = ", ".join(f"'{c}'" for c in empty[:10]) + (" ..." if len(empty) > 10 else "")
    return (
        f"{len(empty)} column(s) the model uses are empty in every row: {shown}. Every score "
        "treats them as unknown: check the export (a field left out of it?).",
    )


def _id_problems(frame: pd.DataFrame, id_column: str | None) -> tuple[str, ...]:
    """A note when the id column the model knows cannot key the rows back to the CRM: ids
    repeated (Excel writes long numbers as ``1.23E+05``, merging leads) or missing. Each row
    is still scored; an import keyed on the id would update one record with several scores."""
    if not id_column or id_column not in frame.columns or frame.empty:
        return ()
    ids = frame[id_column]
    missing = int(ids.isna().sum())
    repeated = int(ids.dropna().duplicated(keep=False).sum())
    notes = []
    if repeated:
        scientific = ids.dropna().astype(str).str.fullmatch(r"\d(\.\d+)?[eE]\+\d+").any()
        why = (
            " (ids written like 1.23E+05: Excel's scientific notation lost their digits; "
            "re-export them as text)"
            if scientific
            else ""
        )
        notes.append(
            f"{repeated:,} row(s) share their {id_column} with another row{why}: a CRM import "
            "keyed on it would give one record several scores."
        )
    if missing:
        notes.append(f"{missing:,} row(s) have no {id_column}: their scores cannot be imported.")
    return tuple(notes)


def explain_flat_row(
    path: Path, row_id: str, model: str = "champion", *, tracking_uri: str | None = None
) -> FlatRowExplanation:
    """One row of the export (by the model's id column, else by its 1-based row number)."""
    loaded = load_scorer(model, tracking_uri=tracking_uri)
    flat = _flat(loaded)
    frame = _read(path, flat)
    id_column = flat.flat.id_column
    if id_column and id_column in frame.columns:
        hit = frame[frame[id_column].astype(str).str.strip() == row_id.strip()]
        where = f"no row has {id_column} = {safe_example(row_id)}"
    elif row_id.isdigit() and 1 <= int(row_id) <= len(frame):
        hit, where = frame.iloc[[int(row_id) - 1]], ""
    else:
        hit = frame.iloc[:0]
        where = f"{safe_example(row_id)} is not a row number from 1 to {len(frame):,}"
    if hit.empty:
        raise ConfigError(f"Cannot explain {safe_example(row_id)} in {path}: {where}.")
    explained = flat.explain(hit.head(1))
    row = explained.scores.iloc[0]
    return FlatRowExplanation(
        row_id=row_id,
        model_version=loaded.model_version,
        target=flat.flat.target,
        probability=float(row[flat.probability_column]),
        grade=str(row.get("grade", "")),
        positive=tuple(row["reasons_positive"]),
        negative=tuple(row["reasons_negative"]),
    )
