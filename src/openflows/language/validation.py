"""Static validation of flow definitions: `validate_definition(definition) -> list[Problem]`.

The rules follow spec/flows-language.md §2, §3 and §6 (the Globus IDE JSON Schema plus the service's
structural checks), with the OpenFlows extensions `Succeed`, `Retry`, `Map` and `Parallel` (`nested.py`:
sub-machines are validated like whole definitions, located inside their state). Every problem is data: a
`loc` path into the definition, a message a person can act on, and one of four `type`s:

- ``missing``: a required field is absent;
- ``extra_forbidden``: a field is not allowed where it appears;
- ``type_error``: a value has the wrong JSON type;
- ``value_error``: a value has the right type but is not acceptable (bad path, unknown state, limit...).

Validation never raises: any input, however malformed, yields a (possibly empty) list of problems: causes
first, sorted by location, then consequences (states that are unreachable, most often because of a misspelt
target reported above them). docs/validation.md lists every rule and message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .errors import ExpressionError, PathSyntaxError
from .expressions import compile_expression
from .model import DEFAULT_LIMITS, Limits, Problem
from .nested import NESTED_TYPES, check_map, check_parallel
from .paths import compile_path
from .timestamps import is_timestamp
from .validation_choice import _ChoiceChecks
from .validation_rules import (
    _HTTP_URL,
    _UUID,
    CATCHER_FIELDS,
    ERROR_WILDCARDS,
    MAX_NESTING_DEPTH,
    MAX_SECONDS,
    RETRIER_FIELDS,
    STATE_FIELDS,
    STATE_TYPES,
    SUGGESTION_BUDGET,
    TOP_LEVEL_FIELDS,
    TRANSITIONAL_TYPES,
    UNSUPPORTED_FIELDS,
    UNSUPPORTED_TYPES,
    WAIT_FIELDS,
    Loc,
    _as_tuple,
    _is_int,
    _is_number,
    _kind,
    _measure,
    _targets,
    closest,
    suggest,
)


def validate_definition(
    definition: object, *, limits: Limits = DEFAULT_LIMITS, strict: bool = False
) -> list[Problem]:
    """Return every problem found in a flow definition; `[]` means the flow is valid. Causes come first,
    sorted by location, then consequences (unreachable states), sorted by location too, so a reader meets a
    misspelt `Next` before the state it leaves unreachable.

    `strict=True` also rejects what the hosted Globus service would reject but OpenFlows accepts: the `Retry`
    and `Succeed` extensions and `http://` action URLs.
    """
    checker = _Checker(limits, strict=strict)
    try:
        checker.check_definition(definition)
    except RecursionError:  # defensive: every walk below is iterative or depth-capped
        checker.problems.append(Problem((), "The definition is nested too deeply to validate", "value_error"))
    return _by_loc(checker.problems) + _by_loc(checker.consequences)


def _by_loc(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: tuple(_loc_key(part) for part in p.loc))


def _loc_key(part: object) -> tuple[int, Any]:
    return (0, part) if isinstance(part, int) else (1, str(part))


class _Checker(_ChoiceChecks):
    """Collects problems while walking one definition."""

    def __init__(self, limits: Limits, *, strict: bool = False) -> None:
        self.limits = limits
        self.strict = strict
        self.suggestion_budget = [SUGGESTION_BUDGET]
        self.problems: list[Problem] = []
        #: problems that follow from others (unreachable states), reported after them
        self.consequences: list[Problem] = []
        self.names: set[str] = set()
        #: state name -> the location and text of an unknown target that was probably meant to name it
        self.misspelt_targets: dict[str, tuple[Loc, str]] = {}

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
                msg = f"State '{name}' is not reachable from StartAt"
                if name in self.misspelt_targets:
                    loc, target = self.misspelt_targets[name]
                    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]
                    msg += f" (probably because {where} names '{target}' instead of '{name}')"
                self.consequences.append(Problem(("States", name), msg, "value_error"))

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
        if self.strict and type_ in ("Succeed", *NESTED_TYPES):
            self.add(
                (*loc, "Type"), f"State type '{type_}' is an OpenFlows extension (strict mode rejects it)"
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
            meant = closest(target, self.names, self.suggestion_budget)
            if meant is not None:
                self.misspelt_targets.setdefault(meant, (loc, target))
            hint = f"; did you mean '{meant}'?" if meant else ""
            self.add(loc, f"'{field}' names a state '{target}' that does not exist{hint}")

    def check_map(self, state: dict, loc: Loc) -> None:
        check_map(self, state, loc)

    def check_parallel(self, state: dict, loc: Loc) -> None:
        check_parallel(self, state, loc)

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
            handler = state["Handler"]
            if (
                isinstance(handler, dict)
                and handler.get("Type") == "RegisteredAPI"
                and "ActionScope" in state
            ):
                self.add(
                    (*loc, "ActionScope"),
                    "A registered API's scopes come from its target; remove 'ActionScope'",
                )
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
        """`Handler` (the flow definition schema of globus/flows-ide): `{"Type": "ActionProvider", "Url",
        "Scope"?}` (another spelling of ActionUrl/ActionScope), `{"Type": "RegisteredAPI", "Id": <uuid>}`, or
        a string: a provider URL, or a hosted handle `urn:globus:flows:handle:globus:<service>.<route>`,
        which OpenFlows refuses (it hosts no Globus service's registered APIs). Whether a registered API
        exists and may be used is checked by the API (it needs the database)."""
        if isinstance(handler, str):
            if handler.startswith("urn:"):
                self.add(
                    loc,
                    f"The handle {handler[:120]!r} names a registered API hosted by Globus, which OpenFlows "
                    "does not have; register the operation here (openflows registered-apis create, or gra) "
                    'and use {"Type": "RegisteredAPI", "Id": "<its id>"}',
                )
                return
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
            self.check_fields(handler, loc, ("Type", "Id"), "in a RegisteredAPI 'Handler'")
            if "Id" not in handler:
                self.add(
                    (*loc, "Id"), "A RegisteredAPI 'Handler' needs 'Id', the registered API's id", "missing"
                )
            elif not isinstance(handler["Id"], str) or not _UUID.match(handler["Id"]):
                self.add(
                    (*loc, "Id"), f"'Id' must be a registered API's UUID, not {str(handler['Id'])[:60]!r}"
                )
        elif "Type" not in handler:
            self.add(
                (*loc, "Type"),
                "A 'Handler' object needs 'Type': 'ActionProvider' or 'RegisteredAPI'",
                "missing",
            )
        else:
            self.add((*loc, "Type"), "'Handler.Type' must be 'ActionProvider' or 'RegisteredAPI'")

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

    def check_createwebinput(self, state: dict, loc: Loc) -> None:
        """Parameters (or the effective input) must evaluate to a web input body (`webinputs.parse_spec`):
        checked when the state runs, since `.$` and `.=` values are known only then."""
        self.check_io(state, loc)
        if "Catch" in state:
            self.check_catch(state["Catch"], (*loc, "Catch"))

    def check_awaitwebinput(self, state: dict, loc: Loc) -> None:
        self.check_io(state, loc)
        parameters = state.get("Parameters")
        if isinstance(parameters, dict) and not {"WebInputId", "WebInputId.$", "WebInputId.="} & set(
            parameters
        ):
            self.add(
                (*loc, "Parameters"),
                "An AwaitWebInput state's Parameters need 'WebInputId' (or 'WebInputId.$' / 'WebInputId.='), "
                "the id of the web input to wait for",
                "missing",
            )
        if "WaitTime" in state:
            if self.strict:
                self.add(
                    (*loc, "WaitTime"),
                    "'WaitTime' on an AwaitWebInput state is an OpenFlows extension (strict mode rejects it)",
                )
            else:
                self.check_int(state["WaitTime"], (*loc, "WaitTime"), "WaitTime", 1, MAX_SECONDS)
        if "Catch" in state:
            self.check_catch(state["Catch"], (*loc, "Catch"))

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


def validate_input_schema(schema: object, *, limits: Limits = DEFAULT_LIMITS) -> list[Problem]:
    """The problems of a flow `input_schema` (see `schema_check.validate_input_schema`; imported lazily,
    because jsonschema is slow to import)."""
    from .schema_check import validate_input_schema as check

    return check(schema, limits=limits)
