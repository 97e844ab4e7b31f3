"""Run-log entries (spec §9): one constructor per code, with the descriptions and `details` layouts we emit.

Every constructor takes the entry time as an ISO string (`isoformat(now)`) and redacts what it shows:
inputs, outputs and causes go through `redact()` (drops `_private*` keys; `step()` passes a memoising
`redactor=`). `step()` also hides the values
named by an Action's `__Private_Parameters` (`redact_evaluated_parameters`) before logging its input. The run
state itself is never redacted, only what the log shows.

The engine uses `flow_canceled`, `flow_inactive`, `flow_resumed` and `action_provider_retrying`; `step()` uses
the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import Failure, LogEntry
from .redact import redact

#: a function returning the shown (redacted) form of a document
Redactor = Callable[[Any], Any]

FLOW_STARTED = "FlowStarted"
FLOW_SUCCEEDED = "FlowSucceeded"
FLOW_FAILED = "FlowFailed"
FLOW_CANCELED = "FlowCanceled"
FLOW_INACTIVE = "FlowInactive"
FLOW_RESUMED = "FlowResumed"
ACTION_POLLED = "ActionPolled"
ACTION_FAILED = "ActionFailed"
EXCEPTION_CAUGHT = "ExceptionCaught"
ACTION_PROVIDER_RETRYING = "ActionProviderRetrying"

#: codes after which a run has no further entries
TERMINAL_CODES = frozenset({FLOW_SUCCEEDED, FLOW_FAILED, FLOW_CANCELED})


def flow_started(time: str, run_input: Any, *, redactor: Redactor = redact) -> LogEntry:
    return LogEntry(time, FLOW_STARTED, "The Flow Instance started execution", {"input": redactor(run_input)})


def flow_succeeded(time: str, output: Any, *, redactor: Redactor = redact) -> LogEntry:
    return LogEntry(
        time, FLOW_SUCCEEDED, "The Flow Instance completed successfully", {"output": redactor(output)}
    )


def flow_failed(
    time: str, failure: Failure, state_name: str | None, *, redactor: Redactor = redact
) -> LogEntry:
    return LogEntry(
        time,
        FLOW_FAILED,
        f"The Flow Instance failed with error {failure.error}",
        {"error": failure.error, "cause": redactor(failure.cause), "state_name": state_name},
    )


def flow_canceled(time: str) -> LogEntry:
    return LogEntry(time, FLOW_CANCELED, "The Flow Instance was canceled by the user", {})


def flow_inactive(time: str, details: Any) -> LogEntry:
    """The run became INACTIVE: `details` is the reason (an action's INACTIVE details, or a GARE)."""
    return LogEntry(
        time,
        FLOW_INACTIVE,
        "The Flow Instance is inactive and needs user intervention",
        {"details": redact(details)},
    )


def flow_resumed(time: str, details: Any = None) -> LogEntry:
    return LogEntry(
        time,
        FLOW_RESUMED,
        "The Flow Instance was resumed",
        {} if details is None else {"details": redact(details)},
    )


def state_started(
    time: str, state_name: str, state_type: str, state_input: Any, *, redactor: Redactor = redact
) -> LogEntry:
    """`<Type>Started`; for an Action `state_input` is the body (already without private parameters)."""
    return LogEntry(
        time,
        f"{state_type}Started",
        f"State {state_name} of type {state_type} started",
        {"state_name": state_name, "state_type": state_type, "input": redactor(state_input)},
    )


def state_completed(
    time: str, state_name: str, state_type: str, output: Any, *, redactor: Redactor = redact
) -> LogEntry:
    """`<Type>Completed`; for an Action `output` is the action status document (with `state_name`)."""
    return LogEntry(
        time,
        f"{state_type}Completed",
        f"State {state_name} of type {state_type} completed",
        {"state_name": state_name, "state_type": state_type, "output": redactor(output)},
    )


def action_polled(time: str, state_name: str, status: Any, *, redactor: Redactor = redact) -> LogEntry:
    """The action's status changed (logged only on a change, so logs stay bounded while polling)."""
    shown = status.get("status") if isinstance(status, dict) else None
    return LogEntry(
        time,
        ACTION_POLLED,
        f"State {state_name} of type Action polled the action: its status is {shown}",
        {"state_name": state_name, "state_type": "Action", "output": redactor(status)},
    )


def action_failed(time: str, state_name: str, status: Any, *, redactor: Redactor = redact) -> LogEntry:
    """The action reached FAILED and `ExceptionOnActionFailure` is true."""
    return LogEntry(
        time,
        ACTION_FAILED,
        f"State {state_name} of type Action failed: the action reached status FAILED",
        {"state_name": state_name, "state_type": "Action", "output": redactor(status)},
    )


def state_retrying(
    time: str,
    state_name: str,
    state_type: str,
    failure: Failure,
    attempt: int,
    retry_at: str,
    *,
    redactor: Redactor = redact,
) -> LogEntry:
    """`<Type>Retrying`: a Retry rule matched the error; the state is entered again at `retry_at`."""
    return LogEntry(
        time,
        f"{state_type}Retrying",
        f"State {state_name} of type {state_type} failed with {failure.error}; retrying at {retry_at}",
        {
            "state_name": state_name,
            "state_type": state_type,
            "error": failure.error,
            "cause": redactor(failure.cause),
            "attempt": attempt,
            "retry_at": retry_at,
        },
    )


def exception_caught(
    time: str,
    state_name: str,
    state_type: str,
    failure: Failure,
    next_state: str,
    *,
    redactor: Redactor = redact,
) -> LogEntry:
    """A Catch rule handled the error; the run continues at `next_state`."""
    return LogEntry(
        time,
        EXCEPTION_CAUGHT,
        f"State {state_name} of type {state_type} caught error {failure.error}; continuing at {next_state}",
        {
            "state_name": state_name,
            "state_type": state_type,
            "error": failure.error,
            "cause": redactor(failure.cause),
            "next": next_state,
        },
    )


def action_provider_retrying(
    time: str,
    state_name: str,
    *,
    call: str,
    error: dict[str, Any],
    attempt: int | None,
    max_attempts: int | None,
    retry_at: str,
    delay_seconds: float,
) -> LogEntry:
    """The engine could not reach an Action state's provider (a network error, a 5xx or a 429) and tries the
    same call again at `retry_at`. Not a `Retry` rule: the state is not re-entered and no Retry attempt is
    used; the same request (same `request_id`) is sent again. `call` is `start`, `status` or `resume`;
    `attempt` is the next try's number (None for polls, which go on until the action's deadline)."""
    code = str(error.get("code") or "ActionProviderError")
    reason = str(error.get("description") or code)
    again = {"start": "trying again", "status": "polling again", "resume": "resuming again"}.get(
        call, "again"
    )
    count = f" (attempt {attempt} of {max_attempts})" if attempt is not None and max_attempts else ""
    return LogEntry(
        time,
        ACTION_PROVIDER_RETRYING,
        f"State {state_name} of type Action: {reason}; {again} in {delay_seconds:.0f} s{count}",
        {
            "state_name": state_name,
            "state_type": "Action",
            "call": call,
            "error": code,
            "cause": redact(error),
            "attempt": attempt,
            "max_attempts": max_attempts,
            "retry_at": retry_at,
        },
    )
