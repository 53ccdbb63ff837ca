"""Negative sampling inside the build query: a training table that is small before it leaves
the engine (Spark: before it reaches one node).

Rows whose cutoff falls before ``until`` (the period that will be trained on) keep every
positive (on either label) and a seeded fraction of the negatives, each kept negative carrying
``sample_weight = 1 / fraction``; rows from ``until`` on (validation and test: never sampled)
are all kept with weight 1. A row's draw is the first 32 bits of the MD5 of
``contact_id|cutoff|seed`` as text, so DuckDB and Spark keep the same rows, and a rebuilt or
extended table keeps them too. Training reads the weights from the table and refuses a split
whose validation or test period holds sampled cutoffs (:mod:`leadscore.training.sampling`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from leadscore.features.labels import LABELS

__all__ = ["WEIGHT_COLUMN", "TableSample", "row_draws", "sampled_query"]

WEIGHT_COLUMN = "sample_weight"
"""The column of a sampled training table holding each row's weight in fitting."""

_DRAW = 1 << 32  # the draw is a 32-bit integer: uniform in [0, 1) once divided by this


class TableSample(BaseModel):
    """How a training table was sampled when it was built (recorded in its metadata)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(gt=0, lt=1)
    """Share of the negative rows kept among the rows before ``until``."""
    until: datetime
    """Rows with a cutoff before this moment are sampled; later rows are all kept."""
    seed: int = 0

    def describe(self) -> str:
        """One sentence for the terminal and the report."""
        return (
            f"Training table sampled when built: rows with a cutoff before "
            f"{self.until:%Y-%m-%d} keep every positive and {self.fraction:g} of the negatives "
            f"(seed {self.seed}), each kept negative weighted {1 / self.fraction:g}; later rows "
            "are all kept."
        )


def _draw(engine: str) -> str:
    """SQL of the row's draw in [0, 1) for ``engine`` (the same value on DuckDB and Spark)."""
    if engine == "spark":
        key = "concat_ws('|', CAST(s.contact_id AS STRING), date_format(s.cutoff, 'yyyy-MM-dd HH:mm:ss'), CAST({seed} AS STRING))"
        return f"CAST(conv(substr(md5({key}), 1, 8), 16, 10) AS DOUBLE) / {_DRAW}.0"
    key = "CAST(s.contact_id AS VARCHAR) || '|' || strftime(s.cutoff, '%Y-%m-%d %H:%M:%S') || '|' || CAST({seed} AS VARCHAR)"
    return f"CAST(CAST(('0x' || substr(md5({key}), 1, 8)) AS UBIGINT) AS DOUBLE) / {_DRAW}.0"


def row_draws(contact_ids: Iterable[Any], cutoffs: Any, seed: int) -> np.ndarray[Any, Any]:
    """The build query's draw in [0, 1) of each (contact, cutoff) row, in order, computed by
    DuckDB with the same expression: sampling at training time keeps exactly the rows a build
    sampled with the same seed and fraction keeps."""
    import duckdb
    import pyarrow as pa

    ids = (
        contact_ids
        if isinstance(contact_ids, pa.Array)
        else pa.array(contact_ids, from_pandas=True)
    )
    rows = pa.table(
        {
            # the ids keep their type: DuckDB casts them to text as the build query does
            # (a float id column spells 5 as '5.0' there; Python's str would agree only on text)
            "contact_id": ids,
            "cutoff": pa.array(np.asarray(cutoffs, dtype="datetime64[us]")),
        }
    )
    draw = _draw("duckdb").format(seed=int(seed))
    with duckdb.connect() as con:
        con.register("s", rows)
        values = con.execute(f"SELECT {draw} AS u FROM s").fetchnumpy()["u"]
    return np.asarray(values, dtype=np.float64)


def sampled_query(sql: str, sample: TableSample, engine: str) -> str:
    """``sql`` (a labelled feature query) with ``sample`` applied and :data:`WEIGHT_COLUMN`
    appended, in ``engine``'s dialect (``duckdb`` or ``spark``)."""
    until = sample.until.strftime("%Y-%m-%d %H:%M:%S")
    kept_whole = " OR ".join(
        [*(f"s.{label}" for label in LABELS), f"s.cutoff >= TIMESTAMP '{until}'"]
    )
    draw = _draw(engine).format(seed=int(sample.seed))
    weight = repr(1.0 / sample.fraction)
    return (
        f"SELECT s.*, CASE WHEN {kept_whole} THEN 1.0 ELSE {weight} END AS {WEIGHT_COLUMN} "
        f"FROM ({sql}) AS s WHERE {kept_whole} OR {draw} < {sample.fraction!r}"
    )
