"""Committing a step (a part of `Executor`, as `StepCommits`; see the module docstring of `executor.py`):
plan the transition, write it in one transaction guarded by the item's lease and the run's version, and
afterwards queue what the transaction leased to this executor and wake whoever has work.

Besides `_commit` (the common case), the commits that call a built-in provider keeping its actions in the
engine's database in their own transaction: `_commit_call` (an action's start or poll), `_start_action_in`
(an iteration that starts at an action, in the transaction that starts it: the Map's step or a `children`
item, resolved by `_with_starter` / `ActionItems._inline_start`). Items a transaction leases to this executor
are queued at once, or held until their due time (`_keep`, `_release_delayed`): an action poll whose due time
is a built-in provider's word for when its action ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import heapq
import logging
from collections.abc import Callable
from typing import Any

from ..language.iterations import StartIterations
from ..language.model import (
    ActionRef,
    ActionStatus,
    Decision,
    StartAction,
)
from ..providers.base import ProviderError
from ..store import children as store_children
from ..store import errors as store_errors
from ..store import kinds
from ..store import work as store
from .action_items import (
    NOT_INLINE,
    Credentials,
    InlineAnswer,
    InlineRelease,
    InlineStart,
    InlineTarget,
    NotInline,
    first_status,
)
from .fanout import NotInlineError, iteration_contexts, iterations_key, merge_decisions
from .redrive import REDRIVE_EVENT
from .steps import (
    SIDE_KINDS,
    Transition,
    action_request_fields,
    commit_plan,
    items_not_kept,
    plan_transition,
)

# the executor's logger: these lines are the executor's
log = logging.getLogger("openflows.engine.executor")

#: an action poll a built-in provider said is due within this many seconds is held by the executor that
#: committed it (leased until its due time plus the lease period), not claimed again (`commit_plan`)
HOLD_SECONDS = 10.0  # seconds


def committed_run(
    run: store.RunForStep, plan: Transition, *, started_at: dt.datetime | None = None
) -> store.RunForStep:
    """`run` as the transaction that committed `plan` for it leaves it (`commit_transition`: version + 1,
    log_seq + the entries): what a read under the lease of its next item finds, unless an API call changed
    it meanwhile, which that item's commit then finds (the run's version)."""
    changes: dict[str, Any] = {
        "status": plan.status,
        "details": plan.details,
        "run_state": plan.run_state,
        "cursor": plan.cursor,
        "version": run.version + 1,
        "log_seq": run.log_seq + len(plan.log),
    }
    if started_at is not None:
        changes["start_time"] = started_at
    return dataclasses.replace(run, **changes)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Prepared:
    """A step's transition, ready to commit (`Executor._prepare`)."""

    plan: Transition
    release: InlineRelease | None
    continue_lease: float | None
    now: dt.datetime
    #: hold an action poll due within this many seconds (`commit_plan`): its due time is a built-in
    #: provider's word for when the action ends
    hold_seconds: float | None = None
    #: the items the transaction leased to this executor for the iterations it started (`_with_starter`)
    kept: list[tuple[store.WorkItem, store.RunForStep | None]] = dataclasses.field(default_factory=list)


