"""Remember that a CRM passed validation, so an unchanged CRM is not checked again every run.

Validating a large CRM is a good part of a batch scoring run (about 1.9 s of a cold 200k-contact
run, 12.8M events, after the checks were fused into one scan per table). :func:`leadscore.crm.open_crm` asks :func:`lookup` first and,
after a full validation without errors, calls :func:`record`. An entry (one JSON file per
source location in :func:`cache_dir`) holds:

- the *key*: the source's kind and absolute location, the state of every file it reads
  (inode, size, ``mtime_ns`` and ``ctime_ns``: ``ctime`` changes on any write, also one that
  restores an old ``mtime``), the mapping, ``allow_empty_tables``, and the version of the checks
  (leadscore's version, a SHA-256 of the modules that read and check the data, DuckDB's
  version);
- what the checks found (problems without the source's own findings, which are read again on
  every open) and the latest timestamp of every table with a time column: the one check that
  depends on the moment (timestamps after ``as_of``) is decided from them, and when a later
  ``as_of`` is not after the data's end the CRM is validated in full again.

An entry is used only when every part of the key is equal. Only local files are cached: a
DuckDB file (with its ``.wal``) whose contract tables are tables (a view may read files that
are not part of the key), or a folder of CSV/Parquet files (every entry under it). SQL
databases are always validated. A source written within :data:`RACY_NS` before or while it was
validated is not recorded (a write within the same timestamp tick could go unseen). The entry
carries a SHA-256 of its own content: a corrupt, truncated, foreign or unreadable cache is
ignored (a debug line) and the CRM is validated in full; writes are atomic.

The folder is ``$LEADSCORE_CACHE_DIR`` when set (empty: no cache), else
``$XDG_CACHE_HOME/leadscore/validated`` (``~/.cache/leadscore/validated``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

import leadscore
from leadscore.atomic import atomic_write_text
from leadscore.config import CrmMapping
from leadscore.contract import CONTRACT, TABLE_NAMES
from leadscore.sql import quote_identifier
from leadscore.validation import Problem, Severity

__all__ = [
    "CACHE_ENV",
    "CACHE_FORMAT",
    "RACY_NS",
    "CacheKey",
    "cache_dir",
    "cache_key",
    "latest_times",
    "lookup",
    "record",
]

CACHE_ENV = "LEADSCORE_CACHE_DIR"
CACHE_FORMAT = "leadscore-validated/1"
RACY_NS = 2_000_000_000
"""A source written this recently (ns) before or during its validation is not recorded."""
_CHECK_MODULES = (
    "validation.py",
    "contract.py",
    "sources.py",
    "source_files.py",
    "safe_text.py",
    "sql.py",
    "config.py",
    "crm.py",
    "validation_cache.py",
    "validation_counts.py",
)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheKey:
    """What must be unchanged for an earlier validation to stand."""

    kind: str
    location: str
    files: list[list[Any]]
    """Per file or folder read: ``[relative path, inode, size, mtime_ns, ctime_ns]``."""
    mapping: str
    allow_empty_tables: bool
    checks: str
    """leadscore's version, the checking modules' digest and DuckDB's version."""


