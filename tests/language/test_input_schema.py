"""Flow input schemas: checking a schema, and validating run input against it (without any network access)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openflows.language.model import Limits, Problem
from openflows.language.schema_check import (
    MAX_PATTERN_LENGTH,
    compile_input_validator,
    flows_path,
    validate_input_schema,
)

DRAFT7 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "source": {"$ref": "#/definitions/endpoint"},
        "count": {"type": "integer", "minimum": 0},
        "_tokens": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["source"],
    "additionalProperties": False,
    "definitions": {
        "endpoint": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f-]{36}$"},
                "path": {"type": "string"},
            },
            "required": ["id", "path"],
        }
    },
}
DRAFT2020 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "bool": {"type": "boolean"},
        "items": {"type": "array", "prefixItems": [{"type": "string"}], "items": {"$ref": "#/$defs/n"}},
        "name": {"type": "string", "format": "email"},
    },
    "patternProperties": {"^x-": {"type": "string"}},
    "$defs": {"n": {"type": "number"}},
}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make every socket connection fail loudly, and record attempts."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    return attempts


@pytest.mark.parametrize(
    "schema", [DRAFT7, DRAFT2020, {}, {"type": "object"}], ids=["draft7", "2020-12", "empty", "plain"]
)
def test_valid_schemas_pass(schema: dict[str, Any]) -> None:
    assert validate_input_schema(schema) == []


def test_draft4_and_2019_dialects_are_known() -> None:
    assert (
        validate_input_schema({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}) == []
    )
    assert validate_input_schema({"$schema": "https://json-schema.org/draft/2019-09/schema"}) == []


@pytest.mark.parametrize("schema", [True, False, [], "object", None, 3])
def test_schema_must_be_an_object(schema: Any) -> None:
    [problem] = validate_input_schema(schema)
    assert problem.loc == () and problem.type == "type_error" and "must be a JSON object" in problem.msg


@pytest.mark.parametrize(
    ("schema", "loc", "fragment"),
    [
        ({"type": "objectx"}, ("type",), "is not valid under any of the given schemas"),
        ({"type": "object", "properties": {"a": {"type": 5}}}, ("properties", "a", "type"), "is not valid"),
        ({"required": "a"}, ("required",), "'a' is not of type 'array'"),
        ({"properties": []}, ("properties",), "is not of type 'object'"),
        ({"minLength": -1}, ("minLength",), "minimum of 0"),
        ({"$schema": "http://json-schema.org/draft-07/schema#", "required": []}, (), ""),  # valid in draft 7
    ],
)
def test_metaschema_problems_have_locations(
    schema: dict[str, Any], loc: tuple[Any, ...], fragment: str
) -> None:
    problems = validate_input_schema(schema)
    if loc == ():
        assert problems == []
        return
    assert any(p.loc == loc and fragment in p.msg for p in problems), problems


def test_unknown_dialect_is_rejected() -> None:
    [problem] = validate_input_schema({"$schema": "https://example.org/my-dialect", "type": "object"})
    assert problem.loc == ("$schema",) and "Unknown '$schema' dialect" in problem.msg
    [problem] = validate_input_schema({"$schema": 7})
    assert problem.type == "type_error"


def test_remote_refs_are_rejected_without_any_network_access(no_network: list[Any]) -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"$ref": "https://example.org/schemas/a.json"},
            "b": {"$ref": "other.json#/x"},
            "c": {"$ref": "#/$defs/c"},
            "$ref": {"type": "string"},  # a property *named* $ref is fine
        },
        "$defs": {"c": {"type": "string"}},
        "default": {"$ref": "https://example.org/not-a-reference"},  # data, not a reference
    }
    problems = validate_input_schema(schema)
    assert [p.loc for p in problems] == [("properties", "a", "$ref"), ("properties", "b", "$ref")]
    assert all("Only local references" in p.msg for p in problems)
    with pytest.raises(ValueError, match="remote references are not allowed"):
        compile_input_validator({"$ref": "https://example.org/schemas/a.json"})
    assert no_network == []


def test_huge_schema_is_rejected() -> None:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(20)}}
    assert validate_input_schema(schema) == []
    [problem] = validate_input_schema(schema, limits=Limits(max_input_schema_bytes=100))
    assert problem.loc == () and "the limit is 100 bytes" in problem.msg


def nested_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def test_deep_schema_is_rejected() -> None:
    [problem] = validate_input_schema(nested_schema(100))
    assert problem.loc == () and "nested more than 64 levels" in problem.msg
    assert validate_input_schema(nested_schema(20)) == []  # 41 levels of JSON
    [problem] = validate_input_schema(nested_schema(20), limits=Limits(max_input_schema_depth=30))
    assert "nested more than 30 levels" in problem.msg


@pytest.mark.parametrize(
    ("schema", "loc"),
    [
        ({"type": "string", "pattern": "(["}, ("pattern",)),
        ({"properties": {"a": {"pattern": "a{2,1}"}}}, ("properties", "a", "pattern")),
        ({"patternProperties": {"(": {"type": "string"}}}, ("patternProperties", "(")),
        ({"pattern": "a" * (MAX_PATTERN_LENGTH + 1)}, ("pattern",)),
    ],
    ids=["unterminated", "bad-repeat", "pattern-properties", "too-long"],
)
def test_bad_patterns_are_rejected(schema: dict[str, Any], loc: tuple[Any, ...]) -> None:
    problems = validate_input_schema(schema)
    assert [p.loc for p in problems] == [loc]


def test_ecma_patterns_work_even_where_python_regexes_differ() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^\\p{L}+$"}}}
    assert validate_input_schema(schema) == []
    validator = compile_input_validator(schema)
    assert validator.errors({"name": "Zoë"}) == []
    [problem] = validator.errors({"name": "123"})  # Python's re cannot run \p{L}: jsonschema-rs words it
    assert problem.loc == ("$.name",) and "123" in problem.msg and problem.type == "InvalidActionInput"


def test_a_property_named_pattern_is_not_a_pattern() -> None:
    assert validate_input_schema({"properties": {"pattern": {"type": "string"}}}) == []


# -- run input -------------------------------------------------------------------------------------------


def test_input_errors_use_the_flows_format() -> None:
    validator = compile_input_validator(DRAFT2020)
    assert validator.errors({"bool": True, "items": ["a", 1, 2.5], "x-y": "z"}) == []
    assert validator.errors({"bool": "not-a-boolean"}) == [
        Problem(("$.bool",), "'not-a-boolean' is not of type 'boolean'", "InvalidActionInput")
    ]
    assert validator.errors({"items": [1, "x"], "x-a": 3, "a b": {"c": 1}}) == [
        Problem(("$.items[0]",), "1 is not of type 'string'", "InvalidActionInput"),
        Problem(("$.items[1]",), "'x' is not of type 'number'", "InvalidActionInput"),
        Problem(("$.x-a",), "3 is not of type 'string'", "InvalidActionInput"),
    ]


def test_formats_are_annotations_not_assertions() -> None:
    validator = compile_input_validator(DRAFT2020)
    assert validator.errors({"name": "not an email"}) == []


def test_required_and_additional_properties_messages() -> None:
    validator = compile_input_validator(DRAFT7)
    problems = validator.errors({"count": -1, "extra": 1})
    messages = {p.msg for p in problems}
    assert "'source' is a required property" in messages
    assert "-1 is less than the minimum of 0" in messages
    assert "Additional properties are not allowed ('extra' was unexpected)" in messages
    assert all(p.loc == ("$",) or p.loc[0].startswith("$.") for p in problems)
    assert validator.errors({"source": {"id": "0" * 36, "path": "/"}}) == []


def test_long_values_are_abbreviated_in_messages() -> None:
    validator = compile_input_validator({"type": "object", "properties": {"a": {"type": "integer"}}})
    [problem] = validator.errors({"a": "x" * 10_000})
    assert len(problem.msg) <= 300 and "..." in problem.msg  # the value is abbreviated in the middle ...
    assert problem.msg.endswith("is not of type 'integer'")  # ... so the reason is still there
    validator = compile_input_validator({"type": "object", "properties": {"a": {"const": ["y" * 150] * 50}}})
    [problem] = validator.errors({"a": 1})
    assert len(problem.msg) <= 1000 and problem.msg.endswith("…")  # long messages are still cut


def test_validators_are_cached_by_key() -> None:
    first = compile_input_validator(DRAFT7, key=("flow", 1))
    assert compile_input_validator(DRAFT7, key=("flow", 1)) is first
    assert compile_input_validator(DRAFT7, key=("flow", 2)) is not first
    assert compile_input_validator(DRAFT7) is not first


def test_validation_is_fast_for_valid_input() -> None:
    import time

    validator = compile_input_validator(DRAFT7, key="fast")
    body = {"source": {"id": "0" * 36, "path": "/~/data"}, "count": 3}
    start = time.perf_counter()
    for _ in range(2000):
        assert validator.errors(body) == []
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("path", "expected"),
    [([], "$"), (["a", "b", 0], "$.a.b[0]"), (["a b"], "$['a b']"), (["_private", "x-y"], "$._private.x-y")],
)
def test_flows_path(path: list[Any], expected: str) -> None:
    assert flows_path(path) == expected


# -- robustness -------------------------------------------------------------------------------------------

schema_keywords = st.sampled_from(
    ["type", "properties", "items", "required", "$ref", "pattern", "patternProperties", "enum", "minimum",
     "additionalProperties", "$defs", "anyOf", "not", "$schema", "format", "const", "prefixItems"]
)  # fmt: skip
schema_atoms = st.sampled_from(
    [
        "object",
        "string",
        "#",
        "#/$defs/a",
        "https://x.org/s",
        "(",
        "^a+$",
        "http://json-schema.org/draft-07/schema#",
    ]
)
schema_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | schema_atoms,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(schema_keywords | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema_like)
def test_validate_input_schema_never_raises(schema: Any) -> None:
    problems = validate_input_schema(schema)
    assert all(isinstance(p, Problem) for p in problems)
    if not problems:
        validator = compile_input_validator(schema)
        assert isinstance(validator.errors({"a": [1, "x", None]}), list)
