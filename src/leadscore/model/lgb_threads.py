"""Every LightGBM prediction in a leadscore process runs with one and the same thread count.

LightGBM (4.1 and later) keeps the ``num_threads`` of the latest call in one process-wide
variable. A prediction sizes its per-thread buffers from that variable, then runs its OpenMP
loop with whatever value it holds by then: a call asking for 1 thread that overlaps a call
asking for the default count (all cores) writes past the first call's buffers, a segfault or
silently wrong values (seen in CI's 16-thread serving test). Calls that always pass the same
count never disagree, so every prediction goes through :func:`predict`.

The count is 1: single leads are fastest without OpenMP's start-up, and large batches get
their parallelism from Python threads over row chunks (LightGBM releases the GIL), as
:func:`leadscore.serving.contributions.exact_contributions` does. Training runs its own
thread count (``training.models``); a process must not train while it serves predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PREDICT_THREADS", "predict"]

PREDICT_THREADS = 1
"""LightGBM's ``num_threads`` for every prediction leadscore makes (module doc)."""


def predict(booster: Any, rows: Any, **options: Any) -> npt.NDArray[np.float64]:
    """``booster.predict(rows, **options)`` with leadscore's one thread count."""
    if "num_threads" in options:
        raise ValueError(
            "pass no num_threads: every LightGBM prediction in leadscore uses PREDICT_THREADS "
            "(leadscore.model.lgb_threads explains why)"
        )
    out = booster.predict(rows, num_threads=PREDICT_THREADS, **options)
    return np.asarray(out, dtype=np.float64)
