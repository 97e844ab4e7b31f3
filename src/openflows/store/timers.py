"""Named database operations of timers (docs/timers.md): the `timers` rows, their results (`timer_runs`) and
the one work item (`kind` TIMER_FIRE) that wakes the executor when a timer's next occurrence is due.

Invariants kept here:
- an active timer (status new or loaded) with a `next_run` has exactly one work item, due at `next_run`; an
  inactive or ended timer has none (`set_item` / `drop_item` are called in the transaction that changes it);
- a change to a timer row is guarded by its `version` (`update_timer` raises `errors.ConcurrentUpdate` when
  the row changed since it was read), like the runs;
- a firing (`commit_fire`) moves the item to the next occurrence only if the caller still holds its lease,
  updates the timer by version and inserts the result under the key (timer, occurrence): whatever else the
  transaction did (a run created) commits with them or not at all, so an occurrence fires at most once and a
  crash before the commit leaves it to be fired again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from . import errors, kinds
from .schema import provider_actions, runs, timer_runs, timers, work_items
from .work import NOTIFY_HORIZON_SECONDS, WorkItem, notify_work

#: statuses of a timer that still fires
ACTIVE_STATUSES = frozenset({"new", "loaded"})
#: every status a stored timer can have ("deleted" is only ever shown in the answer to a delete)
STATUSES = ("new", "loaded", "inactive", "ended")
#: results kept in a timer document (the most recent ones)
RECENT_RESULTS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    """A `timers` row."""

    id: uuid.UUID
    owner: str
    name: str
    timer_type: str
    flow_id: uuid.UUID | None
    body: dict[str, Any]
    schedule: dict[str, Any]
    status: str
    inactive_reason: dict[str, Any] | None
    next_occurrence: int
    next_run: dt.datetime | None
    number_of_runs: int
    number_of_errors: int
    number_of_missed: int
    last_ran_at: dt.datetime | None
    submitted_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @classmethod
    def from_row(cls, row: Any) -> Timer:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerRun:
    """A `timer_runs` row: what one occurrence did, with the current status of what it started."""

    timer_id: uuid.UUID
    occurrence: int
    due_at: dt.datetime
    ran_at: dt.datetime
    status: str
    run_id: uuid.UUID | None = None
    action_id: uuid.UUID | None = None
    error: dict[str, Any] | None = None
    missed: int = 0
    #: the run's or the transfer task's status now (None when it is gone: purged or released)
    current_status: str | None = None
    #: the transfer task's details (the Transfer task document), for transfer timers
    action_details: Any = None


# --- timers -------------------------------------------------------------------------------------------------


def insert_timer(conn: sa.Connection, values: dict[str, Any], *, now: dt.datetime) -> Timer:
    """Insert a timer (`values` holds every column but the counters, times and version) and, when it has a
    `next_run`, its work item. Returns the stored timer."""
    row = {
        "number_of_runs": 0,
        "number_of_errors": 0,
        "number_of_missed": 0,
        "last_ran_at": None,
        "submitted_at": now,
        "updated_at": now,
        "version": 0,
        "inactive_reason": None,
        **values,
    }
    conn.execute(sa.insert(timers).values(row))
    timer = get_timer(conn, row["id"])
    assert timer is not None
    if timer.active and timer.next_run is not None:
        set_item(conn, timer.id, due_at=timer.next_run, occurrence=timer.next_occurrence, now=now)
    return timer


def get_timer(conn: sa.Connection, timer_id: uuid.UUID, *, for_update: bool = False) -> Timer | None:
    """The timer, or None. `for_update` locks the row until the transaction ends (PostgreSQL; SQLite's
    write transactions are serialised anyway)."""
    stmt = sa.select(timers).where(timers.c.id == timer_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one_or_none()
    return None if row is None else Timer.from_row(row)


def list_timers(
    conn: sa.Connection,
    *,
    owner: str | None,
    descending: bool = False,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[Timer]:
    """Timers of `owner` (every timer when None) by submission time (then id), after the key `after`."""
    stmt = sa.select(timers)
    if owner is not None:
        stmt = stmt.where(timers.c.owner == owner)
    key = sa.tuple_(timers.c.submitted_at, timers.c.id)
    if after is not None:
        stmt = stmt.where(key < sa.tuple_(*after) if descending else key > sa.tuple_(*after))
    if descending:
        stmt = stmt.order_by(timers.c.submitted_at.desc(), timers.c.id.desc())
    else:
        stmt = stmt.order_by(timers.c.submitted_at, timers.c.id)
    return [Timer.from_row(row) for row in conn.execute(stmt.limit(limit))]


def update_timer(conn: sa.Connection, timer: Timer, changes: dict[str, Any], *, now: dt.datetime) -> Timer:
    """Set `changes` on the timer as it was read (`timer.version`); bump the version. Raises
    `errors.ConcurrentUpdate` when the row changed meanwhile (or is gone)."""
    values = {**changes, "updated_at": now, "version": timer.version + 1}
    result = conn.execute(
        sa.update(timers).where(timers.c.id == timer.id, timers.c.version == timer.version).values(values)
    )
    if result.rowcount != 1:
        raise errors.ConcurrentUpdate(f"timer {timer.id} changed since version {timer.version}")
    fields = {name: getattr(timer, name) for name in Timer.__dataclass_fields__}
    fields.update(values)
    return Timer(**fields)


def delete_timer(conn: sa.Connection, timer_id: uuid.UUID) -> bool:
    """Delete the timer, its results and its work item; False if there was no such timer."""
    conn.execute(sa.delete(work_items).where(work_items.c.timer_id == timer_id))
    conn.execute(sa.delete(timer_runs).where(timer_runs.c.timer_id == timer_id))
    return conn.execute(sa.delete(timers).where(timers.c.id == timer_id)).rowcount == 1


# --- the work item ------------------------------------------------------------------------------------------


def _build_claim_timers() -> Any:
    due = (
        sa.select(work_items.c.id)
        .where(
            work_items.c.timer_id.is_not(None),
            work_items.c.lease_owner.is_(None),
            work_items.c.due_at <= sa.bindparam("b_now"),
        )
        .order_by(work_items.c.due_at, work_items.c.id)
        .limit(sa.bindparam("b_limit", type_=sa.Integer()))
        .with_for_update(skip_locked=True)
        .cte("timer_due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        sa.update(work_items)
        .where(work_items.c.id.in_(sa.select(due.c.id)), work_items.c.lease_owner.is_(None))
        .values(
            lease_owner=sa.bindparam("b_owner"),
            lease_until=sa.bindparam("b_lease_until"),
            attempts=work_items.c.attempts + 1,
        )
        .returning(*work_items.c)
    )


_CLAIM_TIMERS = _build_claim_timers()


def claim_timer_items(
    conn: sa.Connection, *, owner: str, now: dt.datetime, lease_seconds: float, limit: int = 1
) -> list[WorkItem]:
    """Lease up to `limit` due, unleased timer items (TIMER_FIRE) to `owner`, earliest due first. A timer has
    one item, so no two workers ever hold the same timer's next occurrence. Must run in a write transaction.
    """
    if limit <= 0:
        return []
    rows = conn.execute(
        _CLAIM_TIMERS,
        {
            "b_now": now,
            "b_limit": limit,
            "b_owner": owner,
            "b_lease_until": now + dt.timedelta(seconds=lease_seconds),
        },
    )
    return sorted((WorkItem.from_row(row) for row in rows), key=lambda item: (item.due_at, item.id))


def set_item(
    conn: sa.Connection, timer_id: uuid.UUID, *, due_at: dt.datetime, occurrence: int, now: dt.datetime
) -> None:
    """Make the timer's one work item due at `due_at` (replacing any, leased or not: a worker holding the old
    one then fails its commit, as it must when the timer changed)."""
    drop_item(conn, timer_id)
    conn.execute(
        sa.insert(work_items).values(
            run_id=None,
            timer_id=timer_id,
            kind=kinds.TIMER_FIRE,
            due_at=due_at,
            payload={"occurrence": occurrence},
            created_at=now,
            attempts=0,
        )
    )
    _announce(conn, due_at, now)


def _announce(conn: sa.Connection, due_at: dt.datetime, now: dt.datetime) -> None:
    """NOTIFY listening workers when the item is due soon (later ones are found by their sleep)."""
    if due_at <= now + dt.timedelta(seconds=NOTIFY_HORIZON_SECONDS):
        notify_work(conn)


def drop_item(conn: sa.Connection, timer_id: uuid.UUID) -> None:
    """Delete the timer's work item (if any)."""
    conn.execute(sa.delete(work_items).where(work_items.c.timer_id == timer_id))


