"""Turning a `Decision` of `language.step()` into one committed transition (DESIGN invariant 1).

`plan_transition` is pure: from the run as read, the decision and the poll policy it computes the new run
status and `details`, the log rows and the next work items. `commit_decision` writes that plan with
`store.work.commit_transition` in the caller's write transaction (optimistic `version` check, lease check).

A run has one chain of "main" work items (STEP, ACTION_START, ACTION_POLL, RESUME): every transition deletes
any other main item of the run and inserts exactly one next main item (or none when the run ends or waits for
a resume). Side items (ACTION_CANCEL, ACTION_RELEASE) are independent best-effort calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..language import runlog
from ..language.model import (
    ActionRef,
    AwaitAction,
    Decision,
    Failed,
    LogEntry,
    StartAction,
    Succeeded,
    WaitUntil,
    isoformat,
)
from ..language.redact import redact
from ..store import kinds
from ..store.work import (
    LogRow,
    NewWorkItem,
    RunForStep,
    WorkItem,
    announce_items,
    commit_transition,
    lease_next_item,
)

#: kinds that move a run forward; a run has at most one pending at a time
MAIN_KINDS = (kinds.STEP, kinds.ACTION_START, kinds.ACTION_POLL, kinds.RESUME)
#: best-effort calls about an action, independent of the run's progress
SIDE_KINDS = (kinds.ACTION_CANCEL, kinds.ACTION_RELEASE)


@dataclasses.dataclass(frozen=True, slots=True)
class PollPolicy:
    """Action polling: the first interval, doubling after each poll, capped."""

    initial_seconds: float = 1.0  # seconds
    max_seconds: float = 30.0  # seconds

    def next_interval(self, previous: float | None) -> float:
        if previous is None or previous <= 0:
            return min(self.initial_seconds, self.max_seconds)
        return min(previous * 2, self.max_seconds)


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    """Everything one step writes."""

    status: str
    details: Any
    cursor: dict[str, Any]
    run_state: Any
    completion_time: dt.datetime | None
    log: tuple[LogRow, ...]
    next_items: tuple[NewWorkItem, ...]
    #: the action this step left in flight (for logs)
    action: ActionRef | None = None


def succeeded_details(output: Any) -> dict[str, Any]:
    return {
        "code": "FlowSucceeded",
        "description": "The Flow run reached a successful completion state",
        "output": redact(output),
    }


def failed_details(error: str, cause: Any, state_name: str | None) -> dict[str, Any]:
    where = f" at state {state_name}" if state_name else ""
    return {
        "code": "FlowFailed",
        "description": f"The Flow run failed{where} with error {error}",
        "details": {"error": error, "cause": redact(cause), "state_name": state_name},
    }


def inactive_details(action_details: dict[str, Any], state_name: str) -> dict[str, Any]:
    """A GARE-style run `details` from an INACTIVE action's details (spec §8 "Inactive")."""
    code = action_details.get("code") if isinstance(action_details.get("code"), str) else "ActionInactive"
    description = action_details.get("description")
    if not isinstance(description, str) or not description:
        description = f"The action of state {state_name} is inactive and needs user intervention"
    params = action_details.get("authorization_parameters")
    params = dict(params) if isinstance(params, dict) else {}
    required_scope = action_details.get("required_scope")
    if isinstance(required_scope, str) and required_scope:
        scopes = params.get("required_scopes")
        if not isinstance(scopes, list):
            params["required_scopes"] = [required_scope]
        elif required_scope not in scopes:
            params["required_scopes"] = [*scopes, required_scope]
    params.setdefault("required_scopes", [])
    details: dict[str, Any] = {"code": code, "description": description, "state_name": state_name}
    if isinstance(required_scope, str) and required_scope:
        details["required_scope"] = required_scope
    resolution_url = action_details.get("resolution_url")
    if isinstance(resolution_url, str):
        details["resolution_url"] = resolution_url
    details["authorization_parameters"] = params
    return redact(details)


def log_row(entry: LogEntry) -> LogRow:
    return LogRow(
        time=dt.datetime.fromisoformat(entry.time),
        code=entry.code,
        description=entry.description,
        details=entry.details,
    )


def action_payload(ref: ActionRef) -> dict[str, Any]:
    """The payload of ACTION_CANCEL / ACTION_RELEASE / ACTION_POLL items: the ActionRef fields."""
    return dataclasses.asdict(ref)


