"""Static validation of flow definitions: `validate_definition(definition) -> list[Problem]`.

The rules follow spec/flows-language.md §2, §3 and §6 (the Globus IDE JSON Schema plus the service's
structural checks), with the OpenFlows extensions `Succeed` and `Retry`. Every problem is data: a `loc` path
into the definition, a message a person can act on, and one of four `type`s:

- ``missing``: a required field is absent;
- ``extra_forbidden``: a field is not allowed where it appears;
- ``type_error``: a value has the wrong JSON type;
- ``value_error``: a value has the right type but is not acceptable (bad path, unknown state, limit...).

Validation never raises: any input, however malformed, yields a (possibly empty) list of problems, sorted by
location. docs/validation.md lists every rule and message.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from .errors import ExpressionError, PathSyntaxError
from .expressions import compile_expression
from .model import DEFAULT_LIMITS, Limits, Problem
from .paths import compile_path
from .timestamps import is_timestamp

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

STATE_TYPES = ("Action", "Pass", "Choice", "Wait", "Fail", "ExpressionEval", "Succeed")
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
}
TRANSITIONAL_TYPES = ("Action", "Pass", "Wait", "ExpressionEval")
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
}

#: state types that exist elsewhere but not here, with the reason
UNSUPPORTED_TYPES = {
    "CreateWebInput": "web input states are a Globus-hosted feature that OpenFlows does not support",
    "AwaitWebInput": "web input states are a Globus-hosted feature that OpenFlows does not support",
    "Task": "Globus flows call action providers with states of type 'Action'",
    "Parallel": "Globus flows do not support Parallel states",
    "Map": "Globus flows do not support Map states",
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

_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")

_JSON_KINDS = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
    (type(None), "null"),
)


def validate_definition(
    definition: object, *, limits: Limits = DEFAULT_LIMITS, strict: bool = False
) -> list[Problem]:
    """Return every problem found in a flow definition, sorted by location; `[]` means the flow is valid.

    `strict=True` also rejects what the hosted Globus service would reject but OpenFlows accepts: the `Retry`
    and `Succeed` extensions and `http://` action URLs.
    """
    checker = _Checker(limits, strict=strict)
    try:
        checker.check_definition(definition)
    except RecursionError:  # defensive: every walk below is iterative or depth-capped
        checker.problems.append(Problem((), "The definition is nested too deeply to validate", "value_error"))
    return sorted(checker.problems, key=lambda p: tuple(_loc_key(part) for part in p.loc))


def suggest(name: str, candidates: Iterable[str], budget: list[int] | None = None) -> str:
    """`"; did you mean 'X'?"` for the candidate closest to `name` (case-insensitive, difflib ratio >= 0.6),
    or `""`. `budget` (a one-element list) caps the work: each candidate costs the sum of the lengths, each
    full comparison their product; once it is spent no more suggestions are made (difflib is quadratic)."""
    if len(name) > MAX_SUGGESTION_LENGTH or (budget is not None and budget[0] <= 0):
        return ""
    by_lower = {c.lower(): c for c in sorted(candidates) if c != name and len(c) <= MAX_SUGGESTION_LENGTH}
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(name.lower())
    best: tuple[float, str] | None = None
    for lower, original in by_lower.items():
        if budget is not None:
            if budget[0] <= 0:
                return ""
            budget[0] -= len(lower) + len(name) + 20
        matcher.set_seq1(lower)
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue
        if budget is not None:
            budget[0] -= len(lower) * len(name) + 500
        score = matcher.ratio()
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, original)
    return f"; did you mean '{best[1]}'?" if best else ""


def _loc_key(part: object) -> tuple[int, Any]:
    return (0, part) if isinstance(part, int) else (1, str(part))


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


class _Checker:
    """Collects problems while walking one definition."""

    def __init__(self, limits: Limits, *, strict: bool = False) -> None:
        self.limits = limits
        self.strict = strict
        self.suggestion_budget = [SUGGESTION_BUDGET]
        self.problems: list[Problem] = []
        self.names: set[str] = set()

    # -- reporting ---------------------------------------------------------------------------------------

    def add(self, loc: Loc, msg: str, type_: str = "value_error") -> None:
        self.problems.append(Problem(tuple(loc), msg, type_))

    def suggest(self, name: str, candidates: Iterable[str]) -> str:
        return suggest(name, candidates, self.suggestion_budget)

    def expect(self, value: object, loc: Loc, field: str, kind: type | tuple[type, ...], what: str) -> bool:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            self.add(loc, f"'{field}' must be {what}, not {_kind(value)}", "type_error")
        return ok

    def check_comment(self, node: dict, loc: Loc) -> None:
        if "Comment" in node and not isinstance(node["Comment"], str):
            self.add(
                (*loc, "Comment"), f"'Comment' must be a string, not {_kind(node['Comment'])}", "type_error"
            )

    def check_fields(self, node: dict, loc: Loc, allowed: Iterable[str], where: str) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key in allowed:
                continue
            if key in UNSUPPORTED_FIELDS:
                self.add(
                    (*loc, key), f"Field '{key}' is not allowed: {UNSUPPORTED_FIELDS[key]}", "extra_forbidden"
                )
            else:
                self.add(
                    (*loc, key),
                    f"Field '{key}' is not allowed {where}{self.suggest(key, allowed)}",
                    "extra_forbidden",
                )

    # -- the definition ----------------------------------------------------------------------------------

    def check_definition(self, definition: object) -> None:
        if not isinstance(definition, dict):
            self.add((), f"A flow definition must be an object, not {_kind(definition)}", "type_error")
            return
        depth, not_json = _measure(definition)
        if not_json:
            self.add((), f"The definition is not valid JSON: {not_json}", "type_error")
            return
        if depth > MAX_NESTING_DEPTH:
            self.add((), f"The definition is nested more than {MAX_NESTING_DEPTH} levels deep")
            return
        size = len(json.dumps(definition, separators=(",", ":"), ensure_ascii=False).encode())
        if size > self.limits.max_definition_bytes:
            self.add(
                (),
                f"The definition is {size} bytes long; the limit is {self.limits.max_definition_bytes} bytes",
            )
            return
        for key in definition:
            if key not in TOP_LEVEL_FIELDS:
                self.add(
                    (key,),
                    f"Unknown top-level field '{key}': a definition has only 'StartAt', 'States' and "
                    f"'Comment'{self.suggest(key, TOP_LEVEL_FIELDS)}",
                    "extra_forbidden",
                )
        self.check_comment(definition, ())
        states = definition.get("States")
        states_ok = self.check_states_container(definition)
        start_ok = self.check_start_at(definition, states if states_ok else None)
        if not states_ok:
            return
        self.names = set(states)
        for name, state in states.items():
            self.check_state(name, state)
        if start_ok:
            self.check_reachability(definition["StartAt"], states)

    def check_states_container(self, definition: dict) -> bool:
        if "States" not in definition:
            self.add(
                ("States",), "A definition needs 'States', an object mapping state names to states", "missing"
            )
            return False
        states = definition["States"]
        if not isinstance(states, dict):
            self.add(("States",), f"'States' must be an object, not {_kind(states)}", "type_error")
            return False
        if not states:
            self.add(("States",), "'States' must contain at least one state")
            return False
        if len(states) > self.limits.max_states:
            self.add(("States",), f"The flow has {len(states)} states; the limit is {self.limits.max_states}")
            return False
        return True

    def check_start_at(self, definition: dict, states: dict | None) -> bool:
        if "StartAt" not in definition:
            self.add(("StartAt",), "A definition needs 'StartAt', the name of the first state", "missing")
            return False
        start = definition["StartAt"]
        if not self.expect(start, ("StartAt",), "StartAt", str, "a state name"):
            return False
        if states is None:
            return False
        if start not in states:
            self.add(
                ("StartAt",),
                f"'StartAt' names a state '{start}' that does not exist{self.suggest(start, states)}",
            )
            return False
        return True

    def check_reachability(self, start: str, states: dict) -> None:
        seen = {start}
        todo = [start]
        while todo:
            for target in _targets(states[todo.pop()]):
                if target in states and target not in seen:
                    seen.add(target)
                    todo.append(target)
        for name in states:
            if name not in seen:
                self.add(("States", name), f"State '{name}' is not reachable from StartAt")

    # -- states ------------------------------------------------------------------------------------------

    def check_state(self, name: str, state: object) -> None:
        loc: Loc = ("States", name)
        if name == "":
            self.add(loc, "State names must not be empty")
        elif len(name) > self.limits.max_state_name_length:
            limit = self.limits.max_state_name_length
            self.add(loc, f"State name is {len(name)} characters long; the limit is {limit}")
        if not isinstance(state, dict):
            self.add(loc, f"State '{name}' must be an object, not {_kind(state)}", "type_error")
            return
        type_ = state.get("Type")
        if "Type" not in state:
            self.add(
                (*loc, "Type"), f"State '{name}' needs a 'Type': one of {', '.join(STATE_TYPES)}", "missing"
            )
            return
        if not self.expect(type_, (*loc, "Type"), "Type", str, "a string"):
            return
        if type_ not in STATE_TYPES:
            why = UNSUPPORTED_TYPES.get(type_)
            msg = f"Unknown state type '{type_}'" + (
                f": {why}"
                if why
                else f"; use one of {', '.join(STATE_TYPES)}{self.suggest(type_, STATE_TYPES)}"
            )
            self.add((*loc, "Type"), msg)
            return
        if self.strict and type_ == "Succeed":
            self.add(
                (*loc, "Type"), "State type 'Succeed' is an OpenFlows extension (strict mode rejects it)"
            )
            return
        self.check_state_fields(state, loc, type_)
        self.check_comment(state, loc)
        getattr(self, f"check_{type_.lower()}")(state, loc)
        if type_ in TRANSITIONAL_TYPES:
            self.check_transition(state, loc, type_)

    def check_state_fields(self, state: dict, loc: Loc, type_: str) -> None:
        allowed = ("Type", "Comment", *STATE_FIELDS[type_])
        for key in state:
            if key in allowed:
                continue
            if key in UNSUPPORTED_FIELDS:
                self.add(
                    (*loc, key), f"Field '{key}' is not allowed: {UNSUPPORTED_FIELDS[key]}", "extra_forbidden"
                )
                continue
            msg = f"Field '{key}' is not allowed on a state of type '{type_}'"
            homes = [t for t, fields in STATE_FIELDS.items() if key in fields]
            if key in ("Next", "End") and type_ in ("Choice", "Fail", "Succeed"):
                msg += {
                    "Choice": " (a Choice state moves on through 'Choices[].Next' and 'Default')",
                    "Fail": " (a Fail state is terminal)",
                    "Succeed": " (a Succeed state is terminal)",
                }[type_]
            elif homes:
                msg += f" (it is allowed on: {', '.join(homes)})"
            else:
                msg += self.suggest(key, allowed)
            self.add((*loc, key), msg, "extra_forbidden")

    def check_transition(self, state: dict, loc: Loc, type_: str) -> None:
        has_next = "Next" in state
        end = state.get("End")
        if "End" in state and end is not True:
            if not isinstance(end, bool):
                self.add((*loc, "End"), f"'End' must be the boolean true, not {_kind(end)}", "type_error")
            elif has_next:
                self.add(
                    (*loc, "End"),
                    "'End' must be true when present; remove it, the state moves on with 'Next'",
                )
        if has_next == (end is True) and not (has_next and "End" in state and end is not True):
            self.add(
                loc,
                f"A state of type '{type_}' must be defined as either terminal (\"End\": true) or "
                f'transitional ("Next": "NextStateId")' + (", not both" if has_next else ""),
            )
        if has_next:
            self.check_target(state["Next"], (*loc, "Next"), "Next")

    def check_target(self, target: object, loc: Loc, field: str) -> None:
        if not self.expect(target, loc, field, str, "a state name"):
            return
        if target not in self.names:
            self.add(
                loc,
                f"'{field}' names a state '{target}' that does not exist{self.suggest(target, self.names)}",
            )

    def check_action(self, state: dict, loc: Loc) -> None:
        if "ActionUrl" in state:
            self.check_url(state["ActionUrl"], (*loc, "ActionUrl"), "ActionUrl")
            if "Handler" in state:
                self.add((*loc, "Handler"), "Use either 'ActionUrl' or 'Handler', not both")
        elif "Handler" not in state:
            self.add(
                (*loc, "ActionUrl"),
                "An Action state needs 'ActionUrl', the base URL of its action provider",
                "missing",
            )
        if "Handler" in state:
            self.check_handler(state["Handler"], (*loc, "Handler"))
        for field in ("ActionScope", "RunAs"):
            ok = field in state and self.expect(state[field], (*loc, field), field, str, "a string")
            if ok and not state[field]:
                self.add((*loc, field), f"'{field}' must not be empty")
        if "WaitTime" in state:
            self.check_int(state["WaitTime"], (*loc, "WaitTime"), "WaitTime", 1, MAX_SECONDS)
        if "ExceptionOnActionFailure" in state:
            value = state["ExceptionOnActionFailure"]
            self.expect(
                value, (*loc, "ExceptionOnActionFailure"), "ExceptionOnActionFailure", bool, "a boolean"
            )
        if "Parameters" in state and "InputPath" in state:
            self.add(
                (*loc, "InputPath"),
                "'Parameters' and 'InputPath' are mutually exclusive on an Action state: the action "
                "body comes from one or the other",
            )
        self.check_io(state, loc)
        if "Catch" in state:
            self.check_catch(state["Catch"], (*loc, "Catch"))
        if "Retry" in state:
            self.check_retry(state["Retry"], (*loc, "Retry"))

    def check_handler(self, handler: object, loc: Loc) -> None:
        """`Handler`: the action provider's URL as a string, or `{"Type": "ActionProvider", "Url", "Scope"?}`.
        Registered APIs (`{"Type": "RegisteredAPI", "Id"}`) are a Globus-hosted feature OpenFlows lacks."""
        if isinstance(handler, str):
            self.check_url(handler, loc, "Handler")
            return
        if not isinstance(handler, dict):
            self.add(loc, f"'Handler' must be an object or a URL string, not {_kind(handler)}", "type_error")
            return
        kind = handler.get("Type")
        if kind == "ActionProvider":
            self.check_fields(handler, loc, ("Type", "Url", "Scope"), "in an ActionProvider 'Handler'")
            if "Url" not in handler:
                self.add((*loc, "Url"), "An ActionProvider 'Handler' needs 'Url'", "missing")
            else:
                self.check_url(handler["Url"], (*loc, "Url"), "Url")
            if "Scope" in handler:
                self.expect(handler["Scope"], (*loc, "Scope"), "Scope", str, "a string")
        elif kind == "RegisteredAPI":
            self.add(
                (*loc, "Type"),
                "Handlers of type 'RegisteredAPI' are a Globus-hosted feature that OpenFlows does not "
                "support; name the provider with 'ActionUrl'",
            )
        elif "Type" not in handler:
            self.add((*loc, "Type"), "A 'Handler' object needs 'Type': 'ActionProvider'", "missing")
        else:
            self.add((*loc, "Type"), "'Handler.Type' must be 'ActionProvider'")

    def check_pass(self, state: dict, loc: Loc) -> None:
        self.check_io(state, loc)  # `Result` may be any JSON value

    def check_expressioneval(self, state: dict, loc: Loc) -> None:
        for field in ("Parameters", "ResultPath"):
            if field not in state:
                self.add((*loc, field), f"An ExpressionEval state needs '{field}'", "missing")
        self.check_io(state, loc)
        if "Retry" in state:
            self.check_retry(state["Retry"], (*loc, "Retry"))

    def check_succeed(self, state: dict, loc: Loc) -> None:
        pass

    def check_wait(self, state: dict, loc: Loc) -> None:
        present = [f for f in WAIT_FIELDS if f in state]
        if not present:
            self.add(
                loc,
                "A Wait state needs exactly one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'",
                "missing",
            )
        elif len(present) > 1:
            self.add(
                loc,
                "A Wait state needs exactly one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'; "
                f"this one has {' and '.join(repr(f) for f in present)}",
            )
        if "Seconds" in state:
            self.check_int(state["Seconds"], (*loc, "Seconds"), "Seconds", 0, MAX_SECONDS)
        if "Timestamp" in state:
            self.check_timestamp(state["Timestamp"], (*loc, "Timestamp"), "Timestamp")
        for field in ("SecondsPath", "TimestampPath"):
            if field in state:
                self.check_path(state[field], (*loc, field), field)

    def check_fail(self, state: dict, loc: Loc) -> None:
        for literal in ("Error", "Cause"):
            path = literal + "Path"
            if literal in state:
                self.expect(state[literal], (*loc, literal), literal, str, "a string")
            if path in state:
                self.check_path(state[path], (*loc, path), path)
                if literal in state:
                    self.add((*loc, path), f"'{literal}' and '{path}' are mutually exclusive: give only one")

    def check_choice(self, state: dict, loc: Loc) -> None:
        if "Default" in state:
            self.check_target(state["Default"], (*loc, "Default"), "Default")
        if "Choices" not in state:
            self.add(
                (*loc, "Choices"), "A Choice state needs 'Choices', a non-empty array of rules", "missing"
            )
            return
        choices = state["Choices"]
        if not self.expect(choices, (*loc, "Choices"), "Choices", list, "an array of rules"):
            return
        if not choices:
            self.add((*loc, "Choices"), "'Choices' must contain at least one rule")
        for i, rule in enumerate(choices):
            self.check_rule(rule, (*loc, "Choices", i), top=True, depth=1)

    # -- shared pieces -----------------------------------------------------------------------------------

    def check_int(self, value: object, loc: Loc, field: str, low: int, high: int | None) -> None:
        if not _is_int(value):
            self.add(loc, f"'{field}' must be an integer, not {_kind(value)}", "type_error")
        elif value < low:
            self.add(loc, f"'{field}' must be at least {low}, not {value}")
        elif high is not None and value > high:
            self.add(loc, f"'{field}' must be at most {high} (one year), not {value}")

    def check_url(self, url: object, loc: Loc, field: str) -> None:
        if self.expect(url, loc, field, str, "a URL string") and not _HTTP_URL.match(url):
            self.add(loc, f"'{field}' must be an https:// (or http://) URL, not '{url}'")
        elif self.strict and isinstance(url, str) and not url.startswith("https://"):
            self.add(loc, f"'{field}' must be an https:// URL (strict mode)")

    def check_timestamp(self, value: object, loc: Loc, field: str) -> None:
        if self.expect(value, loc, field, str, "an RFC 3339 timestamp string") and not is_timestamp(value):
            self.add(
                loc, f"'{field}' must be an RFC 3339 timestamp such as '2026-01-31T12:00:00Z', not '{value}'"
            )

    def check_io(self, state: dict, loc: Loc) -> None:
        if "InputPath" in state:
            self.check_path(state["InputPath"], (*loc, "InputPath"), "InputPath")
        if "ResultPath" in state:
            self.check_path(state["ResultPath"], (*loc, "ResultPath"), "ResultPath", reference=True)
        if "Parameters" in state:
            self.check_parameters(state["Parameters"], (*loc, "Parameters"))

    def check_path(self, value: object, loc: Loc, field: str, *, reference: bool = False) -> None:
        if not isinstance(value, str):
            self.add(
                loc, f"'{field}' must be a path string starting with '$', not {_kind(value)}", "type_error"
            )
            return
        try:
            compiled = compile_path(value)
        except (PathSyntaxError, ValueError, RecursionError) as exc:
            self.add(loc, f"'{field}' is not a valid path: {exc}")
            return
        if reference and not compiled.definite:
            self.add(
                loc,
                f"'{field}' must be a reference path naming exactly one location (no wildcards, filters, "
                f"slices or unions), not '{value}'",
            )
        elif reference and compiled.is_context:
            self.add(loc, f"'{field}' cannot write under '$._context', which is read-only")

    def check_parameters(self, parameters: object, loc: Loc) -> None:
        if not isinstance(parameters, dict):
            self.add(loc, f"'Parameters' must be an object, not {_kind(parameters)}", "type_error")
            return
        stack: list[tuple[object, Loc]] = [(parameters, loc)]
        while stack:
            node, node_loc = stack.pop()
            if isinstance(node, list):
                stack.extend((item, (*node_loc, i)) for i, item in enumerate(node))
                continue
            if not isinstance(node, dict):
                continue
            outputs: dict[str, str] = {}
            for key, value in node.items():
                key_loc = (*node_loc, key)
                out = key[:-2] if key.endswith((".$", ".=")) else key
                if out in outputs and key != "__Private_Parameters":
                    self.add(key_loc, f"'{key}' and '{outputs[out]}' both set the parameter '{out}'")
                outputs[out] = key
                if key.endswith(".$"):
                    self.check_path(value, key_loc, key)
                elif key.endswith(".="):
                    self.check_expression(value, key_loc, key)
                elif key == "__Private_Parameters":
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        self.add(
                            key_loc,
                            "'__Private_Parameters' must be an array of parameter names",
                            "type_error",
                        )
                else:
                    stack.append((value, key_loc))

    def check_expression(self, value: object, loc: Loc, field: str) -> None:
        if not isinstance(value, str):
            self.add(loc, f"'{field}' must be an expression string, not {_kind(value)}", "type_error")
            return
        try:
            compile_expression(value, limits=self.limits)
        except (ExpressionError, ValueError, RecursionError) as exc:
            self.add(loc, f"'{field}' is not a valid expression: {exc}")

    def check_error_equals(self, node: dict, loc: Loc, what: str) -> bool:
        """Check `ErrorEquals`; return True if it holds the `States.ALL` wildcard."""
        if "ErrorEquals" not in node:
            self.add(
                (*loc, "ErrorEquals"),
                f"A {what} needs 'ErrorEquals', a non-empty array of error names",
                "missing",
            )
            return False
        names = node["ErrorEquals"]
        eloc = (*loc, "ErrorEquals")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.add(eloc, "'ErrorEquals' must be an array of error names (strings)", "type_error")
            return False
        if not names:
            self.add(eloc, "'ErrorEquals' must name at least one error")
            return False
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            self.add(eloc, f"'ErrorEquals' lists {', '.join(repr(d) for d in duplicates)} more than once")
        wildcard = [n for n in names if n.lower() in ERROR_WILDCARDS]
        if wildcard and len(names) > 1:
            self.add(
                eloc, f"'{wildcard[0]}' matches every error, so it must be the only name in 'ErrorEquals'"
            )
        return bool(wildcard)

    def check_catch(self, catchers: object, loc: Loc) -> None:
        if not self.expect(catchers, loc, "Catch", list, "an array of catchers"):
            return
        if not catchers:
            self.add(loc, "'Catch' must contain at least one catcher (or be left out)")
        for i, catcher in enumerate(catchers):
            cloc = (*loc, i)
            if not isinstance(catcher, dict):
                self.add(cloc, f"A catcher must be an object, not {_kind(catcher)}", "type_error")
                continue
            self.check_fields(catcher, cloc, CATCHER_FIELDS, "in a catcher")
            self.check_comment(catcher, cloc)
            if self.check_error_equals(catcher, cloc, "catcher") and i != len(catchers) - 1:
                self.add(cloc, "A catcher matching 'States.ALL' must be the last one in 'Catch'")
            if "Next" not in catcher:
                self.add((*cloc, "Next"), "A catcher needs 'Next', the state to go to", "missing")
            else:
                self.check_target(catcher["Next"], (*cloc, "Next"), "Next")
            if "ResultPath" in catcher:
                self.check_path(catcher["ResultPath"], (*cloc, "ResultPath"), "ResultPath", reference=True)

    def check_retry(self, retriers: object, loc: Loc) -> None:
        if self.strict:
            self.add(loc, "'Retry' is an OpenFlows extension (strict mode rejects it)", "extra_forbidden")
            return
        if not self.expect(retriers, loc, "Retry", list, "an array of retriers"):
            return
        if not retriers:
            self.add(loc, "'Retry' must contain at least one retrier (or be left out)")
        for i, retrier in enumerate(retriers):
            rloc = (*loc, i)
            if not isinstance(retrier, dict):
                self.add(rloc, f"A retrier must be an object, not {_kind(retrier)}", "type_error")
                continue
            self.check_fields(retrier, rloc, RETRIER_FIELDS, "in a retrier")
            self.check_comment(retrier, rloc)
            if self.check_error_equals(retrier, rloc, "retrier") and i != len(retriers) - 1:
                self.add(rloc, "A retrier matching 'States.ALL' must be the last one in 'Retry'")
            for field, low, high in (
                ("IntervalSeconds", 1, MAX_SECONDS),
                ("MaxAttempts", 0, None),
                ("MaxDelaySeconds", 1, MAX_SECONDS),
            ):
                if field in retrier:
                    self.check_int(retrier[field], (*rloc, field), field, low, high)
            if "BackoffRate" in retrier:
                rate = retrier["BackoffRate"]
                if not _is_number(rate):
                    self.add(
                        (*rloc, "BackoffRate"),
                        f"'BackoffRate' must be a number, not {_kind(rate)}",
                        "type_error",
                    )
                elif rate < 1.0:
                    self.add((*rloc, "BackoffRate"), f"'BackoffRate' must be at least 1.0, not {rate}")
            if "JitterStrategy" in retrier and retrier["JitterStrategy"] not in ("FULL", "NONE"):
                self.add((*rloc, "JitterStrategy"), "'JitterStrategy' must be 'FULL' or 'NONE'")

    def check_rule(self, rule: object, loc: Loc, *, top: bool, depth: int) -> None:
        if not isinstance(rule, dict):
            self.add(loc, f"A choice rule must be an object, not {_kind(rule)}", "type_error")
            return
        if depth > MAX_RULE_DEPTH:
            self.add(loc, f"Choice rules are nested more than {MAX_RULE_DEPTH} levels deep")
            return
        self.check_comment(rule, loc)
        if top:
            if "Next" not in rule:
                self.add(
                    (*loc, "Next"),
                    "A rule in 'Choices' needs 'Next', the state to go to when it matches",
                    "missing",
                )
            else:
                self.check_target(rule["Next"], (*loc, "Next"), "Next")
        elif "Next" in rule:
            self.add(
                (*loc, "Next"),
                "'Next' is only allowed on the top-level rules of 'Choices', not inside 'And', 'Or' or 'Not'",
                "extra_forbidden",
            )
        unknown = [k for k in rule if k not in CHOICE_OPERATORS and k not in _RULE_STRUCTURE]
        for key in unknown:
            msg = f"Unknown choice rule field '{key}'"
            if key == "StringMatchesPath":
                msg += ": 'StringMatches' has no Path variant; give the pattern itself"
            else:
                msg += self.suggest(key, (*CHOICE_OPERATORS, *_RULE_STRUCTURE))
            self.add((*loc, key), msg, "extra_forbidden")
        combinators = [k for k in ("And", "Or", "Not") if k in rule]
        operators = [k for k in rule if k in CHOICE_OPERATORS]
        if combinators:
            extra = combinators[1:] + operators + (["Variable"] if "Variable" in rule else [])
            if extra:
                self.add(
                    loc,
                    f"A choice rule is either one of 'And', 'Or', 'Not' or a comparison; this one mixes "
                    f"'{combinators[0]}' with {', '.join(repr(e) for e in extra)}",
                )
            for key in combinators:
                self.check_combinator(key, rule[key], (*loc, key), depth)
            return
        if "Variable" not in rule:
            if operators:
                self.add(
                    (*loc, "Variable"),
                    "A comparison needs 'Variable', the path of the value to compare",
                    "missing",
                )
            elif not unknown:
                self.add(
                    loc,
                    "A choice rule needs a condition: 'Variable' with one comparison operator, or 'And', "
                    "'Or' or 'Not'",
                    "missing",
                )
        else:
            self.check_path(rule["Variable"], (*loc, "Variable"), "Variable")
            if not operators and not unknown:
                self.add(loc, "A comparison needs exactly one operator, such as 'StringEquals'", "missing")
        if len(operators) > 1:
            self.add(loc, f"A comparison takes exactly one operator; this one has {', '.join(operators)}")
        for op in operators:
            self.check_operand(op, rule[op], (*loc, op))

    def check_combinator(self, key: str, value: object, loc: Loc, depth: int) -> None:
        if key == "Not":
            if not isinstance(value, dict):
                self.add(loc, f"'Not' takes one choice rule (an object), not {_kind(value)}", "type_error")
                return
            self.check_rule(value, loc, top=False, depth=depth + 1)
            return
        if not isinstance(value, list):
            self.add(loc, f"'{key}' takes an array of choice rules, not {_kind(value)}", "type_error")
            return
        if not value:
            self.add(loc, f"'{key}' must contain at least one choice rule")
        for i, rule in enumerate(value):
            self.check_rule(rule, (*loc, i), top=False, depth=depth + 1)

    def check_operand(self, op: str, value: object, loc: Loc) -> None:
        kind = CHOICE_OPERATORS[op]
        if kind == "path":
            self.check_path(value, loc, op)
        elif kind == "string":
            self.expect(value, loc, op, str, "a string")
        elif kind == "number":
            if not _is_number(value):
                self.add(loc, f"'{op}' must be a number, not {_kind(value)}", "type_error")
        elif kind == "boolean":
            self.expect(value, loc, op, bool, "a boolean")
        else:
            self.check_timestamp(value, loc, op)


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


def validate_input_schema(schema: object, *, limits: Limits = DEFAULT_LIMITS) -> list[Problem]:
    """The problems of a flow `input_schema` (see `schema_check.validate_input_schema`; imported lazily,
    because jsonschema is slow to import)."""
    from .schema_check import validate_input_schema as check

    return check(schema, limits=limits)
