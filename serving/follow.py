"""A served registry alias follows the registry: the API switches when the alias moves.

``leadscore serve`` (champion by default) resolves its alias once at start. :class:`Follower`
checks at most every ``every`` seconds, on a thread of its own (never on a request's path),
whether the alias now names another version, and if so builds that version in the background
(the artifact loaded, its feature path set up) and swaps it in at once. Requests take the
version served when they start (:meth:`Follower.acquire`) and keep it to the end: a request is
scored whole by one version, and the version it leaves is closed only when its last request is
done (:meth:`Follower.release`).

The check is cheap: for a local sqlite registry, the registry files' fingerprint
(:func:`~leadscore.serving.resolution_cache.registry_state`: a few ``stat`` calls); only when it
changed is the alias read (one indexed query on MLflow's own ``registered_model_aliases``
table, read-only; MLflow's client when that table cannot be read, and for any other registry
every time). A version that fails to load (a broken artifact, an incompatible schema) is not
served: the previous one stays, a warning is logged (versions and the error only) and
:attr:`Follower.problem` says so (``GET /health``); it is tried again after
:data:`RETRY_SECONDS`, or at once when the alias moves again.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from leadscore.errors import SourceError
from leadscore.serving.in_flight import InFlight
from leadscore.serving.resolution_cache import snapshot, sqlite_file

__all__ = [
    "DEFAULT_FOLLOW_SECONDS",
    "IDLE_WAIT_SECONDS",
    "RETRY_SECONDS",
    "Follower",
    "Served",
    "alias_version",
]

DEFAULT_FOLLOW_SECONDS = 5.0
"""How often ``leadscore serve`` checks whether its alias moved (0: never)."""
RETRY_SECONDS = 300.0
"""A version that failed to load is tried again after this long (at once if the alias moves)."""
IDLE_WAIT_SECONDS = 1.0
"""How long, at each check, the refreeze after a switch waits for a moment without requests."""

_log = logging.getLogger("leadscore.serving.api")


class Served(Protocol):
    """What the follower serves: one version, closed when no request uses it any more."""

    @property
    def model_version(self) -> str: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=Served)


@dataclass
class _Slot(Generic[S]):
    served: S
    users: int = 0
    retired: bool = False


def alias_version(uri: str, name: str, alias: str) -> str | None:
    """The version number ``alias`` of model ``name`` names in registry ``uri`` now (``None``:
    no such alias). Read from the sqlite file directly when it is one (read-only, no MLflow
    import), else through MLflow's client."""
    db = sqlite_file(uri)
    if db is not None:
        if not db.is_file():  # never let MLflow create an empty registry in its place
            raise SourceError(f"The registry database {db} is gone.")
        try:
            connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
            try:
                row = connection.execute(
                    "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                    (name, alias),
                ).fetchone()
            finally:
                connection.close()
            return None if row is None else str(row[0])
        except sqlite3.Error as exc:  # another MLflow schema: ask MLflow
            _log.debug("Registry read through MLflow (%s)", exc)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception as exc:  # MLflow's RestException: no such alias (or model)
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in (
            str(exc).lower()
        ):
            return None
        raise


