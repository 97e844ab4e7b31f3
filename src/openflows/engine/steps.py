"""Turning a `Decision` of `language.step()` into one committed transition (DESIGN invariant 1).

`plan_transition` is pure: from the run as read, the decision and the poll policy it computes the new run
status and `details`, the log rows and the next work items. `commit_decision` writes that plan with
`store.work.commit_transition` in the caller's write transaction (optimistic `version` check, lease check).

A run has one chain of "main" work items (STEP, ACTION_START, ACTION_POLL, RESUME, WEB_INPUT): every
transition deletes any other main item of the run and inserts exactly one next main item (or none when the run
ends or waits for a resume). Side items (ACTION_CANCEL, ACTION_RELEASE) are independent best-effort calls.

What a transition causes besides the run row commits with it: the web inputs its CreateWebInput states opened
(and a notification for each respondent), the closing of the run's open web inputs when it ends, the
activity notification its status change causes under the run's policy (`store.notifications`; a run's
iterations notify no one), and, for an iteration entering or leaving INACTIVE, the status of the runs above
it (`store.children.sync_ancestors`: they wait INACTIVE while it does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..language import runlog
from ..language.iterations import StartIterations
from ..language.model import (
    ActionRef,
    AwaitAction,
    Decision,
    Failed,
    LogEntry,
    StartAction,
    Succeeded,
    WaitForWebInput,
    WaitUntil,
    isoformat,
)
from ..store import children as store_children
from ..store import kinds
from ..store import notifications as store_notifications
from ..store import web_inputs as store_web_inputs
from ..store.notifications import NewNotification, activity_notice, enqueue_notifications
from ..store.work import (
    LogRow,
    NewWorkItem,
    RunForStep,
    WorkItem,
    announce_items,
    commit_transition,
    lease_next_item,
)
from . import fanout
from .run_details import failed_details, inactive_details, succeeded_details

#: kinds that move a run forward; a run has at most one pending at a time
MAIN_KINDS = (
    kinds.STEP,
    kinds.ACTION_START,
    kinds.ACTION_POLL,
    kinds.RESUME,
    kinds.WEB_INPUT,
    kinds.CHILDREN,
)
#: best-effort calls about an action, and giving back an ended run's tokens: independent of the run's progress
SIDE_KINDS = (kinds.ACTION_CANCEL, kinds.ACTION_RELEASE, kinds.REVOKE_TOKENS)
#: longest `label` of an action request (spec/flows-language.md §11); a longer run label is cut
MAX_ACTION_LABEL = 64  # characters


def action_request_fields(run: RunForStep, run_as: str | None) -> dict[str, Any]:
    """The run's `label`, `monitor_by` and `manage_by` as an action request carries them (spec §11).

    `monitor_by` is the run's monitors and `manage_by` its managers, so whoever may watch or manage the run
    may do the same with its actions at the provider. The interface counts the identity that starts an action
    (for `RunAs: User`, the run's owner) among both implicitly; when a state runs as another identity
    (`RunAs: Flow` or a role), the owner is added to `manage_by` so they keep that access. A run without a
    label sends none (the interface wants 1 to 64 characters); a longer one is cut to 64.
    """
    fields: dict[str, Any] = {}
    label = (run.label or "")[:MAX_ACTION_LABEL]
    if label:
        fields["label"] = label
    managers = list(dict.fromkeys(run.run_managers))
    if (run_as or "User") != "User" and run.run_owner not in managers:
        managers.append(run.run_owner)
    fields["monitor_by"] = list(dict.fromkeys(run.run_monitors))
    fields["manage_by"] = managers
    return fields


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
    #: (state name, document) of the web inputs the step opened
    web_inputs: tuple[tuple[str | None, dict[str, Any]], ...] = ()
    #: the activity notification the status change causes (None: none)
    notice: NewNotification | None = None
    #: the iterations of a Map or Parallel state to create as child runs (engine/fanout.py), and those that
    #: ran to their end in this step (index -> ended row)
    iterations: StartIterations | None = None
    inline: dict[int, dict[str, Any]] | None = None
    #: the `$._context`s of the children of `iterations`, when already computed
    contexts: Any = None
    #: how the executor starts the children of `iterations` at their first step (`fanout.Starter`)
    starter: Any = None


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


def status_notice(run: RunForStep, status: str, details: Any, *, now: dt.datetime) -> NewNotification | None:
    """The activity notification of `run` entering `status` (None if its policy does not ask for one, and
    for an iteration: the run it belongs to tells its user, `sync_parent`)."""
    if run.parent_run_id is not None:
        return None
    return activity_notice(
        run_id=run.id,
        run_owner=run.run_owner,
        policy=run.activity_notification_policy,
        old_status=run.status,
        new_status=status,
        new_version=run.version + 1,
        details=details,
        flow_id=run.flow_id,
        flow_title=str(run.context.get("flow_title") or ""),
        run_label=run.label,
        time=now,
    )


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
    iterations = None
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
            "registered_api": outcome.registered_api,
            # fixed when the action is decided, so a replayed start sends the very same request
            "request_fields": action_request_fields(run, outcome.run_as),
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
    elif isinstance(outcome, WaitForWebInput):
        # due now: its handler looks at the web input (it may have been answered already) and, if it is
        # still open, puts the item back until the deadline; an answer makes it due again at once
        deadline = isoformat(outcome.deadline) if outcome.deadline is not None else None
        payload = {"web_input_id": outcome.web_input_id, "deadline": deadline}
        items.append(main_item(kinds.WEB_INPUT, now, payload))
    elif isinstance(outcome, Succeeded):
        status = "SUCCEEDED"
        details = succeeded_details(outcome.output)
        completion_time = now
    elif isinstance(outcome, Failed):
        status = "FAILED"
        details = failed_details(outcome.failure.error, outcome.failure.cause, outcome.state)
        completion_time = now
    elif isinstance(outcome, StartIterations):
        iterations = outcome  # the parent waits for its children: no main item (engine/fanout.py)
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
        web_inputs=decision.web_inputs,
        notice=status_notice(run, status, details, now=now),
        iterations=iterations,
    )


def sync_parent(conn: sa.Connection, run: RunForStep, status: str, *, now: dt.datetime) -> None:
    """In the transaction that moves the iteration `run` (as read) to `status`: when it enters, leaves or
    stays INACTIVE, bring the runs above it in line (`store.children.sync_ancestors`)."""
    if run.parent_run_id is not None and "INACTIVE" in (run.status, status):
        store_children.sync_ancestors(conn, run.parent_run_id, now=now)


def commit_side_effects(
    conn: sa.Connection,
    run: RunForStep,
    *,
    now: dt.datetime,
    web_inputs: Sequence[tuple[str | None, dict[str, Any]]] = (),
    notice: NewNotification | None = None,
    ended: bool = False,
) -> int:
    """Write, in the transaction of a run's transition, the web inputs it opened (with a notification for
    each respondent), the closing of its open web inputs when it `ended`, and its activity notification.
    Returns how many notifications were enqueued."""
    notices: list[NewNotification] = []
    for state_name, document in web_inputs:
        if store_web_inputs.open_web_input(
            conn,
            document,
            run_id=run.id,
            flow_id=run.flow_id,
            source="state",
            state_name=state_name,
            now=now,
        ):
            notices += store_notifications.web_input_notices(conn, document, run_id=run.id)
    if ended:
        store_web_inputs.close_run_web_inputs(conn, run.id, now=now)
    if notice is not None:
        notices.append(notice)
    return len(enqueue_notifications(conn, notices, now=now))


def commit_plan(
    conn: sa.Connection,
    run: RunForStep,
    plan: Transition,
    *,
    now: dt.datetime,
    item_id: int | None,
    lease_owner: str | None,
    continue_lease: float | None = None,
    started_at: dt.datetime | None = None,
    hold_seconds: float | None = None,
) -> WorkItem | None:
    """Write `plan` for `run` in the caller's write transaction (`started_at`: the run's start time to set,
    for a queued iteration started at its first step).

    With `continue_lease` (seconds), an item of the run that is due now is leased to `lease_owner` in the
    same transaction and returned, so that the executor goes on without a claim transaction: the run's next
    step if it is due now (an action to start, a Retry to enter), else a side call due now (the release of
    the action a finished run used); otherwise None is returned. With `hold_seconds` too, an action poll due
    within that many seconds (when a built-in provider said its action ends) is leased until its due time
    plus `continue_lease` and returned, for the executor to hold until then (`Executor._keep`). Raises
    `store.errors.ConcurrentUpdate` when the lease was lost or the run changed since it was read.
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
        delete_pending=() if started_at is not None else MAIN_KINDS,  # a queued iteration has no items
        announce=not continuing,
        start_time=started_at,
    )
    commit_side_effects(
        conn,
        run,
        now=now,
        web_inputs=plan.web_inputs,
        notice=plan.notice,
        ended=plan.completion_time is not None,
    )
    sync_parent(conn, run, plan.status, now=now)
    if plan.iterations is not None:
        fanout.create_iterations(
            conn,
            run,
            plan.iterations,
            plan.cursor,
            now=now,
            finished=plan.inline,
            contexts=plan.contexts,
            starter=plan.starter,
        )
    if plan.completion_time is not None:
        fanout.notify_parent(conn, run, now=now)
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
    elif hold_seconds is not None:
        soon = [
            item.due_at
            for item in plan.next_items
            if item.kind == kinds.ACTION_POLL and item.due_at <= now + dt.timedelta(seconds=hold_seconds)
        ]
        if soon:  # leased as of its due time: no other worker takes it before its lease ends
            follow_up = lease_next_item(
                conn,
                run_id=run.id,
                kinds_=(kinds.ACTION_POLL,),
                owner=lease_owner,
                now=min(soon),
                lease_seconds=continue_lease,
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
        latest = max(now, follow_up.due_at)
        rest.remove(next(item for item in rest if item.kind == follow_up.kind and item.due_at <= latest))
    return rest
