"""The model artifact, owned here and nowhere else: heads (LightGBM text model, feature encoder,
calibrator), the scorer spec, grades, the heads folder and its MLflow pyfunc.

It sits below both stages: ``leadscore.training`` fits heads and writes a heads folder with one
call to :func:`write_heads`; ``leadscore.serving`` only reads it (:func:`read_heads`). It imports
neither of them. Importing this package imports nothing heavy: its names come from their modules on first use
(:mod:`leadscore.lazy`), and MLflow only with the pyfunc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadscore.lazy import lazy_names

if TYPE_CHECKING:
    from leadscore.model.calibration import CalibrationMethod, Calibrator
    from leadscore.model.encoding import FeatureEncoder
    from leadscore.model.grades import GRADES, GradeThresholds, assign_grades, fit_grades
    from leadscore.model.head import ModelHead
    from leadscore.model.heads import (
        RECORD_FORMAT,
        HeadRecord,
        HeadsFolder,
        HeadToWrite,
        read_head,
        read_heads,
        write_heads,
    )
    from leadscore.model.inputs import TARGETS, FeatureKind, FeatureSpec, Target
    from leadscore.model.spec import SPEC_FILE, SPEC_FORMAT, ScorerSpec, read_spec, write_spec

__all__ = [
    "GRADES",
    "RECORD_FORMAT",
    "SPEC_FILE",
    "SPEC_FORMAT",
    "TARGETS",
    "CalibrationMethod",
    "Calibrator",
    "FeatureEncoder",
    "FeatureKind",
    "FeatureSpec",
    "GradeThresholds",
    "HeadRecord",
    "HeadToWrite",
    "HeadsFolder",
    "ModelHead",
    "ScorerSpec",
    "Target",
    "assign_grades",
    "fit_grades",
    "read_head",
    "read_heads",
    "read_spec",
    "write_heads",
    "write_spec",
]

__getattr__ = lazy_names(
    __name__,
    {
        "CalibrationMethod": "leadscore.model.calibration",
        "Calibrator": "leadscore.model.calibration",
        "FeatureEncoder": "leadscore.model.encoding",
        "FeatureKind": "leadscore.model.inputs",
        "FeatureSpec": "leadscore.model.inputs",
        "GRADES": "leadscore.model.grades",
        "GradeThresholds": "leadscore.model.grades",
        "HeadRecord": "leadscore.model.heads",
        "HeadToWrite": "leadscore.model.heads",
        "HeadsFolder": "leadscore.model.heads",
        "ModelHead": "leadscore.model.head",
        "RECORD_FORMAT": "leadscore.model.heads",
        "SPEC_FILE": "leadscore.model.spec",
        "SPEC_FORMAT": "leadscore.model.spec",
        "ScorerSpec": "leadscore.model.spec",
        "TARGETS": "leadscore.model.inputs",
        "Target": "leadscore.model.inputs",
        "assign_grades": "leadscore.model.grades",
        "fit_grades": "leadscore.model.grades",
        "read_head": "leadscore.model.heads",
        "read_heads": "leadscore.model.heads",
        "read_spec": "leadscore.model.spec",
        "write_heads": "leadscore.model.heads",
        "write_spec": "leadscore.model.spec",
    },
)
