"""The executor's handlers of the work items that talk to action providers: `action_start`, `action_poll`,
`resume`, and the best-effort `action_cancel` / `action_release` calls.

`ActionItems` is a part of `Executor` (engine/executor.py), kept in its own module for size: it uses the
executor's run loading, stepping and committing (`_load`, `_step`, `_commit`, `_complete`) and its action
client. Each handler calls a provider at most once, outside any transaction, then commits one step guarded
by the item's lease and the run's version.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from ..language.model import (
    ActionRef,
    ActionStatus,
    ActionUnableToRun,
    Cursor,
    Enter,
    Event,
    isoformat,
)
from ..providers.base import Caller
from ..store import kinds
from ..store import work as store
from .actions import ActionClient, CallResult

if TYPE_CHECKING:
    from ..store.db import Database
    from .clock import Clock
    from .metrics import Metrics
    from .steps import PollPolicy

# the executor's logger: these lines are the executor's
log = logging.getLogger("openflows.engine.executor")

#: tries of a failing `/run` (network error, 5xx) before ActionUnableToRun
START_ATTEMPTS = 5  # attempts
#: tries of a best-effort cancel/release before it is dropped
SIDE_CALL_ATTEMPTS = 5  # attempts
#: cap of the back-off between retries of a failing item
RETRY_MAX_SECONDS = 300.0  # seconds


def backoff(attempts: int) -> float:
    """Seconds before the next try of an item that failed `attempts` times: 1, 2, 4 ... capped."""
    return min(2.0 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


class ActionItems:
    """The action-item handlers of `Executor` (see the module docstring)."""

    db: Database
    clock: Clock
    owner: str
    actions: ActionClient
    metrics: Metrics
    poll: PollPolicy

    # Also used, from Executor: _load, _complete, _step, _commit, _notify, _nudge, _extra.

    # -- ACTION_START --------------------------------------------------------------------------------------

    def _caller(self, run: store.RunForStep, run_as: str | None) -> Caller:
        if run_as == "Flow":
            return Caller(identity=f"urn:globus:auth:identity:{run.flow_id}")
        return Caller(identity=run.run_owner)

    def _token(self, run: store.RunForStep, run_as: str | None) -> str | None:
        """A bearer token for an external provider: the role token the run input supplies in `_tokens`."""
        tokens = run.input.get("_tokens") if isinstance(run.input, dict) else None
        if isinstance(tokens, dict) and run_as and isinstance(tokens.get(run_as), str):
            return tokens[run_as]
        return None

    def _do_action_start(self, item: store.WorkItem) -> None:
        run = self._load(item)
        if run is None:
            return
        start = (item.payload or {}).get("start") or {}
        cursor = Cursor.from_dict(run.cursor)
        if cursor.state != start.get("state") or cursor.action is not None:
            self._complete(item)
            return
        request = {"request_id": start["request_id"], "body": start.get("body")}
        extra = self._extra("start_action", item, state=start.get("state"), request_id=start["request_id"])
        log.debug("starting action at %s", start["action_url"], extra=extra)
        result = self.actions.start(
            start["action_url"],
            request,
            caller=self._caller(run, start.get("run_as")),
            token=self._token(run, start.get("run_as")),
        )
        event: Event
        if result.ok:
            event = ActionStatus(result.status or {})
        elif result.outcome == "transient" and item.attempts < START_ATTEMPTS:
            self._retry_later(item, result, "start_action_retry")
            return
        else:
            event = ActionUnableToRun(
                result.error or {"code": "ActionUnableToRun", "description": "unknown error"}
            )
        decision = self._step(run, event)
        plan = self._commit(item, run, decision, next_change_at=result.next_change_at)
        if plan is None and result.ok:
            self._cancel_orphan(run, start, result)

    def _retry_later(self, item: store.WorkItem, result: CallResult, action: str) -> None:
        delay = backoff(item.attempts)
        log.warning(
            "action provider call failed (%s), retrying in %.0f s",
            (result.error or {}).get("description"),
            delay,
            extra=self._extra(action, item),
        )
        due = self.clock.now() + dt.timedelta(seconds=delay)
        self.db.transact(store.release_lease, item_id=item.id, owner=self.owner, due_at=due)
        self._nudge(due)

    def _cancel_orphan(self, run: store.RunForStep, start: dict[str, Any], result: CallResult) -> None:
        """The run changed while its action was being started: if the run has ended, cancel that action."""
        status = result.status or {}
        if status.get("status") not in ("ACTIVE", "INACTIVE"):
            return
        with self.db.read() as conn:
            now_run = store.load_run_for_step(conn, run.id)
        if now_run is None or not now_run.is_terminal:
            return  # gone, or another worker carried on (with the same request_id, hence the same action)
        payload = {
            "action_url": start["action_url"],
            "action_id": str(status.get("action_id")),
            "request_id": start["request_id"],
            "run_as": start.get("run_as") or "User",
            "started_at": isoformat(self.clock.now()),
            "deadline": isoformat(self.clock.now()),
            "last_status": status.get("status"),
        }
        now = self.clock.now()
        self.db.transact(
            store.enqueue_work_item,
            store.NewWorkItem(run_id=run.id, kind=kinds.ACTION_CANCEL, due_at=now, payload=payload),
            now=now,
        )
        self._notify()

    # -- ACTION_POLL and RESUME ------------------------------------------------------------------------------

    def _do_action_poll(self, item: store.WorkItem) -> None:
        run = self._load(item)
        if run is None:
            return
        cursor = Cursor.from_dict(run.cursor)
        payload = item.payload or {}
        ref = cursor.action
        if ref is None or ref.action_id != payload.get("action_id", ref.action_id):
            self._complete(item)
            return
        result = self.actions.status(
            ref.action_url,
            ref.action_id,
            caller=self._caller(run, ref.run_as),
            token=self._token(run, ref.run_as),
        )
        interval = payload.get("interval")
        status = self._status_from(result, ref)
        self.metrics.action_polls.inc(
            provider=_provider_label(ref.action_url),
            result=str((result.status or {}).get("status")) if result.ok else result.outcome,
        )
        if status is None:  # transient failure before the deadline: poll again later
            next_interval = self.poll.next_interval(interval)
            due = self.clock.now() + dt.timedelta(seconds=next_interval)
            deadline = dt.datetime.fromisoformat(ref.deadline)
            if deadline > self.clock.now():
                due = min(due, deadline)
            self.db.transact(
                store.release_lease,
                item_id=item.id,
                owner=self.owner,
                due_at=due,
                payload={**payload, "interval": next_interval},
            )
            self._nudge(due)
            return
        decision = self._step(run, ActionStatus(status))
        self._commit(item, run, decision, poll_interval=interval, next_change_at=result.next_change_at)

    def _status_from(self, result: CallResult, ref: ActionRef) -> dict[str, Any] | None:
        """The status to deliver for a poll: the provider's, a FAILED one when it refused (e.g. 404), the last
        known one when it is unreachable past the deadline (so ActionTimeout fires), or None to retry."""
        if result.ok:
            return result.status
        if result.outcome == "rejected":
            return {
                "action_id": ref.action_id,
                "status": "FAILED",
                "display_status": "FAILED",
                "details": result.error,
            }
        if self.clock.now() >= dt.datetime.fromisoformat(ref.deadline):
            return {"action_id": ref.action_id, "status": ref.last_status, "details": result.error}
        return None

    def _do_resume(self, item: store.WorkItem) -> None:
        run = self._load(item)
        if run is None:
            return
        cursor = Cursor.from_dict(run.cursor)
        ref = cursor.action
        if ref is None:
            if cursor.state is None:
                self._complete(item)
                return
            decision = self._step(run, Enter())
            self._commit(item, run, decision)
            return
        caller, token = self._caller(run, ref.run_as), self._token(run, ref.run_as)
        result = self.actions.resume(ref.action_url, ref.action_id, caller=caller, token=token)
        if result.outcome == "transient" and item.attempts < START_ATTEMPTS:
            self._retry_later(item, result, "resume_action_retry")
            return
        if not result.ok:  # resume unsupported or refused: look at the action as it is
            result = self.actions.status(ref.action_url, ref.action_id, caller=caller, token=token)
        status = self._status_from(result, ref)
        if status is None:
            self._retry_later(item, result, "resume_action_retry")
            return
        decision = self._step(run, ActionStatus(status))
        self._commit(item, run, decision, next_change_at=result.next_change_at)

    # -- ACTION_CANCEL / ACTION_RELEASE ----------------------------------------------------------------------

    def _do_side_call(self, item: store.WorkItem) -> None:
        payload = item.payload or {}
        action_url, action_id = payload.get("action_url"), payload.get("action_id")
        if not action_url or not action_id:
            self._complete(item)
            return
        with self.db.read() as conn:
            run = store.load_run_for_step(conn, item.run_id)
        if run is None:
            self._complete(item)
            return
        run_as = payload.get("run_as")
        call = self.actions.cancel if item.kind == kinds.ACTION_CANCEL else self.actions.release
        result = call(
            action_url, str(action_id), caller=self._caller(run, run_as), token=self._token(run, run_as)
        )
        name = "cancel_action" if item.kind == kinds.ACTION_CANCEL else "release_action"
        if result.outcome == "transient" and item.attempts < SIDE_CALL_ATTEMPTS:
            self._retry_later(item, result, name)
            return
        log.debug(
            "%s of action %s: %s",
            name,
            action_id,
            result.outcome,
            extra=self._extra(name, item, action_id=str(action_id), outcome=result.outcome),
        )
        self._complete(item)


def _provider_label(action_url: str) -> str:
    """A bounded label for an action URL: host and first path segment (no ids, no query)."""
    from urllib.parse import urlsplit

    parts = urlsplit(action_url)
    segment = parts.path.strip("/").split("/", 1)[0]
    return f"{parts.netloc}/{segment}" if segment else parts.netloc or action_url[:64]
