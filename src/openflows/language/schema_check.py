"""Flow input schemas: check a schema when a flow is saved, and validate run input against it.

- `validate_input_schema(schema)` runs when a flow is created, updated or validated. The schema must be a
  JSON object (not `true`/`false`), valid against its dialect's metaschema (`$schema` if given, else draft
  2020-12), within the size and depth limits, with only local `$ref`s (`#...`) and patterns of at most
  `MAX_PATTERN_LENGTH` characters that compile in jsonschema-rs (ECMA 262 regular expressions).
- `compile_input_validator(schema, key=...)` builds the validator used on every run start
  (`POST /flows/{id}/run` and `validate_run`). Validity is decided by jsonschema-rs (fast); the messages for
  an invalid input come from the Python `jsonschema` library, whose wording is what the hosted service returns
  (`'not-a-boolean' is not of type 'boolean'`), with `loc` in the Flows style (`$.a.b[0]`).

Nothing here touches the network: remote references are rejected up front, the Python validators get an empty
`referencing.Registry()` (no retrieval), and jsonschema-rs gets a retriever that refuses every URI. `format`
is an annotation, not an assertion, in both libraries (as with the Python library's defaults).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema_rs
import referencing
import referencing.exceptions

from .model import DEFAULT_LIMITS, Limits, Problem

#: longest `pattern` / `patternProperties` regular expression accepted
MAX_PATTERN_LENGTH = 1000
#: longest error message returned for one input error (values are quoted in messages)
MAX_MESSAGE_LENGTH = 1000
#: how many compiled validators `compile_input_validator(..., key=...)` keeps
CACHE_SIZE = 256

_DIALECTS: dict[str, type] = {}
for _cls in (
    jsonschema.Draft4Validator,
    jsonschema.Draft6Validator,
    jsonschema.Draft7Validator,
    jsonschema.Draft201909Validator,
    jsonschema.Draft202012Validator,
):
    _uri = _cls.META_SCHEMA["$schema"].rstrip("#")
    _DIALECTS[_uri] = _cls
    _DIALECTS[_uri.replace("http://", "https://", 1)] = _cls
DEFAULT_DIALECT = jsonschema.Draft202012Validator

_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
#: keywords whose values are instance data, not schemas (a "$ref" key in there is not a reference)
_DATA_KEYWORDS = ("enum", "const", "default", "examples")
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def validate_input_schema(schema: object, *, limits: Limits = DEFAULT_LIMITS) -> list[Problem]:
    """Return the problems of a flow `input_schema`, sorted by location; `[]` means it is acceptable."""
    if not isinstance(schema, dict):
        kind = "a boolean" if isinstance(schema, bool) else type(schema).__name__
        return [Problem((), f"The input schema must be a JSON object, not {kind}", "type_error")]
    depth = _depth(schema, limits.max_input_schema_depth)
    if depth > limits.max_input_schema_depth:
        return [
            Problem((), f"The input schema is nested more than {limits.max_input_schema_depth} levels deep")
        ]
    try:
        size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return [Problem((), f"The input schema is not valid JSON: {exc}", "type_error")]
    if size > limits.max_input_schema_bytes:
        return [
            Problem(
                (),
                f"The input schema is {size} bytes long; the limit is {limits.max_input_schema_bytes} bytes",
            )
        ]
    dialect_uri = schema.get("$schema")
    if dialect_uri is not None:
        if not isinstance(dialect_uri, str):
            return [Problem(("$schema",), "'$schema' must be a string", "type_error")]
        if dialect_uri.rstrip("#") not in _DIALECTS:
            known = ", ".join(sorted({c.META_SCHEMA["$schema"] for c in _DIALECTS.values()}))
            return [Problem(("$schema",), f"Unknown '$schema' dialect '{dialect_uri}'; use one of: {known}")]
    problems = _check_refs_and_patterns(schema)
    problems.extend(_check_metaschema(schema))
    if not problems:
        try:
            _compile_fast(schema)
        except (ValueError, jsonschema_rs.ValidationError) as exc:
            problems.append(Problem((), f"The input schema cannot be compiled: {_first_line(exc)}"))
    return sorted(problems, key=lambda p: tuple((0, x) if isinstance(x, int) else (1, str(x)) for x in p.loc))


class InputValidator:
    """A compiled flow input schema. `errors(instance)` returns Flows-style problems (empty when valid)."""

    __slots__ = ("schema", "_fast", "_python", "_lock")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._fast = _compile_fast(schema)
        self._python: Any = None
        self._lock = threading.Lock()

    def is_valid(self, instance: Any) -> bool:
        return self._fast.is_valid(instance)

    def errors(self, instance: Any) -> list[Problem]:
        """`[]` if `instance` is valid; otherwise one problem per error, `loc=("$.a.b[0]",)`,
        `type="InvalidActionInput"`, as in the hosted service's 400 FLOW_INPUT_ERROR."""
        if self._fast.is_valid(instance):
            return []
        problems: list[Problem] = []
        try:
            for error in self._python_validator().iter_errors(instance):
                problems.append(_input_problem(error.absolute_path, error.message))
        except (
            referencing.exceptions.Unresolvable,
            jsonschema.exceptions.SchemaError,
            re.error,
            RecursionError,
        ):
            problems = []
        if not problems:  # the two libraries disagree (e.g. an ECMA-only regex): use jsonschema-rs' words
            problems = [_input_problem(e.instance_path, e.message) for e in self._fast.iter_errors(instance)]
        return problems

    def _python_validator(self) -> Any:
        with self._lock:
            if self._python is None:
                cls = _dialect(self.schema)
                self._python = cls(self.schema, registry=referencing.Registry())
            return self._python


