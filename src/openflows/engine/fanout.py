"""Map and Parallel in the durable engine: each iteration is a child run (store/children.py).

- A parent step whose decision is `StartIterations` creates the children in its own transaction
  (`create_iterations`, called by `steps.commit_plan`): the first `MaxConcurrency` (`concurrency_limit`:
  0, or more than the server allows, is the setting OPENFLOWS_MAP_MAX_CONCURRENCY) start at once, the
  others are QUEUED. An iteration starts at its first step (`IterationItems._start_queued`): that step is
  taken in the transaction that starts it, so an item beginning with an Action has its action-start item
  at once. The parent keeps its cursor at the state and has no main work item: it waits for its
  children.
- A child's transition that ends it enqueues a `children` item for its parent (`notify_parent`, in the
  child's transaction; at most one pending per parent), so the parent learns of every end, crash or not.
- The `children` handler (`IterationItems._do_children`) reads the iterations: while some run and the
  failures stay tolerated, it starts queued ones up to the limit; once all have ended, or the failures pass
  what the state tolerates, it ends the queued ones, cancels the running ones (their in-flight actions are
  cancelled by the ordinary cancel), and steps the parent with `IterationsDone`, gathered in index order by
  `iterations.iterations_done`. That step is an ordinary commit guarded by the parent's version.

Inside an iteration `$._context.run_id` is the child's own id (so action request ids,
`<run_id>/<state>/<visit>/<attempt>`, are distinct per item and deterministic per visit) and
`$._context.parent_run_id` the run it belongs to; `map_item` or `parallel_branch` say which iteration it is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..language.iterations import (
    ChildEnd,
    IterationsDone,
    MapState,
    ParallelState,
    StartIterations,
    iteration_context,
    iterations_done,
    tolerates,
)
from ..language.model import Cursor, Decision, Failed, Limits, RunContext, Start, Succeeded
from ..language.step import step
from ..providers.base import ProviderError
from ..store import children, kinds
from ..store import errors as store_errors
from ..store import runs as store_runs
from ..store import work as store
from .run_details import failed_details, succeeded_details

if TYPE_CHECKING:
    from ..settings import Settings
    from ..shared.clock import Clock
    from ..store.db import Database

log = logging.getLogger(__name__)

#: most iterations of one state running at once when its MaxConcurrency is 0 (no limit) and no setting is
#: given (`Settings.map_max_concurrency`, OPENFLOWS_MAP_MAX_CONCURRENCY, has the same default)
MAX_CONCURRENCY = 1000


class NotInlineError(Exception):
    """Raised in a transaction that was to call a built-in provider in it (`Executor._commit_call`,
    `_start_action_in`): roll it back, and make the call outside as for any provider."""


def concurrency_limit(max_concurrency: int, cap: int = MAX_CONCURRENCY) -> int:
    """How many iterations of a state run at once: its MaxConcurrency (0: no limit), at most `cap` (the
    server's setting). ASL lets an engine run fewer than MaxConcurrency at once."""
    return min(max_concurrency or cap, cap)


def iterations_key(run_id: Any, cursor: dict[str, Any]) -> children.IterationsKey:
    """The iterations of the visit and attempt of the state at `cursor`."""
    return children.IterationsKey(
        run_id, str(cursor.get("state")), f"{cursor.get('visit')}/{cursor.get('attempt', 0)}"
    )


def delegating_run(run: store.RunForStep) -> Any:
    """The run whose delegated tokens a run's actions use: its own, or for an iteration (a child run) the
    run the user started (`root_run_id` in its stored context)."""
    root = run.context.get("root_run_id") if run.parent_run_id is not None else None
    return uuid.UUID(str(root)) if root else run.id


def iteration_contexts(run: store.RunForStep, outcome: StartIterations, cursor: dict[str, Any]) -> list[dict]:
    """The stored `$._context` of each child (see the module docstring)."""
    key = iterations_key(run.id, cursor)
    base = {k: v for k, v in run.context.items() if k != "iteration"}
    base["root_run_id"] = str(delegating_run(run))
    parent = {"parent_run_id": str(run.id)}
    contexts = []
    for index in range(len(outcome.inputs)):
        child_id = children.child_run_id(key, index)
        value = outcome.items[index] if outcome.items else None
        extra = iteration_context(parent, outcome.kind, index, value)
        contexts.append({**base, "run_id": str(child_id), "iteration": extra})
    return contexts


#: `starter(conn, key, limit=..., now=...)`: start up to `limit` QUEUED iterations of `key` (the executor's
#: `IterationItems._start_queued`); returns how many started
Starter = Callable[..., int]

#: most Map or Parallel states one step runs to their end with all their iterations (a loop around a pure Map
#: yields back to the engine after this many, like a long chain of states: `Limits.max_chain`)
MAX_GATHERED_PER_STEP = 100


@dataclasses.dataclass(frozen=True, slots=True)
class Fanout:
    """The iterations one Map or Parallel visit of a step creates: `outcome` (its concurrency resolved), the
    parent's `cursor` at the state, the stored `$._context` of each child, and `finished`: the iterations that
    ran to their end in the step (index -> ended row: `create_children`)."""

    outcome: StartIterations
    cursor: dict[str, Any]
    contexts: list[dict[str, Any]]
    finished: dict[int, dict[str, Any]]


def child_end(row: dict[str, Any]) -> ChildEnd:
    """How an iteration that ended in its creating step ended, read from its ended row the way
    `children.iteration_ends` reads a stored one (the cause as stored: redacted)."""
    if row["status"] == "SUCCEEDED":
        return ChildEnd(True, output=row["run_state"])
    inner = row["details"].get("details") or {}
    return ChildEnd(False, error=inner.get("error") or "States.Runtime", cause=inner.get("cause"))


def merge_decisions(first: Decision, then: Decision) -> Decision:
    """One step's decision from two decided one after the other (a Map or Parallel gathered in the step
    that started it): the second's position and outcome, both logs, both counts. `then` starts at a Map or
    Parallel state and steps on from its gathered result: it finishes no action of its own, so the first's
    action to release or cancel (the one that ended before the state) is kept."""
    return dataclasses.replace(
        then,
        log=(*first.log, *then.log),
        transitions=first.transitions + then.transitions,
        release_action=first.release_action or then.release_action,
        cancel_action=first.cancel_action or then.cancel_action,
        web_inputs=(*first.web_inputs, *then.web_inputs),
    )


def inline_context(context: dict[str, Any], flow_id: Any, shared: dict[str, Any] | None = None) -> RunContext:
    """The `RunContext` of an iteration's first step from its stored `$._context` (`context`). `shared`: the
    fields every iteration of the state has alike (`shared_context_fields`), so that only the iteration's
    own ones are read from `context`."""
    if shared is not None:
        return RunContext(**shared, run_id=context["run_id"], iteration=context.get("iteration") or {})
    return RunContext(
        **shared_context_fields(context, flow_id),
        run_id=context["run_id"],
        iteration=context.get("iteration") or {},
    )


def shared_context_fields(context: dict[str, Any], flow_id: Any) -> dict[str, Any]:
    """The `RunContext` fields of an iteration's stored `$._context` other than `run_id` and `iteration`
    (the same for all the iterations of a state)."""
    fields = {
        k: v
        for k, v in context.items()
        if k in RunContext.__dataclass_fields__ and k not in ("run_id", "iteration")
    }
    fields["identities"] = tuple(fields.get("identities") or ())
    if fields.get("token_info") is None:
        fields.pop("token_info", None)
    fields.setdefault("flow_id", str(flow_id))
    return fields


def seeded_draws(seed: str) -> Any:
    """`random.Random(seed).random`, the generator made at the first draw (seeding one costs more than a
    Pass state; an iteration's first step seldom draws: only a Retry's jitter does)."""
    made: list[random.Random] = []

    def draw() -> float:
        if not made:
            made.append(random.Random(seed))
        return made[0].random()

    return draw


def first_step(
    machine: Any,
    item_input: Any,
    context: dict[str, Any],
    *,
    flow_id: Any,
    now: dt.datetime,
    limits: Limits,
    shared: dict[str, Any] | None = None,
) -> Decision:
    """An iteration's first step, as the step that creates the iteration takes it (in memory) and as a read
    of its log replays it (`inline_log`): pure, so the same input, context and time decide the same."""
    run_context = inline_context(context, flow_id, shared)
    return step(
        machine,
        Cursor(None),
        item_input,
        Start(),
        context=run_context,
        now=now,
        random=seeded_draws(f"{run_context.run_id}/0"),
        limits=limits,
    )


def create_iterations(
    conn: sa.Connection,
    run: store.RunForStep,
    outcome: StartIterations,
    cursor: dict[str, Any],
    *,
    now: dt.datetime,
    finished: dict[int, dict[str, Any]] | None = None,
    contexts: Sequence[dict[str, Any]] | None = None,
    gathered: bool = False,
    starter: Starter | None = None,
) -> None:
    """Insert the children of `outcome` (in the parent's step transaction); `finished`: the iterations that
    ran to their end in the creating step (`IterationItems._run_inline`), already ended; `contexts`: their
    `$._context`s when already computed; `gathered`: the step gathered them all (no `children` item);
    `starter`: how the executor starts queued iterations at their first step (`IterationItems.
    _start_queued`), else the first ones start with a STEP item each. The executor has resolved
    `outcome.max_concurrency` against the server's limit (`concurrency_limit`)."""
    key = iterations_key(run.id, cursor)
    limit = outcome.max_concurrency or MAX_CONCURRENCY
    # created already (the replay of a step that stored its inline iterations first: `store_gathered`):
    # nothing to insert, and none to start beyond those the first try started
    if not children.count_children(conn, key):
        if contexts is None:
            contexts = iteration_contexts(run, outcome, cursor)
        parent = {
            "flow_id": run.flow_id,
            "flow_version": run.flow_version,
            "run_owner": run.run_owner,
            "created_by": run.run_owner,
        }
        children.create_children(
            conn,
            parent=parent,
            key=key,
            inputs=outcome.inputs,
            contexts=contexts,
            start=0 if starter is not None else limit,
            now=now,
            finished=finished,
        )
        if starter is not None:
            starter(conn, key, limit=limit, now=now)
    if finished and not gathered:  # the parent has news at once
        payload = {"state": key.state, "visit": key.visit}
        item = store.NewWorkItem(run_id=run.id, kind=kinds.CHILDREN, due_at=now, payload=payload)
        store.enqueue_work_item(conn, item, now=now)


def store_gathered(conn: sa.Connection, run: store.RunForStep, fan: Fanout, *, now: dt.datetime) -> bool:
    """Store the iterations of `fan`, which all ran to their end in the step that creates them, ended (their
    parent then gathers them in that step: `IterationItems._fan_out`); `now` is the time they ran at (their
    start time: a read of an iteration's log takes its step again at that time, engine/inline_logs.py).
    False when they were stored already (a replay of a step that died after this): the parent then gathers
    the stored rows, as usual."""
    if children.count_children(conn, iterations_key(run.id, fan.cursor)):
        return False
    create_iterations(
        conn,
        run,
        fan.outcome,
        fan.cursor,
        now=now,
        finished=fan.finished,
        contexts=fan.contexts,
        gathered=True,
    )
    return True


def notify_parent(conn: sa.Connection, run: store.RunForStep, *, now: dt.datetime) -> None:
    """A child ended: a `children` item due now for its parent, in the child's transaction. Always a new one,
    committed with this end alone: the handler of another `children` item of the parent drops the ones its
    read of the iterations saw (`children.drop_children_items`), which is safe only because an item never
    stands for an end committed after it. (Making a pending item due again instead, as before, serialised
    every iteration's end on that row and its commit on PostgreSQL: a hello_world Map's items spent most of
    their time waiting for it.)"""
    if run.parent_run_id is None:
        return
    payload = {"state": run.parent_state, "visit": run.parent_visit}
    item = store.NewWorkItem(run_id=run.parent_run_id, kind=kinds.CHILDREN, due_at=now, payload=payload)
    store.enqueue_work_item(conn, item, now=now)


class IterationItems:
    """The `children` work item handler; a part of `Executor` (engine/executor.py)."""

    db: Database
    clock: Clock
    owner: str
    limits: Limits
    settings: Settings
    metrics: Any
    threads: int

    if TYPE_CHECKING:

        def _load(self, item: store.WorkItem) -> store.RunForStep | None: ...
        def _complete(self, item: store.WorkItem) -> None: ...
        def _definition(self, run: store.RunForStep) -> Any: ...
        def _step(self, run: store.RunForStep, event: Any, *, run_state: Any = None) -> Any: ...
        def _context(self, run: store.RunForStep) -> RunContext: ...
        def _commit(self, item: store.WorkItem, run: store.RunForStep, decision: Any) -> Any: ...
        def _commit_first_step(
            self,
            conn: sa.Connection,
            run: store.RunForStep,
            decision: Decision,
            *,
            now: dt.datetime,
            lease_seconds: float | None = None,
        ) -> tuple[store.WorkItem, store.RunForStep] | None: ...
        def _continue_lease(self) -> float | None: ...
        def _inline_start(self, child: store.RunForStep) -> Any: ...
        def _start_action_in(
            self,
            conn: sa.Connection,
            run: store.RunForStep,
            decision: Decision,
            inline: Any,
            *,
            now: dt.datetime,
            lease_seconds: float | None = None,
        ) -> tuple[store.WorkItem, store.RunForStep | None] | None: ...
        def _token(self, run: store.RunForStep, run_as: str | None) -> str | None: ...
        def _keep(self, items: list[tuple[store.WorkItem, store.RunForStep | None]]) -> None: ...
        def wake(self) -> None: ...

    def _start_queued(
        self,
        conn: sa.Connection,
        key: children.IterationsKey,
        *,
        limit: int,
        now: dt.datetime,
        keep: list[tuple[store.WorkItem, store.RunForStep | None]] | None = None,
        keep_at_most: int = 0,
        inline: Any = None,
    ) -> int:
        """Start up to `limit` QUEUED iterations of `key` (lowest index first) in the caller's transaction,
        each AT ITS FIRST STEP: the step is taken here (it is pure) and committed with the start, so an
        iteration whose sub-machine begins with an Action has its ACTION_START item at once, without a
        STEP item, a claim and a commit of its own (a third of a hello_world item's transactions). A
        redriven iteration (it enters the state it failed at), one whose first step starts iterations of
        its own (a Map in the item) or one whose first step cannot be taken here starts with a STEP item,
        as before. With `keep`, the first `keep_at_most` iterations' next items due now (their action
        starts) are leased to this executor in the same transaction and appended to `keep` with the
        iteration as committed, for its queue (`Executor._keep`): no claim and no read between an
        iteration's start and its action's. With `inline` (`action_items.InlineStart`), an iteration whose
        first step starts that action has it started, and its answer taken, in this transaction
        (`Executor._start_action_in`, which raises when it cannot). Returns how many started."""
        chosen = children.queued_iterations(conn, key, limit=limit)
        redriven = {run_id for run_id, _, cursor in chosen if (cursor or {}).get("state") is not None}
        fresh = [run_id for run_id, _, _ in chosen if run_id not in redriven]
        loaded = store.load_runs_for_step(conn, fresh) if fresh else {}
        for run_id, _, _ in chosen:
            child = loaded.get(run_id)
            decision = None
            if child is not None:
                try:
                    decision = self._step(child, Start(), run_state=child.input)
                except Exception:  # its own STEP item takes it again, and fails the iteration if it must
                    log.debug("iteration %s: first step left to its STEP item", run_id, exc_info=True)
            if decision is None or isinstance(decision.outcome, StartIterations):
                children.activate_queued(conn, run_id, now=now, redriven=run_id in redriven)
                continue
            assert child is not None
            if (
                inline is not None
                and inline.fits(decision.outcome)
                and self._token(child, inline.run_as) == inline.role_token
            ):  # its next item is a poll held until the action ends (not queued now): kept whatever the count
                lease = self._continue_lease() if keep is not None else None
                follow_up = self._start_action_in(conn, child, decision, inline, now=now, lease_seconds=lease)
            else:
                lease = self._continue_lease() if keep is not None and len(keep) < keep_at_most else None
                follow_up = self._commit_first_step(conn, child, decision, now=now, lease_seconds=lease)
            if follow_up is not None and keep is not None:
                keep.append(follow_up)
        return len(chosen)

    def _fan_out(
        self, run: store.RunForStep, decision: Decision, *, now: dt.datetime
    ) -> tuple[Decision, Fanout | None, dt.datetime]:
        """The iterations a step's `StartIterations` outcome creates, each run in memory first
        (`_run_inline`). When they all end there (a pure sub-machine), they are stored ended at once (a
        transaction of their own: `store_gathered`), the state is gathered from them and the run stepped on
        from it at a new `now`, in the same step, up to MAX_GATHERED_PER_STEP such states: no `children`
        item, no second read of the iterations. Returns the step's decision, the last visit still waiting
        for child runs (or None) and the step's `now`."""
        definition = self._definition(run)
        for rounds in range(MAX_GATHERED_PER_STEP + 1):
            if not isinstance(decision.outcome, StartIterations):
                break
            outcome = decision.outcome
            limit = concurrency_limit(outcome.max_concurrency, self.settings.map_max_concurrency)
            outcome = dataclasses.replace(outcome, max_concurrency=limit)
            cursor = decision.cursor.as_dict()
            contexts = iteration_contexts(run, outcome, cursor)
            fan = Fanout(outcome, cursor, contexts, self._run_inline(run, outcome, contexts, now=now))
            if len(fan.finished) < len(outcome.inputs) or rounds == MAX_GATHERED_PER_STEP:
                return decision, fan, now
            if not self.db.transact(store_gathered, run, fan, now=now):  # `now`: the time they ran at
                return decision, fan, now  # stored by an earlier try of this step: gathered from the rows
            now = self.clock.now()
            state = definition.states[outcome.state]
            done = iterations_done(state, [child_end(fan.finished[i]) for i in range(len(outcome.inputs))])
            after = step(
                definition,
                decision.cursor,
                decision.run_state,
                IterationsDone(result=done.result, failure=done.failure),
                context=self._context(run),
                now=now,
                random=random.Random(f"{run.id}/{run.version + rounds + 1}"),
                limits=self.limits,
            )
            decision = merge_decisions(decision, after)
        return decision, None, now

    def _run_inline(
        self,
        run: store.RunForStep,
        outcome: StartIterations,
        contexts: Sequence[dict[str, Any]],
        *,
        now: dt.datetime,
    ) -> dict:
        """Run each iteration's first step in memory (at the step's `now`, which is also the start time
        stored for the iteration): those that need no I/O (a pure sub-machine) end there and are stored
        ended with their siblings, in the parent's transaction; the others start as child runs (their first
        step is replayed then: it is pure). Returns `create_iterations`' `finished`."""

        state = self._definition(run).states[outcome.state]
        finished: dict[int, dict[str, Any]] = {}
        shared = shared_context_fields(contexts[0], run.flow_id) if contexts else None
        for index, item_input in enumerate(outcome.inputs):
            machine = state.branches[index] if isinstance(state, ParallelState) else state.processor
            decision = first_step(
                machine,
                item_input,
                contexts[index],
                flow_id=run.flow_id,
                now=now,
                limits=self.limits,
                shared=shared,
            )
            ending = decision.outcome
            if isinstance(ending, Succeeded):
                details = succeeded_details(ending.output)
            elif isinstance(ending, Failed):
                details = failed_details(ending.failure.error, ending.failure.cause, ending.state)
            else:
                continue
            finished[index] = {
                "status": "SUCCEEDED" if isinstance(ending, Succeeded) else "FAILED",
                "details": details,
                "run_state": decision.run_state,
                "cursor": decision.cursor.as_dict(),
            }
        return finished

    def _do_children(self, item: store.WorkItem) -> None:
        run = self._load(item)
        if run is None:
            return
        cursor = Cursor.from_dict(run.cursor)
        key = iterations_key(run.id, run.cursor)
        state = self._definition(run).states.get(cursor.state or "")
        if not isinstance(state, MapState | ParallelState) or cursor.visit is None:
            self._complete(item)  # the parent moved on: a late item
            return
        with self.db.read() as conn:
            counts = children.count_children(conn, key)
            # the parent's other pending `children` items: their iterations' ends are counted here
            redundant = children.pending_children_items(conn, run.id, besides=item.id)
            # the next iteration to start, to resolve how the batch starts its actions (`_inline_start`)
            sample = children.queued_iterations(conn, key, limit=1)
            fresh = [run_id for run_id, _, cursor in sample if (cursor or {}).get("state") is None]
            sampled = store.load_runs_for_step(conn, fresh).get(fresh[0]) if fresh else None
        total = sum(counts.values())
        if not total:
            self._complete(item)
            return
        failed = counts.get("FAILED", 0) + counts.get("ENDED", 0)
        running = counts.get("ACTIVE", 0) + counts.get("INACTIVE", 0)
        waiting = running + counts.get(children.QUEUED, 0)
        if waiting and (failed == 0 or tolerates(state, failed, total)):
            # some still to run and no failure past the tolerance: start queued ones (cheap: counts only)
            limit = concurrency_limit(
                state.max_concurrency if isinstance(state, MapState) else 0, self.settings.map_max_concurrency
            )
            now = self.clock.now()

            kept: list[tuple[store.WorkItem, store.RunForStep | None]] = []
            inline = self._inline_start(sampled) if sampled is not None and limit > running else None

            def start_more(conn: sa.Connection, inline: Any) -> None:
                kept.clear()  # (a retried transaction starts again)
                self._start_queued(
                    conn,
                    key,
                    limit=limit - running,
                    now=now,
                    keep=kept,
                    keep_at_most=self.threads,
                    inline=inline,
                )
                store.complete_work_item(conn, item_id=item.id, owner=self.owner)
                children.drop_children_items(conn, redundant)

            try:
                self.db.transact(start_more, inline)
            except (ProviderError, store_errors.UniqueViolation, NotInlineError):
                # an action could not be started in the transaction: each starts with its own item
                self.db.transact(start_more, None)
            self._keep(kept)
            self._count_redrive(run, item)
            self.wake()
            return
        with self.db.read() as conn:  # all ended, or the state fails: read the iterations once
            ends = children.iteration_ends(conn, key)
        gathered: list[ChildEnd | None] = []
        for end in ends:
            if end.status == "SUCCEEDED":
                gathered.append(ChildEnd(True, output=end.output))
            elif end.status in ("FAILED", "ENDED"):
                gathered.append(ChildEnd(False, error=end.error or "States.Runtime", cause=end.cause))
            else:
                gathered.append(None)
        done = iterations_done(state, gathered)
        if done.failure is not None and any(end is None for end in gathered):
            now = self.clock.now()

            def stop_others(conn: sa.Connection) -> None:
                children.end_queued(conn, key, now=now)
                for child_id in children.running_children(conn, key):
                    store_runs.cancel_run(conn, run_id=child_id, now=now)

            self.db.transact(stop_others)
        decision = self._step(run, IterationsDone(result=done.result, failure=done.failure))
        if self._commit(item, run, decision) is not None:
            self._count_redrive(run, item)

    def _count_redrive(self, run: store.RunForStep, item: store.WorkItem) -> None:
        """A run redriven at a Map or Parallel state (its `children` item says so: engine/redrive.py) counts
        once its first item after the redrive is done, as a redriven run's first step does."""
        if run.parent_run_id is None and (item.payload or {}).get("redrive"):
            self.metrics.runs_redriven.inc()
