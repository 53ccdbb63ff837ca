"""Read every split of a LightGBM model, exactly as LightGBM stores it.

The text model (`Booster.model_to_string()`) is parsed rather than `dump_model()`: the JSON
dump clamps thresholds to +-1e300 (LightGBM's ``AvoidInf``), while the text model keeps the
exact doubles, including the ``inf`` threshold LightGBM writes for "not NaN" splits.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MISSING_NAN", "MISSING_NONE", "MISSING_ZERO", "ModelSplits", "Split", "read_splits"]

MISSING_NONE = 0
MISSING_ZERO = 1
MISSING_NAN = 2

_CATEGORICAL_MASK = 1
_DEFAULT_LEFT_MASK = 2


@dataclass(frozen=True, slots=True)
class Split:
    """One internal node: numerical (``x <= threshold``) or categorical (``x in categories``)."""

    tree: int
    feature: int
    threshold: float
    categories: frozenset[int] | None
    missing_type: int
    default_left: bool


@dataclass(frozen=True, slots=True)
class ModelSplits:
    """All splits of a model, with the model's shape."""

    n_features: int
    n_trees: int
    trees_per_iteration: int
    splits: tuple[Split, ...]
    leaf_values: tuple[tuple[float, ...], ...] = ()
    """Per tree, its leaves' outputs (the doubles LightGBM parses from the same text)."""
    objective: str = ""
    """The model's ``objective=`` line (e.g. ``binary sigmoid:1``)."""


def _values(fields: dict[str, str], key: str) -> list[str]:
    raw = fields.get(key, "").strip()
    return raw.split(" ") if raw else []


def _tree_splits(tree: int, fields: dict[str, str]) -> list[Split]:
    if fields.get("is_linear", "0").strip() not in ("0", ""):
        raise NotImplementedError(
            f"tree {tree} is a linear tree (linear_tree=True): its output depends on raw feature "
            "values, not only on the split sides; use Booster.predict(pred_contrib=True) directly"
        )
    features = [int(v) for v in _values(fields, "split_feature")]
    thresholds = [float(v) for v in _values(fields, "threshold")]
    decisions = [int(v) for v in _values(fields, "decision_type")]
    boundaries = [int(v) for v in _values(fields, "cat_boundaries")]
    words = [int(v) for v in _values(fields, "cat_threshold")]
    out: list[Split] = []
    for feature, threshold, decision in zip(features, thresholds, decisions, strict=True):
        missing_type = (decision >> 2) & 3
        default_left = bool(decision & _DEFAULT_LEFT_MASK)
        if decision & _CATEGORICAL_MASK:
            cat_idx = int(threshold)
            bits = words[boundaries[cat_idx] : boundaries[cat_idx + 1]]
            cats = frozenset(
                32 * w + b for w, word in enumerate(bits) for b in range(32) if (word >> b) & 1
            )
            out.append(Split(tree, feature, float("nan"), cats, missing_type, default_left))
        else:
            out.append(Split(tree, feature, threshold, None, missing_type, default_left))
    return out


def read_splits(model_text: str) -> ModelSplits:
    """Parse the output of `Booster.model_to_string()` into a flat list of splits."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in model_text.splitlines():
        if line.startswith("end of trees"):
            break
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        (header if current is None else current)[key] = value
    if "max_feature_idx" not in header:
        raise ValueError("not a LightGBM text model: no 'max_feature_idx' in the header")
    splits: list[Split] = []
    for index, fields in enumerate(trees):
        splits.extend(_tree_splits(index, fields))
    return ModelSplits(
        n_features=int(header["max_feature_idx"]) + 1,
        n_trees=len(trees),
        trees_per_iteration=int(header.get("num_tree_per_iteration", "1")),
        splits=tuple(splits),
        leaf_values=tuple(
            tuple(float(v) for v in _values(fields, "leaf_value")) for fields in trees
        ),
        objective=header.get("objective", "").strip(),
    )
