"""Claiming due work (see `work.py`): `claim_work_items` leases due items portably (`FOR UPDATE SKIP LOCKED`
on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), one run at a time; `claim_with_runs` also claims due timer
items (`store.timers`) and reads the claimed items' runs in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from . import kinds
from . import timers as timer_store
from .schema import runs, work_items
from .work import _NEXT_DUE_BOTH, RunForStep, WorkItem, _aware, load_runs_for_step


def _build_claim() -> tuple[Any, Any, Any]:
    candidate = work_items.alias("candidate")
    other = work_items.alias("other")
    run_busy = (
        sa.select(other.c.id)
        .where(
            other.c.run_id == candidate.c.run_id,
            other.c.lease_owner.is_not(None),
            other.c.kind.not_in(kinds.INDEPENDENT),
        )
        .exists()
    )
    due = (
        sa.select(candidate.c.id)
        .join(runs, runs.c.id == candidate.c.run_id)
        .where(
            candidate.c.lease_owner.is_(None),
            candidate.c.due_at <= sa.bindparam("b_now"),
            sa.or_(candidate.c.kind.in_(kinds.INDEPENDENT), ~run_busy),
        )
        .order_by(candidate.c.due_at, candidate.c.id)
        .limit(sa.bindparam("b_limit", type_=sa.Integer()))
        .with_for_update(skip_locked=True, of=[candidate, runs])
        .cte("due")
        # evaluated once: PostgreSQL may otherwise re-run a LIMIT ... SKIP LOCKED subquery per row
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    claim = (
        sa.update(work_items)
        .where(work_items.c.id.in_(sa.select(due.c.id)), work_items.c.lease_owner.is_(None))
        .values(
            lease_owner=sa.bindparam("b_owner"),
            lease_until=sa.bindparam("b_lease_until"),
            attempts=work_items.c.attempts + 1,
        )
        .returning(*work_items.c)
    )
    unclaim = (
        sa.update(work_items)
        .where(work_items.c.id.in_(sa.bindparam("b_ids", expanding=True)))
        .values(lease_owner=None, lease_until=None, attempts=work_items.c.attempts - 1)
    )
    # the runs (of `b_runs`) that hold a leased item besides `b_ids` (the items this claim leased)
    held_elsewhere = (
        sa.select(work_items.c.run_id)
        .where(
            work_items.c.run_id.in_(sa.bindparam("b_runs", expanding=True)),
            work_items.c.id.not_in(sa.bindparam("b_ids", expanding=True)),
            work_items.c.lease_owner.is_not(None),
            work_items.c.kind.not_in(kinds.INDEPENDENT),
        )
        .distinct()
    )
    return claim, unclaim, held_elsewhere


# Statements of the hot path are built once (with bind parameters): building and caching a SQLAlchemy
# statement per call cost more than executing it (issue 7's profile).
_CLAIM, _UNCLAIM, _HELD_ELSEWHERE = _build_claim()


def claim_work_items(
    conn: sa.Connection, *, owner: str, now: dt.datetime, lease_seconds: float, limit: int = 1
) -> list[WorkItem]:
    """Lease up to `limit` due, unleased work items to `owner` (earliest due first) and return them.

    At most one item per run is leased at any time (notifications, `kinds.INDEPENDENT`, apart: they are
    claimed whatever else of their run is leased and hold nothing up): items of runs that already have a
    leased item are skipped, the run rows are locked with the items (PostgreSQL, `FOR UPDATE ... SKIP LOCKED`,
    so a run being claimed or committed by another worker is skipped), and when the batch holds two items of
    one run, all but the earliest are given back before the transaction ends. Each claim increments
    `attempts`. Must run in a write transaction.
    """
    rows = conn.execute(
        _CLAIM,
        {
            "b_now": now,
            "b_limit": limit,
            "b_owner": owner,
            "b_lease_until": now + dt.timedelta(seconds=lease_seconds),
        },
    )
    items = [WorkItem.from_row(row) for row in rows]
    items.sort(key=lambda item: (item.due_at, item.id))
    kept: list[WorkItem] = []
    extra: list[int] = []
    seen: set[uuid.UUID] = set()
    for item in items:
        if item.kind in kinds.INDEPENDENT:  # a notification: neither waits for nor holds up its run
            kept.append(item)
        elif item.run_id in seen:
            extra.append(item.id)
        else:
            seen.add(item.run_id)
            kept.append(item)
    mine = [item for item in kept if item.kind not in kinds.INDEPENDENT]
    if conn.dialect.name == "postgresql" and mine:
        # READ COMMITTED: the claim's snapshot is taken before it waits for no lock (SKIP LOCKED), so a run
        # whose item another worker leased and committed just before this claim locked the run's row passed
        # the "no leased item" test on the older snapshot. Checked again here, on a fresh snapshot, under
        # the run rows' locks: such items are given back (the run is the other worker's)
        held = {"b_runs": list({item.run_id for item in mine}), "b_ids": [item.id for item in items]}
        taken = set(conn.execute(_HELD_ELSEWHERE, held).scalars())
        extra.extend(item.id for item in mine if item.run_id in taken)
        kept = [item for item in kept if item.kind in kinds.INDEPENDENT or item.run_id not in taken]
    if extra:
        conn.execute(_UNCLAIM, {"b_ids": extra})
    return kept


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """What one claim transaction returns: the leased items, their runs as they were when leased (None
    for a run that no longer exists), and the earliest due time of the items still unleased."""

    items: list[WorkItem]
    runs: dict[uuid.UUID, RunForStep | None]
    next_due_at: dt.datetime | None
    #: the earliest due time of the unleased timer items (None: there is none)
    next_timer_due_at: dt.datetime | None = None


def claim_with_runs(
    conn: sa.Connection,
    *,
    owner: str,
    now: dt.datetime,
    lease_seconds: float,
    limit: int = 1,
    claim_timers: bool = True,
) -> Claim:
    """`claim_work_items`, plus the claimed items' runs and `next_due_at`, in the same transaction: the
    executor then needs no read transaction per item, nor one to learn how long it may sleep.

    The runs are read under the items' leases, so only an API call (cancel, resume, update) can change them
    before the step commits; the commit's version check catches that.

    Due timer items are claimed first, when `claim_timers` (they are few, and a firing must not wait behind a
    backlog of steps), then run items fill the rest of `limit`; a timer item has no run (its entry in `runs`
    is None). `next_timer_due_at` tells the caller when it next needs to claim timer items."""
    timer_items = (
        timer_store.claim_timer_items(conn, owner=owner, now=now, lease_seconds=lease_seconds, limit=limit)
        if claim_timers
        else []
    )
    items = (
        claim_work_items(
            conn, owner=owner, now=now, lease_seconds=lease_seconds, limit=limit - len(timer_items)
        )
        if len(timer_items) < limit
        else []
    )
    loaded = load_runs_for_step(conn, [item.run_id for item in items]) if items else {}
    items = timer_items + items
    next_due, next_timer_due = conn.execute(_NEXT_DUE_BOTH).one()
    return Claim(
        items=items,
        runs={item.run_id: loaded.get(item.run_id) for item in items},
        next_due_at=_aware(next_due),
        next_timer_due_at=_aware(next_timer_due),
    )
