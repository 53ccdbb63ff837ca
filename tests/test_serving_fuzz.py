"""Schema fuzzing: requests generated from the API's own OpenAPI schema, valid and broken, sent
to a real uvicorn server on 127.0.0.1, never get a 5xx.

A small hypothesis-based generator reads the schema FastAPI publishes (``/openapi.json``):
objects, arrays, strings, numbers, enums, ``anyOf``, ``$ref``, date-times, with their bounds.
Each value is sometimes broken on purpose (another JSON type, a huge or negative number, an
over-long or odd string, a missing or an extra field), so both the schema's edges and the code
behind it are reached. Bounded: a fixed number of examples (about 30 s here), derandomized.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_serving_api import running
from tests.test_serving_support import API_KEY, ServingModel, serving_model

Json = Any

_ODD_STRINGS = st.sampled_from(
    ["", " ", "\x00", "'; DROP TABLE contacts; --", "é" * 300, "9" * 400, "NaN", "null", "{}"]
)
_ANY_JSON: st.SearchStrategy[Json] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | _ODD_STRINGS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


class SchemaStrategies:
    """Strategies for the JSON values an OpenAPI 3.1 schema (as FastAPI writes it) describes."""

    def __init__(self, spec: dict[str, Any], *, around: datetime) -> None:
        self.components = spec.get("components", {}).get("schemas", {})
        self.around = around

    def times(self) -> st.SearchStrategy[str]:
        near = st.datetimes(min_value=self.around - timedelta(days=500), max_value=self.around).map(
            lambda t: t.replace(microsecond=0).isoformat()
        )
        anywhere = st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda t: t.isoformat())
        return st.one_of(near, near, anywhere, st.text(max_size=25))

    def valid(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Json]:
        if "$ref" in schema:
            return st.deferred(
                lambda: self.value(self.components[schema["$ref"].rsplit("/", 1)[-1]], depth)
            )
        if "anyOf" in schema:
            return st.one_of([self.value(s, depth) for s in schema["anyOf"]])
        if "allOf" in schema:
            return self.value(schema["allOf"][0], depth)
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "const" in schema:
            return st.just(schema["const"])
        kind = schema.get("type")
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", low + 3), low + 3)
            return st.lists(
                self.value(schema.get("items", {}), depth + 1), min_size=low, max_size=high
            )
        if kind == "string":
            if schema.get("format") == "date-time":
                return self.times()
            low = schema.get("minLength", 0)
            high = schema.get("maxLength")
            edge = [] if high is None else [st.just("x" * high), st.just("x" * (high + 1))]
            return st.one_of(st.text(min_size=low, max_size=min(high or 20, 20)), *edge)
        if kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            edges = [st.just(v) for v in (low, high) if v is not None]
            return st.one_of(st.integers(min_value=low, max_value=high), *edges)
        if kind == "number":
            low, high = schema.get("minimum"), schema.get("maximum")
            return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return _ANY_JSON

    def value(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Json]:
        """Mostly valid values, sometimes any JSON value instead (a broken field)."""
        return st.one_of(self.valid(schema, depth), self.valid(schema, depth), _ANY_JSON)

    def _object(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Json]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {
            name: self.valid(sub, depth + 1) if depth < 1 else self.value(sub, depth + 1)
            for name, sub in properties.items()
        }

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, strategy in fields.items():
                keep = name in required or draw(st.booleans())
                if name in required and draw(st.integers(0, 30)) == 0:
                    keep = False  # a missing required field
                if keep:
                    out[name] = draw(strategy)
            if draw(st.integers(0, 20)) == 0:
                out[draw(st.text(min_size=1, max_size=10))] = draw(_ANY_JSON)  # an extra field
            return out

        return build()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def target(
    model: ServingModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, SchemaStrategies, dict[str, Any]]]:
    from leadscore.serving import ScoreStore
    from leadscore.serving.api import create_app

    store = ScoreStore(tmp_path_factory.mktemp("fuzz-store") / "scores.duckdb")
    app = create_app(
        "champion",
        tracking_uri=model.tracking_uri,
        store=store,
        api_key=API_KEY,
        crm=model.crm_path,
        max_body_bytes=300_000,
    )
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        spec = client.get("/openapi.json").json()
        yield client, SchemaStrategies(spec, around=model.as_of), spec


def _body_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    content = spec["paths"][path]["post"]["requestBody"]["content"]
    return dict(content["application/json"]["schema"])


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_request_built_from_the_schema_gets_a_5xx(
    target: tuple[httpx.Client, SchemaStrategies, dict[str, Any]], data: st.DataObject
) -> None:
    client, strategies, spec = target
    headers = {"X-API-Key": API_KEY}
    operation = data.draw(st.sampled_from(["score", "score", "score", "feedback", "contact"]))
    if operation == "contact":
        contact = urllib.parse.quote(data.draw(st.text(min_size=1, max_size=40)), safe="")
        history = data.draw(st.integers(-(2**70), 2**70) | st.text(max_size=5))
        response = client.get(
            f"/contacts/{contact}/score",
            params={"history": history},
            headers=headers,
        )
    else:
        path = "/score" if operation == "score" else "/feedback"
        body = data.draw(strategies.valid(_body_schema(spec, path)))
        raw = data.draw(st.integers(0, 15)) == 0
        content = data.draw(st.binary(max_size=50)) if raw else json.dumps(body).encode()
        response = client.post(
            path, content=content, headers={**headers, "Content-Type": "application/json"}
        )
    assert response.status_code < 500, (operation, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