def cache_dir() -> Path | None:
    """Where entries live (``None``: caching is off)."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return Path(value) if value.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "leadscore" / "validated"


def _checks_version() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CHECK_MODULES:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    return f"{leadscore.__version__}/{digest.hexdigest()[:32]}/duckdb {duckdb.__version__}"


def _state(path: Path, relative: str) -> list[Any]:
    st = path.stat()
    return [relative, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _duckdb_files(path: Path) -> list[list[Any]]:
    files = [_state(path, path.name)]
    wal = path.with_name(path.name + ".wal")
    files.append(_state(wal, wal.name) if wal.exists() else [wal.name])
    return files


def _folder_files(root: Path) -> list[list[Any]]:
    """Every folder and file under ``root``, symbolic links followed (a table's parts folder
    may be a link; each real folder is walked once)."""
    files = [_state(root, ".")]
    seen = {os.path.realpath(root)}
    for folder, dirs, names in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(Path(folder) / name)
            if real not in seen:
                seen.add(real)
                kept.append(name)
        dirs[:] = kept
        for name in sorted([*dirs, *names]):
            path = Path(folder) / name
            files.append(_state(path, path.relative_to(root).as_posix()))
    return files


def _views_among_tables(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = 'crm_source' "
        "AND schema_name = 'main'"
    ).fetchall()
    return any(row[0] in TABLE_NAMES for row in rows)


def cache_key(
    source: object,
    con: duckdb.DuckDBPyConnection | None,
    mapping: CrmMapping,
    *,
    allow_empty_tables: bool,
) -> CacheKey | None:
    """The key of a registered ``source`` (``con``: its connection, to check that a DuckDB
    file's tables are tables), or ``None`` when the source is not cached."""
    from leadscore.sources import DuckDBFileSource, FolderSource

    try:
        if isinstance(source, DuckDBFileSource):
            if con is not None and _views_among_tables(con):
                return None
            path = source.path.resolve()
            kind, files = "duckdb", _duckdb_files(path)
        elif isinstance(source, FolderSource):
            path = source.path.resolve()
            kind, files = "folder", _folder_files(path)
        else:
            return None
        return CacheKey(
            kind,
            str(path),
            files,
            mapping.model_dump_json(),
            allow_empty_tables,
            _checks_version(),
        )
    except (OSError, duckdb.Error) as exc:
        _log.debug("validation cache: no key (%s)", type(exc).__name__)
        return None


def _entry_path(key: CacheKey) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    name = hashlib.sha256(f"{key.kind}\0{key.location}".encode()).hexdigest()[:32]
    return folder / f"{name}.json"


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def latest_times(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """The latest value of every contract table's time column (ISO text; ``None``: no rows or
    no table), read from the canonical views."""
    selects = [
        f"(SELECT CAST(max({quote_identifier(t.time_column)}) AS VARCHAR) FROM "
        f"{quote_identifier(t.name)})"
        for t in CONTRACT
        if t.time_column
    ]
    try:
        row = con.execute(f"SELECT {', '.join(selects)}").fetchone() or ()
    except duckdb.Error:
        return {}  # never recorded then (lookup wants every table)
    names = [t.name for t in CONTRACT if t.time_column]
    return dict(zip(names, row, strict=True))


def _problem(data: dict[str, Any]) -> Problem:
    return Problem(
        table=str(data["table"]),
        column=None if data["column"] is None else str(data["column"]),
        n_rows=int(data["n_rows"]),
        expected=str(data["expected"]),
        examples=tuple(str(e) for e in data["examples"]),
        severity=Severity(data["severity"]),
    )


def _before_or_at(latest: dict[str, str | None], as_of: datetime) -> bool:
    moment = as_of.strftime("%Y-%m-%d %H:%M:%S")
    for value in latest.values():
        if value is None:
            continue
        # the check compares with the moment cut to whole seconds, as validation does
        if datetime.fromisoformat(value) > datetime.fromisoformat(moment):
            return False
    return True


def lookup(key: CacheKey | None, as_of: datetime) -> list[Problem] | None:
    """What an earlier validation of the same files found, when it stands at ``as_of``;
    ``None``: validate in full."""
    path = None if key is None else _entry_path(key)
    if key is None or path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        entry = json.loads(text)
        body = entry["body"]
        if entry.get("format") != CACHE_FORMAT or entry.get("sha256") != _digest(body):
            _log.debug("validation cache: %s is corrupt or foreign; validating", path)
            return None
        if body["key"] != json.loads(json.dumps(asdict(key))):
            return None
        latest = {str(k): None if v is None else str(v) for k, v in body["latest"].items()}
        if set(latest) != {t.name for t in CONTRACT if t.time_column}:
            return None
        if not _before_or_at(latest, as_of):
            return None  # the future check may fail now: validate in full
        problems = [_problem(p) for p in body["problems"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _log.debug("validation cache: %s unreadable (%s); validating", path, type(exc).__name__)
        return None
    if any(p.severity is Severity.ERROR for p in problems):
        return None
    return problems


def record(
    key: CacheKey | None,
    after: CacheKey | None,
    problems: Sequence[Problem],
    latest: dict[str, str | None],
) -> bool:
    """Remember a validation without errors of the files in ``key`` (their state before it);
    ``after``: their state once validated. Nothing is recorded when they changed meanwhile, were
    written within :data:`RACY_NS` before, or the cache cannot be written."""
    path = None if key is None else _entry_path(key)
    if key is None or path is None or after != key or not latest:
        return False
    if any(p.severity is Severity.ERROR for p in problems):
        return False
    now = time.time_ns()
    if any(len(f) == 5 and now - max(f[3], f[4]) < RACY_NS for f in key.files):
        return False
    body = {
        "key": asdict(key),
        "problems": [{**asdict(p), "severity": p.severity.value} for p in problems],
        "latest": latest,
    }
    body = json.loads(json.dumps(body))
    entry = {"format": CACHE_FORMAT, "sha256": _digest(body), "body": body}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entry, sort_keys=True))
    except Exception as exc:  # an unwritable cache never fails the run
        _log.debug("validation cache: cannot write %s (%s)", path, type(exc).__name__)
        return False
    return True
