"""The threads of `Executor` (a part of it, as `WorkerLoops`): the claim loop that leases due items in
batches, the worker threads that process them, and the supervised side tasks (`heartbeat` renews leases,
`reaper` returns expired ones, ends overdue runs and purges). See the module docstring of `executor.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from ..store import work as store
from .retention import (
    PURGE_INTERVAL_SECONDS,
)

# the executor's logger: these lines are the executor's
log = logging.getLogger("openflows.engine.executor")

#: longest a worker sleeps before looking for due work enqueued by another process
POLL_FALLBACK_SECONDS = 0.5  # seconds
#: how often the reaper ends runs older than `run_max_duration_days`
OVERDUE_CHECK_SECONDS = 60.0  # seconds
#: most work items leased by one claim
CLAIM_BATCH = 10  # items
#: items an executor holds per worker thread (in progress or queued), so that claims come in batches
PREFETCH_FACTOR = 2  # items per thread


class WorkerLoops:
    """The claim loop, the worker threads and the supervised side tasks of `Executor`."""

    def _claim_loop(self) -> None:
        """Claim due items in batches for idle worker threads. A claim is a write transaction, so the loop
        claims only when asked (`wake()`: the API enqueued, a commit enqueued work due now, a NOTIFY, a
        reaped lease), when the earliest due time it knows of has come, or when `POLL_FALLBACK_SECONDS`
        passed since the last claim (work enqueued by another process without a notification); otherwise
        it sleeps until the first of these. Items this executor holds until their due time (`_keep`) are
        queued then, within the same capacity; when a claim is asked for too, they take at most half of
        the room, so that new work (a Map's next iterations) is not held up behind a burst of them."""
        capacity = self.threads * PREFETCH_FACTOR
        last_claim = -POLL_FALLBACK_SECONDS
        while not self._stop.is_set():
            with self._cond:
                generation = self._generation
                requested, self._claim_requested = self._claim_requested, False
            with self._in_progress_lock:
                held = len(self._held)
            if held > self.threads:  # every thread is busy and more items are queued: claim later, in bulk
                if requested:
                    with self._cond:
                        self._claim_requested = True
                self._wait(generation, POLL_FALLBACK_SECONDS)  # a thread done with its item nudges the loop
                continue
            room = capacity - held
            claim_now = requested or self._idle_seconds(last_claim) <= 0
            released, held_until = self._release_delayed(max(room // 2, 1) if claim_now else room)
            room -= released
            if not claim_now:
                if not released:
                    self._wait(generation, self._until(held_until, self._idle_seconds(last_claim)))
                continue
            if room <= 0:  # held items took the room: claim on the next pass
                with self._cond:
                    self._claim_requested = True
                continue
            limit = min(room, CLAIM_BATCH)
            last_claim = time.monotonic()
            try:
                items = self.claim(limit=limit)
            except Exception:
                log.exception("claiming work failed", extra={"action": "claim_error", "owner": self.owner})
                self._stop.wait(1.0)
                continue
            if self._stop.is_set():  # stopping: give back what was just claimed
                if items:
                    self._forget([i.id for i in items])
                    self.db.transact(store.release_leases, owner=self.owner, item_ids=[i.id for i in items])
                break
            with self._in_progress_lock:
                self._held.update(item.id for item in items)
            for item in items:
                self._queue.put(item)
            if len(items) == limit:  # a full batch: more may be due
                with self._cond:
                    self._claim_requested = True

    def _worker_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._stop.is_set():  # stopping: hand it back instead of starting it
                self._forget([item.id])
                with self._in_progress_lock:
                    self._held.discard(item.id)
                try:
                    self.db.transact(store.release_leases, owner=self.owner, item_ids=[item.id])
                except Exception:
                    log.exception("could not hand back an item", extra=self._extra("stop_executor", item))
                continue
            self.process(item)
            self._nudge()  # a thread is free again: a claim held back for capacity may go ahead

    def _idle_seconds(self, last_claim: float) -> float:
        """How long the claim loop may sleep: until the earliest known due time or the polling fallback."""
        timeout = POLL_FALLBACK_SECONDS - (time.monotonic() - last_claim)
        due = self._next_due
        if due is not None:
            timeout = min(timeout, (due - self.clock.now()).total_seconds())
        return max(timeout, 0.0)

    def _until(self, due: dt.datetime | None, timeout: float) -> float:
        """`timeout`, shortened to the time left until `due` (an item held until then, `_release_delayed`)."""
        if due is None:
            return timeout
        return max(min(timeout, (due - self.clock.now()).total_seconds()), 0.0)

    def _wait(self, generation: int, timeout: float) -> None:
        with self._cond:
            if self._generation == generation and not self._stop.is_set():
                self._cond.wait(timeout)

    def _supervised(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        """Run a side task; if it ends while the executor runs, stop the executor (it must not limp on)."""

        def run() -> None:
            try:
                target()
            except Exception:
                log.exception("side task %s died", name, extra={"action": "side_task_error", "task": name})
            if not self._stop.is_set():
                self.failed_task = name
                log.error(
                    "side task %s stopped; stopping the executor",
                    name,
                    extra={"action": "side_task_error", "task": name},
                )
                self._stop.set()
                self.wake()

        return run

    def _heartbeat_loop(self) -> None:
        interval = max(self.lease_seconds / 3, 0.05)
        while not self._stop.wait(interval):
            try:
                self.renew_leases()
            except Exception:
                log.exception("renewing leases failed", extra={"action": "heartbeat_error"})

    def _reaper_loop(self) -> None:
        interval = max(self.lease_seconds / 2, 0.05)
        elapsed = 0.0
        last_overdue = last_purge = -1e9
        while not self._stop.wait(interval):
            elapsed += interval
            try:
                if self.reap():
                    self.wake()
                if elapsed - last_overdue >= OVERDUE_CHECK_SECONDS:
                    last_overdue = elapsed
                    self.end_overdue_runs()
                if elapsed - last_purge >= PURGE_INTERVAL_SECONDS:
                    last_purge = elapsed
                    self.purge()
            except Exception:
                log.exception("reaper failed", extra={"action": "reaper_error"})
