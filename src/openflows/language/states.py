"""Parsed flow definitions: one frozen dataclass per state type (spec §3), built once from the JSON dict.

`parse_definition()` validates first (`validate_definition`) and raises `InvalidDefinition` with the problems;
otherwise it returns a `Definition` whose states are ready to run: paths are compiled, Choice rules, Retry
and Catch are parsed into small classes, constants are owned copies. A `Definition` never changes, so the
engine can cache one per flow version and share it between threads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .catch import Catcher
from .choice import ChoiceRule, RuleError, parse_choice_rule
from .errors import InvalidDefinition, PathSyntaxError
from .model import DEFAULT_LIMITS, Limits, Problem
from .paths import CompiledPath, compile_path
from .retry import Retrier
from .timestamps import Instant, parse_timestamp
from .validation import validate_definition

#: marks an absent optional constant (so that `"Result": null` can be told apart from no Result)
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT", "__bool__": lambda self: False})()

#: ResultPath default: the result replaces the whole run state
ROOT = "$"


@dataclass(frozen=True, slots=True)
class PathRef:
    """A path as written in the definition, and compiled."""

    text: str
    compiled: CompiledPath

    @classmethod
    def of(cls, text: Any) -> PathRef | None:
        return None if text is None else cls(text, compile_path(text))


@dataclass(frozen=True, kw_only=True)
class State:
    """Fields common to all states: `Type` (required), `Comment`, and (except Choice and Fail) exactly one of
    `Next` and `End`."""

    type_name: ClassVar[str] = ""

    name: str
    comment: str | None = None
    #: "Next: the name of the state to run after this one"
    next: str | None = None
    #: "End: true makes this state a terminal state; the run succeeds when it completes"
    end: bool = False

    @classmethod
    def _common(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "comment": data.get("Comment"),
            "next": data.get("Next"),
            "end": bool(data.get("End")),
        }


def _result_path(data: dict[str, Any]) -> str | None:
    """ResultPath: `"$"` by default; an explicit `null` discards the result (ASL)."""
    if "ResultPath" not in data:
        return ROOT
    text = data["ResultPath"]
    if text is not None:
        compile_path(text)  # validate (and cache) now, not at run time
    return text


def _parameters(data: dict[str, Any]) -> Any:
    return copy.deepcopy(data["Parameters"]) if "Parameters" in data else None


def _retry(data: dict[str, Any]) -> tuple[Retrier, ...]:
    return tuple(Retrier.from_dict(r) for r in data.get("Retry") or ())


def _catch(data: dict[str, Any]) -> tuple[Catcher, ...]:
    catchers = tuple(Catcher.from_dict(c) for c in data.get("Catch") or ())
    for catcher in catchers:
        if catcher.result_path is not None:
            compile_path(catcher.result_path)
    return catchers


@dataclass(frozen=True, kw_only=True)
class Pass(State):
    """Pass (spec §3.2): "does no work". Its effective input is the value at `InputPath` (default `$`); its
    output is `Result` if present, else `Parameters` evaluated against the effective input (ASL), else the
    effective input; the output is written at `ResultPath` (default `$`) into the raw input."""

    type_name: ClassVar[str] = "Pass"

    input_path: PathRef | None = None
    #: "Result (Optional): a constant output" (ABSENT when not given)
    result: Any = ABSENT
    #: "Parameters (Optional): a template evaluated against the effective input (§4)"
    parameters: Any = None
    result_path: str | None = ROOT

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Pass:
        return cls(
            **cls._common(name, data),
            input_path=PathRef.of(data.get("InputPath")),
            result=copy.deepcopy(data["Result"]) if "Result" in data else ABSENT,
            parameters=_parameters(data),
            result_path=_result_path(data),
        )


@dataclass(frozen=True, kw_only=True)
class Choice(State):
    """Choice (spec §3.3): "top-level rules are tried in order; the first rule that is true selects its
    Next"; otherwise `Default`; otherwise the run fails with `States.NoChoiceMatched`. The run state passes
    through unchanged."""

    type_name: ClassVar[str] = "Choice"

    choices: tuple[ChoiceRule, ...] = ()
    default: str | None = None

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Choice:
        return cls(
            **cls._common(name, data),
            choices=tuple(parse_choice_rule(r) for r in data["Choices"]),
            default=data.get("Default"),
        )


@dataclass(frozen=True, kw_only=True)
class Wait(State):
    """Wait (spec §3.4): "exactly one of Seconds, Timestamp, SecondsPath, TimestampPath"; the run state passes
    through; a time in the past continues immediately."""

    type_name: ClassVar[str] = "Wait"

    seconds: int | None = None
    #: the instant of `Timestamp` (parsed at load time)
    timestamp: Instant | None = None
    timestamp_text: str | None = None
    seconds_path: PathRef | None = None
    timestamp_path: PathRef | None = None

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Wait:
        timestamp = None
        if "Timestamp" in data:
            timestamp = parse_timestamp(data["Timestamp"])
            if timestamp is None:
                raise ValueError(f"Timestamp {data['Timestamp']!r} is not an RFC 3339 timestamp")
        return cls(
            **cls._common(name, data),
            seconds=data.get("Seconds"),
            timestamp=timestamp,
            timestamp_text=data.get("Timestamp"),
            seconds_path=PathRef.of(data.get("SecondsPath")),
            timestamp_path=PathRef.of(data.get("TimestampPath")),
        )


@dataclass(frozen=True, kw_only=True)
class Fail(State):
    """Fail (spec §3.5): "ends the run with status FAILED"; `Error`/`Cause` or `ErrorPath`/`CausePath` say
    why. Without an error name the failure is `States.Fail`."""

    type_name: ClassVar[str] = "Fail"

    error: str | None = None
    cause: Any = None
    error_path: PathRef | None = None
    cause_path: PathRef | None = None

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Fail:
        return cls(
            **cls._common(name, data),
            error=data.get("Error"),
            cause=copy.deepcopy(data.get("Cause")),
            error_path=PathRef.of(data.get("ErrorPath")),
            cause_path=PathRef.of(data.get("CausePath")),
        )


@dataclass(frozen=True, kw_only=True)
class Succeed(State):
    """Succeed (ASL; an OpenFlows extension): ends the run successfully with the current run state."""

    type_name: ClassVar[str] = "Succeed"

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Succeed:
        return cls(**cls._common(name, data))


@dataclass(frozen=True, kw_only=True)
class ExpressionEval(State):
    """ExpressionEval (spec §3.6): "evaluates Parameters against the current run state and stores the
    resulting object at ResultPath". Retry (and Catch, if validation allows it) are OpenFlows extensions."""

    type_name: ClassVar[str] = "ExpressionEval"

    parameters: Any = None
    result_path: str | None = ROOT
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ExpressionEval:
        return cls(
            **cls._common(name, data),
            parameters=_parameters(data),
            result_path=_result_path(data),
            retry=_retry(data),
            catch=_catch(data),
        )


