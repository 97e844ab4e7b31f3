"""The durable executor: claims due work items, runs one step for each, commits (DESIGN invariants 1-3).

Each work item is handled as: claim (a lease, in its own short transaction) -> read the run -> at most one
call to an action provider, outside any transaction -> `language.step()` -> commit guarded by the lease and
the run's `version` (`engine.steps`); a built-in provider keeping its actions in the same database is called
in the commit's transaction (`_commit_call`). A crash at any point loses nothing: an uncommitted step is
replayed from the work item once its lease expires, and a replayed `/run` carries the same deterministic
`request_id`, so the provider returns the same action.

Running it (`start()` / `stop()`, embedded in `openflows serve` or alone in `openflows worker`):
- a claim loop leases due items in batches (up to `CLAIM_BATCH`; an executor holds at most
  `PREFETCH_FACTOR` items per thread and claims again once no more than one per thread is left) and hands
  them to the worker threads. It waits for whichever comes first: a wake-up (`wake()`, called by
  the API after it enqueues, after every commit that enqueued work, and by the LISTEN/NOTIFY listener on
  PostgreSQL), the earliest due item, or `POLL_FALLBACK_SECONDS` (the fallback when a notification is lost);
- supervised side tasks: `heartbeat` renews the leases of every item this executor holds, `reaper` returns
  expired leases, ends overdue runs and purges runs past the retention period, `listener` (PostgreSQL) turns
  notifications into wake-ups. A side task that dies stops the executor instead of letting it limp on;
- `stop()` is graceful: no more claims, queued items are handed back at once (their leases released),
  items in progress finish (or, past the timeout, are handed back), and every lease left is released.
- `tick()` / `run_until_idle()`: process due items synchronously in the calling thread at the clock's `now`;
  with a `FakeClock`, tests fire Waits and polls by advancing the clock instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import heapq
import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..language.iterations import StartIterations, sub_definition
from ..language.model import (
    ActionRef,
    ActionStatus,
    Cursor,
    Decision,
    Enter,
    Event,
    Limits,
    RunContext,
    Start,
    StartAction,
    TimerFired,
)
from ..language.step import step
from ..providers.base import ProviderError, ProviderRegistry
from ..providers.config import ProviderSettings
from ..providers.mail import Mailer
from ..settings import Settings
from ..shared.clock import Clock, SystemClock
from ..shared.metrics import Metrics
from ..store import children as store_children
from ..store import claims as store_claims
from ..store import errors as store_errors
from ..store import kinds
from ..store import work as store
from ..store.db import Database
from .action_items import (
    NOT_INLINE,
    ActionItems,
    Credentials,
    InlineAnswer,
    InlineRelease,
    InlineStart,
    InlineTarget,
    NotInline,
    backoff,
    first_status,
)
from .actions import ActionClient
from .definitions import DefinitionCache, DefinitionUnavailable
from .delegation import Delegations
from .fanout import IterationItems, NotInlineError, iteration_contexts, iterations_key, merge_decisions
from .human_items import HumanItems
from .notify import WorkListener
from .provider_scopes import ProviderScopes
from .redrive import REDRIVE_EVENT
from .registered_apis import RegisteredApiCaller
from .retention import (
    purge_deleted_registered_apis,
    purge_expired_codes,
    purge_expired_runs,
    purge_old_timer_results,
    purge_released_actions,
)
from .run_endings import RunEndings
from .steps import (
    MAIN_KINDS,
    SIDE_KINDS,
    PollPolicy,
    Transition,
    action_request_fields,
    commit_plan,
    items_not_kept,
    plan_transition,
)
from .timer_items import TimerItems
from .worker_loops import WorkerLoops

log = logging.getLogger(__name__)

#: how long `stop()` lets items in progress finish before handing them back
STOP_TIMEOUT_SECONDS = 10.0  # seconds
#: claims of one item that raised unexpectedly before its run is failed (a bug: do not loop forever)
MAX_ITEM_ATTEMPTS = 10  # attempts
#: an action poll a built-in provider said is due within this many seconds is held by the executor that
#: committed it (leased until its due time plus the lease period), not claimed again (`commit_plan`)
HOLD_SECONDS = 10.0  # seconds
#: a claim looks for due timer items when the last claim saw one due by now, and at least this often
#: (timer items another process made due since are found within it); other claims skip that statement
TIMER_CLAIM_SECONDS = 0.25  # seconds

#: kinds whose handler starts something outside (an action, a resume): they read the run afresh rather than
#: trust the claim's read, which may be older when the item waited in the queue
_REREAD_KINDS = frozenset({kinds.ACTION_START, kinds.RESUME})
_UNREAD: Any = object()


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


def _never_storable(exc: Exception) -> bool:
    """Whether `exc` says the database can never store a value of the step (a retry cannot help)."""
    return isinstance(exc, store_errors.InvalidValue | UnicodeEncodeError)


def default_owner() -> str:
    """A lease owner name unique to this executor: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


