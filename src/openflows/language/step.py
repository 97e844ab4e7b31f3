"""`step()`: the pure interpreter the durable engine calls once per event (DESIGN invariants 1, 2, 5, 6).

`step(definition, cursor, run_state, event, context=, now=)` returns a `Decision`: the new cursor and run
state, the log entries to append, and exactly one outcome telling the engine what to do next. It reads no
clock, does no I/O and never mutates its arguments (the returned run state may share unchanged parts with the
given one: treat both as immutable).

Events and what they do:
- `Start()`: log FlowStarted and enter `StartAt` (the cursor given is ignored).
- `Enter()`: enter the cursor's state afresh, with the cursor's `attempt`, `retries` and `visit` (after a
  Retry back-off or when a run made INACTIVE before its action existed is resumed: the same visit; after a
  chain yield the cursor has no visit yet, so the entry is a new visit).
- `TimerFired()`: the Wait state at the cursor is done; continue at its Next.
- `ActionStatus(doc)` / `ActionUnableToRun(error)`: the answer of the Action state at the cursor.
- `ApiAnswer(...)`: the outcome of the registered API call of the Action state at the cursor (issue 15): the
  result is written at ResultPath (ActionCompleted logs it with the call); a failure goes to Retry and Catch
  (`ExceptionOnActionFailure: false` writes an ActionFailedException's cause at ResultPath instead). A call
  with a method that is not idempotent is retried only by a Retry naming the error (not `States.ALL`).
- `WebInputAnswered(response)` / `WebInputUnavailable(error, cause)`: the answer (or its absence) the
  AwaitWebInput state at the cursor waits for.
Any other combination (e.g. `TimerFired` outside a Wait, `ActionStatus` outside an Action) is an engine bug
and raises `UnexpectedEvent`.

Chaining: states that need no I/O (Pass, Choice, ExpressionEval, Fail, Succeed, a Wait already due,
CreateWebInput, whose web input the engine stores with the step: `Decision.web_inputs`) run one after another
in the same step. After `limits.max_chain` states have been entered, the step yields with
`WaitUntil(state=<next state>, due=now, retry=True)`: the engine delivers `Enter()` at once and the next step
enters that state (nothing about it has been logged yet, so nothing is logged twice).

Order of processing a state: log `<Type>Started` -> effective input (InputPath) -> the state's work
(Parameters, Result, Choice rules, ...) -> write the result at ResultPath into the raw input -> size check
-> log `<Type>Completed` -> Next or End. An error goes to Retry, then Catch, else fails the run (FlowFailed).

Text that cannot be stored (a NUL character or an unpaired surrogate, `storable.py`) never enters the run: a
state whose output, action body or action status holds one fails with `States.Runtime` naming the state and
the location (the same measurement as the size cap finds it), and error causes that would quote one are
escaped (`\\u0000`).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random as _random
from dataclasses import dataclass, field, replace
from typing import Any

from . import runlog, webinputs
from .catch import error_value, find_catcher
from .choice import choose_next
from .errors import LanguageError, PathNotFound, PathWriteError, StatesError
from .iterations import IterationsDone, MapState, ParallelState, StartIterations, iteration_inputs
from .model import (
    DEFAULT_LIMITS,
    ActionRef,
    ActionStatus,
    ActionUnableToRun,
    ApiAnswer,
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
    WaitForWebInput,
    WaitUntil,
    WebInputAnswered,
    WebInputUnavailable,
    WebInputWait,
    isoformat,
)
from .parameters import evaluate_parameters
from .paths import write_path
from .redact import Redactor, redact, redact_evaluated_parameters
from .retry import TERMINAL_ERRORS, RandomSource, decide_retry
from .run_state import measure_run_state, unstorable_failure
from .states import (
    ABSENT,
    Action,
    AwaitWebInput,
    Choice,
    CreateWebInput,
    Definition,
    ExpressionEval,
    Fail,
    Pass,
    PathRef,
    State,
    Succeed,
    Wait,
)
from .storable import Unstorable, bad_char, escape, find_unstorable, make_storable
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
    (`<run_id>/<state>/<visit>/<attempt>`) is used, so a replayed step decides the same delay.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return _Step(definition, cursor, run_state, context, now, random, limits).handle(event)


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
    #: the run's count of Action-state visits (`Cursor.visits`), grown by each new visit in this step
    visits: int = 0
    #: (state name, document) of the web inputs CreateWebInput states opened in this step
    web_inputs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.time = isoformat(self.now)
        self.ctx = self.context.as_dict()
        self.visits = self.cursor.visits

    def _show(self, doc: Any) -> Any:
        """The redacted form of `doc` for the log (shared with `doc` where nothing is hidden)."""
        return self.shown(doc)

    # -- events ----------------------------------------------------------------------------------------------

    def handle(self, event: Event) -> Decision:
        if isinstance(event, Start):
            bad = find_unstorable(self.run_state)
            if bad is not None:  # a run not started through the API: keep and log its input escaped
                self.run_state = make_storable(self.run_state)
            self.log.append(runlog.flow_started(self.time, self.run_state, redactor=self._show))
            if bad is not None:
                return self._fail(unstorable_failure("The run input", bad), self.definition.start_at)
            refused = self._admit(self.run_state, self.definition.start_at, subject="The run input")
            if isinstance(refused, Decision):
                return refused
            return self._run_from(self.definition.start_at, 0, ())
        name = self.cursor.state
        state = self.definition.states.get(name) if name is not None else None
        if state is None:
            raise UnexpectedEvent(f"{type(event).__name__} for a cursor at unknown state {name!r}")
        if isinstance(event, Enter):
            if self.cursor.action is not None:
                raise UnexpectedEvent(f"Enter for state {name!r} while its action is in flight")
            return self._run_from(state.name, self.cursor.attempt, self.cursor.retries, self.cursor.visit)
        if isinstance(event, TimerFired):
            if not isinstance(state, Wait):
                raise UnexpectedEvent(f"TimerFired for state {name!r} of type {state.type_name}")
            self.log.append(
                runlog.state_completed(self.time, state.name, "Wait", self.run_state, redactor=self._show)
            )
            return self._continue(self._follow(state))
        if isinstance(event, WebInputAnswered | WebInputUnavailable):
            if not isinstance(state, AwaitWebInput) or self.cursor.web_input is None:
                raise UnexpectedEvent(f"{type(event).__name__} for state {name!r} that awaits no web input")
            return self._continue(self._on_web_input(state, event))
        if isinstance(event, IterationsDone):
            if not isinstance(state, MapState | ParallelState):
                raise UnexpectedEvent(f"IterationsDone for state {name!r} of type {state.type_name}")
            return self._continue(self._on_iterations_done(state, event))
        if isinstance(event, ActionStatus | ActionUnableToRun | ApiAnswer) and not isinstance(state, Action):
            raise UnexpectedEvent(f"{type(event).__name__} for state {name!r} of type {state.type_name}")
        if isinstance(event, ActionStatus):
            return self._continue(self._on_status(state, event.status))  # type: ignore[arg-type]
        if isinstance(event, ApiAnswer):
            return self._continue(self._on_api_answer(state, event))  # type: ignore[arg-type]
        if isinstance(event, ActionUnableToRun):
            if self.cursor.action is not None:
                raise UnexpectedEvent(f"ActionUnableToRun for state {name!r} whose action exists")
            failure = Failure("ActionUnableToRun", event.error)
            return self._continue(self._error(state, failure, event.error))
        raise UnexpectedEvent(f"unknown event {event!r}")

    # -- the chain -------------------------------------------------------------------------------------------

    def _continue(self, result: str | Decision) -> Decision:
        return self._run_from(result, 0, ()) if isinstance(result, str) else result

    def _run_from(
        self, name: str, attempt: int, retries: tuple[int, ...], visit: int | None = None
    ) -> Decision:
        """Enter `name` and chain on. `visit` is the visit being continued (a Retry, a resume), None for a
        new one: entering an Action state begins a new visit, numbered from the run's counter."""
        while True:
            if self.transitions >= self.limits.max_chain:
                return self._decide(Cursor(name), WaitUntil(name, self.now, retry=True))
            self.transitions += 1
            state = self.definition.states[name]
            if visit is None and isinstance(state, Action | CreateWebInput | MapState | ParallelState):
                self.visits += 1
                visit = self.visits
            self.cursor = Cursor(name, attempt, retries, visit=visit, visits=self.visits)
            result = self._enter(state)
            if not isinstance(result, str):
                return result
            name, attempt, retries, visit = result, 0, (), None

    def _enter(self, state: State) -> str | Decision:
        """Run `state` from its start; return the next state's name, or a Decision that ends the step."""
        if isinstance(state, Action):
            return self._enter_action(state)
        if isinstance(state, CreateWebInput):
            return self._enter_create_web_input(state)
        if isinstance(state, AwaitWebInput):
            return self._enter_await_web_input(state)
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
            if isinstance(state, MapState | ParallelState):
                return self._enter_iterations(state)
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
        refused = self._admit(new_state, state, subject=f"The output of state {state.name}")
        if refused is not None:
            return refused
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

    # -- Map and Parallel (iterations.py) -------------------------------------------------------------------

    def _enter_iterations(self, state: MapState | ParallelState) -> str | Decision:
        """Compute every iteration's input and hand them to the engine (`StartIterations`); an empty Map
        completes at once with `[]`."""
        effective = self._effective_input(state.input_path)
        if isinstance(state, ParallelState) and state.parameters is not None:
            effective = evaluate_parameters(state.parameters, effective, context=self.ctx, limits=self.limits)
        inputs, items = iteration_inputs(state, effective, self.ctx, limits=self.limits)
        if not inputs:
            return self._complete(state, state.result_path, [])
        concurrency = state.max_concurrency if isinstance(state, MapState) else 0
        return self._decide(
            self.cursor,
            StartIterations(state.name, state.type_name, tuple(inputs), concurrency, items=tuple(items)),
        )

    def _on_iterations_done(self, state: MapState | ParallelState, event: IterationsDone) -> str | Decision:
        if event.failure is not None:
            return self._error(state, event.failure, error_value(event.failure))
        return self._complete(state, state.result_path, event.result)

    # -- Action ----------------------------------------------------------------------------------------------

    def _request_id(self, state: State) -> str:
        """The deterministic AP `request_id` of this try of this visit (DESIGN invariant 2)."""
        return f"{self.context.run_id}/{state.name}/{self.cursor.request_id_suffix}"

    def _enter_action(self, state: Action) -> str | Decision:
        try:
            effective = self._effective_input(state.input_path)
            if state.parameters is not None:
                body = evaluate_parameters(state.parameters, effective, context=self.ctx, limits=self.limits)
            else:
                body = copy.deepcopy(effective)
            bad = find_unstorable(body) if state.parameters is not None else None  # else: part of the state
            if bad is not None:
                subject = f"The action body (Parameters) of state {state.name}"
                raise StatesError("States.Runtime", unstorable_failure(subject, bad).cause)
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
            registered_api=state.registered_api,
        )
        return self._decide(self.cursor, start)

    def _on_api_answer(self, state: Action, answer: ApiAnswer) -> str | Decision:
        """A registered API call's outcome (see the module docstring)."""
        if answer.success or (
            answer.error == "ActionFailedException" and not state.exception_on_action_failure
        ):
            output = answer.result if answer.success else answer.cause
            bad = find_unstorable(output)
            if bad is not None:
                failure = unstorable_failure(f"The answer of the registered API of state {state.name}", bad)
                return self._error(state, failure, error_value(failure))
            try:
                new_state = self._merge(state.result_path, output)
            except StatesError as exc:
                return self._error(state, exc.failure, error_value(exc.failure))
            refused = self._admit(new_state, state, subject=f"The output of state {state.name}")
            if refused is not None:
                return refused
            self.run_state = new_state
            logged = {"state_name": state.name, "call": answer.call, "result": output}
            self.log.append(
                runlog.state_completed(self.time, state.name, "Action", logged, redactor=self._show)
            )
            return self._follow(state)
        cause = make_storable(answer.cause)
        if answer.error == "ActionFailedException":
            logged = {"state_name": state.name, "call": answer.call, "cause": cause}
            self.log.append(runlog.action_failed(self.time, state.name, logged, redactor=self._show))
        failure = Failure(answer.error, cause)
        return self._error(state, failure, error_value(failure), retry_safe=answer.retry_safe)

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
        bad = find_unstorable(status)
        if bad is not None:
            return self._refuse_status(state, status_name, ref, bad)
        if status_name == "SUCCEEDED" or (status_name == "FAILED" and not state.exception_on_action_failure):
            self.release = ref
            try:
                new_state = self._merge(state.result_path, doc)
            except StatesError as exc:
                return self._error(state, exc.failure, error_value(exc.failure))
            refused = self._admit(new_state, state, subject=f"The output of state {state.name}")
            if refused is not None:
                return refused
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

    def _refuse_status(
        self, state: Action, status_name: str, ref: ActionRef, bad: Unstorable
    ) -> str | Decision:
        """A status document holding text that cannot be stored: the state fails with `States.Runtime`; the
        action is released when it has ended, else canceled (when its id can be stored at all)."""
        if bad_char(ref.action_id) is None:
            if status_name in ("SUCCEEDED", "FAILED"):
                self.release = ref
            else:
                self.cancel = ref
        failure = unstorable_failure(f"The action status returned to state {state.name}", bad)
        return self._error(state, failure, error_value(failure))

    # -- web inputs ------------------------------------------------------------------------------------------

    def _web_input_body(self, state: CreateWebInput | AwaitWebInput) -> tuple[Any, Any]:
        """(the body, its form for the log): Parameters over the effective input, or the effective input."""
        effective = self._effective_input(state.input_path)
        if state.parameters is None:
            return copy.deepcopy(effective), effective
        body = evaluate_parameters(state.parameters, effective, context=self.ctx, limits=self.limits)
        return body, redact_evaluated_parameters(body, state.parameters)

    def _enter_create_web_input(self, state: CreateWebInput) -> str | Decision:
        try:
            body, shown = self._web_input_body(state)
            spec = webinputs.parse_spec(body, state.name)
        except StatesError as exc:
            return self._error(state, exc.failure, error_value(exc.failure))
        self.log.append(
            runlog.state_started(self.time, state.name, state.type_name, shown, redactor=self._show)
        )
        doc = webinputs.build_document(
            spec,
            web_input=webinputs.web_input_id(self.context.run_id, state.name, self.cursor.visit),
            creator_urn=self.context.user_id,
            flow_id=self.context.flow_id,
            flow_title=self.context.flow_title,
            run_id=self.context.run_id,
            run_label=self.context.run_label,
            time=self.time,
        )
        bad = find_unstorable(doc)
        if bad is not None:
            failure = unstorable_failure(f"The web input of state {state.name}", bad)
            return self._error(state, failure, error_value(failure))
        self.web_inputs.append((state.name, doc))
        return self._complete(state, state.result_path, doc)

    def _enter_await_web_input(self, state: AwaitWebInput) -> str | Decision:
        try:
            body, shown = self._web_input_body(state)
            web_input = webinputs.awaited_id(body, state.name)
        except StatesError as exc:
            return self._error(state, exc.failure, error_value(exc.failure))
        self.log.append(
            runlog.state_started(self.time, state.name, state.type_name, shown, redactor=self._show)
        )
        deadline = None
        if state.wait_time is not None:
            deadline = self.now + dt.timedelta(seconds=state.wait_time)
        wait = WebInputWait(web_input, isoformat(deadline) if deadline is not None else None)
        outcome = WaitForWebInput(state.name, web_input, deadline)
        return self._decide(replace(self.cursor, web_input=wait), outcome)

    def _on_web_input(
        self, state: AwaitWebInput, event: WebInputAnswered | WebInputUnavailable
    ) -> str | Decision:
        if isinstance(event, WebInputUnavailable):
            failure = Failure(event.error, event.cause)
            return self._error(state, failure, error_value(failure))
        response = make_storable(event.response)
        return self._complete(state, state.result_path, response)

    # -- errors ----------------------------------------------------------------------------------------------

    def _random_for(self, state: State) -> RandomSource:
        if self.random is not None:
            return self.random
        return _random.Random(self._request_id(state))

    def _error(
        self, state: State, failure: Failure, caught: Any, *, retry_safe: bool = True
    ) -> str | Decision:
        """Retry, else Catch, else fail the run. Returns the catcher's Next or a Decision. When not
        `retry_safe`, only retriers naming the error itself apply (not the `States.ALL` wildcard)."""
        failure = _storable_failure(failure)
        caught = make_storable(caught)
        if failure.error in TERMINAL_ERRORS:
            return self._fail(failure, state.name)
        retriers = getattr(state, "retry", ())
        if not retry_safe:
            retriers = tuple(
                r if failure.error in r.error_equals else replace(r, max_attempts=0) for r in retriers
            )
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
                cursor = Cursor(state.name, attempt, retry.retries, visit=self.cursor.visit)
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
        refused = self._admit(new_state, state.name, subject=f"The run state after the Catch of {state.name}")
        if isinstance(refused, Decision):
            return refused
        self.run_state = new_state
        self.log.append(
            runlog.exception_caught(
                self.time, state.name, state.type_name, failure, catcher.next, redactor=self._show
            )
        )
        return catcher.next

    def _admit(self, new_state: Any, at: State | str, *, subject: str) -> str | Decision | None:
        """None when `new_state` may become the run state (the run state stays the last good otherwise).

        Over the size cap: the run fails (`States.DataLimitExceeded`, terminal). Holding text that cannot be
        stored: `States.Runtime` at the state (Retry and Catch apply when `at` is a State; a state name, for
        the run input and a caught error, fails the run there)."""
        if new_state is self.measured and new_state is not None:
            return None
        name = at if isinstance(at, str) else at.name
        size, bad = measure_run_state(new_state)
        if bad is not None:
            failure = unstorable_failure(subject, bad)
            if isinstance(at, str):
                return self._fail(failure, name)
            return self._error(at, failure, error_value(failure))
        cap = self.limits.max_run_state_bytes
        if size <= cap:
            self.measured = new_state
            return None
        cause = f"The run state is {size:,} bytes, more than the limit of {cap:,} bytes"
        return self._fail(Failure("States.DataLimitExceeded", cause), name)

    # -- endings ---------------------------------------------------------------------------------------------

    def _fail(self, failure: Failure, state_name: str) -> Decision:
        failure = _storable_failure(failure)
        self.log.append(runlog.flow_failed(self.time, failure, state_name, redactor=self._show))
        shown = Failure(failure.error, redact(failure.cause))
        cursor = Cursor(state_name, self.cursor.attempt, visit=self.cursor.visit)
        return self._decide(cursor, Failed(shown, state_name))

    def _succeed(self, state: State) -> Decision:
        self.log.append(runlog.flow_succeeded(self.time, self.run_state, redactor=self._show))
        return self._decide(Cursor(state.name), Succeeded(self.run_state))

    def _decide(self, cursor: Cursor, outcome: Outcome) -> Decision:
        if cursor.visits != self.visits:  # every cursor carries the run's visit counter, terminal ones too
            cursor = replace(cursor, visits=self.visits)
        return Decision(
            cursor=cursor,
            run_state=self.run_state,
            log=tuple(self.log),
            outcome=outcome,
            transitions=self.transitions,
            release_action=self.release,
            cancel_action=self.cancel,
            web_inputs=tuple(self.web_inputs),
        )


def _storable_failure(failure: Failure) -> Failure:
    """`failure` with any NUL or unpaired surrogate of its name and cause escaped (the same object when there
    is none): a provider's error message or an expression's may quote one, and a failure is always stored."""
    error = escape(failure.error) if isinstance(failure.error, str) else failure.error
    cause = make_storable(failure.cause)
    if error is failure.error and cause is failure.cause:
        return failure
    return Failure(error, cause)
