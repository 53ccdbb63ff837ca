"""`explain` tells an unknown id from a contact created later, one already converted and one
disqualified, and defaults to the data's end (saying so) when now is far past it."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from leadscore.clock import frozen_clock
from leadscore.pipeline import ExplainSpec, explain_step
from leadscore.serving.not_scored import NotScoredError
from tests.test_serving_support import ServingModel, serving_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


def _first(model: ServingModel, sql: str) -> tuple[object, ...]:
    with duckdb.connect(str(model.crm_path), read_only=True) as con:
        row = con.execute(sql, [model.as_of]).fetchone()
    assert row is not None, sql
    return tuple(row)


def _explain(model: ServingModel, contact: str, **kwargs: object) -> object:
    spec = ExplainSpec(
        contact_id=contact, source=model.crm_path, tracking_uri=model.tracking_uri, **kwargs
    )
    return explain_step(spec)


def test_each_reason_for_no_score_is_named(model: ServingModel) -> None:
    as_of = model.as_of
    with pytest.raises(NotScoredError, match="is not in the CRM"):
        _explain(model, "NO-SUCH-CONTACT", as_of=as_of)

    (late, created) = _first(
        model,
        "SELECT contact_id, created_at FROM contacts WHERE created_at < ? "
        "ORDER BY created_at DESC LIMIT 1",
    )
    with pytest.raises(NotScoredError, match=r"after the as-of moment.*later --as-of"):
        _explain(model, str(late), as_of=created - timedelta(days=1))

    (converted, _) = _first(
        model,
        "SELECT contact_id, min(changed_at) FROM stage_changes "
        "WHERE stage IN ('sql', 'meeting', 'customer') AND changed_at < ? GROUP BY 1 LIMIT 1",
    )
    with pytest.raises(NotScoredError, match="already reached sql"):
        _explain(model, str(converted), as_of=as_of)

    (dropped,) = _first(
        model,
        "SELECT contact_id FROM stage_changes s WHERE changed_at < ? "
        "QUALIFY row_number() OVER (PARTITION BY contact_id ORDER BY changed_at DESC) = 1 "
        "AND stage = 'disqualified' AND contact_id NOT IN (SELECT contact_id FROM stage_changes "
        "WHERE stage IN ('sql', 'meeting', 'customer')) LIMIT 1",
    )
    with pytest.raises(NotScoredError, match="was disqualified"):
        _explain(model, str(dropped), as_of=as_of)


def test_explain_defaults_to_the_data_end_when_now_is_far_past_it(model: ServingModel) -> None:
    (contact,) = _first(
        model,
        "SELECT contact_id FROM contacts WHERE created_at < ? AND contact_id NOT IN "
        "(SELECT contact_id FROM stage_changes WHERE stage IN ('sql', 'meeting', 'customer', "
        "'disqualified')) LIMIT 1",
    )
    with frozen_clock(model.as_of + timedelta(days=400)):
        late = _explain(model, str(contact))
    assert late.as_of == model.as_of  # type: ignore[attr-defined]
    assert "data's end" in late.notes[0]  # type: ignore[attr-defined]

    with frozen_clock(model.as_of + timedelta(days=3)):
        fresh = _explain(model, str(contact))
    assert fresh.as_of == model.as_of + timedelta(days=3)  # type: ignore[attr-defined]
    assert fresh.notes == ()  # type: ignore[attr-defined]
