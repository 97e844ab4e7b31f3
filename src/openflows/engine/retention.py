"""Retention: ended runs are deleted (with their logs, roles and work items) once they completed longer ago
than the retention period (`OPENFLOWS_RETENTION_DAYS`, default 90; 0 keeps runs forever), and so are the
built-in provider actions released longer ago than that, and the results of timer occurrences that fired
longer ago than that (the hosted Timers service keeps 90 days of a timer's activity). Authorization codes are
deleted a day after they expired, whatever the retention period, and so are registered APIs whose deletion
grace period (`OPENFLOWS_REGISTERED_API_DELETION_DAYS`) is over: from that time on the API answers 404 and
flows that call it fail with `RegisteredAPINotFound`, so removing its row changes nothing a client can see.

Workers call `purge_expired_runs` from their reaper task about once an hour. Deletes run in batches, each in
its own short transaction, so a large purge never holds locks for long.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from ..store import auth_tokens, registered_apis, timers
from ..store import retention as store_retention
from ..store.db import Database

log = logging.getLogger(__name__)

#: runs deleted per transaction
PURGE_BATCH = 500  # runs
#: how often a worker purges
PURGE_INTERVAL_SECONDS = 3600.0  # seconds
#: authorization codes are kept this long after they expire (a replayed code can still revoke its tokens)
EXPIRED_CODES_KEPT = dt.timedelta(days=1)


def retention_cutoff(now: dt.datetime, retention_days: int) -> dt.datetime | None:
    """Runs completed before this instant are purged; None when retention is off (`retention_days` <= 0)."""
    if retention_days <= 0:
        return None
    return now - dt.timedelta(days=retention_days)


def _in_batches(db: Database, delete: Callable[..., int], batch: int, max_batches: int, **kwargs: Any) -> int:
    """Call `delete(conn, limit=batch, **kwargs)` (it deletes up to `limit` rows and answers how many) in a
    transaction of its own each time, until a call deletes fewer than `batch` or `max_batches` calls were
    made; return how many rows were deleted in all."""
    total = 0
    for _ in range(max_batches):
        deleted = db.transact(delete, limit=batch, **kwargs)
        total += deleted
        if deleted < batch:
            break
    return total


def purge_expired_runs(
    db: Database, *, now: dt.datetime, retention_days: int, batch: int = PURGE_BATCH, max_batches: int = 1000
) -> int:
    """Delete the ended runs older than the retention period, `batch` per transaction; return how many."""
    cutoff = retention_cutoff(now, retention_days)
    if cutoff is None:
        return 0
    total = _in_batches(db, store_retention.purge_finished_runs, batch, max_batches, completed_before=cutoff)
    if total:
        log.info(
            "purged %d runs completed before %s",
            total,
            cutoff.isoformat(),
            extra={"action": "purge_runs", "count": total, "retention_days": retention_days},
        )
    return total


def purge_released_actions(
    db: Database, *, now: dt.datetime, retention_days: int, batch: int = PURGE_BATCH, max_batches: int = 1000
) -> int:
    """Delete the built-in provider actions released before the retention period; return how many."""
    cutoff = retention_cutoff(now, retention_days)
    if cutoff is None:
        return 0
    total = _in_batches(
        db, store_retention.purge_released_actions, batch, max_batches, released_before=cutoff
    )
    if total:
        log.info(
            "purged %d provider actions released before %s",
            total,
            cutoff.isoformat(),
            extra={"action": "purge_actions", "count": total, "retention_days": retention_days},
        )
    return total


def purge_expired_codes(db: Database, *, now: dt.datetime) -> int:
    """Delete the authorization codes that expired more than `EXPIRED_CODES_KEPT` ago; return how many."""
    return db.transact(auth_tokens.delete_codes_expired_before, now - EXPIRED_CODES_KEPT)


def purge_deleted_registered_apis(
    db: Database, *, now: dt.datetime, batch: int = PURGE_BATCH, max_batches: int = 1000
) -> int:
    """Delete the registered APIs (and their role rows) whose scheduled deletion time has passed, `batch`
    per transaction; return how many."""
    total = _in_batches(db, registered_apis.purge_deleted, batch, max_batches, now=now)
    if total:
        log.info(
            "purged %d registered APIs past their deletion time",
            total,
            extra={"action": "purge_registered_apis", "count": total},
        )
    return total


def purge_old_timer_results(
    db: Database, *, now: dt.datetime, retention_days: int, batch: int = PURGE_BATCH, max_batches: int = 1000
) -> int:
    """Delete the results of timer occurrences that fired before the retention period; return how many."""
    cutoff = retention_cutoff(now, retention_days)
    if cutoff is None:
        return 0
    return _in_batches(db, timers.purge_results, batch, max_batches, ran_before=cutoff)