class StepCommits:
    """The step-committing methods of `Executor` (see the module docstring)."""

    def _commit(
        self,
        item: store.WorkItem,
        run: store.RunForStep,
        decision: Decision,
        *,
        poll_interval: float | None = None,
        next_change_at: dt.datetime | None = None,
        credentials: Credentials | None = None,
    ) -> Transition | None:
        """Plan and commit; None when the commit lost its lease or the run changed (the decision is
        discarded). `credentials`: who the step's call to the provider acted as; when the decision releases
        an action of a built-in provider, the release is then made in the commit (`_inline_release`)."""
        decision, prepared = self._prepare(
            run,
            decision,
            now=self.clock.now(),
            poll_interval=poll_interval,
            next_change_at=next_change_at,
            credentials=credentials,
        )
        try:
            try:
                follow_up = self.db.transact(self._write, item, run, prepared)
            except (ProviderError, store_errors.UniqueViolation, NotInlineError):
                if not isinstance(prepared.plan.starter, functools.partial):
                    raise
                # an iteration's action could not be started in the transaction: each starts with an item
                plain = dataclasses.replace(prepared.plan, starter=self._start_queued)
                prepared = dataclasses.replace(prepared, plan=plain)
                follow_up = self.db.transact(self._write, item, run, prepared)
        except store_errors.ConcurrentUpdate as exc:
            self._discarded(item, exc)
            return None
        self._keep(prepared.kept)
        self._committed(item, run, decision, prepared, follow_up)
        return prepared.plan

    def _commit_call(
        self,
        item: store.WorkItem,
        run: store.RunForStep,
        call: Callable[[Any, dt.datetime], InlineAnswer | None],
        *,
        poll_interval: float | None = None,
        credentials: Credentials | None = None,
    ) -> Transition | None | NotInline:
        """Call a built-in provider that keeps its actions in this executor's database (`call(conn, now)`:
        `Provider.run_in` or `status_in`, see `_inline_target`) in the transaction that commits the step
        taking its answer: one write transaction instead of two, and the action and the step it belongs to
        commit together or not at all (a discarded step leaves no orphan action to cancel). `NOT_INLINE`
        (nothing written) when the provider cannot answer in the transaction (`call` gives None), refuses
        (`ProviderError`: the call outside, made next, turns the refusal into the usual event), loses a race
        on its own rows, or when the step would start iterations (planned outside any transaction). Else as
        `_commit`."""

        def commit(conn: Any) -> tuple[Decision, _Prepared, store.WorkItem | None]:
            now = self.clock.now()
            answer = call(conn, now)
            if answer is None:
                raise NotInlineError
            decision = self._step(run, ActionStatus(answer.status))
            if isinstance(decision.outcome, StartIterations):
                raise NotInlineError
            decision, prepared = self._prepare(
                run,
                decision,
                now=now,
                poll_interval=poll_interval,
                next_change_at=answer.next_change_at,
                credentials=credentials,
            )
            if answer.next_change_at is not None and prepared.continue_lease is not None:
                hold = min(HOLD_SECONDS, prepared.continue_lease)
                prepared = dataclasses.replace(prepared, hold_seconds=hold)
            return decision, prepared, self._write(conn, item, run, prepared)

        try:
            decision, prepared, follow_up = self.db.transact(commit)
        except store_errors.ConcurrentUpdate as exc:
            self._discarded(item, exc)
            return None
        except (NotInlineError, ProviderError, store_errors.UniqueViolation):
            return NOT_INLINE
        self._committed(item, run, decision, prepared, follow_up)
        return prepared.plan

    def _prepare(
        self,
        run: store.RunForStep,
        decision: Decision,
        *,
        now: dt.datetime,
        poll_interval: float | None,
        next_change_at: dt.datetime | None,
        credentials: Credentials | None,
    ) -> tuple[Decision, _Prepared]:
        """The transition to commit for `decision` (iterations that need no I/O run here, `_fan_out`)."""
        pending = None
        if isinstance(decision.outcome, StartIterations):  # iterations that need no I/O end in this step
            decision, pending, now = self._fan_out(run, decision, now=now)  # (fanout.py)
        plan = plan_transition(
            run,
            decision,
            now=now,
            poll=self.poll,
            poll_interval=poll_interval,
            next_change_at=next_change_at,
        )
        if pending is not None:
            plan = dataclasses.replace(
                plan, iterations=pending.outcome, inline=pending.finished, contexts=pending.contexts
            )
        kept: list[tuple[store.WorkItem, store.RunForStep | None]] = []
        if plan.iterations is not None:  # the first iterations start at their first step (fanout.py)
            plan = self._with_starter(run, plan, now=now, keep=kept)
        if plan.completion_time is not None and self._holds_delegation(run):
            plan = dataclasses.replace(plan, next_items=(*plan.next_items, self._revoke_item(run, now)))
        release = self._inline_release(decision.release_action, credentials)
        if release is not None:  # the plan's ACTION_RELEASE item is enqueued only if the inline release fails
            plan = dataclasses.replace(plan, next_items=release.without_item(plan.next_items))
        # with its threads running, the executor goes on with the run's next step if it is due now (an action
        # to start): leased in the commit's transaction and queued here, with no claim in between
        continue_lease = self._continue_lease()
        prepared = _Prepared(plan=plan, release=release, continue_lease=continue_lease, now=now, kept=kept)
        return decision, prepared

    def _with_starter(
        self,
        run: store.RunForStep,
        plan: Transition,
        *,
        now: dt.datetime,
        keep: list[tuple[store.WorkItem, store.RunForStep | None]],
    ) -> Transition:
        """`plan` (which starts a Map's or Parallel's iterations) with how its transaction starts the first
        ones: at their first step (`_start_queued`) and, when that step starts an action of a built-in
        provider keeping its actions in this database, with that action started in the same transaction
        (`_inline_start`, resolved here from iteration 0 as the transaction will create it); the items the
        transaction leases to this executor for them go to `keep` (`_keep`, after the commit)."""
        outcome = plan.iterations
        assert outcome is not None
        contexts = plan.contexts
        if contexts is None:  # (kept in the plan: the transaction stores the same)
            contexts = iteration_contexts(run, outcome, plan.cursor)
            plan = dataclasses.replace(plan, contexts=contexts)
        inline = None
        if outcome.inputs and 0 not in (plan.inline or {}):
            key = iterations_key(run.id, plan.cursor)
            first = store.RunForStep(
                id=store_children.child_run_id(key, 0),
                flow_id=run.flow_id,
                flow_version=run.flow_version,
                run_owner=run.run_owner,
                status=store_children.QUEUED,
                details=None,
                input=outcome.inputs[0],
                run_state=outcome.inputs[0],
                cursor={"state": None},
                context=contexts[0],
                start_time=now,
                version=0,
                log_seq=0,
                parent_run_id=run.id,
                parent_state=key.state,
                parent_visit=key.visit,
                iteration=0,
            )
            inline = self._inline_start(first)
        if inline is None:
            return dataclasses.replace(plan, starter=self._start_queued)
        starter = functools.partial(self._start_queued, inline=inline, keep=keep, keep_at_most=self.threads)
        return dataclasses.replace(plan, starter=starter)

    def _write(
        self, conn: Any, item: store.WorkItem, run: store.RunForStep, prepared: _Prepared
    ) -> store.WorkItem | None:
        """Commit a prepared transition in `conn`; the follow-up item leased to this executor, if any."""
        prepared.kept.clear()  # (a retried transaction starts again)
        follow_up = commit_plan(
            conn,
            run,
            prepared.plan,
            now=prepared.now,
            item_id=item.id,
            lease_owner=self.owner,
            continue_lease=prepared.continue_lease,
            hold_seconds=prepared.hold_seconds,
        )
        if prepared.release is not None:
            prepared.release.apply(conn, run.id, now=prepared.now)
        return follow_up

    def _discarded(self, item: store.WorkItem, exc: Exception) -> None:
        """The commit found the run changed or the lease lost: the step is discarded."""
        log.info("step discarded: %s", exc, extra=self._extra("discard_step", item))
        # the item is ours still (the run changed under us): give it back so it is re-read at once
        self.db.transact(store.release_lease, item_id=item.id, owner=self.owner)
        self.wake()

    def _committed(
        self,
        item: store.WorkItem,
        run: store.RunForStep,
        decision: Decision,
        prepared: _Prepared,
        follow_up: store.WorkItem | None,
    ) -> None:
        """After a step's commit: log, count, queue the follow-up, wake whoever has work now."""
        plan, now = prepared.plan, prepared.now
        # a run's end is news (INFO); an iteration's is not (DEBUG): a 1,000-item Map would write 1,000 lines,
        # and the log handler's lock then costs more than the iterations' commits
        ended = plan.completion_time is not None and run.parent_run_id is None
        level = logging.INFO if ended else logging.DEBUG
        log.log(
            level,
            "run %s: %s -> %s",
            run.id,
            run.status,
            plan.status,
            extra=self._extra(
                "commit_step",
                item,
                state=decision.cursor.state,
                transitions=decision.transitions,
                status=plan.status,
            ),
        )
        self.metrics.transitions.inc(decision.transitions)
        if run.parent_run_id is None:  # an iteration (a child run) is not a run people count
            event = (item.payload or {}).get("event", "start")
            if item.kind == kinds.STEP and event == "start":
                self.metrics.runs_started.inc()
            elif item.kind == kinds.STEP and event == REDRIVE_EVENT:
                self.metrics.runs_redriven.inc()
            if plan.completion_time is not None:
                self.metrics.runs_finished.inc(status=plan.status)
        if follow_up is not None:
            # a side call needs only who the run acts as: no read (_run_for_side_call); a held poll takes the
            # run as this commit left it (the claim's read of it would be the same, or older)
            if follow_up.kind in SIDE_KINDS:
                kept: store.RunForStep | None = run
            elif follow_up.due_at > now:
                kept = committed_run(run, plan)
            else:
                kept = None
            self._keep([(follow_up, kept)])
        if plan.notice is not None or plan.web_inputs:  # notifications to send: due now
            self.wake()
        elif run.parent_run_id is not None and plan.status == "INACTIVE" and run.status != "INACTIVE":
            self.wake()  # an iteration waits: its top run's notification may be due now (steps.sync_parent)
        if plan.iterations is not None or (
            plan.completion_time is not None and run.parent_run_id is not None
        ):
            self._notify()  # children to start, or a parent to wake (fanout.py)
        others = items_not_kept(plan.next_items, follow_up, now=now)  # the follow-up needs no claim
        if others:
            due = min(next_item.due_at for next_item in others)
            if due <= now:
                self._notify()
            else:  # a Wait, a poll later: no claim now, only a shorter sleep if it is the earliest
                self._nudge(due)
                if self.on_commit is not None:
                    self.on_commit()
        elif plan.next_items and self.on_commit is not None:
            self.on_commit()

    def _commit_first_step(
        self,
        conn: Any,
        run: store.RunForStep,
        decision: Decision,
        *,
        now: dt.datetime,
        lease_seconds: float | None = None,
    ) -> tuple[store.WorkItem, store.RunForStep] | None:
        """Commit an iteration's first step in the transaction that starts it (`IterationItems.
        _start_queued`): the run leaves QUEUED with the step's state and next item, and starts now. With
        `lease_seconds`, its next item, if due now, is leased to this executor and returned with the run as
        the transaction leaves it (`_keep`)."""
        plan = plan_transition(run, decision, now=now, poll=self.poll)
        follow_up = commit_plan(
            conn,
            run,
            plan,
            now=now,
            item_id=None,
            lease_owner=self.owner if lease_seconds is not None else None,
            continue_lease=lease_seconds,
            started_at=now,
        )
        self.metrics.transitions.inc(decision.transitions)
        if follow_up is None:
            return None
        # the run as this transaction leaves it, for the follow-up's handler (as a claim's read would be)
        return follow_up, committed_run(run, plan, started_at=now)

    def _start_action_in(
        self,
        conn: Any,
        run: store.RunForStep,
        decision: Decision,
        inline: InlineStart,
        *,
        now: dt.datetime,
        lease_seconds: float | None = None,
    ) -> tuple[store.WorkItem, store.RunForStep | None] | None:
        """Commit an iteration's first step (which starts `inline`'s action) together with that action's
        start and the step taking its answer, in the transaction that starts the iteration (`IterationItems.
        _start_queued`): no action-start item, claim, read or transaction of its own. Raises
        `ProviderError` (the provider refused), `UniqueViolation` (a race on its rows) or `NotInlineError`
        (the answer's step would start iterations): the caller then starts the batch without this. Returns
        as `_commit_first_step` (a held poll when the action sleeps, `_keep`)."""
        outcome = decision.outcome
        assert isinstance(outcome, StartAction)
        provider, who = inline.target.provider, inline.target.caller
        request = {
            "request_id": outcome.request_id,
            "body": outcome.body,
            **action_request_fields(run, outcome.run_as),
        }
        answer = InlineAnswer.of(provider, first_status(provider.run_in(conn, request, who, now)))
        if answer is None:
            raise NotInlineError
        # the iteration as its first step leaves it: where the action-start item would have found it
        first = dataclasses.replace(
            run,
            status="ACTIVE",
            cursor=decision.cursor.as_dict(),
            run_state=decision.run_state,
            version=run.version + 1,
            log_seq=run.log_seq + len(decision.log),
        )
        then = self._step(first, ActionStatus(answer.status))
        if isinstance(then.outcome, StartIterations):
            raise NotInlineError
        merged = merge_decisions(decision, then)
        plan = plan_transition(run, merged, now=now, poll=self.poll, next_change_at=answer.next_change_at)
        release = self._inline_release(merged.release_action, inline.credentials)
        if release is not None:
            plan = dataclasses.replace(plan, next_items=release.without_item(plan.next_items))
        hold = None
        if lease_seconds is not None and answer.next_change_at is not None:
            hold = min(HOLD_SECONDS, lease_seconds)
        follow_up = commit_plan(
            conn,
            run,
            plan,
            now=now,
            item_id=None,
            lease_owner=self.owner if lease_seconds is not None else None,
            continue_lease=lease_seconds,
            started_at=now,
            hold_seconds=hold,
        )
        if release is not None:
            release.apply(conn, run.id, now=now)
        self.metrics.transitions.inc(merged.transitions)
        return None if follow_up is None else (follow_up, committed_run(run, plan, started_at=now))

    def _continue_lease(self) -> float | None:
        """The lease of a follow-up item a commit takes for this executor's queue (while its threads run)."""
        return self.lease_seconds if self._threads and not self._stop.is_set() else None

    def _keep(self, items: list[tuple[store.WorkItem, store.RunForStep | None]]) -> None:
        """Queue items a committed transaction leased to this executor (no claim needed), each with its run
        as that transaction left it, when the handler may use it instead of reading it (`_load`). An item
        due later (a held action poll, `commit_plan`) waits in `_delayed` until the claim loop queues it at
        its due time (`_release_delayed`)."""
        if not items:
            return
        now = self.clock.now()
        later = []
        for follow_up, run in items:
            if run is not None:
                self._claimed_runs[follow_up.id] = run
            if follow_up.due_at > now:
                later.append(follow_up)
                continue
            with self._in_progress_lock:
                self._held.add(follow_up.id)
            self._queue.put(follow_up)
        if later:
            with self._cond:
                for follow_up in later:
                    heapq.heappush(self._delayed, (follow_up.due_at, follow_up.id, follow_up))
            self._nudge()  # the claim loop's next sleep ends at the earliest (not a claim: they are leased)

    def _release_delayed(self, limit: int) -> tuple[int, dt.datetime | None]:
        """Queue up to `limit` held items that are due now, earliest first; how many, and the earliest due
        time of those still held (None when none is)."""
        now = self.clock.now()
        due: list[store.WorkItem] = []
        with self._cond:
            while self._delayed and self._delayed[0][0] <= now and len(due) < limit:
                due.append(heapq.heappop(self._delayed)[2])
            earliest = self._delayed[0][0] if self._delayed else None
        if due:
            memo: dict[Any, Any] = {}  # queued together: one consent check per scope, as for a claim batch
            with self._in_progress_lock:
                self._held.update(follow_up.id for follow_up in due)
            for follow_up in due:
                self._claim_memos[follow_up.id] = memo
                self._queue.put(follow_up)
        return len(due), earliest

    def _inline_target(self, action_url: str, credentials: Credentials | None) -> InlineTarget | None:
        """The built-in provider of `action_url`, when it keeps its actions in this executor's database, and
        who a call with `credentials` (who the step's call acts as) acts as there: for a call in the
        step's own transaction. None: call it outside, as any provider (or the token is refused there)."""
        if credentials is None:
            return None
        target = self.actions.builtin_caller(action_url, caller=credentials[0], token=credentials[1])
        if target is None or getattr(target[0], "db", None) is not self.db:
            return None
        return InlineTarget(provider=target[0], caller=target[1])

    def _inline_release(self, ref: ActionRef | None, credentials: Credentials | None) -> InlineRelease | None:
        """How to release `ref` (an action the step saw end) in the step's commit (`_inline_target`). None:
        the plan's ACTION_RELEASE item releases it later, as for any provider. Saves a work item and two
        transactions per action (a Map of 1,000 hello_world items)."""
        target = None if ref is None else self._inline_target(ref.action_url, credentials)
        if target is None or ref is None:
            return None
        return InlineRelease(provider=target.provider, caller=target.caller, ref=ref)