#: the base URL of links in notifications when neither the server nor the settings name one
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8765/"


class Executor(ActionItems, HumanItems, TimerItems, IterationItems, RunEndings, WorkerLoops):
    """Runs flows durably from the `work_items` table, and fires due timers (engine/timer_items.py)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        registry: ProviderRegistry,
        clock: Clock | None = None,
        owner: str | None = None,
        action_client: ActionClient | None = None,
        threads: int | None = None,
        registered_apis: RegisteredApiCaller | None = None,
        mailer: Mailer | None = None,
        public_url: str | None = None,
        delegations: Delegations | None = None,
        provider_scopes: ProviderScopes | None = None,
    ) -> None:
        """`mailer` sends notifications (default: the outbox under the settings' home) and `public_url` is
        the base of the links they carry (default: the settings' public URL)."""
        self.db = db
        #: runs' delegated tokens (None: calls act as the run's owner, for engine tests and tools)
        self.delegations = delegations
        #: the scope each Action state needs (None: built-in providers' and explicit ones only)
        self.provider_scopes = provider_scopes
        self.settings = settings
        self.registry = registry
        self.clock = clock or SystemClock()
        self.mailer = mailer or Mailer(
            ProviderSettings(outbox_dir=settings.home / "outbox"), clock=self.clock
        )
        self.public_url = public_url or settings.public_url or DEFAULT_PUBLIC_URL
        self.owner = owner or default_owner()
        self.actions = action_client or ActionClient(registry)
        self.registered_apis = registered_apis or RegisteredApiCaller(
            db,
            now=self.clock.now,
            credentials=self.actions.credentials,
            timeout=settings.registered_api_timeout_seconds,
            max_response_bytes=settings.registered_api_max_response_bytes,
        )
        self.threads = max(1, threads if threads is not None else settings.worker_threads)
        self.limits = Limits(max_run_state_bytes=settings.max_run_state_bytes)
        self.definitions = DefinitionCache(limits=self.limits)
        self.poll = PollPolicy(settings.poll_initial_seconds, settings.poll_max_seconds)
        self.lease_seconds = settings.lease_seconds
        self.metrics = Metrics()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._generation = 0
        #: set by `wake()` (work may be due now) and after a full batch: the claim loop claims without waiting
        self._claim_requested = False
        self._threads: list[threading.Thread] = []
        self._side_threads: list[threading.Thread] = []
        self._in_progress: set[int] = set()
        self._in_progress_lock = threading.Lock()
        #: items claimed and not yet finished (queued or in progress): the heartbeat renews their leases
        self._held: set[int] = set()
        self._queue: queue.Queue[store.WorkItem | None] = queue.Queue()
        #: runs read by the claim transaction, by item id, until the item's handler takes them (`_load`)
        self._claimed_runs: dict[int, store.RunForStep | None] = {}
        #: by item id, the memo its claim batch shares: the delegated-token checks made for the batch's items,
        #: by (delegating run, scope) (`ActionItems._credentials`)
        self._claim_memos: dict[int, dict[Any, Any]] = {}
        #: the earliest due time of an unleased item, as the last claim saw it
        self._next_due: dt.datetime | None = None
        #: leased items due later, held here until their due time (`_keep`): (due_at, id, item), a heap
        self._delayed: list[tuple[dt.datetime, int, store.WorkItem]] = []
        #: the same for timer items, and when (monotonic) a claim last looked for due timer items
        self._next_timer_due: dt.datetime | None = None
        self._last_timer_claim = -TIMER_CLAIM_SECONDS
        #: the name of the side task that died, when one did (the executor then stops)
        self.failed_task: str | None = None
        self.listener = WorkListener(db, self._on_notify) if db.dialect == "postgresql" else None
        #: called after every commit that enqueued work (e.g. another process's NOTIFY); tests may hook it
        self.on_commit: Callable[[], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the claim loop, the worker threads and the side tasks."""
        if self._threads:
            return
        self._stop.clear()
        self.failed_task = None
        self._queue = queue.Queue()  # no stop sentinels left from an earlier run
        for i in range(self.threads):
            self._spawn(f"openflows-worker-{i}", self._worker_loop, self._threads)
        self._spawn("openflows-claim", self._claim_loop, self._threads)
        side_tasks: dict[str, Callable[[], None]] = {
            "heartbeat": self._heartbeat_loop,
            "reaper": self._reaper_loop,
        }
        if self.listener is not None:
            listener = self.listener
            side_tasks["listener"] = lambda: listener.run(self._stop)
        for name, target in side_tasks.items():
            self._spawn(f"openflows-{name}", self._supervised(name, target), self._side_threads)
        log.info(
            "executor started with %d worker threads",
            self.threads,
            extra={"action": "start_executor", "owner": self.owner, "side_tasks": sorted(side_tasks)},
        )

    def _spawn(self, name: str, target: Callable[[], None], into: list[threading.Thread]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        into.append(thread)

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`, unless a side task died."""
        return bool(self._threads) and not self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the executor stops (after `stop()` or when a side task died); True if it did."""
        return self._stop.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop gracefully: claim nothing more, hand back queued items, let items in progress finish (up to
        `timeout` seconds), then release every lease still held, so other workers carry on at once."""
        self._stop.set()
        self.wake()
        handed_back = self._drain_queue()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in [*self._threads, *self._side_threads]:
            thread.join(max(deadline - time.monotonic(), 0.1))
        self._threads.clear()
        self._side_threads.clear()
        try:
            handed_back += self.db.transact(store.release_leases, owner=self.owner)
        except Exception:
            log.exception("could not release leases on stop", extra={"action": "stop_executor"})
        with self._in_progress_lock:
            self._held.clear()
        self.actions.close()
        log.info(
            "executor stopped",
            extra={"action": "stop_executor", "owner": self.owner, "handed_back": handed_back},
        )

    def _drain_queue(self) -> int:
        """Release the leases of claimed items no worker has started (held ones too)."""
        with self._cond:
            ids: list[int] = [item_id for _, item_id, _ in self._delayed]
            self._delayed.clear()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                ids.append(item.id)
        if not ids:
            return 0
        self._forget(ids)
        with self._in_progress_lock:
            self._held.difference_update(ids)
        try:
            return self.db.transact(store.release_leases, owner=self.owner, item_ids=ids)
        except Exception:
            log.exception("could not hand back queued items", extra={"action": "stop_executor"})
            return 0

    def _forget(self, item_ids: list[int]) -> None:
        """Drop the claim's run reads of items handed back unprocessed."""
        for item_id in item_ids:
            self._claimed_runs.pop(item_id, None)
            self._claim_memos.pop(item_id, None)

    def wake(self) -> None:
        """Wake idle workers: new work may be due now (the API calls this after enqueueing)."""
        with self._cond:
            self._claim_requested = True
            self._generation += 1
            self._cond.notify_all()

    def _nudge(self, due: dt.datetime | None = None) -> None:
        """Let the claim loop look again without asking it to claim: a worker thread became free, or work
        was enqueued that is due later (`due`, which may shorten the loop's sleep)."""
        with self._cond:
            if due is not None and (self._next_due is None or due < self._next_due):
                self._next_due = due
            self._generation += 1
            self._cond.notify_all()

    def _on_notify(self) -> None:
        self.metrics.wakeups.inc(source="notify")
        self.wake()

    # -- synchronous driving (tests, tools) ----------------------------------------------------------------

    def tick(self, *, limit: int = 100) -> int:
        """Reap expired leases, then claim and process every item due at the clock's now (up to `limit`)."""
        self.reap()
        processed = 0
        while processed < limit:
            items = self.claim(limit=min(10, limit - processed), timers=True)
            if not items:
                break
            for item in items:
                self.process(item)
                processed += 1
        return processed

    def run_until_idle(self, *, max_items: int = 10_000) -> int:
        """Process due items until none is due at the clock's (unchanging) now; return how many."""
        total = 0
        while total < max_items:
            done = self.tick(limit=min(100, max_items - total))
            if done == 0:
                break
            total += done
        return total

    def next_due_at(self) -> dt.datetime | None:
        """The earliest due time of an unleased work item."""
        with self.db.read() as conn:
            return store.next_due_at(conn)

    # -- claiming and leases -------------------------------------------------------------------------------

    def claim(self, *, limit: int = 1, timers: bool | None = None) -> list[store.WorkItem]:
        """Lease up to `limit` due items (at most one per run) to this executor. Their runs are read in the
        same transaction and kept for `process` (one transaction fewer per item), and the earliest due time
        of the items left is remembered for the claim loop's sleep. Due timer items are looked for when
        `timers` says so, or by default when one is known to be due or TIMER_CLAIM_SECONDS have passed."""
        now = self.clock.now()
        if timers is None:
            known = self._next_timer_due
            timers = (known is not None and known <= now) or (
                time.monotonic() - self._last_timer_claim >= TIMER_CLAIM_SECONDS
            )
        if timers:
            self._last_timer_claim = time.monotonic()
        claim = self.db.transact(
            store_claims.claim_with_runs,
            owner=self.owner,
            now=now,
            lease_seconds=self.lease_seconds,
            limit=limit,
            claim_timers=timers,
        )
        self._next_due = claim.next_due_at
        self._next_timer_due = claim.next_timer_due_at
        memo: dict[Any, Any] = {}
        for item in claim.items:
            self._claimed_runs[item.id] = claim.runs.get(item.run_id)
            self._claim_memos[item.id] = memo
            self.metrics.claim_lag_seconds.observe(max((now - item.due_at).total_seconds(), 0.0))
        return claim.items

    def reap(self) -> int:
        """Return expired leases to the pool; return how many."""
        reaped = self.db.transact(store.reap_expired_leases, now=self.clock.now())
        if reaped:
            self.metrics.leases_reaped.inc(reaped)
            log.info("reaped %d expired leases", reaped, extra={"action": "reap_leases", "count": reaped})
        return reaped

    def renew_leases(self) -> int:
        """Extend the leases of every item this executor holds (queued or in progress); return how many."""
        with self._in_progress_lock:
            ids = sorted(self._held | self._in_progress)
        if not ids:
            return 0
        renewed = self.db.transact(
            store.renew_leases,
            owner=self.owner,
            item_ids=ids,
            now=self.clock.now(),
            lease_seconds=self.lease_seconds,
        )
        if renewed < len(ids):  # finished meanwhile, or expired and reaped (then the step is discarded)
            log.debug(
                "%d of %d leases not renewed",
                len(ids) - renewed,
                len(ids),
                extra={"action": "renew_leases", "owner": self.owner},
            )
        return renewed

    def purge(self) -> int:
        """Delete ended runs older than the retention period (and released provider actions, expired
        authorization codes, registered APIs past their deletion time); return how many runs."""
        purged = purge_expired_runs(
            self.db, now=self.clock.now(), retention_days=self.settings.retention_days
        )
        purge_released_actions(self.db, now=self.clock.now(), retention_days=self.settings.retention_days)
        purge_expired_codes(self.db, now=self.clock.now())
        if self.delegations is not None:  # runs released or purged before their tokens were given back
            self.delegations.release_ended()
        purge_deleted_registered_apis(self.db, now=self.clock.now())
        purge_old_timer_results(self.db, now=self.clock.now(), retention_days=self.settings.retention_days)
        if purged:
            self.metrics.runs_purged.inc(purged)
        return purged

    # -- processing one item -------------------------------------------------------------------------------

    def process(self, item: store.WorkItem) -> None:
        """Handle one claimed item; never raises (failures are logged and the item retried later)."""
        with self._in_progress_lock:
            self._in_progress.add(item.id)
        started = time.monotonic()
        outcome = "ok"
        try:
            handler = {
                kinds.STEP: self._do_step,
                kinds.ACTION_START: self._do_action_start,
                kinds.ACTION_POLL: self._do_action_poll,
                kinds.RESUME: self._do_resume,
                kinds.ACTION_CANCEL: self._do_side_call,
                kinds.ACTION_RELEASE: self._do_side_call,
                kinds.WEB_INPUT: self._do_web_input,
                kinds.NOTIFY: self._do_notify,
                kinds.REVOKE_TOKENS: self._do_revoke_tokens,
                kinds.TIMER_FIRE: self._do_timer_fire,
                kinds.CHILDREN: self._do_children,
            }.get(item.kind)
            if handler is None:
                log.error("unknown work item kind %r", item.kind, extra=self._extra("drop_item", item))
                self._complete(item)
                return
            handler(item)
        except Exception as exc:
            outcome = "error"
            self._on_unexpected(item, exc)
        finally:
            self._claimed_runs.pop(item.id, None)
            self._claim_memos.pop(item.id, None)
            with self._in_progress_lock:
                self._in_progress.discard(item.id)
                self._held.discard(item.id)
            self.metrics.steps.inc(kind=item.kind, outcome=outcome)
            self.metrics.step_seconds.observe(time.monotonic() - started, kind=item.kind)

    def _on_unexpected(self, item: store.WorkItem, exc: Exception) -> None:
        log.exception("work item %s (%s) failed", item.id, item.kind, extra=self._extra("item_error", item))
        try:
            # a value the database refuses is refused again on every retry: fail the run at once
            if item.attempts >= MAX_ITEM_ATTEMPTS or _never_storable(exc):
                if item.kind == kinds.TIMER_FIRE:
                    self._timer_gave_up(item, exc)
                elif item.kind in MAIN_KINDS:
                    self._fail_run(item, "States.Runtime", f"The engine could not process this run: {exc}")
                else:
                    self._complete(item)
                return
            due = self.clock.now() + dt.timedelta(seconds=backoff(item.attempts))
            self.db.transact(store.release_lease, item_id=item.id, owner=self.owner, due_at=due)
            self._nudge(due)
        except Exception:
            log.exception("could not reschedule work item %s", item.id, extra=self._extra("item_error", item))

    def _extra(self, action: str, item: store.WorkItem | None = None, **more: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {"action": action}
        if item is not None:
            extra.update(item_id=item.id, kind=item.kind, attempt=item.attempts)
            if item.timer_id is not None:
                extra["timer_id"] = str(item.timer_id)
            else:
                extra["run_id"] = str(item.run_id)
            payload = item.payload or {}
            state = payload.get("state") or (payload.get("start") or {}).get("state")
            if state:
                extra["state"] = state
        extra.update(more)
        return extra

    def _load(self, item: store.WorkItem, *, reread: bool | None = None) -> store.RunForStep | None:
        """The item's run, or None (and the item dropped) when the run is gone or has ended.

        Whether the item still fits the run is checked against the cursor by each handler: a run has a single
        chain of main items (every commit deletes the others), so a mismatch only follows a concurrent change.
        `reread`: read the run afresh rather than use the claim's read (default: for `_REREAD_KINDS`).
        """
        if reread is None:
            reread = item.kind in _REREAD_KINDS
        claimed = self._claimed_runs.pop(item.id, _UNREAD)
        if claimed is not _UNREAD and not reread:  # read by the claim, under the lease
            run = claimed
        else:
            with self.db.read() as conn:
                run = store.load_run_for_step(conn, item.run_id)
        if run is None or run.is_terminal:
            self._complete(item)
            return None
        return run

    def _run_for_side_call(self, item: store.WorkItem) -> store.RunForStep | None:
        """The run of a side call (cancel, release): as the claim read it, or as the commit that leased the
        call as its follow-up left it (a side call needs only who the run acts as, which never changes), else
        read now; None when the run is gone (an ended run is fine: its last action is released after it
        ends)."""
        claimed = self._claimed_runs.pop(item.id, _UNREAD)
        if claimed is not _UNREAD:
            return claimed
        with self.db.read() as conn:
            return store.load_run_for_step(conn, item.run_id)

    def _complete(self, item: store.WorkItem) -> None:
        self.db.transact(store.complete_work_item, item_id=item.id, owner=self.owner)

    def _definition(self, run: store.RunForStep) -> Any:
        cached = self.definitions.peek(run.flow_id, run.flow_version)
        if cached is None:
            with self.db.read() as conn:
                cached = self.definitions.get(conn, run.flow_id, run.flow_version)
        if run.parent_state is not None:  # a child run: one iteration of a Map or Parallel (fanout.py)
            return sub_definition(cached, run.parent_state, run.iteration or 0)
        return cached

    def _context(self, run: store.RunForStep) -> RunContext:
        data = dict(run.context)
        fields = {name: data[name] for name in RunContext.__dataclass_fields__ if name in data}
        fields.setdefault("flow_id", str(run.flow_id))
        fields.setdefault("run_id", str(run.id))
        if "identities" in fields:
            fields["identities"] = tuple(fields["identities"] or ())
        if fields.get("token_info") is None:
            fields.pop("token_info", None)
        fields["flow_title"] = str(fields.get("flow_title") or "")
        fields["run_label"] = run.label
        return RunContext(**fields)

    def _step(self, run: store.RunForStep, event: Event, *, run_state: Any = None) -> Decision:
        definition = self._definition(run)
        state = run.run_state if run_state is None else run_state
        return step(
            definition,
            Cursor.from_dict(run.cursor),
            state,
            event,
            context=self._context(run),
            now=self.clock.now(),
            random=random.Random(f"{run.id}/{run.version}"),
            limits=self.limits,
        )

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

    def _notify(self) -> None:
        self.wake()
        if self.on_commit is not None:
            self.on_commit()

    # -- STEP ----------------------------------------------------------------------------------------------

    def _do_step(self, item: store.WorkItem) -> None:
        run = self._load(item)
        if run is None:
            return
        event_name = (item.payload or {}).get("event", "start")
        event: Event
        run_state = None
        if event_name == "start":
            if run.log_seq and Cursor.from_dict(run.cursor).state is not None:
                self._complete(item)  # already started (a duplicate start item)
                return
            event, run_state = Start(), run.input
        elif event_name == "timer":
            state = self._definition(run).states.get(Cursor.from_dict(run.cursor).state or "")
            if state is None or state.type_name != "Wait":
                self._complete(item)
                return
            event = TimerFired()
        else:
            event = Enter()
        try:
            decision = self._step(run, event, run_state=run_state)
        except DefinitionUnavailable as exc:
            self._fail_run(item, "States.Runtime", str(exc), run=run)
            return
        self._commit(item, run, decision)

    # -- ending runs -----------------------------------------------------------------------------------------

    # -- threads ---------------------------------------------------------------------------------------------
