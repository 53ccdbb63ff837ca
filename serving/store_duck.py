"""The score store's connection to its DuckDB file (the embedded default, one process)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from leadscore.serving.store_sql import DUCKDB, Dialect

__all__ = ["DuckConnection"]


class DuckConnection:
    """A :class:`~leadscore.serving.store_backend.StoreConnection` to a DuckDB database."""

    sql: Dialect = DUCKDB

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(
        self, query: str, parameters: Sequence[Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        return self.con.execute(query, parameters)

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        names = ", ".join(str(c) for c in frame.columns)
        self.con.register("_store_rows", frame)
        try:
            self.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _store_rows")
        finally:
            self.con.unregister("_store_rows")
        return len(frame)

    def insert_parquet(
        self, table: str, parquet: Path, columns: Sequence[str], constants: Mapping[str, Any]
    ) -> None:
        names = ", ".join([*columns, *constants])
        values = ", ".join([*columns, *("?" for _ in constants)])
        self.con.execute(
            f"INSERT INTO {table} ({names}) SELECT {values} FROM read_parquet(?)",
            [*constants.values(), str(parquet)],
        )

    def close(self) -> None:
        self.con.close()
