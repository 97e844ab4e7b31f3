"""The executor's handlers of the work items that talk to action providers: `action_start`, `action_poll`,
`resume`, and the best-effort `action_cancel` / `action_release` calls.

`ActionItems` is a part of `Executor` (engine/executor.py), kept in its own module for size: it uses the
executor's run loading, stepping and committing (`_load`, `_step`, `_commit`, `_complete`) and its action
client. Each handler calls a provider at most once, outside any transaction, then commits one step guarded
by the item's lease and the run's version. A built-in provider that keeps its actions in the executor's
database is called in that commit's transaction instead (`Provider.run_in` / `status_in`,
`Executor._commit_call`): not a network call, and the action commits with its step.

Who a call acts as (`_credentials`, issue 14), when the executor has `delegations`:
- `RunAs: "User"` (the default): the run's user, with an access token for the state's scope from the run's
  delegation (`engine.delegation`); `_tokens.User` from the run input when nothing is delegated for that
  scope; a run holding no delegation at all (started before delegation existed) keeps the old rule: built-in
  providers act as the run's owner. When the delegation is gone (consent withdrawn), the run goes INACTIVE at
  that state with a GARE `details` (`ConsentRequired`) instead of calling the provider; resuming it with a
  fresh token obtains the delegation again (api/runs.py) and calls again.
- `RunAs: "Flow"`: the flow's own client identity, with a token issued to it for the state's scope.
- a role name: the token the run input gives in `_tokens.<Role>` (redacted everywhere).
Without `delegations` (engine tests, tools), calls act as the run's owner (or the flow for `RunAs: "Flow"`)
and carry the `_tokens` of the state's role, as before.
`revoke_tokens` items release the delegation of a run that ended (`Delegations.release`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..auth.delegation import ConsentRequired
from ..language import runlog
from ..language.iterations import all_parsed_states
from ..language.model import (
    ActionRef,
    ActionStatus,
    ActionUnableToRun,
    ApiAnswer,
    Cursor,
    Enter,
    Event,
    Start,
    StartAction,
    isoformat,
)
from ..providers.base import Caller, Provider, ProviderError
from ..store import errors as store_errors
from ..store import kinds
from ..store import work as store
from .actions import ActionClient, CallResult
from .definitions import DefinitionUnavailable
from .delegation import NO_DELEGATION
from .fanout import delegating_run
from .registered_apis import CallRequest, RegisteredApiCaller
from .steps import Transition, action_payload, action_request_fields, commit_plan, log_row

if TYPE_CHECKING:
    from ..shared.clock import Clock
    from ..shared.metrics import Metrics
    from ..store.db import Database
    from .delegation import Delegations
    from .provider_scopes import ProviderScopes
    from .steps import PollPolicy

#: what a call to a provider acts with: a trusted caller (no token system) and/or a bearer token
Credentials = tuple[Caller | None, str | None]

# the executor's logger: these lines are the executor's
log = logging.getLogger("openflows.engine.executor")
_UNCHECKED: Any = object()  # a claim batch's memo has no answer for this (run, scope) yet

#: tries of a failing `/run` (network error, 5xx) before ActionUnableToRun
START_ATTEMPTS = 5  # attempts
#: tries of a best-effort cancel/release before it is dropped
SIDE_CALL_ATTEMPTS = 5  # attempts
#: cap of the back-off between retries of a failing item
RETRY_MAX_SECONDS = 300.0  # seconds


def backoff(attempts: int) -> float:
    """Seconds before the next try of an item that failed `attempts` times: 1, 2, 4 ... capped."""
    return min(2.0 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InlineRelease:
    """The release of an action of a built-in provider in the commit of the step that saw it end
    (`Executor._inline_release`): `provider` keeps its actions in the executor's database and `caller` is who
    the step's call acted as there."""

    provider: Provider
    caller: Caller
    ref: ActionRef

    def without_item(self, items: Sequence[store.NewWorkItem]) -> tuple[store.NewWorkItem, ...]:
        """A plan's next items without the ACTION_RELEASE item of this action."""
        payload = action_payload(self.ref)
        return tuple(i for i in items if not (i.kind == kinds.ACTION_RELEASE and i.payload == payload))

    def apply(self, conn: Any, run_id: Any, *, now: dt.datetime) -> None:
        """Release the action in `conn`; if the provider cannot (`release_in` answers None) or refuses
        (`ProviderError`: it raises before writing anything), enqueue the ACTION_RELEASE item instead, so
        the release is tried later as usual."""
        try:
            released = self.provider.release_in(conn, self.ref.action_id, self.caller, now)
        except ProviderError as exc:
            log.info(
                "action %s: released later (%s)",
                self.ref.action_id,
                exc,
                extra={"action": "release_action", "run_id": str(run_id), "action_id": self.ref.action_id},
            )
            released = None
        if released is None:
            item = store.NewWorkItem(
                run_id=run_id, kind=kinds.ACTION_RELEASE, due_at=now, payload=action_payload(self.ref)
            )
            store.enqueue_work_item(conn, item, now=now)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InlineTarget:
    """A built-in provider keeping its actions in the executor's database, and who a call acts as there
    (`Executor._inline_target`): it is called in the transaction of the step that takes its answer."""

    provider: Provider
    caller: Caller


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InlineStart:
    """How a `children` item starts the actions of the iterations it starts, in its own transaction
    (`ActionItems._inline_start`, `Executor._start_action_in`): iterations whose first step starts an action
    at `action_url` from `state` as `run_as` with `scope`, through `target` with `credentials`, resolved
    once for the batch (the iterations of a Map share their user, flow and first state)."""

    state: str
    action_url: str
    run_as: str | None
    scope: str | None
    role_token: str | None
    target: InlineTarget
    credentials: Credentials

    def fits(self, outcome: Any) -> bool:
        """Whether a first step's outcome starts the very action this batch resolved."""
        return (
            isinstance(outcome, StartAction)
            and not outcome.registered_api
            and (outcome.state, outcome.action_url, outcome.run_as, outcome.scope)
            == (self.state, self.action_url, self.run_as, self.scope)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InlineAnswer:
    """A built-in provider's answer in the step's transaction: the action's status and when it will next
    change by itself (`Provider.next_change_at`), if the provider knows."""

    status: dict[str, Any]
    next_change_at: dt.datetime | None = None

    @classmethod
    def of(cls, provider: Provider, status: dict[str, Any] | None) -> InlineAnswer | None:
        if status is None:
            return None
        hint = None
        if status.get("status") in ("ACTIVE", "INACTIVE"):
            hint = provider.next_change_at(str(status.get("action_id", "")))
        return cls(status, hint)


class NotInline(enum.Enum):
    """`Executor._commit_call` wrote nothing: call the provider outside the transaction."""

    NOT_INLINE = "not inline"


NOT_INLINE = NotInline.NOT_INLINE


class ActionItems:
    """The action-item handlers of `Executor` (see the module docstring)."""

    db: Database
    clock: Clock
    owner: str
    actions: ActionClient
    registered_apis: RegisteredApiCaller
    metrics: Metrics
    poll: PollPolicy
    delegations: Delegations | None
    provider_scopes: ProviderScopes | None
    _claim_memos: dict[int, dict[Any, Any]]

    # Also used, from Executor: _load, _run_for_side_call, _complete, _step, _commit, _commit_call,
    # _inline_target, _notify, _nudge, _extra, _definition, wake.

    # -- who a call acts as --------------------------------------------------------------------------------

    def _caller(self, run: store.RunForStep, run_as: str | None) -> Caller:
        if run_as == "Flow":
            return Caller(identity=f"urn:globus:auth:identity:{run.flow_id}")
        return Caller(identity=run.run_owner)

    def _token(self, run: store.RunForStep, run_as: str | None) -> str | None:
        """The role token the run input supplies in `_tokens`."""
        tokens = run.input.get("_tokens") if isinstance(run.input, dict) else None
        if isinstance(tokens, dict) and run_as and isinstance(tokens.get(run_as), str):
            return tokens[run_as]
        return None

    def _scope(self, run: store.RunForStep, state_name: str | None, action_url: str) -> str | None:
        """The scope a call of the state needs (`engine.provider_scopes`)."""
        state = self._definition(run).states.get(state_name or "")
        explicit = getattr(state, "scope", None)
        if self.provider_scopes is not None:
            return self.provider_scopes.scope_of(action_url, explicit)
        provider = self.actions.registry.resolve(action_url)
        return (provider.globus_auth_scope if provider is not None else None) or explicit

    def _credentials(
        self,
        run: store.RunForStep,
        run_as: str | None,
        state_name: str | None,
        action_url: str,
        *,
        verify: bool = True,
        item: store.WorkItem | None = None,
    ) -> Credentials | ConsentRequired:
        """Who a call of the state acts as (see the module docstring); `verify=False` for best-effort calls
        (see `Delegations.token_for`). With the `item` the call is for, the run's consent is checked once per
        claim batch and scope: the batch's items (a Map's items share their top run's delegation) are
        processed together, as one check followed by their calls would be, so they share its answer."""
        run_as = run_as or "User"
        role_token = self._token(run, run_as)
        if self.delegations is None:
            return self._caller(run, run_as), role_token
        if run_as == "Flow":
            scope = self._scope(run, state_name, action_url)
            return None, self.delegations.flow_token(run.flow_id, scope) or role_token
        if run_as != "User":
            return None, role_token
        scope = self._scope(run, state_name, action_url)
        memo = self._claim_memos.get(item.id) if item is not None and verify else None
        key = (delegating_run(run), scope)
        token = memo.get(key, _UNCHECKED) if memo is not None else _UNCHECKED
        if token is _UNCHECKED:
            token = self.delegations.token_for(key[0], run.flow_id, scope, verify=verify)
            if memo is not None:
                memo[key] = token
        if isinstance(token, ConsentRequired):
            return token
        if token is NO_DELEGATION:  # started before delegation existed
            return self._caller(run, run_as), role_token
        return None, token or role_token

    def _inline_start(self, child: store.RunForStep) -> InlineStart | None:
        """When `child` (a QUEUED iteration) starts at an action of a built-in provider that keeps its actions
        in this executor's database: how the iterations of its batch start that action in the transaction
        that starts them (`InlineStart`), with who it acts as resolved here, outside any transaction (the
        consent check reads, a token may be refreshed). None: each starts with an action-start item."""
        try:
            decision = self._step(child, Start(), run_state=child.input)
        except Exception:  # its own first step reports it
            return None
        outcome = decision.outcome
        if not isinstance(outcome, StartAction) or outcome.registered_api:
            return None
        provider = self.actions.registry.resolve(outcome.action_url)
        if provider is None or getattr(provider, "db", None) is not self.db or not starts_in(provider):
            return None
        credentials = self._credentials(child, outcome.run_as, outcome.state, outcome.action_url)
        if isinstance(credentials, ConsentRequired):  # each iteration's own start makes it INACTIVE
            return None
        target = self._inline_target(outcome.action_url, credentials)
        if target is None:
            return None
        return InlineStart(
            state=outcome.state,
            action_url=outcome.action_url,
            run_as=outcome.run_as,
            scope=outcome.scope,
            role_token=self._token(child, outcome.run_as),
            target=target,
            credentials=credentials,
        )

    def _go_inactive(self, item: store.WorkItem, run: store.RunForStep, lost: ConsentRequired) -> None:
        """The run's consent is gone: INACTIVE at its current state, with a GARE `details`, until a resume."""
        now = self.clock.now()
        state = Cursor.from_dict(run.cursor).state or ""
        details = lost.inactive_details(state)
        plan = Transition(
            status="INACTIVE",
            details=details,
            cursor=run.cursor,
            run_state=run.run_state,
            completion_time=None,
            log=(log_row(runlog.flow_inactive(isoformat(now), details)),),
            next_items=(),
        )
        try:
            self.db.transact(
                commit_plan, run, plan, now=now, item_id=item.id, lease_owner=self.owner, continue_lease=None
            )
        except store_errors.ConcurrentUpdate:
            self.db.transact(store.release_lease, item_id=item.id, owner=self.owner)
            self.wake()
            return
        log.info(
            "run %s: consent needed at state %s",
            run.id,
            state,
            extra=self._extra("consent_required", item, status="INACTIVE"),
        )

    def _do_action_start(self, item: store.WorkItem) -> None:
        start = (item.payload or {}).get("start") or {}
        # a call outside (an HTTP provider, a registered API) reads the run afresh first: the claim's read
        # may be older when the item waited in the queue. A built-in provider's start uses the claim's read
        # (a Map of 1,000 hello_world items: one read transaction less per item): if the run changed
        # meanwhile (a cancel), the commit finds it and the action just started is cancelled, in-process
        url = start.get("action_url") or ""
        run = self._load(item, reread=bool(start.get("registered_api")) or not self.actions.is_builtin(url))
        if run is None:
            return
        cursor = Cursor.from_dict(run.cursor)
        if cursor.state != start.get("state") or cursor.action is not None:
            self._complete(item)
            return
        if start.get("registered_api"):
            self._call_registered_api(item, run, start)
            return
        fields = start.get("request_fields")
        if not isinstance(fields, dict):  # an item queued before the fields were kept in the payload
            fields = action_request_fields(run, start.get("run_as"))
        request = {"request_id": start["request_id"], "body": start.get("body"), **fields}
        credentials = self._credentials(
            run, start.get("run_as"), start.get("state"), start["action_url"], item=item
        )
        if isinstance(credentials, ConsentRequired):
            self._go_inactive(item, run, credentials)
            return
        extra = self._extra("start_action", item, state=start.get("state"), request_id=start["request_id"])
        log.debug("starting action at %s", start["action_url"], extra=extra)
        target = self._inline_target(start["action_url"], credentials)
        if target is not None:  # a built-in provider's start, in the transaction of the step it serves
            inline = self._commit_call(
                item,
                run,
                lambda conn, now: InlineAnswer.of(
                    target.provider, first_status(target.provider.run_in(conn, request, target.caller, now))
                ),
                credentials=credentials,
            )
            if inline is not NOT_INLINE:
                return
        caller, token = credentials
        result = self.actions.start(start["action_url"], request, caller=caller, token=token)
        event: Event
        if result.ok:
            event = ActionStatus(result.status or {})
        elif result.outcome == "transient" and item.attempts < START_ATTEMPTS:
            self._retry_later(item, result, "start_action_retry", shown=(run, start.get("state"), "start"))
            return
        else:
            event = ActionUnableToRun(
                result.error or {"code": "ActionUnableToRun", "description": "unknown error"}
            )
        decision = self._step(run, event)
        plan = self._commit(
            item, run, decision, next_change_at=result.next_change_at, credentials=credentials
        )
        if plan is None and result.ok:
            self._cancel_orphan(run, start, result)

    def _call_registered_api(
        self, item: store.WorkItem, run: store.RunForStep, start: dict[str, Any]
    ) -> None:
        """One synchronous registered API call, then one step with its answer. A method that is not
        idempotent is marked as being sent (in the item's payload) before it is sent; an item found so marked
        (its worker died mid-call) is not sent again: the state fails with ActionFailedException."""
        payload = item.payload or {}
        extra = self._extra("call_registered_api", item, state=start.get("state"))
        if payload.get("sent"):
            event: Event = ApiAnswer(
                False,
                error="ActionFailedException",
                cause={
                    "code": "OutcomeUnknown",
                    "description": "The call was being sent when its worker stopped; it is not sent again "
                    "because its method is not idempotent. Check the API, then retry explicitly if needed.",
                },
                retry_safe=False,
            )
        else:

            def mark_sent() -> bool:
                return bool(
                    self.db.transact(
                        store.set_item_payload,
                        item_id=item.id,
                        owner=self.owner,
                        payload={**payload, "sent": True},
                    )
                )

            user_token = self._registered_api_user_token(run, start)
            if isinstance(user_token, ConsentRequired):
                self._go_inactive(item, run, user_token)
                return
            request = CallRequest(
                api_id=str(start["registered_api"]),
                parameters=start.get("body"),
                run_input=run.input,
                run_as=start.get("run_as") or "User",
                wait_time=int(start.get("wait_time") or 300),
                user_token=user_token,
            )
            event = self.registered_apis.call(request, before_send=mark_sent)
            log.info(
                "registered API %s: %s",
                start["registered_api"],
                "succeeded" if event.success else event.error,
                extra={**extra, **{f"call_{k}": v for k, v in event.call.items()}},
            )
        decision = self._step(run, event)
        self._commit(item, run, decision)

    def _registered_api_user_token(
        self, run: store.RunForStep, start: dict[str, Any]
    ) -> str | ConsentRequired | None:
        """For a `RunAs: "User"` call, the token the run's user delegated for the registered API's first
        scope (None when the run holds no delegation or the API has no scope)."""
        if self.delegations is None or (start.get("run_as") or "User") != "User":
            return None
        api = self.registered_apis.load(str(start["registered_api"]))
        scopes = api.get("scopes") if isinstance(api, dict) else None
        if not scopes:
            return None
        token = self.delegations.token_for(delegating_run(run), run.flow_id, str(scopes[0]))
        if isinstance(token, ConsentRequired | str):
            return token
        return None

    def _retry_later(
        self,
        item: store.WorkItem,
        result: CallResult,
        action: str,
        *,
        shown: tuple[store.RunForStep, str | None, str] | None = None,
    ) -> None:
        """Give the item back, due after the back-off. `shown` = (run, state name, call) also logs an
        `ActionProviderRetrying` entry in the run's log, so people watching the run see the retry."""
        delay = backoff(item.attempts)
        log.warning(
            "action provider call failed (%s), retrying in %.0f s",
            (result.error or {}).get("description"),
            delay,
            extra=self._extra(action, item),
        )
        due = self.clock.now() + dt.timedelta(seconds=delay)
        if shown is None or not shown[1] or not self._log_retry(item, result, due, delay, *shown):
            self.db.transact(store.release_lease, item_id=item.id, owner=self.owner, due_at=due)
        self._nudge(due)

    def _log_retry(
        self,
        item: store.WorkItem,
        result: CallResult,
        due: dt.datetime,
        delay: float,
        run: store.RunForStep,
        state_name: str | None,
        call: str,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """In one transaction: append `ActionProviderRetrying` to the run's log (guarded by the run's
        version, like a step) and give the item back due at `due` (with `payload` when given). False when the
        run changed meanwhile or the lease was lost (the caller then only gives the item back)."""
        now = self.clock.now()
        entry = runlog.action_provider_retrying(
            isoformat(now),
            str(state_name),
            call=call,
            error=result.error or {"code": "ActionProviderError", "description": "unknown error"},
            attempt=item.attempts + 1 if call != "status" else None,
            max_attempts=START_ATTEMPTS if call != "status" else None,
            retry_at=isoformat(due),
            delay_seconds=delay,
        )
        release: dict[str, Any] = {"due_at": due} if payload is None else {"due_at": due, "payload": payload}

        def commit(conn: Any) -> None:
            store.commit_transition(conn, run=run, now=now, log_entries=[log_row(entry)])
            if not store.release_lease(conn, item_id=item.id, owner=self.owner, **release):
                raise store_errors.ConcurrentUpdate(f"work item {item.id} is no longer leased")

        try:
            self.db.transact(commit)
        except store_errors.ConcurrentUpdate:
            return False
        return True

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
        credentials = self._credentials(run, ref.run_as, cursor.state, ref.action_url, item=item)
        if isinstance(credentials, ConsentRequired):
            self._go_inactive(item, run, credentials)
            return
        interval = payload.get("interval")
        target = self._inline_target(ref.action_url, credentials)
        if target is not None:  # a built-in provider's status, in the transaction of the step it serves
            seen: list[str] = []  # the status of the transaction's last attempt

            def status_in(conn: Any, now: dt.datetime) -> InlineAnswer | None:
                answer = InlineAnswer.of(
                    target.provider, target.provider.status_in(conn, ref.action_id, target.caller, now)
                )
                seen[:] = [] if answer is None else [str(answer.status.get("status"))]
                return answer

            inline = self._commit_call(item, run, status_in, poll_interval=interval, credentials=credentials)
            if inline is not NOT_INLINE:
                self._count_poll(ref, seen[0])
                return
        caller, token = credentials
        result = self.actions.status(ref.action_url, ref.action_id, caller=caller, token=token)
        status = self._status_from(result, ref)
        self._count_poll(ref, str((result.status or {}).get("status")) if result.ok else result.outcome)
        if status is None:  # transient failure before the deadline: poll again later
            next_interval = self.poll.next_interval(interval)
            due = self.clock.now() + dt.timedelta(seconds=next_interval)
            deadline = dt.datetime.fromisoformat(ref.deadline)
            if deadline > self.clock.now():
                due = min(due, deadline)
            # the first failed poll of a series is logged (the run log shows changes, not every poll)
            new_payload = {**payload, "interval": next_interval, "unreachable": True}
            delay = (due - self.clock.now()).total_seconds()
            logged = not payload.get("unreachable") and self._log_retry(
                item, result, due, delay, run, cursor.state, "status", payload=new_payload
            )
            if not logged:
                self.db.transact(
                    store.release_lease, item_id=item.id, owner=self.owner, due_at=due, payload=new_payload
                )
            self._nudge(due)
            return
        decision = self._step(run, ActionStatus(status))
        self._commit(
            item,
            run,
            decision,
            poll_interval=interval,
            next_change_at=result.next_change_at,
            credentials=credentials,
        )

    def _count_poll(self, ref: ActionRef, result: str) -> None:
        self.metrics.action_polls.inc(provider=_provider_label(ref.action_url), result=result)

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
        credentials = self._credentials(run, ref.run_as, cursor.state, ref.action_url)
        if isinstance(credentials, ConsentRequired):
            self._go_inactive(item, run, credentials)
            return
        caller, token = credentials
        result = self.actions.resume(ref.action_url, ref.action_id, caller=caller, token=token)
        if result.outcome == "transient" and item.attempts < START_ATTEMPTS:
            self._retry_later(item, result, "resume_action_retry", shown=(run, cursor.state, "resume"))
            return
        if not result.ok:  # resume unsupported or refused: look at the action as it is
            result = self.actions.status(ref.action_url, ref.action_id, caller=caller, token=token)
        status = self._status_from(result, ref)
        if status is None:
            self._retry_later(item, result, "resume_action_retry")
            return
        decision = self._step(run, ActionStatus(status))
        self._commit(item, run, decision, next_change_at=result.next_change_at, credentials=credentials)

    # -- ACTION_CANCEL / ACTION_RELEASE ----------------------------------------------------------------------

    def _do_side_call(self, item: store.WorkItem) -> None:
        payload = item.payload or {}
        action_url, action_id = payload.get("action_url"), payload.get("action_id")
        if not action_url or not action_id:
            self._complete(item)
            return
        run = self._run_for_side_call(item)
        if run is None:
            self._complete(item)
            return
        run_as = payload.get("run_as")
        credentials = self._credentials(
            run, run_as, Cursor.from_dict(run.cursor).state, str(action_url), verify=False
        )
        if isinstance(credentials, ConsentRequired):  # best effort: call without the user's token
            credentials = (None, None)
        caller, token = credentials
        call = self.actions.cancel if item.kind == kinds.ACTION_CANCEL else self.actions.release
        result = call(action_url, str(action_id), caller=caller, token=token)
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

    # -- REVOKE_TOKENS ---------------------------------------------------------------------------------------

    def _holds_delegation(self, run: store.RunForStep) -> bool:
        """Whether the run may hold delegated tokens: its definition has a `RunAs: "User"` Action state (a
        run of a definition without one never obtains any, so its end costs nothing more)."""
        if self.delegations is None:
            return False
        try:
            definition = self._definition(run)
        except DefinitionUnavailable:  # its end is what matters: give back whatever it may hold
            return True
        if run.parent_run_id is not None:  # an iteration uses its root run's tokens (fanout.py)
            return False
        return any(
            getattr(state, "type_name", None) == "Action" and getattr(state, "run_as", None) == "User"
            for state in all_parsed_states(definition)
        )

    @staticmethod
    def _revoke_item(run: store.RunForStep, now: dt.datetime) -> store.NewWorkItem:
        return store.NewWorkItem(run_id=run.id, kind=kinds.REVOKE_TOKENS, due_at=now, payload=None)

    def _do_revoke_tokens(self, item: store.WorkItem) -> None:
        """A run ended: give back the tokens it held for its user, after its last calls to providers (a
        failure is retried with back-off by `Executor._on_unexpected`)."""
        if self.delegations is None:
            self._complete(item)
            return
        with self.db.read() as conn:
            pending = store.has_pending_side_call(conn, item.run_id)
        if pending and item.attempts < SIDE_CALL_ATTEMPTS:  # they still need the user's token
            due = self.clock.now() + dt.timedelta(seconds=1)
            self.db.transact(store.release_lease, item_id=item.id, owner=self.owner, due_at=due)
            self._nudge(due)
            return
        self.delegations.release(
            item.run_id,
            finish=lambda conn: store.complete_work_item(conn, item_id=item.id, owner=self.owner),
        )


def starts_in(provider: Provider) -> bool:
    """Whether `provider` can start an action in the caller's transaction (`Provider.run_in`)."""
    return type(provider).run_in is not Provider.run_in


def first_status(answer: tuple[dict[str, Any], bool] | None) -> dict[str, Any] | None:
    """The status document of `Provider.run_in`'s answer (status document, created), or None."""
    return None if answer is None else answer[0]


def _provider_label(action_url: str) -> str:
    """A bounded label for an action URL: host and first path segment (no ids, no query)."""
    from urllib.parse import urlsplit

    parts = urlsplit(action_url)
    segment = parts.path.strip("/").split("/", 1)[0]
    return f"{parts.netloc}/{segment}" if segment else parts.netloc or action_url[:64]