class Follower(Generic[S]):
    """The version served now, switched when registry alias ``name@alias`` moves.

    ``build(version)`` loads version number ``version`` and returns it ready to serve (it may
    raise: the version is then not served). Thread-safe; :meth:`start` runs the checks on a
    daemon thread every ``every`` seconds (0: never), :meth:`stop` ends them and closes what is
    served."""

    def __init__(
        self,
        first: S,
        build: Callable[[str], S],
        *,
        uri: str | None,
        name: str,
        alias: str | None,
        every: float,
    ) -> None:
        self._lock = threading.Lock()
        self._slot: _Slot[S] = _Slot(first)
        self._retired: list[_Slot[S]] = []
        self._build = build
        self.uri = uri
        self.name = name
        self.alias = alias
        self.every = every if uri is not None and alias is not None else 0.0
        self.problem: str | None = None
        """Why the served version is not the alias's (``None``: it is)."""
        self.switches = 0
        self._refreeze = False
        self._unfrozen = False
        self.refreezes = 0
        """Refreezes of the collector after switches (at moments without requests)."""
        self.in_flight = InFlight()
        """The app's requests being answered (counted by its :class:`CountInFlight`)."""
        self._state: object = None
        self._failed: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def following(self) -> str | None:
        """``name@alias`` when the served version follows an alias, else ``None``."""
        return f"{self.name}@{self.alias}" if self.every > 0 else None

    @property
    def current(self) -> S:
        """The version served now (for reading its name; score with :meth:`acquire`)."""
        return self._slot.served

    def acquire(self) -> S:
        """The version a starting request is scored by; :meth:`release` it when done."""
        with self._lock:
            slot = self._slot
            slot.users += 1
            return slot.served

    def release(self, served: S) -> None:
        """A request done with ``served``: a replaced version closes with its last request."""
        with self._lock:
            slot = self._slot if self._slot.served is served else None
            if slot is None:
                slot = next(s for s in self._retired if s.served is served)
            slot.users -= 1
            closing = slot.retired and slot.users == 0
            if closing:
                self._retired.remove(slot)
        if closing:
            slot.served.close()

    def start(self) -> None:
        """Check every ``every`` seconds on a daemon thread (nothing when 0)."""
        if self.every <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="leadscore-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the checks and close every version (the server stops)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            slots = [self._slot, *self._retired]
            self._retired = []
        for slot in slots:
            slot.served.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.check()
            except Exception as exc:  # never end the checks: say it and try at the next one
                self.problem = (
                    f"Cannot read the registry to follow {self.following} "
                    f"({type(exc).__name__}); still serving {self.current.model_version}."
                )
                _log.warning("%s", self.problem)
            self._refreeze_when_replaced_closed()

    def _refreeze_when_replaced_closed(self) -> None:
        """Once every replaced version is closed: collect them and freeze what lives again.

        The server froze its start-up objects (``gc.freeze``: requests' collections stay
        short); frozen objects are never collected, so the replaced version's reference cycles
        would stay for good. ``gc.freeze()`` also takes the objects of the requests being
        answered, which would then never be collected either: the refreeze (a full collection,
        ~0.3 s) runs at a moment no request is in flight (:meth:`InFlight.when_idle`, waiting
        up to :data:`IDLE_WAIT_SECONDS` per check; requests starting meanwhile wait for it, as
        every thread waited for the collection under the GIL before). While requests keep
        coming, the replaced version is collected at once without freezing (nothing leaks;
        full collections see every object again until the freeze at the next quiet moment)."""
        with self._lock:
            ready = self._refreeze and not self._retired
        if not ready:
            return
        if self.in_flight.when_idle(self._refreeze_now, timeout=IDLE_WAIT_SECONDS):
            self._refreeze = self._unfrozen = False
            self.refreezes += 1
        elif not self._unfrozen:  # busy: free the replaced version now, freeze when quiet
            self._unfrozen = True
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            _log.debug(
                "Collected the replaced version (requests in flight: frozen later): "
                "%d objects in %.0f ms",
                found,
                (time.perf_counter() - started) * 1000,
            )

    def _refreeze_now(self) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        _log.debug(
            "Collected the replaced version and froze the rest: %d objects in %.0f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )

    def check(self) -> bool:
        """One check: switch when the alias names another version; whether it switched."""
        assert self.uri is not None and self.alias is not None
        before = snapshot(self.uri)
        if before is not None and before.state == self._state:
            return False  # registry files unchanged: the alias did not move
        # a write within the timestamp tick of the snapshot could go unseen: read again next time
        settled = None if before is None or before.racy else before.state
        version = alias_version(self.uri, self.name, self.alias)
        served = self.current.model_version
        if version is None:
            self._warn(
                f"The alias {self.following} no longer exists in the registry: still serving "
                f"{served}."
            )
            self._state = settled
            return False
        wanted = f"{self.name}/{version}"
        if wanted == served:
            self.problem = None
            self._state = settled
            return False
        failed_at = self._failed.get(wanted)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_SECONDS:
            return False  # state not kept: the retry comes without a further write
        started = time.perf_counter()
        try:
            new = self._build(version)
        except Exception as exc:
            self._failed[wanted] = time.monotonic()
            self._warn(
                f"{self.following} is now {wanted}, which does not load "
                f"({type(exc).__name__}: {exc}): still serving {served}."
            )
            return False
        self._failed.pop(wanted, None)
        self.problem = None
        self._swap(new, loaded_in=time.perf_counter() - started)
        self._state = settled
        return True

    def _swap(self, new: S, *, loaded_in: float) -> None:
        if self._stop.is_set():  # the server stopped while the version loaded
            new.close()
            return
        with self._lock:
            old = self._slot
            self._slot = _Slot(new)
            old.retired = True
            closing = old.users == 0
            if not closing:
                self._retired.append(old)
        self.switches += 1
        _log.info(
            "Serving %s: %s -> %s (the alias moved; loaded in %.1f s)",
            self.following,
            old.served.model_version,
            new.model_version,
            loaded_in,
        )
        if gc.get_freeze_count() > 0 or self._unfrozen:  # the server froze: refreeze later
            self._refreeze = True
        if closing:
            old.served.close()

    def _warn(self, problem: str) -> None:
        if problem != self.problem:  # once per problem, not every check
            _log.warning("%s", problem)
        self.problem = problem
