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

import datetime as dt
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

from ..language.iterations import sub_definition
from ..language.model import (
    Cursor,
    Decision,
    Enter,
    Event,
    Limits,
    RunContext,
    Start,
    TimerFired,
)
from ..language.step import step
from ..providers.base import ProviderRegistry
from ..providers.config import ProviderSettings
from ..providers.mail import Mailer
from ..settings import Settings
from ..shared.clock import Clock, SystemClock
from ..shared.metrics import Metrics
from ..store import claims as store_claims
from ..store import errors as store_errors
from ..store import kinds
from ..store import work as store
from ..store.db import Database
from .action_items import (
    ActionItems,
    backoff,
)
from .actions import ActionClient
from .commits import StepCommits
from .definitions import DefinitionCache, DefinitionUnavailable
from .delegation import Delegations
from .fanout import IterationItems
from .human_items import HumanItems
from .notify import WorkListener
from .provider_scopes import ProviderScopes
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
    PollPolicy,
)
from .timer_items import TimerItems
from .worker_loops import WorkerLoops

log = logging.getLogger(__name__)

#: how long `stop()` lets items in progress finish before handing them back
STOP_TIMEOUT_SECONDS = 10.0  # seconds
#: claims of one item that raised unexpectedly before its run is failed (a bug: do not loop forever)
MAX_ITEM_ATTEMPTS = 10  # attempts
#: how soon the claim loop looks again for due items its last claim could not take (their run was busy)
BLOCKED_RETRY_SECONDS = 0.05  # seconds
#: a claim looks for due timer items when the last claim saw one due by now, and at least this often
#: (timer items another process made due since are found within it); other claims skip that statement
TIMER_CLAIM_SECONDS = 0.25  # seconds

#: kinds whose handler starts something outside (an action, a resume): they read the run afresh rather than
#: trust the claim's read, which may be older when the item waited in the queue
_REREAD_KINDS = frozenset({kinds.ACTION_START, kinds.RESUME})
_UNREAD: Any = object()


def _never_storable(exc: Exception) -> bool:
    """Whether `exc` says the database can never store a value of the step (a retry cannot help)."""
    return isinstance(exc, store_errors.InvalidValue | UnicodeEncodeError)


def default_owner() -> str:
    """A lease owner name unique to this executor: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


#: the base URL of links in notifications when neither the server nor the settings name one
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8765/"


class Executor(StepCommits, ActionItems, HumanItems, TimerItems, IterationItems, RunEndings, WorkerLoops):
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
        if claim.next_due_at is not None and claim.next_due_at <= now and len(claim.items) < limit:
            # due items this claim could not take (their run holds a leased item, e.g. a Map's `children`
            # items while one of them is handled): look again shortly, or when woken, not at once in a loop
            self._next_due = now + dt.timedelta(seconds=BLOCKED_RETRY_SECONDS)
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
