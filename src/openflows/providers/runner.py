"""Background work of the asynchronous built-in providers (transfer, delete, compute), durable across crashes.

`/run` stores an ACTIVE row in `provider_actions` and hands its id to the `ActionRunner`, which does the work
in a thread pool. The row is the only truth:

- **Lease.** A runner claims an action by setting its `due_at` to `now + lease_seconds` (only if it is ACTIVE
  and its lease has expired or was never taken); a heartbeat renews the leases of the actions in progress.
- **Crash.** A dead process stops renewing. `recover()` (called at start and every `lease_seconds / 2` by the
  heartbeat) claims every ACTIVE action whose lease expired and starts its work again. Transfers resume
  file by file (each file is written to a temporary name and renamed, so a half-copied file is never seen).
- **Cancel.** The provider's cancel sets the row FAILED; `Job.progress` notices (its conditional UPDATE
  matches no row) and raises `ActionCanceled`, which stops the work.
- **Wake.** When an action ends, `on_finished(provider_name, action_id, request_id)` is called, so the server
  can make the run's next poll due at once instead of at its back-off.

`inline=True` runs the work synchronously inside `submit` (the engine tests: no threads, a fake clock).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import sqlalchemy as sa

from ..language.storable import make_storable
from ..shared.clock import Clock, SystemClock
from ..store.db import Database
from ..store.schema import provider_actions
from .outcomes import Outcome, failure, storable_outcome

log = logging.getLogger(__name__)

#: how long a claimed background action stays leased without a heartbeat
DEFAULT_LEASE_SECONDS = 30.0  # seconds
#: threads of the runner's pool (actions worked on at once)
DEFAULT_THREADS = 4  # threads
#: shortest interval between two progress writes of one action
PROGRESS_INTERVAL_SECONDS = 0.5  # seconds

OnFinished = Callable[[str, str, str], None]


class WorkedProvider(Protocol):
    """What the runner needs of a provider whose actions it works on (`stored.StoredProvider`)."""

    name: str

    def work(self, job: Job) -> Outcome: ...


class ActionCanceled(Exception):
    """The action was canceled (or released, or taken over) while it was being worked on."""


class Job:
    """One claimed action being worked on: its body, `state`, and how to report progress."""

    def __init__(self, runner: ActionRunner, provider: WorkedProvider, row: dict[str, Any]) -> None:
        self.runner = runner
        self.provider = provider
        self.row = row
        self.action_id = str(row["id"])
        self.body: dict[str, Any] = row["body"]
        self.state: dict[str, Any] = row.get("state") or {}
        #: another process worked on this action before and died: its leftovers may need cleaning
        self.recovered: bool = bool(row.get("_recovered"))
        self.canceled = threading.Event()
        self._last_write = 0.0

    def check(self) -> None:
        """Raise `ActionCanceled` if this process saw the action canceled."""
        if self.canceled.is_set():
            raise ActionCanceled(self.action_id)

    def progress(self, details: Any, *, force: bool = False) -> None:
        """Store progress `details` (at most every PROGRESS_INTERVAL_SECONDS unless `force`); raise
        `ActionCanceled` if the action is no longer ACTIVE."""
        self.check()
        now = time.monotonic()
        if not force and now - self._last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self._last_write = now
        details = make_storable(details)  # progress is shown, never refused: escape what cannot be stored
        lease = self.runner.clock.now() + dt.timedelta(seconds=self.runner.lease_seconds)
        updated = self.runner.db.transact(
            lambda conn: (
                conn.execute(
                    sa.update(provider_actions)
                    .where(provider_actions.c.id == self.row["id"], provider_actions.c.status == "ACTIVE")
                    .values(details=details, due_at=lease)
                ).rowcount
            )
        )
        if not updated:
            self.canceled.set()
            raise ActionCanceled(self.action_id)


class ActionRunner:
    """Works on the asynchronous built-in providers' actions in background threads."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        threads: int = DEFAULT_THREADS,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        inline: bool = False,
        on_finished: OnFinished | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.threads = max(1, threads)
        self.lease_seconds = lease_seconds
        self.inline = inline
        self.on_finished = on_finished
        self._providers: dict[str, WorkedProvider] = {}
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def register(self, provider: WorkedProvider) -> None:
        self._providers[provider.name] = provider

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the pool and the heartbeat, and pick up the actions a previous process left ACTIVE."""
        if self.inline or self._pool is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="openflows-provider")
        self._heartbeat = threading.Thread(
            target=self._heartbeat_loop, name="openflows-provider-lease", daemon=True
        )
        self._heartbeat.start()
        self.recover()

    def stop(self) -> None:
        """Stop taking work; running jobs are told to stop (their actions stay ACTIVE and are recovered by
        the next process once their lease expires)."""
        self._stop.set()
        with self._lock:
            for job in self._jobs.values():
                job.canceled.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5)
            self._heartbeat = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- work ----------------------------------------------------------------------------------------------

    def submit(self, provider: WorkedProvider, action_id: str) -> None:
        """Claim the action and work on it (now if inline, else in the pool)."""
        if self.inline:
            self._work(provider, action_id)
        elif self._pool is not None and not self._stop.is_set():
            self._pool.submit(self._work, provider, action_id)
        # not started: the action stays ACTIVE and unleased; `recover()` picks it up later

    def cancel(self, action_id: str) -> None:
        with self._lock:
            job = self._jobs.get(action_id)
        if job is not None:
            job.canceled.set()

    def recover(self) -> int:
        """Claim and restart every ACTIVE action of our providers whose lease expired; return how many."""
        if not self._providers:
            return 0
        now = self.clock.now()
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(provider_actions.c.id, provider_actions.c.provider).where(
                    provider_actions.c.provider.in_(list(self._providers)),
                    provider_actions.c.status == "ACTIVE",
                    sa.or_(provider_actions.c.due_at.is_(None), provider_actions.c.due_at < now),
                )
            ).all()
        count = 0
        for row in rows:
            with self._lock:
                if str(row.id) in self._jobs:
                    continue
            self.submit(self._providers[row.provider], str(row.id))
            count += 1
        return count

    def busy(self) -> int:
        """How many actions this runner is working on."""
        with self._lock:
            return len(self._jobs)

    def _claim(self, provider: WorkedProvider, action_id: str) -> dict[str, Any] | None:
        now = self.clock.now()
        lease = now + dt.timedelta(seconds=self.lease_seconds)
        key = uuid.UUID(action_id)

        def claim(conn: sa.Connection) -> dict[str, Any] | None:
            before = conn.execute(
                sa.select(provider_actions.c.due_at).where(provider_actions.c.id == key)
            ).scalar_one_or_none()
            updated = conn.execute(
                sa.update(provider_actions)
                .where(
                    provider_actions.c.id == key,
                    provider_actions.c.provider == provider.name,
                    provider_actions.c.status == "ACTIVE",
                    sa.or_(provider_actions.c.due_at.is_(None), provider_actions.c.due_at < now),
                )
                .values(due_at=lease)
            ).rowcount
            if not updated:
                return None
            row = conn.execute(sa.select(provider_actions).where(provider_actions.c.id == key)).one()
            # a lease was taken before: a process died while working on this action
            return {**row._mapping, "_recovered": before is not None}

        return self.db.transact(claim)

    def _work(self, provider: WorkedProvider, action_id: str) -> None:
        with self._lock:
            if action_id in self._jobs:
                return
        row = self._claim(provider, action_id)
        if row is None:
            return  # finished, canceled, or another runner holds it
        job = Job(self, provider, row)
        with self._lock:
            self._jobs[action_id] = job
        try:
            try:
                outcome = provider.work(job)
            except ActionCanceled:
                return
            except Exception as exc:  # a bug or an unexpected OS error: the action fails, saying why
                log.exception("background work of %s action %s failed", provider.name, action_id)
                outcome = Outcome.failed(failure("ActionFailed", f"{type(exc).__name__}: {exc}"))
            if job.canceled.is_set() and self._stop.is_set():
                return  # shutting down: leave it ACTIVE for recovery
            self._finish(row, outcome)
        finally:
            with self._lock:
                self._jobs.pop(action_id, None)

    def _finish(self, row: dict[str, Any], outcome: Outcome) -> None:
        outcome = storable_outcome(outcome)
        now = self.clock.now()
        changes = {
            "status": outcome.status,
            "display_status": outcome.display_status or outcome.status,
            "details": outcome.details,
            "completion_time": max(now, row["start_time"]),
            "due_at": None,
        }
        updated = self.db.transact(
            lambda conn: (
                conn.execute(
                    sa.update(provider_actions)
                    .where(provider_actions.c.id == row["id"], provider_actions.c.status == "ACTIVE")
                    .values(**changes)
                ).rowcount
            )
        )
        if updated and self.on_finished is not None:
            try:
                self.on_finished(row["provider"], str(row["id"]), row["request_id"])
            except Exception:  # waking a run early is an optimisation only
                log.exception("on_finished hook failed")

    def _heartbeat_loop(self) -> None:
        interval = max(self.lease_seconds / 3, 0.05)
        last_recover = time.monotonic()
        while not self._stop.wait(interval):
            with self._lock:
                ids = [job.row["id"] for job in self._jobs.values()]
            try:
                if ids:
                    lease = self.clock.now() + dt.timedelta(seconds=self.lease_seconds)
                    self.db.transact(
                        lambda conn, ids=ids, lease=lease: conn.execute(
                            sa.update(provider_actions)
                            .where(provider_actions.c.id.in_(ids), provider_actions.c.status == "ACTIVE")
                            .values(due_at=lease)
                        )
                    )
                if time.monotonic() - last_recover >= self.lease_seconds / 2:
                    last_recover = time.monotonic()
                    self.recover()
            except Exception:  # the database may be briefly unavailable: try again next beat
                log.exception("provider heartbeat failed")