_cache: OrderedDict[Hashable, InputValidator] = OrderedDict()
_cache_lock = threading.Lock()


def compile_input_validator(schema: dict[str, Any], *, key: Hashable | None = None) -> InputValidator:
    """Build (or, with `key`, reuse) the validator of an input schema that passed `validate_input_schema`.

    `key` identifies the schema, e.g. the flow version id or the schema's JSON text; the last `CACHE_SIZE`
    validators are kept. Raises `ValueError` if the schema cannot be compiled (e.g. a remote `$ref`).
    """
    if key is None:
        return _build(schema)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    validator = _build(schema)
    with _cache_lock:
        _cache[key] = validator
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return validator


def flows_path(path: Any) -> str:
    """The Flows-style location of an instance path: `["a", 0, "b c"]` -> `$.a[0]['b c']`."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_NAME.match(part):
            out += f".{part}"
        else:
            out += "[" + repr(str(part)) + "]"
    return out


def _build(schema: dict[str, Any]) -> InputValidator:
    try:
        return InputValidator(schema)
    except jsonschema_rs.ValidationError as exc:
        raise ValueError(f"The input schema cannot be compiled: {_first_line(exc)}") from exc


def _deny_retrieval(uri: str) -> Any:
    raise ValueError(f"remote references are not allowed (would fetch {uri})")


def _compile_fast(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(schema, retriever=_deny_retrieval, validate_formats=False)


def _dialect(schema: dict[str, Any]) -> Any:
    uri = schema.get("$schema")
    return _DIALECTS.get(uri.rstrip("#"), DEFAULT_DIALECT) if isinstance(uri, str) else DEFAULT_DIALECT


def _input_problem(path: Any, message: str) -> Problem:
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return Problem((flows_path(path),), message, "InvalidActionInput")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _depth(value: object, limit: int) -> int:
    """Nesting depth of a JSON value, computed iteratively and stopping once past `limit`."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            break
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def _check_refs_and_patterns(schema: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    stack: list[tuple[object, tuple[str | int, ...], str | None]] = [(schema, (), None)]
    while stack:
        node, loc, parent_key = stack.pop()
        if isinstance(node, list):
            stack.extend((v, (*loc, i), None) for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        in_names = parent_key in (
            "properties",
            "patternProperties",
            "$defs",
            "definitions",
            "dependentSchemas",
        )
        for key, value in node.items():
            key_loc = (*loc, key)
            if not in_names and key in _REF_KEYS and isinstance(value, str) and not value.startswith("#"):
                problems.append(
                    Problem(
                        key_loc,
                        f"Only local references (starting with '#') are allowed, not '{value}'",
                    )
                )
            if not in_names and key == "pattern" and isinstance(value, str):
                problems.extend(_check_pattern(value, key_loc))
            if key == "patternProperties" and isinstance(value, dict) and not in_names:
                for pattern in value:
                    problems.extend(_check_pattern(pattern, (*key_loc, pattern)))
            if in_names or key not in _DATA_KEYWORDS:
                stack.append((value, key_loc, None if in_names else key))
    return problems


def _check_pattern(pattern: str, loc: tuple[str | int, ...]) -> list[Problem]:
    """Patterns must compile in jsonschema-rs (ECMA 262 flavour, so `\\p{L}` is fine) and be short."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return [
            Problem(
                loc, f"Patterns are limited to {MAX_PATTERN_LENGTH} characters; this one has {len(pattern)}"
            )
        ]
    try:
        jsonschema_rs.validator_for({"pattern": pattern})
    except (jsonschema_rs.ValidationError, ValueError):
        return [Problem(loc, f"'{pattern}' is not a valid regular expression")]
    return []


def _check_metaschema(schema: dict[str, Any]) -> list[Problem]:
    cls = _dialect(schema)
    meta = cls(cls.META_SCHEMA, registry=referencing.Registry())
    problems = []
    try:
        for error in meta.iter_errors(schema):
            best = jsonschema.exceptions.best_match([error]) or error
            kind = "type_error" if best.validator == "type" else "value_error"
            msg = best.message
            details = list(dict.fromkeys(e.message for e in best.context))
            if details:
                msg += " (" + "; ".join(details[:5]) + ")"
            problems.append(Problem(tuple(best.absolute_path), msg, kind))
    except (referencing.exceptions.Unresolvable, RecursionError) as exc:
        problems.append(Problem((), f"The input schema cannot be checked: {_first_line(exc)}"))
    return problems
