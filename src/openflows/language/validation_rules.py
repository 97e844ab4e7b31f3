"""The vocabulary of definition validation (see `validation.py`): the limits, the state types and the fields
each allows, the choice operators, and small pure helpers (JSON kinds, sizes, "did you mean" suggestions).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .nested import NESTED_FIELDS, NESTED_TYPES, NESTED_UNSUPPORTED_FIELDS

Loc = tuple[str | int, ...]

#: longest time, in seconds, any Wait/WaitTime/Retry interval may name: a run lasts at most one year (spec §8)
MAX_SECONDS = 31_536_000
#: deepest nesting of objects and arrays accepted anywhere in a definition
MAX_NESTING_DEPTH = 100
#: work allowed for "did you mean" suggestions in one definition (character pairs compared by difflib)
SUGGESTION_BUDGET = 1_000_000
#: names longer than this get no suggestion
MAX_SUGGESTION_LENGTH = 128
#: deepest nesting of And/Or/Not choice rules
MAX_RULE_DEPTH = 32

STATE_TYPES = (
    "Action",
    "Pass",
    "Choice",
    "Wait",
    "Fail",
    "ExpressionEval",
    "Succeed",
    "CreateWebInput",
    "AwaitWebInput",
    *NESTED_TYPES,
)
TOP_LEVEL_FIELDS = ("StartAt", "States", "Comment")

#: fields allowed on each state type (besides Type and Comment)
STATE_FIELDS: dict[str, tuple[str, ...]] = {
    "Action": (
        "ActionUrl",
        "Handler",
        "ActionScope",
        "Parameters",
        "InputPath",
        "ResultPath",
        "WaitTime",
        "ExceptionOnActionFailure",
        "RunAs",
        "Catch",
        "Retry",
        "Next",
        "End",
    ),
    "Pass": ("Parameters", "Result", "InputPath", "ResultPath", "Next", "End"),
    "Choice": ("Choices", "Default"),
    "Wait": ("Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Next", "End"),
    "Fail": ("Error", "ErrorPath", "Cause", "CausePath"),
    "ExpressionEval": ("Parameters", "ResultPath", "Retry", "Next", "End"),
    "Succeed": (),
    "CreateWebInput": ("Parameters", "InputPath", "ResultPath", "Catch", "Next", "End"),
    # WaitTime: an OpenFlows extension (the hosted schema has none)
    "AwaitWebInput": ("Parameters", "InputPath", "ResultPath", "WaitTime", "Catch", "Next", "End"),
    **NESTED_FIELDS,  # Map and Parallel: OpenFlows extensions (nested.py)
}
TRANSITIONAL_TYPES = (
    "Action",
    "Pass",
    "Wait",
    "ExpressionEval",
    "CreateWebInput",
    "AwaitWebInput",
    *NESTED_TYPES,
)
WAIT_FIELDS = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")

#: Amazon States Language fields Globus flows do not have, with the reason shown to the author
UNSUPPORTED_FIELDS = {
    "OutputPath": "Globus flows do not support OutputPath: a state's output is always its input with the "
    "result merged in at 'ResultPath'",
    "ResultSelector": "Globus flows do not support ResultSelector; select what you need with a later "
    "ExpressionEval or Pass state",
    "TimeoutSeconds": "Globus flows do not support TimeoutSeconds; use 'WaitTime' on an Action state",
    "HeartbeatSeconds": "Globus flows do not support HeartbeatSeconds",
    "Resource": "Globus flows have no 'Resource'; an Action state names its provider with 'ActionUrl'",
    **NESTED_UNSUPPORTED_FIELDS,
}

#: state types that exist elsewhere but not here, with the reason
UNSUPPORTED_TYPES = {
    "Task": "Globus flows call action providers with states of type 'Action'",
}

CATCHER_FIELDS = ("ErrorEquals", "Next", "ResultPath", "Comment")
RETRIER_FIELDS = (
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
)
ERROR_WILDCARDS = (
    "states.all",
)  # compared case-insensitively: `States.ALL` (ASL) and `States.All` (Gladier)

_STRING_OPS = (
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
)
_NUMERIC_OPS = (
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
)
_TIMESTAMP_OPS = (
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
)
_TYPE_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")


def _build_operators() -> dict[str, str]:
    ops: dict[str, str] = {}
    for names, kind in ((_STRING_OPS, "string"), (_NUMERIC_OPS, "number"), (_TIMESTAMP_OPS, "timestamp")):
        for name in names:
            ops[name] = kind
            ops[name + "Path"] = "path"
    ops["StringMatches"] = "string"
    ops["BooleanEquals"] = "boolean"
    ops["BooleanEqualsPath"] = "path"
    for name in _TYPE_TESTS:
        ops[name] = "boolean"
    return ops


#: every Choice comparison operator, mapped to the kind of operand it takes
CHOICE_OPERATORS: dict[str, str] = _build_operators()
_RULE_STRUCTURE = ("Variable", "And", "Or", "Not", "Next", "Comment")

#: a host part, then optionally a path, query or fragment; written so that a failing match cannot backtrack
#: (`[^\s/?#]+[^\s]*$` took seconds on a 10,000-character URL with a space at the end)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(?:[/?#]\S*)?$")

_JSON_KINDS = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
    (type(None), "null"),
)


def suggest(name: str, candidates: Iterable[str], budget: list[int] | None = None) -> str:
    """`"; did you mean 'X'?"` for the candidate closest to `name` (case-insensitive, difflib ratio >= 0.6),
    or `""`. `budget` (a one-element list) caps the work: each candidate costs the sum of the lengths, each
    full comparison their product; once it is spent no more suggestions are made (difflib is quadratic)."""
    best = closest(name, candidates, budget)
    return f"; did you mean '{best}'?" if best else ""


def closest(name: str, candidates: Iterable[str], budget: list[int] | None = None) -> str | None:
    """The candidate closest to `name` as `suggest` chooses it, or None."""
    if len(name) > MAX_SUGGESTION_LENGTH or (budget is not None and budget[0] <= 0):
        return None
    by_lower = {c.lower(): c for c in sorted(candidates) if c != name and len(c) <= MAX_SUGGESTION_LENGTH}
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(name.lower())
    best: tuple[float, str] | None = None
    for lower, original in by_lower.items():
        if budget is not None:
            if budget[0] <= 0:
                return None
            budget[0] -= len(lower) + len(name) + 20
        matcher.set_seq1(lower)
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue
        if budget is not None:
            budget[0] -= len(lower) * len(name) + 500
        score = matcher.ratio()
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, original)
    return best[1] if best else None


def _kind(value: object) -> str:
    for cls, name in _JSON_KINDS:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _measure(value: object) -> tuple[int, str | None]:
    """Nesting depth of a JSON value, and why it is not JSON (or None). Iterative, so it cannot overflow."""
    depth = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        if depth > MAX_NESTING_DEPTH:
            return depth, None
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    return depth, f"object keys must be strings, not {_kind(key)}"
                stack.append((item, level + 1))
        elif isinstance(node, list):
            stack.extend((item, level + 1) for item in node)
        elif isinstance(node, float):
            if node != node or node in (float("inf"), float("-inf")):
                return depth, "NaN and Infinity are not JSON numbers"
        elif not isinstance(node, str | int | type(None)):
            return depth, f"{type(node).__name__} is not a JSON value"
    return depth, None


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _targets(state: object) -> list[str]:
    """Names a state may move to (Next, Default, Choices[].Next, Catch[].Next), read leniently."""
    if not isinstance(state, dict):
        return []
    found = [state.get("Next"), state.get("Default")]
    for key in ("Choices", "Catch"):
        items = state.get(key)
        if isinstance(items, list):
            found.extend(item.get("Next") for item in items if isinstance(item, dict))
    return [t for t in found if isinstance(t, str)]