def get_item(conn: sa.Connection, timer_id: uuid.UUID) -> Any:
    """The timer's work item row (or None), for tests and diagnostics."""
    return conn.execute(sa.select(work_items).where(work_items.c.timer_id == timer_id)).one_or_none()


def reschedule_item(
    conn: sa.Connection,
    *,
    item_id: int,
    lease_owner: str,
    due_at: dt.datetime,
    occurrence: int,
    now: dt.datetime,
) -> bool:
    """Give back a leased timer item, due at `due_at` (fresh attempts); False if `lease_owner` no longer holds
    it."""
    result = conn.execute(
        sa.update(work_items)
        .where(work_items.c.id == item_id, work_items.c.lease_owner == lease_owner)
        .values(
            lease_owner=None, lease_until=None, due_at=due_at, attempts=0, payload={"occurrence": occurrence}
        )
    )
    if result.rowcount == 1:
        _announce(conn, due_at, now)
    return result.rowcount == 1


def finish_item(conn: sa.Connection, *, item_id: int, lease_owner: str) -> bool:
    """Delete a leased timer item (the timer fires no more); False if `lease_owner` no longer holds it."""
    result = conn.execute(
        sa.delete(work_items).where(work_items.c.id == item_id, work_items.c.lease_owner == lease_owner)
    )
    return result.rowcount == 1


