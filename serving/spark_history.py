"""The score history of Spark runs, kept beside the scores in the lake (no DuckDB file).

``score --engine spark --out scores/`` writes each run's rows to ``scores/run_id=<id>/`` and,
last, its summary to ``scores/_runs/run_id=<id>/`` (one Parquet row: :data:`RUN_COLUMNS`).
The summary is the run's commit marker: a run is in the history when its summary is there, and
a summary is written only once its rows are all in place, so a crash leaves the run's rows and
summary both present or the run absent from the history (rows without a summary are ignored).
Spark jobs read the same tables: ``spark.read.parquet("scores/_runs")`` lists the runs, and a
run's scores are the folder ``scores/run_id=<id>/``.

:class:`SparkScoreHistory` reads them from the driver with pyarrow (local folders or lake URIs
pyarrow opens: ``s3://``, ``gs://``, ``hdfs://``), with the history-reading methods of
:class:`~leadscore.serving.store.ScoreStore` that ``leadscore monitor`` uses
(:meth:`~SparkScoreHistory.scoring_runs`, :meth:`~SparkScoreHistory.scores_as_of`) and a
lead's trend (:meth:`~SparkScoreHistory.history`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from leadscore.errors import SourceError

__all__ = [
    "RUNS_FOLDER",
    "RUN_COLUMNS",
    "SPARK_RUNS_DDL",
    "SparkScoreHistory",
]

RUNS_FOLDER = "_runs"
"""The summaries' folder under the scores folder (hidden from readers of the scores: ``_``)."""

SPARK_RUNS_DDL = (
    "run_id string, scored_at timestamp_ntz, as_of timestamp_ntz, model_version string, "
    "rows bigint, grades map<string,bigint>, scored_by map<string,bigint>, output string, "
    "host string, seconds double"
)
"""A run's summary in Spark's DDL (``run_id`` is the partition column of the table)."""

RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "scored_at",
    "as_of",
    "model_version",
    "rows",
    "grades",
    "scored_by",
    "output",
    "host",
    "seconds",
)
"""A run's summary: when it scored and as of when, with which model, how many leads, the leads
per grade and (models per segment) per model that scored them, where the rows are, from which
host, how long it took."""


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class SparkScoreHistory:
    """The runs and scores of ``score --engine spark --out <location>``, read with pyarrow."""

    def __init__(self, location: Path | str) -> None:
        self.location = str(location).rstrip("/")

    def _filesystem(self) -> tuple[Any, str]:
        import pyarrow.fs as pafs

        if "://" not in self.location:
            return pafs.LocalFileSystem(), str(Path(self.location).resolve())
        try:
            return cast(tuple[Any, str], pafs.FileSystem.from_uri(self.location))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise SourceError(
                f"Cannot open the score history {self.location}: {exc}. pyarrow reads local "
                "folders, s3://, gs:// and hdfs://; read other lakes with Spark "
                "(spark.read.parquet('<out>/_runs'))."
            ) from None

    def runs(self) -> pd.DataFrame:
        """One row per committed run (:data:`RUN_COLUMNS`), oldest first; ``grades`` and
        ``scored_by`` as dicts (``scored_by`` empty for a model without segments)."""
        import pyarrow.fs as pafs

        fs, root = self._filesystem()
        if fs.get_file_info(root).type != pafs.FileType.Directory:
            raise SourceError(
                f"No scores folder at {self.location}: pass the --out folder of "
                "`leadscore score --engine spark`."
            )
        folder = f"{root}/{RUNS_FOLDER}"
        if fs.get_file_info(folder).type != pafs.FileType.Directory:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in RUN_COLUMNS})
        table = ds.dataset(
            folder,
            filesystem=fs,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive"),
        ).to_table()
        frame = cast(pd.DataFrame, table.to_pandas())
        for column in ("grades", "scored_by"):
            frame[column] = pd.Series(
                [dict(v) if v is not None else {} for v in frame[column]],
                index=frame.index,
                dtype=object,
            )
        frame["run_id"] = frame["run_id"].astype(str)
        frame = frame.loc[:, list(RUN_COLUMNS)]
        return frame.sort_values(["scored_at", "run_id"], ignore_index=True)

    def _scores(self, runs: pd.DataFrame, columns: list[str], filter_: Any = None) -> pd.DataFrame:
        """The rows of the committed ``runs`` (a ``run_id`` column added; a run that scored
        no lead has no folder)."""
        run_ids = [str(r) for r in runs.loc[runs["rows"] > 0, "run_id"]]
        if not run_ids:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in [*columns, "run_id"]})
        fs, root = self._filesystem()
        dataset = ds.dataset(
            root,
            filesystem=fs,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive"),
        )  # ``_runs``, ``_SUCCESS`` and ``_temporary`` are skipped (a leading ``_``)
        wanted = ds.field("run_id").isin(run_ids)
        where = wanted if filter_ is None else wanted & filter_
        table = dataset.to_table(columns=[*columns, "run_id"], filter=where)
        return cast(pd.DataFrame, table.to_pandas())

    def scoring_runs(self) -> pd.DataFrame:
        """One row per scoring (model version, as-of moment): first ``scored_at`` and the
        ``contacts`` scored (as :meth:`ScoreStore.scoring_runs`, for the monitor's cohorts)."""
        runs = self.runs()
        columns = ["model_version", "as_of", "scored_at", "contacts"]
        if runs.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        out = []
        for (version, as_of), group in runs.groupby(["model_version", "as_of"], sort=False):
            if len(group) == 1:
                contacts = int(group["rows"].iloc[0])
            else:  # several runs at one moment: count each lead once
                ids = self._scores(group, ["contact_id"])
                contacts = int(ids["contact_id"].nunique())
            out.append((version, as_of, group["scored_at"].min(), contacts))
        frame = pd.DataFrame(out, columns=columns)
        return frame.sort_values(["as_of", "model_version"], ignore_index=True)

    def scores_as_of(self, model_version: str, as_of: datetime) -> pd.DataFrame:
        """The latest score of each contact scored by ``model_version`` as of ``as_of``:
        ``contact_id``, ``p_sql``, ``p_meeting``, ``grade``."""
        runs = self.runs()
        hit = runs[(runs["model_version"] == model_version) & (runs["as_of"] == _naive(as_of))]
        columns = ["contact_id", "scored_at", "p_sql", "p_meeting", "grade"]
        rows = self._scores(hit, columns)
        rows = rows.sort_values(["contact_id", "scored_at"]).drop_duplicates(
            "contact_id", keep="last"
        )
        return rows.loc[:, ["contact_id", "p_sql", "p_meeting", "grade"]].reset_index(drop=True)

    def history(self, contact_id: str, *, limit: int = 50) -> pd.DataFrame:
        """A contact's scores over the committed runs, newest first (with the run's
        ``as_of``)."""
        from leadscore.serving.store import HISTORY_COLUMNS

        runs = self.runs()
        rows = self._scores(runs, list(HISTORY_COLUMNS), ds.field("contact_id") == contact_id)
        rows = rows.merge(runs[["run_id", "as_of"]], on="run_id", how="left")
        rows = rows.sort_values(["scored_at", "model_version"], ascending=False)
        return rows.drop(columns="run_id").head(limit).reset_index(drop=True)

    def count(self) -> int:
        """Rows in the history (the committed runs' leads)."""
        runs = self.runs()
        return int(runs["rows"].sum()) if len(runs) else 0
