"""The JSON schemas `/openapi.json` states for a registered API's `target` and `data_templates` promise
nothing the checks do not enforce: whatever the schema refuses, `check_target` / `check_data_templates`
refuse too (a fuzzer sending schema-violating requests must get a 4xx), and the patterns mean the same in
Python and ECMA-262 (no `\\d`, no `$` before a trailing newline, no blanks before a URL's scheme)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from openflows.language.api_calls import DATA_TEMPLATES_JSON_SCHEMA, check_data_templates
from openflows.language.openapi_target import TARGET_JSON_SCHEMA, check_target

GOOD_TARGET: dict[str, Any] = {
    "type": "openapi",
    "openapi_version": "3.1",
    "destination": {"method": "get", "url": "https://api.example.org/things/{thing_id}"},
    "specification": {
        "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "security": [{"GlobusAuth": ["https://auth.example.org/scopes/x/read"]}],
    },
}
GOOD_TEMPLATES: dict[str, Any] = {
    "request": {"template": {"$T_ref": "$"}},
    "response": {"2XX": {"type": "success", "template": {"$T_ref": "$"}}},
}


def _with(base: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    where = out
    for key in path[:-1]:
        where = where[key]
    if value is _DROP:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return out


_DROP = object()

TARGET_MUTATIONS = [
    (("type",), "OpenAPI"),
    (("type",), _DROP),
    (("openapi_version",), "3.0"),
    (("openapi_version",), "3.1.\u0663"),  # an Arabic-Indic digit: Python's \d took it
    (("openapi_version",), 3.1),
    (("destination",), "https://api.example.org"),
    (("destination", "method"), "TRACE"),
    (("destination", "method"), "opt\u0130ons"),
    (("destination", "url"), " https://api.example.org/things/{thing_id}"),  # urlsplit strips the blank
    (("destination", "url"), "\thttps://api.example.org/things/{thing_id}"),
    (("destination", "url"), "ftp://api.example.org/things/{thing_id}"),
    (("destination", "url"), _DROP),
    (("specification",), []),
    (("specification", "parameters"), {"name": "thing_id"}),
    (("specification", "parameters"), [5]),
    (("specification", "security"), [["GlobusAuth"]]),
    (("specification", "security"), [{"GlobusAuth": [""]}]),
    (("specification", "requestBody"), "application/json"),
    (("components",), []),
]


def test_the_good_target_fits_both() -> None:
    jsonschema.Draft202012Validator(TARGET_JSON_SCHEMA).validate(GOOD_TARGET)
    operation, problems = check_target(GOOD_TARGET)
    assert operation is not None and problems == []
    assert check_target(_with(GOOD_TARGET, ("destination", "method"), "GET"))[0] is not None
    assert check_target(_with(GOOD_TARGET, ("destination", "url"), "HTTPS://api.example.org/{thing_id}"))[0]


@pytest.mark.parametrize(("path", "value"), TARGET_MUTATIONS)
def test_what_the_target_schema_refuses_the_server_refuses(path: tuple[str, ...], value: Any) -> None:
    target = _with(GOOD_TARGET, path, value)
    assert not jsonschema.Draft202012Validator(TARGET_JSON_SCHEMA).is_valid(target), target
    operation, problems = check_target(target)
    assert operation is None and problems, target
    assert problems[0].loc[0] == path[0] or path[0] == "specification", problems


TEMPLATE_MUTATIONS = [
    (("request",), _DROP),
    (("request",), {"tmpl": {}}),
    (("response",), []),
    (("response", "2XX"), {"type": "ok", "template": {}}),
    (("response", "2XX"), {"type": "success"}),
    (("response", "2XX"), "success"),
]


@pytest.mark.parametrize(("path", "value"), TEMPLATE_MUTATIONS)
def test_what_the_templates_schema_refuses_the_server_refuses(path: tuple[str, ...], value: Any) -> None:
    templates = _with(GOOD_TEMPLATES, path, value)
    assert not jsonschema.Draft202012Validator(DATA_TEMPLATES_JSON_SCHEMA).is_valid(templates)
    assert check_data_templates(templates)


@pytest.mark.parametrize("key", ["2xx", "600", "1XXX", " 200"])
def test_response_keys_are_matched_whole(key: str) -> None:
    templates = {**GOOD_TEMPLATES, "response": {key: {"type": "success", "template": {}}}}
    assert not jsonschema.Draft202012Validator(DATA_TEMPLATES_JSON_SCHEMA).is_valid(templates)
    assert check_data_templates(templates), key
    jsonschema.Draft202012Validator(DATA_TEMPLATES_JSON_SCHEMA).validate(GOOD_TEMPLATES)
    assert check_data_templates(GOOD_TEMPLATES) == []


def test_a_trailing_newline_is_refused_as_ecma_reads_the_patterns() -> None:
    """ECMA-262's `$` (the dialect of OpenAPI patterns) does not match before a final newline; Python's
    does (so Python's jsonschema accepts these): the server matches whole values and refuses them."""
    assert check_target(_with(GOOD_TARGET, ("openapi_version",), "3.1\n"))[0] is None
    newline_key = {**GOOD_TEMPLATES, "response": {"default\n": {"type": "success", "template": {}}}}
    assert check_data_templates(newline_key)
