"""Retention (see `engine/retention.py`): deleting ended runs and released provider actions past their
retention period, in batches, by one worker at a time."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from .children import descendant_ids
from .schema import provider_actions, run_logs, run_roles, runs, work_items
from .work import TERMINAL_STATUSES

#: PostgreSQL advisory lock key held by the one worker purging old runs ("ofpurge" in ASCII)
PURGE_LOCK_KEY = 0x6F66707572676500


def purge_finished_runs(conn: sa.Connection, *, completed_before: dt.datetime, limit: int = 500) -> int:
    """Delete up to `limit` ended runs (SUCCEEDED, FAILED, ENDED) that completed before `completed_before`,
    with their logs, roles and work items and their iterations (Map and Parallel child runs, which are never
    deleted before their run); return how many runs were deleted (call again until 0).

    On PostgreSQL one purge runs at a time (a transaction advisory lock): another worker's purge returns 0.
    """
    if (
        conn.dialect.name == "postgresql"
        and not conn.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PURGE_LOCK_KEY}
        ).scalar_one()
    ):
        return 0
    ids = list(
        conn.execute(
            sa.select(runs.c.id)
            .where(
                runs.c.status.in_(sorted(TERMINAL_STATUSES)),
                runs.c.completion_time < completed_before,
                runs.c.parent_run_id.is_(None),  # iterations go with their run, never before it
            )
            .order_by(runs.c.completion_time)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    every = ids + descendant_ids(conn, ids)
    for start in range(0, len(every), 500):
        chunk = every[start : start + 500]
        for table in (work_items, run_logs, run_roles):
            conn.execute(sa.delete(table).where(table.c.run_id.in_(chunk)))
        conn.execute(sa.delete(runs).where(runs.c.id.in_(chunk)))
    return len(ids)


def purge_released_actions(conn: sa.Connection, *, released_before: dt.datetime, limit: int = 500) -> int:
    """Delete up to `limit` built-in provider actions released before `released_before`; return how many
    (call again until fewer than `limit`). A flow releases each action once its state is done with it, so
    without this every action ever run would stay in `provider_actions`."""
    ids = list(
        conn.execute(
            sa.select(provider_actions.c.id)
            .where(provider_actions.c.released_at < released_before)
            .order_by(provider_actions.c.released_at)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(sa.delete(provider_actions).where(provider_actions.c.id.in_(ids)))
    return len(ids)
