"""Flow input schemas: check a schema when a flow is saved, and validate run input against it.

- `validate_input_schema(schema)` runs when a flow is created, updated or validated. The schema must be a
  JSON object (not `true`/`false`), valid against its dialect's metaschema (`$schema` if given, else draft
  2020-12), within the size and depth limits, with only local `$ref`s (`#...`), no `$ref` loops and no
  runaway fan-out (schema_graph.py), and patterns of at most `MAX_PATTERN_LENGTH` characters that compile
  in the linear-time engine (below).
- `compile_input_validator(schema, key=...)` builds the validator used on every run start
  (`POST /flows/{id}/run` and `validate_run`). Only jsonschema-rs evaluates input; the messages for an
  invalid input are worded like the Python `jsonschema` library's, which the hosted service returns
  (`'not-a-boolean' is not of type 'boolean'`, see schema_messages.py), with `loc` in the Flows style
  (`$.a.b[0]`).

No user input may hold the server's CPU, so every cost is bounded:
- Regular expressions (`pattern`, `patternProperties`) run on jsonschema-rs' `regex` crate engine
  (`RegexOptions`), which matches in time linear in the text, also when an error message is built: there is
  no backtracking engine anywhere (`^(a+)+$` on 28 characters took 7 s with Python's `re`). That engine has
  no look-around and no back-references; patterns using them are refused when the flow is saved. Linear
  time is still "program size x text length": a pattern whose automaton explodes (`(a|b)*a(a|b){300}`)
  runs its slow path at ~1.5e-10 s per byte of compiled program per character. So each pattern's compiled
  program is limited (`MAX_PATTERN_PROGRAM`); its size, rounded up to a power of two, is its weight; and a
  run input is refused when (weight of the patterns applied at one location) x (characters of input)
  exceeds `PATTERN_WORK_BUDGET` (about 0.15 s).
- Subschema applications: schema_graph.py bounds them per input location when the flow is saved; a run
  input is refused when (applications per location) x (values in the input) exceeds `EVALUATION_BUDGET`.
- Error reports: jsonschema-rs builds every error eagerly (500,000 wrong items: 21 s; an `anyOf` over them
  collects each alternative's errors too), so the full list is built only for inputs within
  `ERROR_DETAIL_BUDGET`; beyond it, the first error (found without collecting the rest) is reported, or,
  when `anyOf`/`oneOf` could make even that expensive, one error naming the input.
- When the flow is saved, the metaschema check runs on jsonschema-rs too (the Python library's took a
  second on a schema with 3,000 properties, and quadratic time on an `enum` of 2,000 objects: 4 s).

Nothing here touches the network: remote references are rejected up front and jsonschema-rs gets a retriever
that refuses every URI (the metaschemas' vocabularies are bundled with it). The Python `jsonschema` library
only supplies the metaschema documents. `format`
is an annotation, not an assertion (as with the Python library's defaults).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import jsonschema_rs

from .model import DEFAULT_LIMITS, Limits, Problem
from .schema_graph import analyze
from .schema_messages import message

#: longest `pattern` / `patternProperties` regular expression accepted
MAX_PATTERN_LENGTH = 1000
#: longest error message returned for one input error (values are quoted in messages)
MAX_MESSAGE_LENGTH = 1000
#: how many compiled validators `compile_input_validator(..., key=...)` keeps
CACHE_SIZE = 256
#: largest compiled program of one pattern, in bytes (`^\\p{L}+$` needs 43 KiB, a UUID pattern 3 KiB)
MAX_PATTERN_PROGRAM = 64 * 1024
#: smallest weight a pattern can have (the program-size classes are powers of two from here)
MIN_PATTERN_PROGRAM = 512
#: most program bytes all the distinct patterns of one schema may compile to (bounds the time to compile them)
MAX_TOTAL_PATTERN_PROGRAM = 1024 * 1024
#: most (pattern weight at one location) x (characters of input) per validation: ~0.06 s of CPU at worst
PATTERN_WORK_BUDGET = 500_000_000
#: most (subschema applications at one location) x (values in the input) per validation: ~0.1 s at worst
EVALUATION_BUDGET = 2_000_000
#: most (applications) x (values) for which every error is reported (~2-20 µs each); beyond, only the first
ERROR_DETAIL_BUDGET = 5_000
#: most errors reported for one input
MAX_REPORTED_ERRORS = 100

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
        problems.extend(analyze(schema, pattern_weight).problems)
    if not problems:
        try:
            _compile_fast(schema)
        except (ValueError, jsonschema_rs.ValidationError) as exc:
            problems.append(Problem((), f"The input schema cannot be compiled: {_first_line(exc)}"))
    return sorted(problems, key=lambda p: _path_key(p.loc))


class InputValidator:
    """A compiled flow input schema. `errors(instance)` returns Flows-style problems (empty when valid)."""

    __slots__ = ("schema", "_fast", "_applications", "_pattern_weight", "_alternatives")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._fast = _compile_fast(schema)
        report = analyze(schema, _weight_or_largest)
        if report.problems:  # a flow saved before these checks existed
            raise ValueError(report.problems[0].msg)
        self._applications = max(report.applications, 1)
        self._pattern_weight = report.pattern_weight
        self._alternatives = report.has_alternatives

    def is_valid(self, instance: Any) -> bool:
        return not self.errors(instance)

    def errors(self, instance: Any) -> list[Problem]:
        """`[]` if `instance` is valid; otherwise one problem per error (at most `MAX_REPORTED_ERRORS`),
        `loc=("$.a.b[0]",)`, `type="InvalidActionInput"`, as in the hosted service's 400 FLOW_INPUT_ERROR."""
        too_large = self._check_size(instance)
        if too_large is not None:
            return [too_large]
        detail_values = ERROR_DETAIL_BUDGET // self._applications
        if _count_values(instance, detail_values + 1) <= detail_values:  # one pass, every error
            errors = list(self._fast.iter_errors(instance))
            if not errors:
                return []
        elif self._fast.is_valid(instance):
            return []
        elif not self._alternatives:
            errors = [_first_error(self._fast, instance)]
        else:
            return [
                _input_problem(
                    [],
                    "The input does not match the flow's input schema (it is too large for a report of each "
                    "error)",
                )
            ]
        errors = sorted((e for e in errors if e is not None), key=lambda e: _path_key(tuple(e.instance_path)))
        return [_input_problem(e.instance_path, message(e)) for e in errors[:MAX_REPORTED_ERRORS]]

    def _check_size(self, instance: Any) -> Problem | None:
        """A problem if validating `instance` could cost more than the budgets allow, else None."""
        size = _json_length(instance)  # bounds both the characters of text and the number of values
        weight, applications = self._pattern_weight, self._applications
        if weight * size > PATTERN_WORK_BUDGET:
            text = _count_text(instance, PATTERN_WORK_BUDGET // weight + 1)
            if weight * text > PATTERN_WORK_BUDGET:
                return _input_problem(
                    [],
                    f"The input has more than {PATTERN_WORK_BUDGET // weight:,} characters of text, the most "
                    "that this flow's input schema can check against its patterns",
                )
        if applications * (size // 2 + 1) > EVALUATION_BUDGET:
            values = _count_values(instance, EVALUATION_BUDGET // applications + 1)
            if applications * values > EVALUATION_BUDGET:
                return _input_problem(
                    [],
                    f"The input has more than {EVALUATION_BUDGET // applications:,} values, the most "
                    "that this flow's input schema can check",
                )
        return None


_cache: OrderedDict[Hashable, InputValidator | ValueError] = OrderedDict()
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
    if found is None:
        try:
            found = _build(schema)
        except ValueError as exc:
            found = exc  # remembered too: a schema that cannot be used is not analysed on every run start
        with _cache_lock:
            _cache[key] = found
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(found, ValueError):
        raise ValueError(str(found))
    return found


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
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        raise ValueError(f"The input schema cannot be compiled: {_first_line(exc)}") from exc


def _deny_retrieval(uri: str) -> Any:
    raise ValueError(f"remote references are not allowed (would fetch {uri})")


def _linear(size_limit: int) -> Any:
    """jsonschema-rs pattern options: the `regex` crate (linear time) with a compiled-program limit."""
    return jsonschema_rs.RegexOptions(size_limit=size_limit)


def _compile_fast(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(
        schema,
        retriever=_deny_retrieval,
        validate_formats=False,
        pattern_options=_linear(MAX_PATTERN_PROGRAM),
    )


@functools.lru_cache(maxsize=4096)
def pattern_weight(pattern: str) -> int:
    """The weight of a pattern: its compiled program size rounded up to a power of two (at least
    `MIN_PATTERN_PROGRAM`); 0 if it does not compile within `MAX_PATTERN_PROGRAM` (or at all)."""
    low, high = MIN_PATTERN_PROGRAM.bit_length(), MAX_PATTERN_PROGRAM.bit_length()
    if not _compiles(pattern, 1 << (high - 1)):
        return 0
    while low < high:  # smallest power of two that compiles: three or four compilations
        mid = (low + high) // 2
        if _compiles(pattern, 1 << (mid - 1)):
            high = mid
        else:
            low = mid + 1
    return 1 << (low - 1)


def _weight_or_largest(pattern: str) -> int:
    return pattern_weight(pattern) or MAX_PATTERN_PROGRAM


def _compiles(pattern: str, size_limit: int, options: Any = None) -> bool:
    try:
        jsonschema_rs.validator_for({"pattern": pattern}, pattern_options=options or _linear(size_limit))
    except (jsonschema_rs.ValidationError, ValueError):
        return False
    return True


def _first_error(validator: Any, instance: Any) -> Any:
    """The first error jsonschema-rs meets (without building the others)."""
    try:
        validator.validate(instance)
    except jsonschema_rs.ValidationError as exc:
        return exc
    return None


def _json_length(instance: Any) -> int:
    """Length of the JSON text of `instance` (an upper bound of its text and of its number of values)."""
    try:
        return len(json.dumps(instance, separators=(",", ":")))
    except (TypeError, ValueError):
        return len(repr(instance))


def _walk(instance: Any) -> Iterator[Any]:
    stack = [instance]
    while stack:
        value = stack.pop()
        yield value
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _count_values(instance: Any, limit: int) -> int:
    """How many values (and property names) `instance` holds; stops counting past `limit`."""
    count = 0
    for _ in _walk(instance):
        count += 1
        if count > limit:
            break
    return count


def _count_text(instance: Any, limit: int) -> int:
    """How many characters of strings (values and property names) `instance` holds; stops past `limit`."""
    total = 0
    for value in _walk(instance):
        if isinstance(value, str):
            total += len(value)
            if total > limit:
                break
    return total


def _path_key(loc: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, x) if isinstance(x, int) else (1, str(x)) for x in loc)


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
    patterns: list[tuple[str, tuple[str | int, ...]]] = []
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
                patterns.append((value, key_loc))
            if key == "patternProperties" and isinstance(value, dict) and not in_names:
                patterns.extend((pattern, (*key_loc, pattern)) for pattern in value)
            if in_names or key not in _DATA_KEYWORDS:
                stack.append((value, key_loc, None if in_names else key))
    return problems + _check_patterns(sorted(patterns, key=lambda p: _path_key(p[1])))


def _check_patterns(patterns: list[tuple[str, tuple[str | int, ...]]]) -> list[Problem]:
    """Each pattern short and compiling in the linear-time engine within `MAX_PATTERN_PROGRAM`; all the
    distinct ones within `MAX_TOTAL_PATTERN_PROGRAM` (checked as they compile, so compiling stays cheap: a
    refused pattern counts as the largest, since finding out cost that much)."""
    problems: list[Problem] = []
    total = explained = 0
    weights: dict[str, int] = {}
    for pattern, loc in patterns:
        if len(pattern) > MAX_PATTERN_LENGTH:
            problems.append(
                Problem(
                    loc,
                    f"Patterns are limited to {MAX_PATTERN_LENGTH} characters; this one has {len(pattern)}",
                )
            )
            continue
        if pattern not in weights:
            if total > MAX_TOTAL_PATTERN_PROGRAM:
                problems.append(
                    Problem(
                        loc,
                        "The input schema's patterns compile to more than "
                        f"{MAX_TOTAL_PATTERN_PROGRAM // 1024} KiB in total; use fewer or simpler patterns",
                    )
                )
                break
            weights[pattern] = pattern_weight(pattern)
            total += weights[pattern] or MAX_PATTERN_PROGRAM
        if not weights[pattern]:
            explained += 1
            problems.append(Problem(loc, _pattern_refusal(pattern, detailed=explained <= 3)))
    return problems


def _pattern_refusal(pattern: str, *, detailed: bool) -> str:
    """Why `pattern` does not compile in the linear-time engine within `MAX_PATTERN_PROGRAM`. Telling
    "too complex" from "invalid" costs a larger compilation, so only the first few refusals get it."""
    if detailed and _compiles(pattern, 16 * MAX_PATTERN_PROGRAM):
        return (
            f"'{pattern}' is too complex: it compiles to more than {MAX_PATTERN_PROGRAM // 1024} KiB (large "
            "counted repetitions such as {1,500} of a class multiply its size)"
        )
    fancy = jsonschema_rs.FancyRegexOptions(backtrack_limit=1, size_limit=MAX_PATTERN_PROGRAM)
    if _compiles(pattern, 0, fancy):
        return (
            f"'{pattern}' uses look-around or back-references, which are not supported: patterns are "
            "matched in linear time, by an engine without them"
        )
    return (
        f"'{pattern}' is not a valid regular expression (or it compiles to more than "
        f"{MAX_PATTERN_PROGRAM // 1024} KiB)"
    )


@functools.lru_cache(maxsize=8)
def _meta_validator(cls: Any) -> Any:
    """jsonschema-rs' validator for a dialect's metaschema (its vocabularies are bundled: no retrieval)."""
    return jsonschema_rs.validator_for(cls.META_SCHEMA, retriever=_deny_retrieval, validate_formats=False)


def _check_metaschema(schema: dict[str, Any]) -> list[Problem]:
    """Problems of `schema` against its dialect's metaschema, worded like the Python library's; an `anyOf`
    failure lists what each alternative needed. (The Python library took a second on a schema with 3,000
    properties, and quadratic time on an `enum` of objects.)"""
    meta = _meta_validator(_dialect(schema))
    if meta.is_valid(schema):
        return []
    problems: dict[tuple[Any, ...], Problem] = {}
    for error in meta.iter_errors(schema):
        msg = message(error)
        context = getattr(error.kind, "context", None) or []
        details = list(dict.fromkeys(message(e) for branch in context for e in branch))
        if details:
            msg += " (" + "; ".join(details[:5]) + ")"
        kind = "type_error" if error.kind.name == "type" else "value_error"
        loc = tuple(error.instance_path)
        problems.setdefault((loc, msg), Problem(loc, msg, kind))
    return list(problems.values())
