"""The score store on PostgreSQL (psycopg 3): for several API workers sharing one store.

Each store call takes one connection (autocommit: every statement is its own transaction unless
the caller says ``BEGIN``; sessions in UTC) and gives it back; at most :data:`OPEN_DEFAULT` are
in use at once per process (``LEADSCORE_STORE_CONNECTIONS``), and a process keeps up to
:data:`IDLE_PER_URL` idle connections per URL (:data:`IDLE_MAX` in all) for the next call,
checked before reuse and never shared across a fork. The schema is created or migrated once per
process and URL, under a transaction-scoped advisory lock, so workers starting together do not
race on ``CREATE TABLE``. Rows are appended with ``COPY`` (batch runs stage their Parquet rows
that way). Messages name the server without the URL's password.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from leadscore.errors import ConfigError, SourceError
from leadscore.serving.store_sql import POSTGRES, SCHEMA_VERSION, Dialect, check_version

__all__ = ["PgConnection", "connect", "redact_url", "unavailable"]

_SCHEMA_LOCK = 0x1EAD5C0E
"""The advisory lock key held while creating or migrating the schema."""

_ready: set[str] = set()
_ready_lock = threading.Lock()
_COPY_ROWS = 10_000

IDLE_PER_URL = 4
"""Idle connections a process keeps per store URL."""
IDLE_MAX = 8
"""Idle connections a process keeps in all."""
OPEN_ENV = "LEADSCORE_STORE_CONNECTIONS"
"""Environment variable: connections a process may have in use at once (default
:data:`OPEN_DEFAULT`); a call beyond waits up to :data:`OPEN_WAIT_SECONDS` for one to free."""
OPEN_DEFAULT = 16
OPEN_WAIT_SECONDS = 30.0
TIMEOUT_ENV = "LEADSCORE_STORE_STATEMENT_TIMEOUT"
"""Environment variable: seconds after which the server cancels a store statement (default:
none, the server's own). A client that gave up does not cancel its query; this does."""
_idle: list[tuple[str, Any]] = []
_idle_pid = os.getpid()
_exit_registered = False
_slots: tuple[int, int, threading.BoundedSemaphore] | None = None
"""(process id, size, semaphore) of the connections in use (a forked child starts afresh)."""


def _open_slots() -> tuple[int, threading.BoundedSemaphore]:
    """This process's cap on connections in use: its size and semaphore."""
    global _slots
    with _ready_lock:
        if _slots is None or _slots[0] != os.getpid():
            raw = os.environ.get(OPEN_ENV, str(OPEN_DEFAULT)).strip()
            if not raw.isdigit() or int(raw) < 1:
                raise ConfigError(
                    f"{OPEN_ENV}={raw!r}: expected a whole number of connections, at least 1."
                )
            _slots = (os.getpid(), int(raw), threading.BoundedSemaphore(int(raw)))
        return _slots[1], _slots[2]


def _take_slot(url: str) -> threading.BoundedSemaphore:
    """A slot for one connection in use, waiting up to :data:`OPEN_WAIT_SECONDS`."""
    size, slots = _open_slots()
    if not slots.acquire(timeout=OPEN_WAIT_SECONDS):
        raise SourceError(
            f"All {size} connections of this process to the score store {redact_url(url)} "
            f"stayed busy for {OPEN_WAIT_SECONDS:g} s: raise {OPEN_ENV} (and the server's "
            "max_connections) or lower the load."
        )
    return slots


def redact_url(url: str) -> str:
    """``url`` without its password (in the authority or as a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':', 1)[0]}:***@{host}"
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # unparsable: never echo it, it may hold a password
        return "postgresql://(unparsable URL)"


def _scrub(message: str, url: str) -> str:
    """A driver message without the URL or its password, should a driver ever echo them."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    secrets = {url, *([password, unquote(password)] if password else [])}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    lines = message.strip().splitlines()
    return lines[0] if lines else ""


def _check_authority(url: str) -> None:
    """Refuse a URL whose user name or password holds a bare ``@``: libpq would cut it at the
    first one and name the rest of the password as the host in its message."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if netloc.count("@") > 1:
        raise ConfigError(
            f"The score store URL {redact_url(url)} has more than one '@' before its host: "
            "write an '@' of the user name or password as %40."
        )


def _conninfo(url: str) -> str:
    """The libpq URL (SQLAlchemy's ``postgresql+psycopg://`` spelling accepted)."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.lower().startswith("postgres") else url


def _statement_timeout_ms() -> int:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return 0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: expected seconds (e.g. 60), or 0 for none.")
    return round(seconds * 1000)


def _session_options(conninfo: str) -> str:
    """The session settings: UTC, the statement timeout, then the URL's own ``options``
    (which win: libpq takes one ``options`` and a keyword would replace the URL's)."""
    from psycopg.conninfo import conninfo_to_dict

    timeout = _statement_timeout_ms()
    given = str(conninfo_to_dict(conninfo).get("options") or "")
    parts = ["-c TimeZone=UTC", f"-c statement_timeout={timeout}" if timeout else "", given]
    return " ".join(part for part in parts if part)


def _placeholders(query: str) -> str:
    """DuckDB's ``?`` placeholders as psycopg's ``%s`` (literal ``%`` escaped)."""
    return query.replace("%", "%%").replace("?", "%s")


def _value(value: Any) -> Any:
    """A Python value psycopg writes: None for NaN/NaT/NA, naive UTC datetimes, lists."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.ndarray | np.generic):  # an array (a list column) or a scalar
        value = value.tolist()
        if isinstance(value, list):
            return [_value(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


_EMPTY_DTYPES: dict[int, str] = {
    700: "float64",  # float4
    701: "float64",  # float8
    1700: "float64",  # numeric
    20: "int64",  # int8
    21: "int64",  # int2
    23: "int64",  # int4
    16: "bool",
    1114: "datetime64[us]",  # timestamp
}
"""The pandas dtype of an empty result's column per PostgreSQL type oid (others: object)."""


class _Result:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def df(self) -> pd.DataFrame:
        description = self._cursor.description or ()
        columns = [d.name for d in description]
        rows = self._cursor.fetchall() if description else []
        if rows:
            return pd.DataFrame.from_records(rows, columns=columns)
        return pd.DataFrame(  # typed as DuckDB types an empty result, not all object
            {d.name: pd.Series(dtype=_EMPTY_DTYPES.get(d.type_code, object)) for d in description}
        )

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())


class PgConnection:
    """A :class:`~leadscore.serving.store_backend.StoreConnection` to PostgreSQL."""

    sql: Dialect = POSTGRES

    def __init__(self, con: Any, url: str, slot: threading.BoundedSemaphore | None = None) -> None:
        self._con = con
        self._url = url
        self._slot = slot

    def execute(self, query: str, parameters: Sequence[Any] | None = None) -> _Result:
        cursor = self._con.cursor()
        if parameters is None:
            cursor.execute(query)
        else:
            cursor.execute(_placeholders(query), [_value(p) for p in parameters])
        return _Result(cursor)

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        names = ", ".join(columns)
        count = 0
        with (
            self._con.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row([_value(v) for v in row])
                count += 1
        return count

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        columns = [str(c) for c in frame.columns]
        rows = frame.itertuples(index=False, name=None)
        if self._con.info.transaction_status == 0:  # idle: one transaction for the whole copy
            with self._con.transaction():
                return self._copy(table, columns, rows)
        return self._copy(table, columns, rows)

    def insert_parquet(
        self, table: str, parquet: Path, columns: Sequence[str], constants: Mapping[str, Any]
    ) -> None:
        import pyarrow.parquet as pq

        extra = list(constants.values())

        def rows() -> Iterable[list[Any]]:
            for batch in pq.ParquetFile(str(parquet)).iter_batches(
                batch_size=_COPY_ROWS, columns=list(columns)
            ):
                data = batch.to_pydict()
                for i in range(batch.num_rows):
                    yield [*(data[c][i] for c in columns), *extra]

        self._copy(table, [*columns, *constants], rows())

    def close(self) -> None:
        """Give the connection back for reuse when it is idle and sound, else close it (and
        free its slot: see :data:`OPEN_ENV`)."""
        slot, self._slot = self._slot, None
        try:
            _release(self._url, self._con)
        finally:
            if slot is not None:
                slot.release()


def _release(url: str, con: Any) -> None:
    reusable = not con.closed and con.info.transaction_status == 0  # idle, outside a transaction
    evicted = [] if reusable else [con]
    with _ready_lock:
        idle = _pool()
        if reusable:
            _close_at_exit()
            idle.append((url, con))
            mine = [i for i, (u, _) in enumerate(idle) if u == url]
            drop = set(mine[: max(0, len(mine) - IDLE_PER_URL)])
            drop |= set(range(max(0, len(idle) - IDLE_MAX)))
            evicted += [idle[i][1] for i in sorted(drop)]
            idle[:] = [item for i, item in enumerate(idle) if i not in drop]
    for old in evicted:
        old.close()


def _pool() -> list[tuple[str, Any]]:
    """This process's idle connections, oldest first (a forked child starts with none: the
    parent's sockets are not its to use). Call with ``_ready_lock`` held."""
    global _idle_pid
    if _idle_pid != os.getpid():
        _idle.clear()
        _idle_pid = os.getpid()
    return _idle


def _close_at_exit() -> None:
    """Close the idle connections when the process ends (registered once, on first use)."""
    global _exit_registered
    if not _exit_registered:
        atexit.register(_close_idle)
        _exit_registered = True


def _close_idle() -> None:
    with _ready_lock:
        idle = [con for _, con in _pool()]
        _idle.clear()
    for con in idle:
        con.close()


def _reuse(url: str) -> Any | None:
    """An idle connection to ``url`` that still answers, ``None`` if there is none."""
    while True:
        with _ready_lock:
            idle = _pool()
            found = next((i for i in range(len(idle) - 1, -1, -1) if idle[i][0] == url), None)
            con = idle.pop(found)[1] if found is not None else None
        if con is None:
            return None
        try:
            con.execute("SELECT 1")
            return con
        except Exception:  # the server restarted or dropped it: open a new one
            con.close()


def _schema_version(con: Any) -> int | None:
    """The store's schema version, ``None`` when its tables are not there yet."""
    found = con.execute("SELECT to_regclass('store_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = con.execute("SELECT max(version) FROM store_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _ensure_schema(con: Any, url: str) -> None:
    """Create or migrate the tables unless they are at this version already: the DDL needs
    ``CREATE`` on the schema, which a worker's user may lack once the tables exist."""
    with _ready_lock:
        if url in _ready:
            return
    version = _schema_version(con)
    if version is None or version < SCHEMA_VERSION:
        from psycopg import errors

        try:
            with con.transaction():
                con.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
                version = _schema_version(con)  # another process may have migrated meanwhile
                if version is None or version < SCHEMA_VERSION:
                    con.execute(POSTGRES.schema)
        except errors.InsufficientPrivilege as exc:
            if version is None:
                raise
            raise SourceError(
                f"The score store {redact_url(url)} has schema version {version}; this "
                f"leadscore needs version {SCHEMA_VERSION} and its user may not migrate the "
                f"tables ({_scrub(str(exc), url)}). Run one leadscore command on it as the "
                "owner of its tables, with CREATE on its schema as on the first run (e.g. "
                "leadscore feedback report --store postgresql://OWNER@HOST/DB): that migrates "
                "it in place, keeping every row."
            ) from None
        version = _schema_version(con)
    check_version(SCHEMA_VERSION if version is None else version, redact_url(url))
    with _ready_lock:
        _ready.add(url)


def unavailable(exc: BaseException, url: str) -> SourceError | None:
    """The error to show for a lost or refused server connection or a statement the user may
    not run, ``None`` for other errors."""
    import psycopg
    from psycopg import errors

    where, message = redact_url(url), _scrub(str(exc), url)
    if isinstance(exc, errors.InsufficientPrivilege | errors.ReadOnlySqlTransaction):
        return SourceError(
            f"The score store {where} refused: {message}. Its user needs SELECT, INSERT, "
            "UPDATE and DELETE on the store's tables, on a server that accepts writes."
        )
    if isinstance(exc, psycopg.OperationalError):
        return SourceError(f"The score store {where} failed: {message}")
    return None


def connect(url: str) -> PgConnection:
    """A connection to the PostgreSQL store ``url`` (its schema created on first use)."""
    try:
        import psycopg
    except ImportError:
        raise SourceError(
            "A PostgreSQL score store needs psycopg 3: pip install 'leadscore[postgres]'."
        ) from None
    _check_authority(url)
    slot = _take_slot(url)
    try:
        return PgConnection(_open(psycopg, url), url, slot)
    except BaseException:
        slot.release()
        raise


def _open(psycopg: Any, url: str) -> Any:
    """An idle connection to ``url`` reused, or a new one (schema checked)."""
    reused = _reuse(url)
    if reused is not None:
        return reused
    try:
        conninfo = _conninfo(url)
        con = psycopg.connect(
            conninfo, autocommit=True, connect_timeout=10, options=_session_options(conninfo)
        )
    except psycopg.Error as exc:
        raise SourceError(
            f"Cannot open the score store {redact_url(url)}: {_scrub(str(exc), url)}"
        ) from None
    try:
        _ensure_schema(con, url)
    except psycopg.Error as exc:
        con.close()
        raise SourceError(
            f"Cannot prepare the score store {redact_url(url)}: {_scrub(str(exc), url)}"
        ) from None
    except BaseException:
        con.close()
        raise
    return con
