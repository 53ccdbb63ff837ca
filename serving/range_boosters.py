"""Immutable per-iteration-range LightGBM boosters: thread-safe predictions without a lock."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["RangeBoosters"]


class RangeBoosters:
    """Immutable LightGBM boosters for iteration ranges of one model, built once, thread-safe.

    ``get(start, stop)`` returns a booster holding exactly iterations ``start <= i < stop`` of
    the model; predict with it over its full range only (no ``start_iteration`` or
    ``num_iteration``), so concurrent predictions never change shared model state. The source
    is a private copy of the model, so the caller's booster is never touched after construction.
    """

    def __init__(self, booster: Any) -> None:
        import lightgbm as lgb

        self._lgb = lgb
        self._text = booster.model_to_string()
        self._source = lgb.Booster(model_str=self._text)
        self.n_iterations = int(self._source.current_iteration())
        self._boosters: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def get(self, start: int, stop: int) -> Any:
        """The booster of iterations ``start <= i < stop`` (created on first use)."""
        if not 0 <= start < stop <= self.n_iterations:
            raise ValueError(
                f"iteration range [{start}, {stop}) is outside the model's "
                f"{self.n_iterations} iterations"
            )
        key = (start, stop)
        booster = self._boosters.get(key)
        if booster is None:
            with self._lock:
                booster = self._boosters.get(key)
                if booster is None:
                    text = self._source.model_to_string(
                        start_iteration=start, num_iteration=stop - start
                    )
                    booster = self._lgb.Booster(model_str=text)
                    self._boosters[key] = booster
        return booster
