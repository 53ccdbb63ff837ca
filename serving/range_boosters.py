"""Immutable per-iteration-range LightGBM boosters: thread-safe predictions and contributions."""

from __future__ import annotations

import threading
from typing import Any

from leadscore.model.lgb_threads import predict

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
        self._contrib_locks: dict[tuple[int, int], threading.Lock] = {}
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
                    self._contrib_locks[key] = threading.Lock()
                    self._boosters[key] = booster
        return booster

    def contributions(self, start: int, stop: int, rows: Any) -> Any:
        """``pred_contrib`` of ``rows`` by the booster of iterations ``start <= i < stop``.

        LightGBM recomputes each tree's ``max_depth_`` (the size of TreeSHAP's path buffer) at
        the start of every ``pred_contrib`` call, so concurrent calls on one booster can read a
        partial depth and write past the buffer: calls are serialised per booster (calls on
        different blocks still run in parallel), each with leadscore's one LightGBM thread count
        (:mod:`leadscore.model.lgb_threads`)."""
        booster = self.get(start, stop)
        with self._contrib_locks[(start, stop)]:
            return predict(booster, rows, pred_contrib=True)

    def leaves(self, start: int, stop: int, rows: Any) -> Any:
        """``pred_leaf`` of ``rows`` by the booster of iterations ``start <= i < stop``
        (serialised per booster like :meth:`contributions`)."""
        booster = self.get(start, stop)
        with self._contrib_locks[(start, stop)]:
            return predict(booster, rows, pred_leaf=True)
