"""`step()`: the pure interpreter the durable engine calls once per event (DESIGN invariants 1, 2, 5, 6).

`step(definition, cursor, run_state, event, context=, now=)` returns a `Decision`: the new cursor and run
state, the log entries to append, and exactly one outcome telling the engine what to do next. It reads no
clock, does no I/O and never mutates its arguments (the returned run state may share unchanged parts with the
given one: treat both as immutable).

Events and what they do:
- `Start()`: log FlowStarted and enter `StartAt` (the cursor given is ignored).
- `Enter()`: enter the cursor's state afresh, with the cursor's `attempt` and `retries` (after a Retry
  back-off, after a chain yield, or when a run made INACTIVE before its action existed is resumed).
- `TimerFired()`: the Wait state at the cursor is done; continue at its Next.
- `ActionStatus(doc)` / `ActionUnableToRun(error)`: the answer of the Action state at the cursor.
Any other combination (e.g. `TimerFired` outside a Wait, `ActionStatus` outside an Action) is an engine bug
and raises `UnexpectedEvent`.

Chaining: states that need no I/O (Pass, Choice, ExpressionEval, Fail, Succeed, a Wait already due) run one
after another in the same step. After `limits.max_chain` states have been entered, the step yields with
`WaitUntil(state=<next state>, due=now, retry=True)`: the engine delivers `Enter()` at once and the next step
enters that state (nothing about it has been logged yet, so nothing is logged twice).

Order of processing a state: log `<Type>Started` -> effective input (InputPath) -> the state's work
(Parameters, Result, Choice rules, ...) -> write the result at ResultPath into the raw input -> size check
-> log `<Type>Completed` -> Next or End. An error goes to Retry, then Catch, else fails the run (FlowFailed).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random as _random
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from . import runlog
from .catch import error_value, find_catcher
from .choice import choose_next
from .errors import LanguageError, PathNotFound, PathWriteError, StatesError
from .model import (
    DEFAULT_LIMITS,
    ActionRef,
    ActionStatus,
    ActionUnableToRun,
    AwaitAction,
    Cursor,
    Decision,
    Enter,
    Event,
    Failed,
    Failure,
    Limits,
    LogEntry,
    Outcome,
    RunContext,
    Start,
    StartAction,
    Succeeded,
    TimerFired,
    WaitUntil,
    isoformat,
)
from .parameters import evaluate_parameters
from .paths import write_path
from .redact import Redactor, redact, redact_evaluated_parameters
from .retry import TERMINAL_ERRORS, RandomSource, decide_retry
from .states import (
    ABSENT,
    Action,
    Choice,
    Definition,
    ExpressionEval,
    Fail,
    Pass,
    PathRef,
    State,
    Succeed,
    Wait,
)
from .timestamps import instant_to_datetime, parse_timestamp

_ACTION_STATUSES = frozenset({"ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED"})


class UnexpectedEvent(LanguageError):
    """The event does not fit the cursor (an engine bug): e.g. `ActionStatus` while the run is in a Pass."""


def step(
    definition: Definition,
    cursor: Cursor,
    run_state: Any,
    event: Event,
    *,
    context: RunContext,
    now: dt.datetime,
    random: RandomSource | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Decision:
    """Advance a run by one event. See the module docstring for the events, chaining and the outcomes.

    `random` is the source for Retry jitter; without one, a `random.Random` seeded with the action request id
    (`<run_id>/<state>/<attempt>`) is used, so a replayed step decides the same delay.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return _Step(definition, cursor, run_state, context, now, random, limits).handle(event)


