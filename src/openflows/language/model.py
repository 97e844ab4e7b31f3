"""Plain data shared by the language library and its callers (the engine, the API).

Everything here is immutable, JSON-friendly, and free of I/O. Time comes in as arguments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

JSON = Any  # a JSON value: dict, list, str, int, float, bool or None


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: `loc` is a path into the validated document, e.g. ("States", "A", "Next")."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_dict(self, prefix: tuple[str | int, ...] = ()) -> dict[str, Any]:
        return {"loc": [*prefix, *self.loc], "msg": self.msg, "type": self.type}


@dataclass(frozen=True, slots=True)
class Failure:
    """A run-time error with a Flows/ASL name (`States.Runtime`, `ActionFailedException`, ...) and a cause."""

    error: str
    cause: Any


@dataclass(frozen=True, slots=True)
class Limits:
    """Configurable caps. Defaults follow DESIGN.md and spec/flows-language.md §2."""

    max_definition_bytes: int = 1024 * 1024
    max_state_name_length: int = 128
    max_states: int = 1000
    max_run_state_bytes: int = 256 * 1024
    max_expression_length: int = 4096
    max_input_schema_bytes: int = 256 * 1024
    max_input_schema_depth: int = 64
    #: consecutive no-I/O states one step may chain before it yields back to the engine
    max_chain: int = 1000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class RunContext:
    """The read-only `$._context` view of a run (spec §1)."""

    flow_id: str
    run_id: str
    username: str = ""
    email: str | None = None
    user_id: str = ""  # urn:globus:auth:identity:<uuid>
    identities: tuple[str, ...] = ()
    token_info: dict[str, Any] = field(default_factory=dict)
    #: not part of `$._context`: the flow's title and the run's label, which a web input document shows
    flow_title: str = ""
    run_label: str | None = None
    #: inside a Map or Parallel iteration: `{"map_item": {"index", "value"}}` or `{"parallel_branch": i}`
    #: (iterations.iteration_context), added to `$._context`
    iteration: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.iteration,
            "flow_id": self.flow_id,
            "run_id": self.run_id,
            "action_id": self.run_id,  # legacy alias used by older flows
            "username": self.username,
            "email": self.email,
            "user_id": self.user_id,
            "identities": list(self.identities),
            "token_info": dict(self.token_info),
        }


def isoformat(t: dt.datetime) -> str:
    """UTC ISO 8601 with `+00:00` (DESIGN invariant 7)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A run-log entry (spec §9): `{time, code, description, details}`."""

    time: str
    code: str
    description: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "code": self.code,
            "description": self.description,
            "details": self.details,
        }


# ----------------------------------------------------------------------------------------------------
# Where a run is. The engine persists a Cursor (as_dict/from_dict) in the run row between steps.


@dataclass(frozen=True, slots=True)
class ActionRef:
    """An action started by an Action state: enough to poll, cancel, resume or release it."""

    action_url: str
    action_id: str
    request_id: str
    started_at: str  # ISO time the action was started (for WaitTime)
    deadline: str  # ISO time after which ActionTimeout is raised (started_at + WaitTime)
    run_as: str = "User"
    last_status: str = "ACTIVE"  # last status seen (ACTIVE or INACTIVE)


@dataclass(frozen=True, slots=True)
class WebInputWait:
    """The web input an AwaitWebInput state waits for, and until when (None: no WaitTime)."""

    id: str
    deadline: str | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position of a run: its current state, the attempt number within that state, and any action.

    The deterministic AP `request_id` names one try of one visit of an Action state (DESIGN invariant 2):
    `<run_id>/<state>/<visit>/<attempt>`.
    - `visits` is a per-run counter of the Action-state visits begun so far; it only grows (it is kept in
      every cursor, terminal ones included), so a loop that enters a state again gets a new visit number.
    - `visit` is the number of the current Action state's visit, once it has been entered (None before, and
      in cursors stored before visits were counted: such a cursor names its action `<run_id>/<state>/
      <attempt>`, the format it was started with, so runs in flight across an upgrade keep their action).
    - `attempt` counts every try of the current visit (first try = 0); `retries` counts attempts per Retry
      rule index.
    - `web_input` is the web input an AwaitWebInput state waits for (the run's `blocking_web_input_id`).
    """

    state: str | None
    attempt: int = 0
    retries: tuple[int, ...] = ()
    action: ActionRef | None = None
    visit: int | None = None
    visits: int = 0
    web_input: WebInputWait | None = None

    @property
    def request_id_suffix(self) -> str:
        """`<visit>/<attempt>` (or `<attempt>` for a cursor from before visits were counted)."""
        if self.visit is None:
            return str(self.attempt)
        return f"{self.visit}/{self.attempt}"

    def as_dict(self) -> dict[str, Any]:
        """The stored form (what `dataclasses.asdict` gives, written out: it is called once per step and per
        inline iteration, and `asdict`'s recursion cost more than the rest of a Pass state's step)."""
        action, web_input = self.action, self.web_input
        return {
            "state": self.state,
            "attempt": self.attempt,
            "retries": tuple(self.retries),
            "action": None if action is None else dataclasses.asdict(action),
            "visit": self.visit,
            "visits": self.visits,
            "web_input": None if web_input is None else dataclasses.asdict(web_input),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cursor:
        action = d.get("action")
        return cls(
            state=d.get("state"),
            attempt=int(d.get("attempt", 0)),
            retries=tuple(d.get("retries", ())),
            action=ActionRef(**action) if action else None,
            visit=None if d.get("visit") is None else int(d["visit"]),
            visits=int(d.get("visits") or 0),
            web_input=WebInputWait(**d["web_input"]) if d.get("web_input") else None,
        )


# ----------------------------------------------------------------------------------------------------
# Events: what happened, delivered to step().


@dataclass(frozen=True, slots=True)
class Start:
    """Begin a run: the run state is the run input; log FlowStarted and enter StartAt."""


@dataclass(frozen=True, slots=True)
class Enter:
    """(Re-)enter the cursor's state: after a Retry back-off elapsed, or when an INACTIVE run is resumed
    before its action existed."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The due time of a Wait state (WaitUntil) has been reached."""


@dataclass(frozen=True, slots=True)
class ActionStatus:
    """An action status document arrived, from `POST /run` or a status poll (`GET /{id}/status`)."""

    status: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ActionUnableToRun:
    """`POST /run` failed and no action exists: `error` is the provider's error body (or a synthesised
    `{"code", "description"}` for network failures)."""

    error: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """The outcome of a registered API call (issue 15), made synchronously by the engine.

    `success`: `result` is written at ResultPath. Otherwise `error` (`ActionUnableToRun`,
    `ActionFailedException`, `ActionTimeout`) with `cause`. `call` is what the run log shows (method, URL
    with secrets redacted, status, duration). `retry_safe` is False when the call used a method that is not
    idempotent and may have reached the API: then only a Retry naming the error itself (not `States.ALL`)
    calls again."""

    success: bool
    result: Any = None
    error: str = ""
    cause: Any = None
    call: dict[str, Any] = field(default_factory=dict)
    retry_safe: bool = True


@dataclass(frozen=True, slots=True)
class WebInputAnswered:
    """The web input the AwaitWebInput state at the cursor waits for was answered: `response` is what the
    state writes at its ResultPath (`webinputs.response_document`)."""

    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WebInputUnavailable:
    """The awaited web input will never be answered: it stayed open past the state's WaitTime
    (`WebInputTimeout`), does not exist for this run (`WebInputNotFound`) or was closed unanswered
    (`WebInputClosed`). The state fails with `error` (Catch applies)."""

    error: str
    cause: str


Event = (
    Start
    | Enter
    | TimerFired
    | ActionStatus
    | ActionUnableToRun
    | ApiAnswer
    | WebInputAnswered
    | WebInputUnavailable
)


# ----------------------------------------------------------------------------------------------------
# Outcomes: what the engine must do next. Exactly one per Decision.


@dataclass(frozen=True, slots=True)
class StartAction:
    """Call `POST {action_url}/run` with `{"request_id", "body", "label"?}`; deliver the answer as
    `ActionStatus` or `ActionUnableToRun`. `request_id` is deterministic."""

    state: str
    action_url: str
    body: Any
    request_id: str
    run_as: str
    scope: str | None
    wait_time: int  # seconds
    #: a RegisteredAPI handler's id: the engine calls that registered API instead of an action provider
    registered_api: str | None = None


@dataclass(frozen=True, slots=True)
class AwaitAction:
    """The action is still ACTIVE or INACTIVE: poll it later (the engine chooses the interval) and deliver
    the status as `ActionStatus`. `inactive` holds the action's details when it is INACTIVE; the engine
    then makes the run INACTIVE until it is resumed."""

    state: str
    action: ActionRef
    inactive: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class WaitUntil:
    """Sleep until `due` (UTC) and then deliver `TimerFired` (Wait state) or `Enter` (retry back-off,
    `retry=True`)."""

    state: str
    due: dt.datetime
    retry: bool = False


@dataclass(frozen=True, slots=True)
class WaitForWebInput:
    """The run waits for an answer to web input `web_input_id` (an AwaitWebInput state); deliver
    `WebInputAnswered` once it is answered, or `WebInputUnavailable` (at `deadline` at the latest, when the
    state has a WaitTime)."""

    state: str
    web_input_id: str
    deadline: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The run reached a terminal success: `output` is the final run state."""

    output: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """The run failed with an uncaught error at `state`."""

    failure: Failure
    state: str | None


Outcome = StartAction | AwaitAction | WaitUntil | WaitForWebInput | Succeeded | Failed


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of one step: the new cursor and run state, the log entries to append, what to do next, and
    best-effort side effects on an action that this step finished with."""

    cursor: Cursor
    run_state: Any
    log: tuple[LogEntry, ...]
    outcome: Outcome
    #: states entered in this step (for metrics)
    transitions: int = 0
    #: an action this step is done with: the engine releases it (best effort, outside the transaction)
    release_action: ActionRef | None = None
    #: an action to cancel (best effort), e.g. after ActionTimeout
    cancel_action: ActionRef | None = None
    #: (state name, web input document) of each web input the CreateWebInput states of this step opened:
    #: the engine stores them in the step's transaction
    web_inputs: tuple[tuple[str, dict[str, Any]], ...] = ()
