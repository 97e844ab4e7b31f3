"""Retention: ended runs are deleted (with their logs, roles and work items) once they completed longer ago
than the retention period (`OPENFLOWS_RETENTION_DAYS`, default 90; 0 keeps runs forever), and so are the
built-in provider actions released longer ago than that.

Workers call `purge_expired_runs` from their reaper task about once an hour. Deletes run in batches, each in
its own short transaction, so a large purge never holds locks for long.
"""

from __future__ import annotations

import datetime as dt
import logging

from ..store import work
from ..store.db import Database

log = logging.getLogger(__name__)

#: runs deleted per transaction
PURGE_BATCH = 500  # runs
#: how often a worker purges
PURGE_INTERVAL_SECONDS = 3600.0  # seconds


def retention_cutoff(now: dt.datetime, retention_days: int) -> dt.datetime | None:
    """Runs completed before this instant are purged; None when retention is off (`retention_days` <= 0)."""
    if retention_days <= 0:
        return None
    return now - dt.timedelta(days=retention_days)


def purge_expired_runs(
    db: Database, *, now: dt.datetime, retention_days: int, batch: int = PURGE_BATCH, max_batches: int = 1000
) -> int:
    """Delete the ended runs older than the retention period, `batch` per transaction; return how many."""
    cutoff = retention_cutoff(now, retention_days)
    if cutoff is None:
        return 0
    total = 0
    for _ in range(max_batches):
        deleted = db.transact(work.purge_finished_runs, completed_before=cutoff, limit=batch)
        total += deleted
        if deleted < batch:
            break
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
    total = 0
    for _ in range(max_batches):
        deleted = db.transact(work.purge_released_actions, released_before=cutoff, limit=batch)
        total += deleted
        if deleted < batch:
            break
    if total:
        log.info(
            "purged %d provider actions released before %s",
            total,
            cutoff.isoformat(),
            extra={"action": "purge_actions", "count": total, "retention_days": retention_days},
        )
    return total