def run_state_size(run_state: Any) -> int:
    """The size in bytes of the run state serialised as compact UTF-8 JSON (what the cap applies to); orjson
    where it can (measured after every transition that changes the state), else `json.dumps`."""
    try:
        return len(orjson.dumps(run_state))
    except TypeError:  # integers beyond 64 bits, non-string keys
        return len(json.dumps(run_state, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(slots=True)
class _Step:
    """The working memory of one step: the run state so far, log entries, counters."""

    definition: Definition
    cursor: Cursor
    run_state: Any
    context: RunContext
    now: dt.datetime
    random: RandomSource | None
    limits: Limits
    time: str = ""
    ctx: dict[str, Any] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)
    transitions: int = 0
    release: ActionRef | None = None
    cancel: ActionRef | None = None
    #: the redacted forms of the documents logged in this step: a run state is logged as one state's output
    #: and the next state's input, often as a part of the one before, so each object is looked at once
    shown: Redactor = field(default_factory=Redactor)
    #: the last run state that passed the size check (an unchanged state is not measured again)
    measured: Any = None

    def __post_init__(self) -> None:
        self.time = isoformat(self.now)
        self.ctx = self.context.as_dict()

    def _show(self, doc: Any) -> Any:
        """The redacted form of `doc` for the log (shared with `doc` where nothing is hidden)."""
        return self.shown(doc)

    # -- events ----------------------------------------------------------------------------------------------

    def handle(self, event: Event) -> Decision:
        if isinstance(event, Start):
            self.log.append(runlog.flow_started(self.time, self.run_state, redactor=self._show))
            too_big = self._oversize(self.run_state, self.definition.start_at)
            if too_big is not None:
                return too_big
            return self._run_from(self.definition.start_at, 0, ())
        name = self.cursor.state
        state = self.definition.states.get(name) if name is not None else None
        if state is None:
            raise UnexpectedEvent(f"{type(event).__name__} for a cursor at unknown state {name!r}")
        if isinstance(event, Enter):
            if self.cursor.action is not None:
                raise UnexpectedEvent(f"Enter for state {name!r} while its action is in flight")
            return self._run_from(state.name, self.cursor.attempt, self.cursor.retries)
        if isinstance(event, TimerFired):
            if not isinstance(state, Wait):
                raise UnexpectedEvent(f"TimerFired for state {name!r} of type {state.type_name}")
            self.log.append(
                runlog.state_completed(self.time, state.name, "Wait", self.run_state, redactor=self._show)
            )
            return self._continue(self._follow(state))
        if isinstance(event, ActionStatus | ActionUnableToRun) and not isinstance(state, Action):
            raise UnexpectedEvent(f"{type(event).__name__} for state {name!r} of type {state.type_name}")
        if isinstance(event, ActionStatus):
            return self._continue(self._on_status(state, event.status))  # type: ignore[arg-type]
        if isinstance(event, ActionUnableToRun):
            if self.cursor.action is not None:
                raise UnexpectedEvent(f"ActionUnableToRun for state {name!r} whose action exists")
            failure = Failure("ActionUnableToRun", event.error)
            return self._continue(self._error(state, failure, event.error))
        raise UnexpectedEvent(f"unknown event {event!r}")

    # -- the chain -------------------------------------------------------------------------------------------

    def _continue(self, result: str | Decision) -> Decision:
        return self._run_from(result, 0, ()) if isinstance(result, str) else result

    def _run_from(self, name: str, attempt: int, retries: tuple[int, ...]) -> Decision:
        while True:
            if self.transitions >= self.limits.max_chain:
                return self._decide(Cursor(name), WaitUntil(name, self.now, retry=True))
            self.transitions += 1
            self.cursor = Cursor(name, attempt, retries)
            result = self._enter(self.definition.states[name])
            if not isinstance(result, str):
                return result
            name, attempt, retries = result, 0, ()

    def _enter(self, state: State) -> str | Decision:
        """Run `state` from its start; return the next state's name, or a Decision that ends the step."""
        if isinstance(state, Action):
            return self._enter_action(state)
        self.log.append(
            runlog.state_started(self.time, state.name, state.type_name, self.run_state, redactor=self._show)
        )
        try:
            if isinstance(state, Pass):
                output = self._pass_output(state)
                return self._complete(state, state.result_path, output)
            if isinstance(state, ExpressionEval):
                output = evaluate_parameters(
                    state.parameters, self.run_state, context=self.ctx, limits=self.limits
                )
                return self._complete(state, state.result_path, output)
            if isinstance(state, Choice):
                target = choose_next(state.choices, state.default, self.run_state, self.ctx)
                self.log.append(
                    runlog.state_completed(
                        self.time, state.name, "Choice", self.run_state, redactor=self._show
                    )
                )
                return target
            if isinstance(state, Wait):
                due = self._wait_due(state)
                if due > self.now:
                    return self._decide(self.cursor, WaitUntil(state.name, due))
                self.log.append(
                    runlog.state_completed(self.time, state.name, "Wait", self.run_state, redactor=self._show)
                )
                return self._follow(state)
            if isinstance(state, Fail):
                return self._fail(self._fail_failure(state), state.name)
            if isinstance(state, Succeed):
                self.log.append(
                    runlog.state_completed(
                        self.time, state.name, "Succeed", self.run_state, redactor=self._show
                    )
                )
                return self._succeed(state)
        except StatesError as exc:
            return self._error(state, exc.failure, error_value(exc.failure))
        raise LanguageError(f"state type {type(state).__name__} has no interpreter")  # pragma: no cover

    def _complete(self, state: State, result_path: str | None, output: Any) -> str | Decision:
        """Write `output` at `result_path` into the raw input, log `<Type>Completed`, follow Next/End."""
        try:
            new_state = self._merge(result_path, output)
        except StatesError as exc:
            return self._error(state, exc.failure, error_value(exc.failure))
        too_big = self._oversize(new_state, state.name)
        if too_big is not None:
            return too_big
        self.run_state = new_state
        self.log.append(
            runlog.state_completed(self.time, state.name, state.type_name, new_state, redactor=self._show)
        )
        return self._follow(state)

    def _follow(self, state: State) -> str | Decision:
        if state.end or state.next is None:
            return self._succeed(state)
        return state.next

    # -- state work ------------------------------------------------------------------------------------------

    def _read(self, ref: PathRef, field_name: str, doc: Any) -> Any:
        try:
            return ref.compiled.read(doc, self.ctx)
        except PathNotFound:
            raise StatesError(
                "States.Runtime",
                f"The path '{ref.text}' specified for the field '{field_name}' could not be found in the "
                "state input.",
            ) from None

    def _effective_input(self, input_path: PathRef | None) -> Any:
        return self.run_state if input_path is None else self._read(input_path, "InputPath", self.run_state)

    def _merge(self, result_path: str | None, output: Any) -> Any:
        """The raw input with `output` at `result_path` (`None` discards the output)."""
        if result_path is None:
            return self.run_state
        try:
            return write_path(self.run_state, result_path, output)
        except PathWriteError as exc:
            raise StatesError(
                "States.ResultPathMatchFailure",
                f"Unable to write the result at ResultPath '{result_path}': {exc}",
            ) from None

    def _pass_output(self, state: Pass) -> Any:
        if state.result is not ABSENT:
            return copy.deepcopy(state.result)
        effective = self._effective_input(state.input_path)
        if state.parameters is not None:
            return evaluate_parameters(state.parameters, effective, context=self.ctx, limits=self.limits)
        return effective

    def _wait_due(self, state: Wait) -> dt.datetime:
        try:
            if state.seconds is not None:
                return self.now + dt.timedelta(seconds=state.seconds)
            if state.timestamp is not None:
                return instant_to_datetime(state.timestamp)
            if state.seconds_path is not None:
                seconds = self._read(state.seconds_path, "SecondsPath", self.run_state)
                if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
                    raise StatesError(
                        "States.Runtime",
                        f"The value at SecondsPath '{state.seconds_path.text}' must be a non-negative "
                        f"integer, not {json.dumps(seconds)}.",
                    )
                return self.now + dt.timedelta(seconds=seconds)
            if state.timestamp_path is not None:
                text = self._read(state.timestamp_path, "TimestampPath", self.run_state)
                instant = parse_timestamp(text)
                if instant is None:
                    raise StatesError(
                        "States.Runtime",
                        f"The value at TimestampPath '{state.timestamp_path.text}' must be an RFC 3339 "
                        f"timestamp, not {json.dumps(text)}.",
                    )
                return instant_to_datetime(instant)
        except OverflowError:
            raise StatesError(
                "States.Runtime", f"The Wait state {state.name} waits beyond the year 9999."
            ) from None
        return self.now  # pragma: no cover - validation guarantees one of the four fields

    def _fail_failure(self, state: Fail) -> Failure:
        error = state.error
        if state.error_path is not None:
            error = self._read(state.error_path, "ErrorPath", self.run_state)
            if not isinstance(error, str):
                raise StatesError(
                    "States.Runtime", f"The value at ErrorPath '{state.error_path.text}' is not a string."
                )
        cause = state.cause
        if state.cause_path is not None:
            cause = self._read(state.cause_path, "CausePath", self.run_state)
        return Failure(error or "States.Fail", copy.deepcopy(cause))

    # -- Action ----------------------------------------------------------------------------------------------

    def _request_id(self, state: Action) -> str:
        return f"{self.context.run_id}/{state.name}/{self.cursor.attempt}"

    def _enter_action(self, state: Action) -> str | Decision:
        try:
            effective = self._effective_input(state.input_path)
            if state.parameters is not None:
                body = evaluate_parameters(state.parameters, effective, context=self.ctx, limits=self.limits)
            else:
                body = copy.deepcopy(effective)
        except StatesError as exc:
            return self._error(state, exc.failure, error_value(exc.failure))
        shown = body if state.parameters is None else redact_evaluated_parameters(body, state.parameters)
        self.log.append(runlog.state_started(self.time, state.name, "Action", shown, redactor=self._show))
        start = StartAction(
            state=state.name,
            action_url=state.action_url,
            body=body,
            request_id=self._request_id(state),
            run_as=state.run_as,
            scope=state.scope,
            wait_time=state.wait_time,
        )
        return self._decide(self.cursor, start)

    def _on_status(self, state: Action, status: Any) -> str | Decision:
        status_name = status.get("status") if isinstance(status, dict) else None
        if status_name not in _ACTION_STATUSES:
            failure = Failure(
                "States.Runtime",
                f"The action provider of state {state.name} returned an invalid action status: "
                f"{status!r:.500}",
            )
            return self._error(state, failure, error_value(failure))
        doc = {**status, "state_name": state.name}
        ref = self.cursor.action
        if ref is None:
            ref = ActionRef(
                action_url=state.action_url,
                action_id=str(status.get("action_id", "")),
                request_id=self._request_id(state),
                started_at=self.time,
                deadline=isoformat(self.now + dt.timedelta(seconds=state.wait_time)),
                run_as=state.run_as,
            )
        if status_name == "SUCCEEDED" or (status_name == "FAILED" and not state.exception_on_action_failure):
            self.release = ref
            try:
                new_state = self._merge(state.result_path, doc)
            except StatesError as exc:
                return self._error(state, exc.failure, error_value(exc.failure))
            too_big = self._oversize(new_state, state.name)
            if too_big is not None:
                return too_big
            self.run_state = new_state
            self.log.append(runlog.state_completed(self.time, state.name, "Action", doc, redactor=self._show))
            return self._follow(state)
        if status_name == "FAILED":
            self.release = ref
            self.log.append(runlog.action_failed(self.time, state.name, doc, redactor=self._show))
            return self._error(state, Failure("ActionFailedException", doc), doc)
        if self.now >= dt.datetime.fromisoformat(ref.deadline):
            self.cancel = ref
            cause = (
                f"The action {ref.action_id} of state {state.name} did not complete within its WaitTime of "
                f"{state.wait_time} seconds."
            )
            return self._error(state, Failure("ActionTimeout", cause), doc)
        if status_name != ref.last_status:
            self.log.append(runlog.action_polled(self.time, state.name, doc, redactor=self._show))
        ref = replace(ref, last_status=status_name)
        inactive = None
        if status_name == "INACTIVE":
            details = status.get("details")
            inactive = details if isinstance(details, dict) else {"details": details}
        return self._decide(replace(self.cursor, action=ref), AwaitAction(state.name, ref, inactive=inactive))

    # -- errors ----------------------------------------------------------------------------------------------

    def _random_for(self, state: State) -> RandomSource:
        if self.random is not None:
            return self.random
        return _random.Random(f"{self.context.run_id}/{state.name}/{self.cursor.attempt}")

    def _error(self, state: State, failure: Failure, caught: Any) -> str | Decision:
        """Retry, else Catch, else fail the run. Returns the catcher's Next or a Decision."""
        if failure.error in TERMINAL_ERRORS:
            return self._fail(failure, state.name)
        retriers = getattr(state, "retry", ())
        if retriers:
            retry = decide_retry(retriers, self.cursor.retries, failure.error, self._random_for(state))
            if retry is not None:
                due = self.now + dt.timedelta(seconds=retry.delay)
                attempt = self.cursor.attempt + 1
                self.log.append(
                    runlog.state_retrying(
                        self.time,
                        state.name,
                        state.type_name,
                        failure,
                        attempt,
                        isoformat(due),
                        redactor=self._show,
                    )
                )
                cursor = Cursor(state.name, attempt, retry.retries)
                return self._decide(cursor, WaitUntil(state.name, due, retry=True))
        catcher = find_catcher(getattr(state, "catch", ()), failure.error)
        if catcher is None:
            return self._fail(failure, state.name)
        if catcher.result_path is None:
            new_state = caught
        else:
            try:
                new_state = write_path(self.run_state, catcher.result_path, caught)
            except PathWriteError as exc:
                cause = f"Unable to write the caught error at ResultPath '{catcher.result_path}': {exc}"
                return self._fail(Failure("States.ResultPathMatchFailure", cause), state.name)
        too_big = self._oversize(new_state, state.name)
        if too_big is not None:
            return too_big
        self.run_state = new_state
        self.log.append(
            runlog.exception_caught(
                self.time, state.name, state.type_name, failure, catcher.next, redactor=self._show
            )
        )
        return catcher.next

    def _oversize(self, new_state: Any, state_name: str) -> Decision | None:
        """A failed Decision if `new_state` is over the run-state cap (the run state stays the last good)."""
        if new_state is self.measured and new_state is not None:
            return None
        cap = self.limits.max_run_state_bytes
        size = run_state_size(new_state)
        if size <= cap:
            self.measured = new_state
            return None
        cause = f"The run state is {size:,} bytes, more than the limit of {cap:,} bytes"
        return self._fail(Failure("States.DataLimitExceeded", cause), state_name)

    # -- endings ---------------------------------------------------------------------------------------------

    def _fail(self, failure: Failure, state_name: str) -> Decision:
        self.log.append(runlog.flow_failed(self.time, failure, state_name, redactor=self._show))
        shown = Failure(failure.error, redact(failure.cause))
        return self._decide(Cursor(state_name, self.cursor.attempt), Failed(shown, state_name))

    def _succeed(self, state: State) -> Decision:
        self.log.append(runlog.flow_succeeded(self.time, self.run_state, redactor=self._show))
        return self._decide(Cursor(state.name), Succeeded(self.run_state))

    def _decide(self, cursor: Cursor, outcome: Outcome) -> Decision:
        return Decision(
            cursor=cursor,
            run_state=self.run_state,
            log=tuple(self.log),
            outcome=outcome,
            transitions=self.transitions,
            release_action=self.release,
            cancel_action=self.cancel,
        )
