"""Remember how MLflow resolved a registered scorer, so the next load can skip MLflow.

Importing MLflow and opening its sqlite store costs about 2 s, most of ``leadscore explain``'s
time. When :func:`~leadscore.serving.loading.load_scorer` resolves an alias or version through
MLflow, :func:`record` writes what it found (version, source, local model folder) beside the
registry database (``<db>.leadscore-resolved.json``) with a fingerprint of the registry's state
(inode, size, ``mtime_ns`` and ``ctime_ns`` of the database and of its ``-journal``/``-wal``
files: ``ctime`` changes on any write, also one that restores an old ``mtime``) and a SHA-256
of the model's files. :func:`lookup` returns it only while every part still holds:

- the same host, leadscore (version and location), Python and MLflow versions;
- the registry files unchanged: a promotion, a new run or version, a deleted alias all write
  the database, and any write falls back to MLflow (which records again);
- no training run that was RUNNING then has lost its process since (MLflow's path would mark
  it FAILED, :mod:`leadscore.run_status`);
- the model's files unchanged (their digest; ``code/``, the copy of leadscore that travels
  with the model, is not read by an installed leadscore and is left out).

Only local sqlite registries (``sqlite:///path``) are cached. A registry that changed in the
last :data:`RACY_NS` before its fingerprint was taken is not recorded (a write within the same
timestamp tick could go unseen: the "racy" case git handles the same way). A cache that is
corrupt, foreign or unwritable is ignored (a debug line): MLflow's path is always the fallback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import leadscore
from leadscore.atomic import atomic_write_text, host_name, process_alive

__all__ = [
    "CACHE_FORMAT",
    "RACY_NS",
    "Resolution",
    "Snapshot",
    "cache_path",
    "environment",
    "lookup",
    "read_cache",
    "record",
    "registry_state",
    "snapshot",
]

CACHE_FORMAT = "leadscore-resolved/1"
RACY_NS = 2_000_000_000
"""A registry written this recently (ns) before its fingerprint is not recorded."""
_SIDECARS = ("", "-journal", "-wal")
_SKIPPED_DIRS = frozenset({"code"})
_log = logging.getLogger(__name__)

State = list[list[Any]]
"""Per registry file: ``[suffix, inode, size, mtime_ns, ctime_ns]``, or ``[suffix]`` when
absent."""


@dataclass(frozen=True)
class Resolution:
    """How MLflow resolved one reference, and the state it was resolved in."""

    model_version: str
    """``<name>/<version>``."""
    source: str
    local: str
    """The local model folder MLflow loaded (absolute)."""
    heads: str
    """The heads folder the pyfunc read (absolute, inside ``local``)."""
    digest: str
    registry: State
    live_owners: list[int]
    """Processes of this host owning a RUNNING training run at resolution time."""


@dataclass(frozen=True)
class Snapshot:
    """A registry's state and when it was taken (``time.time_ns()``)."""

    state: State
    taken_ns: int

    @property
    def racy(self) -> bool:
        """Whether a file was written within :data:`RACY_NS` before the snapshot: a later
        write in the same timestamp tick, of the same size, would go unseen."""
        newest = max((file[3] for file in self.state if len(file) == 5), default=0)
        return self.taken_ns - newest < RACY_NS


def sqlite_file(uri: str) -> Path | None:
    """The database of a local sqlite tracking URI; ``None`` for any other URI."""
    if not uri.startswith("sqlite:///") or "?" in uri:
        return None
    return Path(uri.removeprefix("sqlite:///")).absolute()


def cache_path(db: Path) -> Path:
    """Where the resolutions of registry ``db`` are kept."""
    return db.with_name(f"{db.name}.leadscore-resolved.json")


