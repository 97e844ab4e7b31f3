"""Named database operations of the executor: work items (enqueue, claim, leases), loading a run for a step,
and the single transaction that commits a step (`commit_transition`).

The engine never builds a query; it calls these. Every function takes an open connection (`Database.begin()`
for writes, `Database.read()` for reads) and the current time as `now`, so nothing here reads a clock.

Claiming is portable: `UPDATE work_items ... WHERE id IN (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT n)
RETURNING ...`. PostgreSQL skips rows other workers hold; SQLite drops `FOR UPDATE` and relies on `BEGIN
IMMEDIATE` (one writer at a time). A run is stepped by one worker at a time: the claim skips the items of
runs that have a leased item, and on PostgreSQL also locks (SKIP LOCKED) the run rows, so two concurrent
claims never lease two items of one run.

On PostgreSQL, enqueueing work due soon sends `NOTIFY openflows_work` in the same transaction, so idle
workers (`LISTEN openflows_work`) wake as soon as it commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from . import errors, kinds
from .schema import flow_versions, provider_actions, run_logs, runs, work_items

#: run statuses after which a run never changes again
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ENDED"})
#: the PostgreSQL channel on which enqueued work is announced (LISTEN in engine.notify)
NOTIFY_CHANNEL = "openflows_work"
#: work due within this long of its enqueueing is announced with NOTIFY (later work is found by polling)
NOTIFY_HORIZON_SECONDS = 5.0  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem:
    """A claimed (or pending) work item."""

    id: int
    #: the item's run (every kind but TIMER_FIRE; typed as always present because the run handlers rely on it)
    run_id: uuid.UUID
    kind: str
    due_at: dt.datetime
    lease_owner: str | None
    lease_until: dt.datetime | None
    attempts: int
    payload: dict[str, Any] | None
    #: the timer a TIMER_FIRE item fires (None for the items of runs)
    timer_id: uuid.UUID | None = None

    @classmethod
    def from_row(cls, row: Any) -> WorkItem:
        m = row._mapping
        return cls(
            id=m["id"],
            run_id=m["run_id"],
            kind=m["kind"],
            due_at=m["due_at"],
            lease_owner=m["lease_owner"],
            lease_until=m["lease_until"],
            attempts=m["attempts"],
            payload=m["payload"],
            timer_id=m.get("timer_id"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewWorkItem:
    """A work item to insert."""

    run_id: uuid.UUID
    kind: str
    due_at: dt.datetime
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunForStep:
    """What the executor needs of a run to take a step."""

    id: uuid.UUID
    flow_id: uuid.UUID
    flow_version: int
    run_owner: str
    status: str
    details: Any
    input: Any
    run_state: Any
    cursor: dict[str, Any]
    context: dict[str, Any]
    start_time: dt.datetime
    version: int
    log_seq: int
    #: the run's label and role lists, sent to action providers with every action the run starts
    label: str | None = None
    run_managers: tuple[str, ...] = ()
    run_monitors: tuple[str, ...] = ()
    #: `{"status": [...]}` as given to run_flow or update_run (None: the default, INACTIVE only)
    activity_notification_policy: dict[str, Any] | None = None
    #: a child run (store/children.py): its parent, the parent's Map or Parallel state, visit and iteration
    parent_run_id: uuid.UUID | None = None
    parent_state: str | None = None
    parent_visit: str | None = None
    iteration: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRow:
    """A run-log entry to append (`time` is an aware UTC datetime)."""

    time: dt.datetime
    code: str
    description: str
    details: dict[str, Any]


# --- work items ---------------------------------------------------------------------------------------------


_NOTIFY = sa.text("SELECT pg_notify(:channel, '')")


def notify_work(conn: sa.Connection) -> None:
    """Announce new due work to listening workers when this transaction commits (PostgreSQL only; a no-op on
    SQLite, where the process's own executor is woken directly).

    PostgreSQL folds identical notifications of one transaction into one, so calling this per item is cheap.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": NOTIFY_CHANNEL})


def hasten_action_poll(conn: sa.Connection, run_id: uuid.UUID, *, now: dt.datetime) -> int:
    """Make the run's pending (unleased) action poll due now, e.g. because a built-in provider's action just
    finished; announce it to listening workers. Returns the number of items changed."""
    result = conn.execute(
        sa.update(work_items)
        .where(
            work_items.c.run_id == run_id,
            work_items.c.kind == kinds.ACTION_POLL,
            work_items.c.lease_owner.is_(None),
            work_items.c.due_at > now,
        )
        .values(due_at=now)
    )
    if result.rowcount:
        notify_work(conn)
    return result.rowcount


_ENQUEUE = sa.insert(work_items).returning(work_items.c.id)


def _item_values(item: NewWorkItem, now: dt.datetime) -> dict[str, Any]:
    return {
        "run_id": item.run_id,
        "kind": item.kind,
        "due_at": item.due_at,
        "payload": item.payload,
        "created_at": now,
        "attempts": 0,
    }


def enqueue_work_item(conn: sa.Connection, item: NewWorkItem, *, now: dt.datetime) -> int:
    """Insert one work item; return its id. Work due soon is announced with `notify_work`."""
    result = conn.execute(_ENQUEUE, _item_values(item, now))
    if _announced(item, now):
        notify_work(conn)
    return int(result.scalar_one())


def _build_lease_next() -> Any:
    candidate = work_items.alias("candidate")
    other = work_items.alias("other")
    first_due = (
        sa.select(candidate.c.id)
        .where(
            candidate.c.run_id == sa.bindparam("b_run_id"),
            candidate.c.kind.in_(sa.bindparam("b_kinds", expanding=True)),
            candidate.c.lease_owner.is_(None),
            candidate.c.due_at <= sa.bindparam("b_now"),
        )
        .order_by(candidate.c.id)
        .limit(1)
        .scalar_subquery()
    )
    run_busy = (
        sa.select(other.c.id)
        .where(
            other.c.run_id == sa.bindparam("b_run_id"),
            other.c.lease_owner.is_not(None),
            other.c.kind.not_in(kinds.INDEPENDENT),
        )
        .exists()
    )
    return (
        sa.update(work_items)
        .where(work_items.c.id == first_due, work_items.c.lease_owner.is_(None), ~run_busy)
        .values(
            lease_owner=sa.bindparam("b_owner"),
            lease_until=sa.bindparam("b_lease_until"),
            attempts=work_items.c.attempts + 1,
        )
        .returning(*work_items.c)
    )


_LEASE_NEXT = _build_lease_next()


def announce_items(conn: sa.Connection, items: Sequence[NewWorkItem], *, now: dt.datetime) -> None:
    """NOTIFY listening workers if any of `items` is due soon (see `commit_transition(announce=...)`)."""
    if any(_announced(item, now) for item in items):
        notify_work(conn)


def lease_next_item(
    conn: sa.Connection,
    *,
    run_id: uuid.UUID,
    kinds_: Sequence[str],
    owner: str,
    now: dt.datetime,
    lease_seconds: float,
) -> WorkItem | None:
    """Lease to `owner` the run's first due item of one of `kinds_`, in the transaction that has just
    committed the run's step (so no other worker has seen it): the executor goes on with the run's next
    step without a claim. Returns it, or None; None also when another item of the run is leased (a run
    has at most one leased item at a time, as with claims)."""
    rows = conn.execute(
        _LEASE_NEXT,
        {
            "b_run_id": run_id,
            "b_kinds": list(kinds_),
            "b_now": now,
            "b_owner": owner,
            "b_lease_until": now + dt.timedelta(seconds=lease_seconds),
        },
    ).all()
    return WorkItem.from_row(rows[0]) if rows else None


def renew_leases(
    conn: sa.Connection, *, owner: str, item_ids: Sequence[int], now: dt.datetime, lease_seconds: float
) -> int:
    """Extend the leases `owner` still holds on `item_ids`; return how many were extended."""
    if not item_ids:
        return 0
    result = conn.execute(
        sa.update(work_items)
        .where(work_items.c.id.in_(list(item_ids)), work_items.c.lease_owner == owner)
        .values(lease_until=now + dt.timedelta(seconds=lease_seconds))
    )
    return int(result.rowcount)


def release_lease(
    conn: sa.Connection, *, item_id: int, owner: str, due_at: dt.datetime | None = None, payload: Any = ...
) -> bool:
    """Give a leased item back (optionally due later, optionally with a new payload); False if not held."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if due_at is not None:
        values["due_at"] = due_at
    if payload is not ...:
        values["payload"] = payload
    result = conn.execute(
        sa.update(work_items)
        .where(work_items.c.id == item_id, work_items.c.lease_owner == owner)
        .values(**values)
    )
    return result.rowcount == 1


def set_item_payload(conn: sa.Connection, *, item_id: int, owner: str, payload: Any) -> bool:
    """Replace the payload of an item `owner` still leases (keeping the lease); False if not held. A
    registered API call that may not be repeated records that it is being sent this way, before sending."""
    result = conn.execute(
        sa.update(work_items)
        .where(work_items.c.id == item_id, work_items.c.lease_owner == owner)
        .values(payload=payload)
    )
    return result.rowcount == 1


def release_leases(conn: sa.Connection, *, owner: str, item_ids: Sequence[int] | None = None) -> int:
    """Give back the leases `owner` holds (only those on `item_ids` when given), as they were before the
    claim (`attempts` restored): a worker shutting down hands its unfinished items to the others."""
    stmt = sa.update(work_items).where(work_items.c.lease_owner == owner)
    if item_ids is not None:
        if not item_ids:
            return 0
        stmt = stmt.where(work_items.c.id.in_(list(item_ids)))
    result = conn.execute(
        stmt.values(
            lease_owner=None,
            lease_until=None,
            attempts=sa.case((work_items.c.attempts > 0, work_items.c.attempts - 1), else_=0),
        )
    )
    if result.rowcount:
        notify_work(conn)
    return int(result.rowcount)


def reap_expired_leases(conn: sa.Connection, *, now: dt.datetime) -> int:
    """Return every item whose lease has expired to the pool (its worker died or hung); return the count."""
    result = conn.execute(
        sa.update(work_items)
        .where(work_items.c.lease_owner.is_not(None), work_items.c.lease_until < now)
        .values(lease_owner=None, lease_until=None)
    )
    if result.rowcount:
        notify_work(conn)
    return int(result.rowcount)


_COMPLETE = sa.delete(work_items).where(
    work_items.c.id == sa.bindparam("b_id"), work_items.c.lease_owner == sa.bindparam("b_owner")
)
_NEXT_DUE = sa.select(sa.func.min(work_items.c.due_at)).where(work_items.c.lease_owner.is_(None))


#: both earliest due times in one round trip, each read from its partial index
_NEXT_DUE_BOTH = sa.select(
    _NEXT_DUE.scalar_subquery(),
    sa.select(sa.func.min(work_items.c.due_at))
    .where(work_items.c.timer_id.is_not(None), work_items.c.lease_owner.is_(None))
    .scalar_subquery(),
)


def _aware(value: Any) -> dt.datetime | None:
    """A `min(due_at)` read through a scalar subquery (SQLite returns it as naive text), as aware UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def complete_work_item(conn: sa.Connection, *, item_id: int, owner: str) -> bool:
    """Delete a finished item that `owner` holds; False if the lease was lost (or the item deleted)."""
    return conn.execute(_COMPLETE, {"b_id": item_id, "b_owner": owner}).rowcount == 1


def next_due_at(conn: sa.Connection) -> dt.datetime | None:
    """The earliest `due_at` of an unleased item (None when there is none)."""
    return conn.execute(_NEXT_DUE).scalar_one_or_none()


_PENDING_SIDE_CALL = (
    sa.select(work_items.c.id)
    .where(
        work_items.c.run_id == sa.bindparam("b_run"),
        work_items.c.kind.in_([kinds.ACTION_CANCEL, kinds.ACTION_RELEASE]),
    )
    .limit(1)
)


def has_pending_side_call(conn: sa.Connection, run_id: uuid.UUID) -> bool:
    """Whether a cancel or release call to a provider is still to be made for the run."""
    return conn.execute(_PENDING_SIDE_CALL, {"b_run": run_id}).first() is not None


def list_work_items(conn: sa.Connection, *, run_id: uuid.UUID | None = None) -> list[WorkItem]:
    """All work items (of one run), by id (for tests and diagnostics)."""
    stmt = sa.select(work_items).order_by(work_items.c.id)
    if run_id is not None:
        stmt = stmt.where(work_items.c.run_id == run_id)
    return [WorkItem.from_row(row) for row in conn.execute(stmt)]


def count_work_items(conn: sa.Connection) -> int:
    """How many work items exist (pending or leased)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar_one())


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkBacklog:
    """Work items at one instant: due and unleased, leased, scheduled later; when the oldest due was due."""

    due: int
    leased: int
    scheduled: int
    oldest_due_at: dt.datetime | None


def measure_backlog(conn: sa.Connection, *, now: dt.datetime) -> WorkBacklog:
    """Count the work items by situation (for metrics and autoscaling)."""
    unleased = work_items.c.lease_owner.is_(None)
    is_due = sa.and_(unleased, work_items.c.due_at <= now)
    row = conn.execute(
        sa.select(
            sa.func.count().filter(is_due),
            sa.func.count().filter(work_items.c.lease_owner.is_not(None)),
            sa.func.count().filter(sa.and_(unleased, work_items.c.due_at > now)),
            sa.func.min(work_items.c.due_at).filter(is_due),
        )
    ).one()
    oldest = row[3]
    if isinstance(oldest, str):  # SQLite returns the aggregate of a typed column untyped
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return WorkBacklog(due=int(row[0]), leased=int(row[1]), scheduled=int(row[2]), oldest_due_at=oldest)


def count_runs_by_status(conn: sa.Connection) -> dict[str, int]:
    """How many runs have each status (runs people started: the iterations of a Map or Parallel, child
    runs, are not counted)."""
    rows = conn.execute(
        sa.select(runs.c.status, sa.func.count())
        .where(runs.c.parent_run_id.is_(None))
        .group_by(runs.c.status)
    )
    return {str(status): int(count) for status, count in rows}


# --- runs ---------------------------------------------------------------------------------------------------


_RUN_FOR_STEP_COLUMNS = (
    runs.c.id,
    runs.c.flow_id,
    runs.c.flow_version,
    runs.c.run_owner,
    runs.c.status,
    runs.c.details,
    runs.c.input,
    runs.c.run_state,
    runs.c.cursor,
    runs.c.context,
    runs.c.start_time,
    runs.c.version,
    runs.c.log_seq,
    runs.c.label,
    runs.c.run_managers,
    runs.c.run_monitors,
    runs.c.activity_notification_policy,
    runs.c.parent_run_id,
    runs.c.parent_state,
    runs.c.parent_visit,
    runs.c.iteration,
)
_LOAD_RUN = sa.select(*_RUN_FOR_STEP_COLUMNS).where(runs.c.id == sa.bindparam("b_id"))
_LOAD_RUNS = sa.select(*_RUN_FOR_STEP_COLUMNS).where(runs.c.id.in_(sa.bindparam("b_ids", expanding=True)))


def _run_for_step(row: Any) -> RunForStep:
    (id_, flow_id, flow_version, run_owner, status, details, input_, run_state, cursor, context, start_time,
     version, log_seq, label, run_managers, run_monitors, policy, parent_run_id, parent_state, parent_visit,
     iteration) = row  # fmt: skip
    return RunForStep(
        id=id_,
        flow_id=flow_id,
        flow_version=flow_version,
        run_owner=run_owner,
        status=status,
        details=details,
        input=input_,
        run_state=run_state,
        cursor=cursor or {},
        context=context or {},
        start_time=start_time,
        version=version,
        log_seq=log_seq,
        label=label,
        run_managers=tuple(run_managers or ()),
        run_monitors=tuple(run_monitors or ()),
        activity_notification_policy=policy if isinstance(policy, dict) else None,
        parent_run_id=parent_run_id,
        parent_state=parent_state,
        parent_visit=parent_visit,
        iteration=iteration,
    )


def load_run_for_step(conn: sa.Connection, run_id: uuid.UUID) -> RunForStep | None:
    """The run as the executor needs it, or None if it no longer exists."""
    row = conn.execute(_LOAD_RUN, {"b_id": run_id}).one_or_none()
    return None if row is None else _run_for_step(row)


def load_runs_for_step(conn: sa.Connection, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RunForStep]:
    """Several runs as the executor needs them, by id (runs that no longer exist are absent)."""
    if not run_ids:
        return {}
    return {row[0]: _run_for_step(row) for row in conn.execute(_LOAD_RUNS, {"b_ids": list(run_ids)})}


def get_flow_version_definition(
    conn: sa.Connection, flow_id: uuid.UUID, version: int
) -> dict[str, Any] | None:
    """The definition a run started with (`flow_versions` row), or None."""
    return conn.execute(
        sa.select(flow_versions.c.definition).where(
            flow_versions.c.flow_id == flow_id, flow_versions.c.version == version
        )
    ).scalar_one_or_none()


_LOG_COLUMNS = ("run_id", "seq", "time", "code", "description", "details")
#: (dialect name, driver) -> (INSERT statement text, positional?, bind processor per column)
_LOG_INSERTS: dict[tuple[str, str], tuple[str, bool, tuple[Any, ...]]] = {}


def _log_insert(dialect: sa.Dialect) -> tuple[str, bool, tuple[Any, ...]]:
    key = (dialect.name, dialect.driver)
    found = _LOG_INSERTS.get(key)
    if found is None:
        compiled = sa.insert(run_logs).compile(dialect=dialect, column_keys=list(_LOG_COLUMNS))
        if compiled.positional:  # the rows below are built in _LOG_COLUMNS order
            assert tuple(compiled.positiontup or ()) == _LOG_COLUMNS, compiled.positiontup
        processors = tuple(run_logs.c[name].type._cached_bind_processor(dialect) for name in _LOG_COLUMNS)
        found = (compiled.string, compiled.positional, processors)
        _LOG_INSERTS[key] = found
    return found


def append_run_logs(
    conn: sa.Connection, *, run_id: uuid.UUID, first_seq: int, entries: Sequence[LogRow]
) -> None:
    """Insert log entries with consecutive `seq` from `first_seq` (the caller bumps `runs.log_seq`).

    A step of a long chain writes hundreds of rows: they go to the driver's `executemany` directly, with
    the columns' own bind processors (the same values SQLAlchemy would send) applied here, once per
    distinct time, instead of through SQLAlchemy's per-row parameter machinery.
    """
    if not entries:
        return
    sql, positional, (p_run, _, p_time, _, _, p_details) = _log_insert(conn.dialect)
    run_value = p_run(run_id) if p_run is not None else run_id
    times: dict[dt.datetime, Any] = {}
    rows: list[Any] = []
    for i, entry in enumerate(entries):
        when = times.get(entry.time)
        if when is None:
            when = times[entry.time] = p_time(entry.time) if p_time is not None else entry.time
        details = p_details(entry.details) if p_details is not None else entry.details
        values = (run_value, first_seq + i, when, entry.code, entry.description[:1024], details)
        rows.append(values if positional else dict(zip(_LOG_COLUMNS, values, strict=True)))
    conn.exec_driver_sql(sql, rows)


_UNSET: Any = object()


def commit_transition(
    conn: sa.Connection,
    *,
    run: RunForStep,
    now: dt.datetime,
    consumed_item_id: int | None = None,
    lease_owner: str | None = None,
    status: str | None = None,
    details: Any = _UNSET,
    run_state: Any = _UNSET,
    cursor: dict[str, Any] | None = None,
    completion_time: dt.datetime | None = None,
    log_entries: Sequence[LogRow] = (),
    next_items: Sequence[NewWorkItem] = (),
    delete_pending: Sequence[str] = (),
    announce: bool = True,
    start_time: dt.datetime | None = None,
) -> int:
    """Commit one step of `run` (the run as it was read) in the caller's write transaction; return the new
    version.

    In order: delete the consumed work item (only if `lease_owner` still holds it), update the run row only
    if its `version` is still the one read (bumping `version` and `log_seq`), append the log entries,
    optionally delete every other item of the run whose kind is in `delete_pending` (so a run has one chain
    of steps), insert the next items and, unless `announce` is false (the caller leases one of them itself
    and announces the rest), NOTIFY listening workers of those due soon.
    Raises `errors.ConcurrentUpdate` when the lease was lost or the run changed meanwhile; the caller's
    transaction must then roll back (it does when the exception leaves `Database.begin()`).
    """
    if consumed_item_id is not None and not complete_work_item(
        conn, item_id=consumed_item_id, owner=lease_owner or ""
    ):
        raise errors.ConcurrentUpdate(f"work item {consumed_item_id} is no longer leased to {lease_owner}")
    values: dict[str, Any] = {
        "version": run.version + 1,
        "log_seq": run.log_seq + len(log_entries),
        "updated_at": now,
    }
    if status is not None:
        values["status"] = status
    if details is not _UNSET:
        values["details"] = details
    if run_state is not _UNSET:
        values["run_state"] = run_state
    if cursor is not None:
        values["cursor"] = cursor
    if completion_time is not None:
        values["completion_time"] = completion_time
    if start_time is not None:
        values["start_time"] = start_time
    params = {f"b_{name}": value for name, value in values.items()}
    params.update(b_id=run.id, b_seen=run.version)
    if conn.execute(_update_run(tuple(values)), params).rowcount != 1:
        raise errors.ConcurrentUpdate(f"run {run.id} changed since version {run.version}")
    append_run_logs(conn, run_id=run.id, first_seq=run.log_seq, entries=log_entries)
    if delete_pending:
        conn.execute(
            _DELETE_PENDING,
            {"b_run_id": run.id, "b_kinds": list(delete_pending), "b_keep": consumed_item_id or 0},
        )
    if next_items:
        conn.execute(_INSERT_ITEMS, [_item_values(item, now) for item in next_items])
        if announce and any(_announced(item, now) for item in next_items):
            notify_work(conn)
    return run.version + 1


def _announced(item: NewWorkItem, now: dt.datetime) -> bool:
    """Whether enqueueing `item` is worth a NOTIFY: it is due within NOTIFY_HORIZON_SECONDS."""
    return item.due_at <= now + dt.timedelta(seconds=NOTIFY_HORIZON_SECONDS)


_INSERT_ITEMS = sa.insert(work_items)
_DELETE_PENDING = sa.delete(work_items).where(
    work_items.c.run_id == sa.bindparam("b_run_id"),
    work_items.c.kind.in_(sa.bindparam("b_kinds", expanding=True)),
    work_items.c.id != sa.bindparam("b_keep"),
)
#: `UPDATE runs` statements by the tuple of columns they set (a handful of combinations occur)
_UPDATE_RUN: dict[tuple[str, ...], Any] = {}


def _update_run(columns: tuple[str, ...]) -> Any:
    stmt = _UPDATE_RUN.get(columns)
    if stmt is None:
        stmt = (
            sa.update(runs)
            .where(runs.c.id == sa.bindparam("b_id"), runs.c.version == sa.bindparam("b_seen"))
            .values({name: sa.bindparam(f"b_{name}") for name in columns})
        )
        _UPDATE_RUN[columns] = stmt
    return stmt


def list_overdue_runs(
    conn: sa.Connection, *, started_before: dt.datetime, limit: int = 100
) -> list[uuid.UUID]:
    """Unfinished runs (ACTIVE or INACTIVE) that started before `started_before`."""
    return list(
        conn.execute(
            sa.select(runs.c.id)
            .where(runs.c.status.in_(("ACTIVE", "INACTIVE")), runs.c.start_time < started_before)
            .order_by(runs.c.start_time)
            .limit(limit)
        ).scalars()
    )


def count_provider_actions(conn: sa.Connection, *, request_id: str | None = None) -> int:
    """How many built-in provider actions exist (with this `request_id`): used to check "started once"."""
    stmt = sa.select(sa.func.count()).select_from(provider_actions)
    if request_id is not None:
        stmt = stmt.where(provider_actions.c.request_id == request_id)
    return int(conn.execute(stmt).scalar_one())
