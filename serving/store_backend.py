"""Where the score store lives, and the one connection interface its modules use.

A store location is a DuckDB file path (or ``duckdb:PATH``: the embedded default, one process)
or a PostgreSQL URL (``postgresql://`` or ``postgresql+psycopg://``: several API workers behind a
load balancer). Modules reading the store's tables go through :class:`StoreConnection`: they
write ``?`` placeholders and take the dialect's fragments from :attr:`StoreConnection.sql`
(:mod:`leadscore.serving.store_sql`), so no other module knows which database answers.
"""

from __future__ import annotations

import re
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
    "check_location",
    "describe_location",
    "is_postgres_url",
    "store_path",
]

POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_CONNINFO = re.compile(r"(?i)(^|\s)(host|hostaddr|dbname|user|password|port|service)\s*=")


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


def check_location(location: Path | str) -> None:
    """Refuse a location that is neither a DuckDB file nor a PostgreSQL URL (another URL, or
    libpq's ``host=… password=…``): it would silently become a file of that name, its password
    in the name. The message never repeats it."""
    from leadscore.errors import ConfigError

    if not isinstance(location, str) or is_postgres_url(location):
        return
    url = _URL.match(location)
    if url is not None and url.group("scheme").lower() != "duckdb":
        raise ConfigError(
            f"The score store is a {url.group('scheme')}:// URL: give a DuckDB file or a "
            "postgresql:// URL (postgresql://user@host:5432/db)."
        )
    if _CONNINFO.search(location):
        raise ConfigError(
            "The score store looks like libpq's 'host=… dbname=…' settings: write it as a "
            "postgresql:// URL (postgresql://user@host:5432/db; the password from ~/.pgpass or "
            "PGPASSWORD)."
        )


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
