"""Calibrators for the refitted LightGBM head, fitted on cross-fitted validation scores.

The validation calibrator maps the *training-period* model's raw scores to probabilities; the
refitted head (:mod:`leadscore.training.refit`) has more rows, the same rounds and a different
starting point (train + validation's base rate), so its raw scores are distributed differently
and the old map can be off. Cross-fitting gives scores of models built like the refitted one on
rows they have not seen: the validation contacts are split into folds; per fold, a model is
boosted exactly as the refit (same parameters, rounds, weights) on the refit rows without that
fold's validation and purged-gap rows, and scores the fold's validation rows. The calibrator is
then chosen and fitted on those out-of-fold scores as it was on validation
(:func:`leadscore.training.calibration.choose_calibrator`). Test is never read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from leadscore.model.calibration import Calibrator
from leadscore.training.calibration import choose_calibrator
from leadscore.training.models import LightGBMModel

__all__ = ["CROSSFIT_FOLDS", "crossfit_calibrator", "crossfit_folds"]

CROSSFIT_FOLDS = 5
"""Folds of validation contacts (each cross-fitted model leaves out a fifth of validation)."""

BoolArray = np.ndarray[Any, Any]
FloatArray = np.ndarray[Any, Any]


def crossfit_folds(
    scored: BoolArray, near: BoolArray, codes: np.ndarray[Any, Any], folds: int = CROSSFIT_FOLDS
) -> list[tuple[BoolArray, np.ndarray[Any, Any]]]:
    """Per fold of the ``scored`` rows' contacts (``codes``: integer contact codes): the rows
    its model is boosted on (every row but the fold's contacts' ``scored`` and ``near`` rows)
    and the indices of the rows it scores (the fold's ``scored`` rows)."""
    scored, near = np.asarray(scored, dtype=bool), np.asarray(near, dtype=bool)
    rows = np.flatnonzero(scored)
    n_folds = max(2, min(folds, len(np.unique(codes[rows]))))
    out = []
    for _, out_idx in GroupKFold(n_splits=n_folds).split(rows, groups=codes[rows]):
        held = rows[out_idx]
        in_fold = np.zeros(int(codes.max()) + 1, dtype=bool)
        in_fold[codes[held]] = True
        out.append((~((scored | near) & in_fold[codes]), np.sort(held)))
    return out


def crossfit_calibrator(
    validated: LightGBMModel,
    frame: pd.DataFrame,
    y: np.ndarray[Any, Any],
    rounds: int,
    scored: BoolArray,
    near: BoolArray,
    groups: np.ndarray[Any, Any],
    *,
    sample_weight: FloatArray | None = None,
    folds: int = CROSSFIT_FOLDS,
) -> tuple[Calibrator, dict[str, float], FloatArray]:
    """The calibrator chosen on cross-fitted scores of the ``scored`` rows of ``frame``.

    ``frame``/``y``/``sample_weight``: the refit rows; ``scored``: those of the validation
    period; ``near``: rows left out with a fold's contacts besides their validation rows (the
    purged gap, whose labels overlap validation's); ``groups``: each row's contact. Each fold's
    model is boosted as ``validated.refit`` would on the other rows for ``rounds`` rounds; the
    rows are encoded and binned once, on every refit row (feature values only, no label), and
    each fold boosts on a subset of that dataset. Returns the
    calibrator, each method's out-of-fold log loss and the cross-fitted raw scores of the
    ``scored`` rows.
    """
    scored, near = np.asarray(scored, dtype=bool), np.asarray(near, dtype=bool)
    codes = pd.factorize(np.asarray(groups))[0]  # np.isin on object ids is very slow
    y = np.asarray(y)
    rows = np.flatnonzero(scored)
    encoder, data = validated.refit_data(frame, y, sample_weight=sample_weight)
    data.construct()  # binned once; each fold boosts on a subset of it
    raw = np.empty(len(rows), dtype=np.float64)
    for keep, held in crossfit_folds(scored, near, codes, folds):
        model = validated.boost(encoder, data.subset(np.flatnonzero(keep).tolist()), rounds)
        raw[np.searchsorted(rows, held)] = model.predict_raw(frame.iloc[held])
    calibrator, losses = choose_calibrator(
        raw, y[rows], codes[rows], methods=validated.params.calibration
    )
    return calibrator, losses, raw