# --- firing -------------------------------------------------------------------------------------------------


def commit_fire(
    conn: sa.Connection,
    *,
    timer: Timer,
    item_id: int,
    lease_owner: str,
    result: dict[str, Any],
    changes: dict[str, Any],
    now: dt.datetime,
) -> Timer:
    """The bookkeeping of one firing, in the caller's write transaction (which has just started the run or
    the transfer, if anything started): move the item to the timer's new `next_run` (or delete it when the
    timer fires no more) only if `lease_owner` still holds it, update the timer by version with `changes`, and
    insert the `timer_runs` row `result` (keyed by timer and occurrence). Raises `errors.ConcurrentUpdate`
    (lease lost, timer changed) or `errors.UniqueViolation` (the occurrence already fired); the caller's
    transaction must then roll back."""
    updated = update_timer(conn, timer, changes, now=now)
    if updated.active and updated.next_run is not None:
        kept = reschedule_item(
            conn,
            item_id=item_id,
            lease_owner=lease_owner,
            due_at=updated.next_run,
            occurrence=updated.next_occurrence,
            now=now,
        )
    else:
        kept = finish_item(conn, item_id=item_id, lease_owner=lease_owner)
    if not kept:
        raise errors.ConcurrentUpdate(f"timer item {item_id} is no longer leased to {lease_owner}")
    conn.execute(sa.insert(timer_runs).values({"timer_id": timer.id, **result}))
    return updated


# --- results ------------------------------------------------------------------------------------------------


def recent_results(
    conn: sa.Connection, timer_ids: Sequence[uuid.UUID], *, limit: int = RECENT_RESULTS
) -> dict[uuid.UUID, list[TimerRun]]:
    """The most recent results of each timer (newest first), with the current status of the runs and
    transfer tasks they started."""
    found: dict[uuid.UUID, list[TimerRun]] = {timer_id: [] for timer_id in timer_ids}
    if not timer_ids:
        return found
    ranked = (
        sa.select(
            timer_runs,
            sa.func.row_number()
            .over(partition_by=timer_runs.c.timer_id, order_by=timer_runs.c.occurrence.desc())
            .label("rank"),
        )
        .where(timer_runs.c.timer_id.in_(list(timer_ids)))
        .subquery()
    )
    stmt = (
        sa.select(
            ranked,
            runs.c.status.label("run_status"),
            provider_actions.c.status.label("action_status"),
            provider_actions.c.details.label("action_details"),
        )
        .outerjoin(runs, runs.c.id == ranked.c.run_id)
        .outerjoin(provider_actions, provider_actions.c.id == ranked.c.action_id)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.timer_id, ranked.c.occurrence.desc())
    )
    for row in conn.execute(stmt):
        m = row._mapping
        found[m["timer_id"]].append(
            TimerRun(
                timer_id=m["timer_id"],
                occurrence=m["occurrence"],
                due_at=m["due_at"],
                ran_at=m["ran_at"],
                status=m["status"],
                run_id=m["run_id"],
                action_id=m["action_id"],
                error=m["error"],
                missed=m["missed"],
                current_status=m["run_status"] or m["action_status"],
                action_details=m["action_details"],
            )
        )
    return found


def list_results(conn: sa.Connection, timer_id: uuid.UUID) -> list[TimerRun]:
    """Every result of the timer, oldest first (for tests and exports)."""
    rows = conn.execute(
        sa.select(timer_runs).where(timer_runs.c.timer_id == timer_id).order_by(timer_runs.c.occurrence)
    )
    return [TimerRun(**dict(row._mapping)) for row in rows]


def purge_results(conn: sa.Connection, *, ran_before: dt.datetime, limit: int = 500) -> int:
    """Delete up to `limit` results of occurrences that fired before `ran_before`; return how many (call again
    until fewer than `limit`). The occurrence keys of a timer's future firings do not depend on them: its row
    counts on from `next_occurrence`."""
    keys = conn.execute(
        sa.select(timer_runs.c.timer_id, timer_runs.c.occurrence)
        .where(timer_runs.c.ran_at < ran_before)
        .order_by(timer_runs.c.ran_at)
        .limit(limit)
    ).all()
    for timer_id, occurrence in keys:
        conn.execute(
            sa.delete(timer_runs).where(
                timer_runs.c.timer_id == timer_id, timer_runs.c.occurrence == occurrence
            )
        )
    return len(keys)