@dataclass(frozen=True, kw_only=True)
class Action(State):
    """Action (spec §3.1, §7): call an action provider with a body built from `Parameters` (or the value at
    `InputPath`, or the whole run state), wait up to `WaitTime` seconds for it to finish, and write the final
    action status document (plus `state_name`) at `ResultPath` (default `$`)."""

    type_name: ClassVar[str] = "Action"

    #: "ActionUrl: base URL of the action provider" (or `Handler.Url`)
    action_url: str = ""
    #: "ActionScope: scope used to get a token for the AP" (or `Handler.Scope`)
    scope: str | None = None
    parameters: Any = None
    input_path: PathRef | None = None
    result_path: str | None = ROOT
    #: "WaitTime: longest time to wait for the action to complete (default 300 s); then ActionTimeout"
    wait_time: int = 300
    #: "ExceptionOnActionFailure (default true): a FAILED action raises ActionFailedException"
    exception_on_action_failure: bool = True
    #: "RunAs (default User): whose identity calls the AP: User, Flow, or a role name"
    run_as: str = "User"
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    #: `Handler: {"Type": "RegisteredAPI", "Id"}`: the registered API called instead of an action provider
    registered_api: str | None = None

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Action:
        url, scope = data.get("ActionUrl"), data.get("ActionScope")
        handler = data.get("Handler")
        registered_api = None
        if url is None and isinstance(handler, str):
            url = handler
        elif url is None and isinstance(handler, dict) and handler.get("Type") == "RegisteredAPI":
            registered_api = str(handler["Id"]).lower()
            url = f"registered-api:{registered_api}"
        elif url is None and isinstance(handler, dict):
            if handler.get("Type", "ActionProvider") != "ActionProvider" or "Url" not in handler:
                raise ValueError(f"Handler of type {handler.get('Type')!r} is not supported by this engine")
            url = handler["Url"]
            scope = scope or handler.get("Scope")
        if not isinstance(url, str):
            raise ValueError("an Action needs an ActionUrl (or a Handler with a Url)")
        parameters = _parameters(data)
        return cls(
            **cls._common(name, data),
            action_url=url,
            scope=scope,
            parameters=parameters,
            input_path=PathRef.of(data.get("InputPath")),
            result_path=_result_path(data),
            wait_time=int(data.get("WaitTime", 300)),
            exception_on_action_failure=bool(data.get("ExceptionOnActionFailure", True)),
            run_as=data.get("RunAs") or "User",
            retry=_retry(data),
            catch=_catch(data),
            registered_api=registered_api,
        )


