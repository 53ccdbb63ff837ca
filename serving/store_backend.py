"""Where the score store lives, and the one connection interface its modules use.

A store location is a DuckDB file path (or ``duckdb:PATH``: the embedded default, one process)
or a PostgreSQL URL (``postgresql://`` or ``postgresql+psycopg://``: several API workers behind a
load balancer). Modules reading the store's tables go through :class:`StoreConnection`: they
write ``?`` placeholders and take the dialect's fragments from :attr:`StoreConnection.sql`
(:mod:`leadscore.serving.store_sql`), so no other module knows which database answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.serving.store_sql import Dialect

__all__ = [
    "POSTGRES_SCHEMES",
    "StoreConnection",
    "StoreCursor",
    "describe_location",
    "is_postgres_url",
    "store_path",
]

POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


class StoreCursor(Protocol):
    """The result of one statement."""

    def df(self) -> pd.DataFrame: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class StoreConnection(Protocol):
    """One connection to the score store (DuckDB or PostgreSQL), autocommit unless ``BEGIN``."""

    @property
    def sql(self) -> Dialect: ...

    def execute(self, query: str, parameters: Sequence[Any] | None = None) -> StoreCursor: ...

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        """Append the rows of ``frame`` (its columns named as the table's) to ``table``."""
        ...

    def insert_parquet(
        self, table: str, parquet: Path, columns: Sequence[str], constants: Mapping[str, Any]
    ) -> None:
        """Append ``columns`` of the Parquet file ``parquet`` to ``table``, with the same
        ``constants`` (column: value) on every row."""
        ...


def is_postgres_url(location: Path | str) -> bool:
    """Whether ``location`` names a PostgreSQL store."""
    return isinstance(location, str) and location.lower().startswith(POSTGRES_SCHEMES)


def store_path(location: Path | str) -> Path:
    """The DuckDB file of a non-PostgreSQL location (``duckdb:`` prefix allowed)."""
    if isinstance(location, str) and location.lower().startswith("duckdb:"):
        location = location[len("duckdb:") :]
        if location.startswith("//"):
            location = location[2:]
    return Path(location)


def describe_location(location: Path | str) -> str:
    """The location as shown in messages: a PostgreSQL URL without its password."""
    if not is_postgres_url(location):
        return str(store_path(location))
    from leadscore.serving.store_pg import redact_url

    return redact_url(str(location))
