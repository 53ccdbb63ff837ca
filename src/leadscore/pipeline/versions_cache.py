"""Remember ``leadscore models``' listing of a local sqlite registry, so the next one skips MLflow.

Listing the versions imports MLflow and opens its store (~2 s of the command's ~3 s). The listing
is kept beside the registry (``<db>.leadscore-versions.json``) with the registry's fingerprint
and the environment of :mod:`leadscore.serving.resolution_cache`; it is used only while both
still hold (any promotion, new run, version or alias writes the database). A listing taken while
the registry changed, or within :data:`~leadscore.serving.resolution_cache.RACY_NS` of its last
write, is not kept. A corrupt or foreign file is ignored: MLflow's path is always the fallback.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadscore.atomic import atomic_write_text
from leadscore.serving.resolution_cache import (
    Snapshot,
    environment,
    read_cache,
    registry_state,
    sqlite_file,
)

if TYPE_CHECKING:
    from leadscore.training.tracking import ModelVersionInfo

__all__ = ["CACHE_FORMAT", "cache_path", "cached_versions", "remember_versions"]

CACHE_FORMAT = "leadscore-versions/1"
_log = logging.getLogger(__name__)


def cache_path(db: Path) -> Path:
    """Where the listings of registry ``db`` are kept."""
    return db.with_name(f"{db.name}.leadscore-versions.json")


def cached_versions(uri: str, model_name: str) -> list[ModelVersionInfo] | None:
    """The remembered listing of ``model_name`` while the registry and the environment are
    unchanged, else ``None``."""
    from leadscore.training.tracking import ModelVersionInfo

    db = sqlite_file(uri)
    raw = None if db is None else read_cache(cache_path(db), CACHE_FORMAT)
    if raw is None or raw.get("environment") != environment():
        return None
    if raw.get("registry") != registry_state(uri):
        return None
    listings = raw.get("listings")
    items = listings.get(model_name) if isinstance(listings, dict) else None
    if not isinstance(items, list):
        return None
    try:
        return [ModelVersionInfo(**item) for item in items]
    except TypeError as exc:
        _log.debug("Ignoring the versions cache of %s: %s", db, exc)
        return None


def remember_versions(
    uri: str, model_name: str, before: Snapshot | None, versions: list[ModelVersionInfo]
) -> bool:
    """Keep ``versions`` when the registry's ``before`` snapshot (taken before listing) still
    holds and is not racy; returns whether it was written."""
    db = sqlite_file(uri)
    if db is None or before is None or before.racy or registry_state(uri) != before.state:
        return False
    try:
        raw = read_cache(cache_path(db), CACHE_FORMAT)
        same = raw is not None and raw.get("registry") == before.state
        kept = raw.get("listings") if same and raw is not None else None
        listings: dict[str, Any] = dict(kept) if isinstance(kept, dict) else {}
        listings[model_name] = [asdict(v) for v in versions]
        text = json.dumps(
            {
                "format": CACHE_FORMAT,
                "environment": environment(),
                "registry": before.state,
                "listings": listings,
            },
            indent=1,
            sort_keys=True,
        )
        atomic_write_text(cache_path(db), text)
    except Exception as exc:  # a cache: never fail a listing for it
        _log.debug("Not caching the versions of %s: %s", model_name, exc)
        return False
    return True
