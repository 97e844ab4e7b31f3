"""Gauges read from the database at scrape time (see `shared.metrics`): work backlog and lag, runs by
status, this process's connection pool."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..shared.metrics import Gauge


def database_gauges(db: Any, *, now: dt.datetime) -> list[Gauge]:
    """Gauges read from the database (`store.db.Database`) at `now`: work backlog and lag, runs by status,
    this process's pool."""
    from ..store import work

    with db.read() as conn:
        backlog = work.measure_backlog(conn, now=now)
        by_status = work.count_runs_by_status(conn)
    lag = (now - backlog.oldest_due_at).total_seconds() if backlog.oldest_due_at is not None else 0.0
    pool = db.pool_status()
    statuses = sorted({"ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED", "ENDED", *by_status})
    return [
        Gauge(
            "openflows_work_items",
            "Work items by state: due (waiting for a worker), leased (being processed), scheduled (later).",
            [
                ({"state": "due"}, backlog.due),
                ({"state": "leased"}, backlog.leased),
                ({"state": "scheduled"}, backlog.scheduled),
            ],
        ),
        Gauge(
            "openflows_work_lag_seconds",
            "How long the oldest due, unclaimed work item has been waiting (0 when none).",
            [({}, max(lag, 0.0))],
        ),
        Gauge("openflows_runs", "Runs by status.", [({"status": s}, by_status.get(s, 0)) for s in statuses]),
        Gauge(
            "openflows_db_pool_connections",
            "This process's database connection pool, by state.",
            [({"state": name}, value) for name, value in pool.items()],
        ),
    ]