def registry_state(uri: str) -> State | None:
    """The fingerprint of a local sqlite registry; ``None`` when not cacheable."""
    db = sqlite_file(uri)
    if db is None:
        return None
    state: State = []
    for suffix in _SIDECARS:
        try:
            st = os.stat(f"{db}{suffix}")
        except FileNotFoundError:
            state.append([suffix])
            continue
        except OSError:
            return None
        state.append([suffix, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return state


def snapshot(uri: str) -> Snapshot | None:
    """The registry's state now (``None`` when not cacheable)."""
    taken = time.time_ns()
    state = registry_state(uri)
    return None if state is None else Snapshot(state, taken)


def model_digest(local: Path) -> str:
    """SHA-256 of the model folder's files (relative path and content) but ``code/``."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(local):
        rel_root = Path(root).relative_to(local)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS]
        dirs.sort()
        for name in sorted(files):
            rel = (rel_root / name).as_posix()
            digest.update(f"{len(rel)}:{rel}:".encode())
            digest.update(hashlib.sha256((Path(root) / name).read_bytes()).digest())
    return digest.hexdigest()


def environment() -> dict[str, str]:
    """What a cache entry is valid for: this host, leadscore (version and location), Python
    and MLflow."""
    try:
        mlflow = version("mlflow")
    except PackageNotFoundError:
        mlflow = "none"
    return {
        "leadscore": f"{leadscore.__version__} {Path(leadscore.__file__).parent}",
        "python": platform.python_version(),
        "mlflow": mlflow,
        "host": host_name(),  # the run owners' pids mean something on this host only
    }


def read_cache(path: Path, fmt: str = CACHE_FORMAT) -> dict[str, Any] | None:
    """A cache file's JSON object when it is of format ``fmt``; ``None`` when absent,
    unreadable, corrupt or of another format (a debug line says which)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _log.debug("Ignoring the cache %s: %s", path, exc)
        return None
    if not isinstance(raw, dict) or raw.get("format") != fmt:
        _log.debug("Ignoring the cache %s: not %s", path, fmt)
        return None
    return raw


def _entry(raw: dict[str, Any], key: str) -> Resolution | None:
    entries = raw.get("entries")
    item = entries.get(key) if isinstance(entries, dict) else None
    if not isinstance(item, dict):
        return None
    try:
        resolution = Resolution(**item)
    except TypeError as exc:
        _log.debug("Ignoring the cached resolution of %s: %s", key, exc)
        return None
    texts = (resolution.model_version, resolution.source, resolution.local, resolution.heads)
    if (
        not all(isinstance(t, str) for t in (*texts, resolution.digest))
        or not isinstance(resolution.registry, list)
        or not isinstance(resolution.live_owners, list)
        or not all(isinstance(p, int) for p in resolution.live_owners)
        or not Path(resolution.heads).is_relative_to(resolution.local)
    ):
        _log.debug("Ignoring the cached resolution of %s: malformed", key)
        return None
    return resolution


def lookup(uri: str, key: str) -> Resolution | None:
    """The recorded resolution of ``key`` in registry ``uri`` when it still holds, else
    ``None`` (see the module doc)."""
    db = sqlite_file(uri)
    if db is None:
        return None
    raw = read_cache(cache_path(db))
    if raw is None:
        return None
    if raw.get("environment") != environment():
        _log.debug("Resolution cache of %s: another leadscore/Python/MLflow", db)
        return None
    hit = _entry(raw, key)
    if hit is None:
        return None
    if registry_state(uri) != hit.registry:
        _log.debug("Resolution cache of %s: the registry changed since", key)
        return None
    if not all(process_alive(pid) for pid in hit.live_owners):
        _log.debug("Resolution cache of %s: a training run lost its process", key)
        return None
    try:
        digest = model_digest(Path(hit.local))
    except OSError as exc:
        _log.debug("Resolution cache of %s: the model folder is unreadable: %s", key, exc)
        return None
    if digest != hit.digest:
        _log.debug("Resolution cache of %s: the model files changed", key)
        return None
    return hit


def record(
    uri: str,
    key: str,
    *,
    before: Snapshot | None,
    model_version: str,
    source: str,
    local: Path,
    heads: Path,
    live_owners: list[int],
) -> bool:
    """Record how ``key`` resolved when the registry's ``before`` snapshot (taken before
    resolving) still holds and is not racy; returns whether it was written."""
    db = sqlite_file(uri)
    if db is None or before is None or registry_state(uri) != before.state:
        return False
    if before.racy:
        _log.debug("Not caching %s: the registry was written just before", key)
        return False
    local, heads = local.absolute(), heads.absolute()
    try:
        resolution = Resolution(
            model_version=model_version,
            source=source,
            local=str(local),
            heads=str(heads),
            digest=model_digest(local),
            registry=before.state,
            live_owners=sorted(live_owners),
        )
        path = cache_path(db)
        raw = read_cache(path)
        env = environment()
        entries: dict[str, Any] = {}
        if raw is not None and raw.get("environment") == env:
            kept = raw.get("entries")
            entries = dict(kept) if isinstance(kept, dict) else {}
        entries[key] = asdict(resolution)
        text = json.dumps(
            {"format": CACHE_FORMAT, "environment": env, "entries": entries},
            indent=1,
            sort_keys=True,
        )
        atomic_write_text(path, text)
    except Exception as exc:  # a cache: never fail a load for it
        _log.debug("Not caching %s: %s", key, exc)
        return False
    return True
