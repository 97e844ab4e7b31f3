"""A tiny pure driver for `step()`: a fake clock that jumps to each WaitUntil, and scripted action providers.

`drive(definition, run_input, actions=...)` runs a flow to the end and returns a `RunResult` with the outcome,
the whole log, every StartAction and every Decision. Each step is checked for purity: its arguments are deep
copies compared before and after.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from openflows.language.iterations import (
    ChildEnd,
    IterationsDone,
    MapState,
    ParallelState,
    StartIterations,
    iteration_context,
    iterations_done,
)
from openflows.language.model import (
    DEFAULT_LIMITS,
    ActionStatus,
    ActionUnableToRun,
    AwaitAction,
    Cursor,
    Decision,
    Enter,
    Event,
    Failed,
    Limits,
    LogEntry,
    RunContext,
    Start,
    StartAction,
    Succeeded,
    TimerFired,
    WaitUntil,
)
from openflows.language.states import Definition, parse_definition
from openflows.language.step import step

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
CONTEXT = RunContext(
    flow_id="f-1",
    run_id="r-1",
    username="alice@example.org",
    email="alice@example.org",
    user_id="urn:globus:auth:identity:00000000-0000-0000-0000-00000000000a",
    identities=("urn:globus:auth:identity:00000000-0000-0000-0000-00000000000a",),
)
#: seconds the fake engine waits between two polls of an ACTIVE action
POLL_SECONDS = 10


def status_doc(status: str, n: int = 1, details: Any = None, **extra: Any) -> dict[str, Any]:
    """An action status document as an action provider would return it."""
    return {
        "action_id": f"a-{n}",
        "status": status,
        "display_status": status,
        "details": {} if details is None else details,
        "creator_id": CONTEXT.user_id,
        **extra,
    }


@dataclass
class Provider:
    """Scripted action providers: per state name, the answers to `POST /run` then to each poll.

    An answer is a status name ("SUCCEEDED", "FAILED", "ACTIVE", "INACTIVE"), a full status dict, or an
    `ActionUnableToRun`. When a state's script is used up, the provider answers SUCCEEDED (body echoed).
    """

    script: dict[str, list[Any]] = field(default_factory=dict)
    calls: int = 0

    def answer(self, state: str, body: Any) -> Event:
        self.calls += 1
        queue = self.script.get(state)
        answer = queue.pop(0) if queue else "SUCCEEDED"
        if isinstance(answer, ActionUnableToRun):
            return answer
        if isinstance(answer, str):
            details = {"echo": body} if answer == "SUCCEEDED" else {"code": answer}
            answer = status_doc(answer, self.calls, details)
        return ActionStatus(answer)


@dataclass
class RunResult:
    decisions: list[Decision]
    log: list[LogEntry]
    starts: list[StartAction]
    now: dt.datetime
    run_state: Any

    @property
    def outcome(self) -> Any:
        return self.decisions[-1].outcome

    @property
    def status(self) -> str:
        return "SUCCEEDED" if isinstance(self.outcome, Succeeded) else "FAILED"

    @property
    def output(self) -> Any:
        assert isinstance(self.outcome, Succeeded), self.outcome
        return self.outcome.output

    @property
    def error(self) -> str:
        assert isinstance(self.outcome, Failed), self.outcome
        return self.outcome.failure.error

    @property
    def cause(self) -> Any:
        assert isinstance(self.outcome, Failed), self.outcome
        return self.outcome.failure.cause

    @property
    def codes(self) -> list[str]:
        return [entry.code for entry in self.log]


def checked_step(definition: Definition, cursor: Cursor, run_state: Any, event: Event, **kw: Any) -> Decision:
    """`step()` with a check that it did not mutate its arguments."""
    before = copy.deepcopy((cursor, run_state, event))
    decision = step(definition, cursor, run_state, event, context=kw.pop("context", CONTEXT), **kw)
    assert (cursor, run_state, event) == before, "step() mutated its input"
    return decision


def drive(
    definition: dict[str, Any] | Definition,
    run_input: Any,
    *,
    provider: Provider | None = None,
    now: dt.datetime = T0,
    random: Any = None,
    limits: Limits = DEFAULT_LIMITS,
    max_steps: int = 500,
    on_decision: Callable[[Decision], None] | None = None,
    context: RunContext = CONTEXT,
) -> RunResult:
    """Run a flow to its end with a fake clock and scripted providers. Map and Parallel iterations are run
    one after the other by a nested `drive` (the engine runs them as durable child runs; the semantics under
    test are the same: `iterations.iterations_done` gathers them)."""
    parsed = definition if isinstance(definition, Definition) else parse_definition(definition, limits=limits)
    provider = provider or Provider()
    cursor, run_state, event = Cursor(None), run_input, Start()
    decisions: list[Decision] = []
    log: list[LogEntry] = []
    starts: list[StartAction] = []
    for _ in range(max_steps):
        decision = checked_step(
            parsed, cursor, run_state, event, now=now, random=random, limits=limits, context=context
        )
        decisions.append(decision)
        log.extend(decision.log)
        if on_decision is not None:
            on_decision(decision)
        cursor, run_state, outcome = decision.cursor, decision.run_state, decision.outcome
        if isinstance(outcome, Succeeded | Failed):
            return RunResult(decisions, log, starts, now, run_state)
        if isinstance(outcome, WaitUntil):
            now = max(now, outcome.due)
            event = Enter() if outcome.retry else TimerFired()
        elif isinstance(outcome, StartAction):
            starts.append(outcome)
            event = provider.answer(outcome.state, outcome.body)
        elif isinstance(outcome, AwaitAction):
            now = now + dt.timedelta(seconds=POLL_SECONDS)
            event = provider.answer(outcome.state, None)
        elif isinstance(outcome, StartIterations):
            event = run_iterations(parsed, outcome, provider, now=now, limits=limits, context=context)
        else:  # pragma: no cover
            raise AssertionError(f"unknown outcome {outcome!r}")
    raise AssertionError(f"the run did not finish in {max_steps} steps")


def run_iterations(
    parsed: Definition,
    outcome: StartIterations,
    provider: Provider,
    *,
    now: dt.datetime,
    limits: Limits,
    context: RunContext,
) -> IterationsDone:
    """Each iteration of a StartIterations outcome, run to its end in turn, gathered by `iterations_done`."""
    state = parsed.states[outcome.state]
    assert isinstance(state, MapState | ParallelState)
    ends: list[ChildEnd | None] = []
    for index, item_input in enumerate(outcome.inputs):
        sub = state.branches[index] if isinstance(state, ParallelState) else state.processor
        base = {k: v for k, v in context.iteration.items() if k not in ("map_item", "parallel_branch")}
        value = outcome.items[index] if outcome.items else None
        extra = iteration_context(base, outcome.kind, index, value)
        child = drive(
            sub,
            item_input,
            provider=provider,
            now=now,
            limits=limits,
            context=replace(context, iteration=extra),
        )
        if child.status == "SUCCEEDED":
            ends.append(ChildEnd(True, output=child.output))
        else:
            ends.append(ChildEnd(False, error=child.error, cause=child.cause))
    return iterations_done(state, ends)


def flow(states: dict[str, Any], start: str | None = None) -> dict[str, Any]:
    """A definition from its states; StartAt is the first state unless given."""
    return {"StartAt": start or next(iter(states)), "States": states}


@pytest.fixture
def provider() -> Provider:
    return Provider()
