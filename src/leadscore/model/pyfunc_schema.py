"""What the MLflow pyfunc takes and gives: its signature, input example and requirements.

The pyfunc scores *CRM-shaped leads*, the same JSON as the HTTP API's ``POST /score``: one row
per lead with a ``contact`` and an ``account`` object and optional ``events`` and
``stage_changes`` arrays, whose fields are the data contract's columns (times as ISO 8601
strings, naive UTC or with an offset). Two parameters: ``as_of`` (an ISO time; empty: now) and
``complete_accounts`` (the posted leads are every contact their accounts have, needed by
account-level features since the model carries no CRM). It returns one row per posted lead, in
the posted order: ``contact_id``, ``scored`` (false for leads not eligible at ``as_of``),
``p_<target>``, ``grade``, sub-scores and reasons in words.

Everything is derived from :data:`leadscore.contract.CONTRACT`, so the signature follows the
contract. The requirements are the distributions the scorer imports, pinned to the versions
installed at training time; the ``leadscore`` code itself travels with the model (MLflow
``code_paths``), see :func:`leadscore.model.pyfunc.save_pyfunc`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from leadscore.contract import Table, table_spec
from leadscore.errors import ArtifactError
from leadscore.model.inputs import TARGETS

__all__ = [
    "EXAMPLE_AS_OF",
    "LEAD_PARTS",
    "SCORER_REQUIREMENTS",
    "example_leads",
    "example_params",
    "lead_signature",
    "pinned_requirements",
]

LEAD_PARTS: dict[str, tuple[str, bool]] = {
    "contact": ("contacts", False),
    "account": ("accounts", False),
    "events": ("events", True),
    "stage_changes": ("stage_changes", True),
}
"""Input column -> (contract table, whether it is an array of rows)."""

_FOREIGN = {"contacts": {"account_id"}, "events": {"contact_id"}, "stage_changes": {"contact_id"}}
"""Columns implied by the nesting (a lead's events are its own)."""
_OPTIONAL = {("events", "event_id")}
"""Non-null contract columns that a posted lead may omit (event ids are made up)."""
_TYPES = {"VARCHAR": "string", "TIMESTAMP": "string", "BIGINT": "long", "DOUBLE": "double"}

SCORER_REQUIREMENTS: tuple[str, ...] = (
    "mlflow",
    "lightgbm",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "pydantic",
    "pyyaml",
    "scikit-learn",
    "scipy",
)
"""Distributions the scorer needs besides ``leadscore`` (checked by a test that loads and
predicts in a subprocess and lists what it imported)."""

EXAMPLE_AS_OF = "2025-11-30T00:00:00"


def _object(table: Table) -> Any:
    from mlflow.types.schema import Object, Property

    skip = _FOREIGN.get(table.name, set())
    return Object(
        [
            Property(
                c.name,
                _TYPES[c.dtype],
                required=not c.nullable and (table.name, c.name) not in _OPTIONAL,
            )
            for c in table.columns
            if c.name not in skip
        ]
    )


def lead_signature() -> Any:
    """The :class:`mlflow.models.ModelSignature` of the scorer (see the module doc)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    inputs: list[Any] = []
    for column, (table, many) in LEAD_PARTS.items():
        obj = _object(table_spec(table))
        inputs.append(ColSpec(Array(obj) if many else obj, column, required=not many))
    outputs: list[Any] = [ColSpec("string", "contact_id"), ColSpec("boolean", "scored")]
    outputs += [ColSpec("double", f"p_{t}") for t in TARGETS]
    outputs += [ColSpec("string", "grade"), ColSpec("double", "fit_score")]
    outputs += [ColSpec("double", "engagement_score")]
    outputs += [ColSpec(Array("string"), f"reasons_{s}") for s in ("positive", "negative")]
    params = ParamSchema(
        [ParamSpec("as_of", "string", ""), ParamSpec("complete_accounts", "boolean", False)]
    )
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def example_leads() -> list[dict[str, Any]]:
    """Two made-up leads of one new company (no personal data): a hot one and a cold one."""
    account = {
        "account_id": "acc-example",
        "industry": "software",
        "employee_count": 250,
        "annual_revenue": 40_000_000.0,
        "country": "DE",
        "created_at": "2025-09-01T09:00:00",
    }
    hot = {
        "contact": {
            "contact_id": "lead-example-1",
            "created_at": "2025-10-01T09:00:00",
            "job_title": "VP Marketing",
            "seniority": "vp",
            "email_domain": "example.com",
            "country": "DE",
            "lead_source": "webinar",
        },
        "account": account,
        "events": [
            {"occurred_at": "2025-11-20T10:00:00", "event_type": "web_visit"},
            {"occurred_at": "2025-11-24T10:00:00", "event_type": "pricing_page_visit"},
            {"occurred_at": "2025-11-27T15:30:00", "event_type": "webinar_attendance"},
        ],
        "stage_changes": [{"changed_at": "2025-10-01T09:00:00", "stage": "lead"}],
    }
    cold = {
        "contact": {
            "contact_id": "lead-example-2",
            "created_at": "2025-09-15T09:00:00",
            "job_title": "Intern",
            "email_domain": "example.com",
            "lead_source": "paid_search",
        },
        "account": account,
        "events": [{"occurred_at": "2025-09-16T10:00:00", "event_type": "email_open"}],
        "stage_changes": [],
    }
    return [hot, cold]


def example_params() -> dict[str, Any]:
    """Parameters of the input example: a fixed ``as_of``; the two leads are their whole
    account."""
    return {"as_of": EXAMPLE_AS_OF, "complete_accounts": True}


def pinned_requirements() -> list[str]:
    """``name==version`` of :data:`SCORER_REQUIREMENTS` as installed now."""
    pins = []
    for name in SCORER_REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            raise ArtifactError(
                f"The scorer needs the package {name!r}, which is not installed: "
                "reinstall leadscore (`make setup`) before training."
            ) from None
    return pins
