"""Import LightGBM for prediction without paying for scikit-learn.

``import lightgbm`` imports scikit-learn (and with it ``scipy.stats``: about 0.8 s of a 0.95 s
import) only so that ``lightgbm.compat`` can build LightGBM's scikit-learn estimators
(``LGBMClassifier``...) and the folds of ``lightgbm.cv``. leadscore uses neither: serving
needs ``Booster``, training ``Dataset``, ``train`` and ``early_stopping``, none of which reads
the scikit-learn part of ``lightgbm.compat``.

:func:`lightgbm` is the import of the scorer's heads (:mod:`leadscore.model.head`). When
neither LightGBM nor scikit-learn is imported yet, it imports LightGBM with scikit-learn
hidden from this thread only (LightGBM then records it as not installed); other threads import
normally meanwhile. Otherwise it is a plain ``import lightgbm``. Training in the same process
afterwards is unaffected (its own ``import sklearn`` works and ``lightgbm.train`` never asks).
The one consequence: in a process whose first LightGBM import was a scorer's, LightGBM's own
scikit-learn estimators and stratified ``lightgbm.cv`` say "scikit-learn is required" (import
``sklearn`` before loading the scorer to keep them).
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["lightgbm"]

_HIDDEN = "sklearn"


class _HideFromThread:
    """A meta path finder that makes ``sklearn`` unimportable in one thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        hidden = name == _HIDDEN or name.startswith(_HIDDEN + ".")
        if hidden and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} is not needed to predict", name=name)
        return None  # everything else: the next finders


@contextmanager
def _sklearn_hidden() -> Iterator[None]:
    finder = _HideFromThread()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def lightgbm() -> ModuleType:
    """The ``lightgbm`` module; imported without scikit-learn when neither is loaded yet."""
    if "lightgbm" in sys.modules or sys.modules.get(_HIDDEN) is not None:
        return importlib.import_module("lightgbm")
    with _sklearn_hidden():
        return importlib.import_module("lightgbm")