def plan_transition(
    run: RunForStep,
    decision: Decision,
    *,
    now: dt.datetime,
    poll: PollPolicy,
    poll_interval: float | None = None,
    next_change_at: dt.datetime | None = None,
) -> Transition:
    """What to write for `decision` taken on `run` at `now`.

    `poll_interval` is the interval that led to this step (None after a start or a resume) and
    `next_change_at` a built-in provider's hint of when the action will change by itself.
    """
    outcome = decision.outcome
    log = [log_row(entry) for entry in decision.log]
    items: list[NewWorkItem] = []
    status = "ACTIVE"
    details: Any = run.details
    completion_time = None
    action = None
    new_version = run.version + 1

    def main_item(kind: str, due: dt.datetime, payload: dict[str, Any]) -> NewWorkItem:
        return NewWorkItem(
            run_id=run.id, kind=kind, due_at=due, payload={**payload, "run_version": new_version}
        )

    if isinstance(outcome, StartAction):
        start = {
            "state": outcome.state,
            "action_url": outcome.action_url,
            "body": outcome.body,
            "request_id": outcome.request_id,
            "run_as": outcome.run_as,
            "scope": outcome.scope,
            "wait_time": outcome.wait_time,
        }
        items.append(main_item(kinds.ACTION_START, now, {"start": start}))
    elif isinstance(outcome, AwaitAction):
        action = outcome.action
        if outcome.inactive is not None:
            status = "INACTIVE"
            details = inactive_details(outcome.inactive, outcome.state)
            if run.status != "INACTIVE":
                log.append(log_row(runlog.flow_inactive(isoformat(now), details)))
        else:
            interval = poll.next_interval(poll_interval)
            due = now + dt.timedelta(seconds=interval)
            if next_change_at is not None:
                # a built-in provider knows when its action changes: poll exactly then (at most the cap away)
                due = min(max(next_change_at, now), now + dt.timedelta(seconds=poll.max_seconds))
            deadline = dt.datetime.fromisoformat(outcome.action.deadline)
            if deadline < due:
                due = max(deadline, now)
            payload = {"action_id": outcome.action.action_id, "interval": interval}
            items.append(main_item(kinds.ACTION_POLL, due, payload))
    elif isinstance(outcome, WaitUntil):
        event = "enter" if outcome.retry else "timer"
        items.append(main_item(kinds.STEP, outcome.due, {"event": event}))
    elif isinstance(outcome, Succeeded):
        status = "SUCCEEDED"
        details = succeeded_details(outcome.output)
        completion_time = now
    elif isinstance(outcome, Failed):
        status = "FAILED"
        details = failed_details(outcome.failure.error, outcome.failure.cause, outcome.state)
        completion_time = now
    else:  # pragma: no cover - Outcome is a closed union
        raise TypeError(f"unknown outcome {outcome!r}")

    if status == "ACTIVE" and (
        run.status == "INACTIVE"
        or (isinstance(run.details, dict) and "authorization_parameters" in run.details)
    ):
        details = {"code": "FlowResumed", "description": "The Flow run was resumed"}
    if decision.cancel_action is not None:
        items.append(
            NewWorkItem(
                run_id=run.id,
                kind=kinds.ACTION_CANCEL,
                due_at=now,
                payload=action_payload(decision.cancel_action),
            )
        )
    if decision.release_action is not None:
        items.append(
            NewWorkItem(
                run_id=run.id,
                kind=kinds.ACTION_RELEASE,
                due_at=now,
                payload=action_payload(decision.release_action),
            )
        )
    return Transition(
        status=status,
        details=details,
        cursor=decision.cursor.as_dict(),
        run_state=decision.run_state,
        completion_time=completion_time,
        log=tuple(log),
        next_items=tuple(items),
        action=action,
    )


def commit_plan(
    conn: sa.Connection,
    run: RunForStep,
    plan: Transition,
    *,
    now: dt.datetime,
    item_id: int | None,
    lease_owner: str | None,
    continue_lease: float | None = None,
) -> WorkItem | None:
    """Write `plan` for `run` in the caller's write transaction.

    With `continue_lease` (seconds), an item of the run that is due now is leased to `lease_owner` in the
    same transaction and returned, so that the executor goes on without a claim transaction: the run's next
    step if it is due now (an action to start, a Retry to enter), else a side call due now (the release of
    the action a finished run used); otherwise None is returned. Raises `store.errors.ConcurrentUpdate` when
    the lease was lost or the run changed since it was read.
    """
    continuing = continue_lease is not None and lease_owner is not None
    commit_transition(
        conn,
        run=run,
        now=now,
        consumed_item_id=item_id,
        lease_owner=lease_owner,
        status=plan.status,
        details=plan.details,
        run_state=plan.run_state,
        cursor=plan.cursor,
        completion_time=plan.completion_time,
        log_entries=plan.log,
        next_items=plan.next_items,
        delete_pending=MAIN_KINDS,
        announce=not continuing,
    )
    if not continuing:
        return None
    assert continue_lease is not None and lease_owner is not None
    due = [item for item in plan.next_items if item.due_at <= now]
    follow_up = None
    if due:
        # the run's next step first; else a side call due now (releasing the action a finished run used)
        wanted = MAIN_KINDS if any(item.kind in MAIN_KINDS for item in due) else SIDE_KINDS
        follow_up = lease_next_item(
            conn, run_id=run.id, kinds_=wanted, owner=lease_owner, now=now, lease_seconds=continue_lease
        )
    # other workers hear only of what this executor did not keep (a NOTIFY for the follow-up would wake
    # every listening worker to an empty claim)
    announce_items(conn, items_not_kept(plan.next_items, follow_up, now=now), now=now)
    return follow_up


def items_not_kept(
    items: Sequence[NewWorkItem], follow_up: WorkItem | None, *, now: dt.datetime
) -> list[NewWorkItem]:
    """`items` (a plan's next items) without the one `commit_plan` leased as the follow-up, if any."""
    rest = list(items)
    if follow_up is not None:
        rest.remove(next(item for item in rest if item.kind == follow_up.kind and item.due_at <= now))
    return rest
