"""The HTTP requests an app is answering now, and a way to act at a moment none is.

:class:`CountInFlight` (the app's outermost middleware) counts every HTTP request from its start
to its last byte sent; :meth:`InFlight.when_idle` runs a function once the count is zero, with
the requests that start meanwhile held at the door until it returns. The model follower
refreezes the garbage collector there (:mod:`leadscore.serving.follow`): ``gc.freeze()`` takes
every object alive, so one taken while a request runs would never be collected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["CountInFlight", "InFlight"]


class InFlight:
    """A thread-safe count of the requests being answered."""

    def __init__(self) -> None:
        self._idle = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        """The requests being answered now."""
        return self._count

    def enter(self) -> None:
        """A request starts (it waits here while a :meth:`when_idle` function runs)."""
        with self._idle:
            self._count += 1

    def leave(self) -> None:
        """A request is done."""
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def when_idle(self, act: Callable[[], None], *, timeout: float) -> bool:
        """Run ``act`` at the first moment within ``timeout`` seconds when no request is being
        answered, no request starting until it returns; whether it ran."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._count == 0, timeout=timeout):
                return False
            act()
            return True


class CountInFlight:
    """ASGI middleware counting the app's HTTP requests in ``in_flight`` (add it last: the
    outermost middleware counts the others' work too)."""

    def __init__(self, app: Any, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.leave()