@dataclass(frozen=True, kw_only=True)
class CreateWebInput(State):
    """CreateWebInput (spec §3.7; OpenFlows' reading of its Parameters in `webinputs`): open a web input, a
    question with options for named respondents. The body is `Parameters` evaluated against the effective
    input (`InputPath`, default `$`), or the effective input itself; the result, the web input document, is
    written at `ResultPath` (default `$`). Needs no I/O: the web input is stored with the step."""

    type_name: ClassVar[str] = "CreateWebInput"

    parameters: Any = None
    input_path: PathRef | None = None
    result_path: str | None = ROOT
    catch: tuple[Catcher, ...] = ()

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> CreateWebInput:
        return cls(
            **cls._common(name, data),
            parameters=_parameters(data),
            input_path=PathRef.of(data.get("InputPath")),
            result_path=_result_path(data),
            catch=_catch(data),
        )


@dataclass(frozen=True, kw_only=True)
class AwaitWebInput(State):
    """AwaitWebInput (spec §3.7): wait until the web input named by `{"WebInputId": ...}` (Parameters
    evaluated against the effective input, or the effective input) is answered, and write the response at
    `ResultPath`. `WaitTime` (an OpenFlows extension, seconds) bounds the wait: past it the state fails with
    `WebInputTimeout` (Catch applies) and the web input is closed."""

    type_name: ClassVar[str] = "AwaitWebInput"

    parameters: Any = None
    input_path: PathRef | None = None
    result_path: str | None = ROOT
    wait_time: int | None = None
    catch: tuple[Catcher, ...] = ()

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> AwaitWebInput:
        wait_time = data.get("WaitTime")
        return cls(
            **cls._common(name, data),
            parameters=_parameters(data),
            input_path=PathRef.of(data.get("InputPath")),
            result_path=_result_path(data),
            wait_time=int(wait_time) if wait_time is not None else None,
            catch=_catch(data),
        )


#: the interpreter's state types, by `Type` name
STATE_TYPES: dict[str, type[State]] = {
    "Pass": Pass,
    "Choice": Choice,
    "Wait": Wait,
    "Fail": Fail,
    "Succeed": Succeed,
    "ExpressionEval": ExpressionEval,
    "Action": Action,
    "CreateWebInput": CreateWebInput,
    "AwaitWebInput": AwaitWebInput,
}


@dataclass(frozen=True)
class Definition:
    """A parsed flow definition: `StartAt` and the parsed states by name."""

    start_at: str
    states: dict[str, State] = field(default_factory=dict)
    comment: str | None = None


def parse_state(name: str, data: dict[str, Any]) -> State:
    """Parse one state; raises ValueError, KeyError, TypeError, RuleError or PathSyntaxError if malformed."""
    cls = STATE_TYPES.get(data.get("Type"))  # type: ignore[arg-type]
    if cls is None and data.get("Type") in ("Map", "Parallel"):  # they parse their sub-machines with this
        from .iterations import NESTED_STATE_TYPES

        cls = NESTED_STATE_TYPES[data["Type"]]
    if cls is None:
        raise ValueError(f"state type {data.get('Type')!r} is not supported by this engine")
    return cls.from_dict(name, data)  # type: ignore[attr-defined]


def parse_definition(definition: dict[str, Any], *, limits: Limits = DEFAULT_LIMITS) -> Definition:
    """Validate `definition` and parse it for `step()`; raise `InvalidDefinition(problems)` if invalid."""
    problems = validate_definition(definition, limits=limits)
    if problems:
        raise InvalidDefinition(problems)
    states: dict[str, State] = {}
    for name, data in definition["States"].items():
        try:
            states[name] = parse_state(name, data)
        except (ValueError, KeyError, TypeError, RuleError, PathSyntaxError) as exc:
            raise InvalidDefinition([Problem(("States", name), str(exc))]) from exc
    return Definition(start_at=definition["StartAt"], states=states, comment=definition.get("Comment"))
