"""Child runs: the iterations of a Map or Parallel state (issue 19), stored as rows of `runs`.

A child run is an ordinary run row (so every iteration is stepped, leased, crash-safe and spread over the
workers by the machinery every run uses) with four more columns: `parent_run_id`, `parent_state` (the Map or
Parallel state), `parent_visit` (`<visit>/<attempt>` of that state in the parent, so a Retry of the whole
state or a loop back into it makes new children) and `iteration` (the item or branch index). The four name an
iteration once (a unique index), and the child's id is derived from them (`child_run_id`), so a replayed
parent step cannot create an iteration twice.

A child that waits for its turn under `MaxConcurrency` has the status `QUEUED` and no work item;
`start_queued` starts the next ones in index order. Child runs have no role rows and are filtered out of run
listings and run counts (`runs.parent_run_id IS NULL`); the API answers 404 for their ids. A redrive of the
parent reruns only the iterations that did not succeed (engine/redrive.py): `iterations_to_redrive` reads
them and `redrive_iteration` sets each back to run.

An iteration that goes INACTIVE (its action needs consent, or the run's delegation was lost) makes its parent,
and every run above it, INACTIVE too while it waits: `sync_ancestors`, called in the transaction of the
child's status change, gives each of them `details` built from the waiting item's (`waiting_details`: its GARE
fields as they are, plus which item it is), and the top run alone an activity notification. A resume of the
top run resumes every INACTIVE iteration below it (`store.runs.resume_run`, `inactive_children`).

The engine (engine/fanout.py) calls these inside its step transactions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..language import runlog
from . import kinds
from .errors import ConcurrentUpdate
from .notifications import activity_notice, enqueue_notifications
from .schema import runs, work_items
from .web_inputs import reopen_run_web_inputs
from .work import LogRow, NewWorkItem, append_run_logs, enqueue_work_item

#: the status of a child run waiting for its turn (MaxConcurrency)
QUEUED = "QUEUED"
#: statuses of a child that has not ended
RUNNING = ("ACTIVE", "INACTIVE")
#: namespace of child run ids (uuid5 of `<parent>/<state>/<visit>/<iteration>`)
CHILD_NAMESPACE = uuid.UUID("6f0d2c1e-59a4-4f47-9d1e-0a7c6b3e1d19")


@dataclass(frozen=True, slots=True)
class IterationsKey:
    """The iterations of one visit (and attempt) of a Map or Parallel state of a run."""

    parent_run_id: uuid.UUID
    state: str
    visit: str  # "<visit>/<attempt>"

    def where(self) -> list[Any]:
        return [
            runs.c.parent_run_id == self.parent_run_id,
            runs.c.parent_state == self.state,
            runs.c.parent_visit == self.visit,
        ]


@dataclass(frozen=True, slots=True)
class IterationEnd:
    """How one iteration stands: its status, and its output (SUCCEEDED) or error and cause (FAILED)."""

    index: int
    status: str
    output: Any = None
    error: str | None = None
    cause: Any = None


def child_run_id(key: IterationsKey, index: int) -> uuid.UUID:
    """The deterministic id of iteration `index`."""
    return uuid.uuid5(CHILD_NAMESPACE, f"{key.parent_run_id}/{key.state}/{key.visit}/{index}")


def create_children(
    conn: sa.Connection,
    *,
    parent: Mapping[str, Any],
    key: IterationsKey,
    inputs: Sequence[Any],
    contexts: Sequence[dict[str, Any]],
    start: int,
    now: dt.datetime,
    finished: Mapping[int, Mapping[str, Any]] | None = None,
) -> int:
    """Insert one child run per input (`contexts[i]` is its `$._context`), the first `start` ACTIVE with a
    start work item, the others QUEUED. `finished` maps the index of an iteration that already ran to its end
    (in the creating step: it needed no I/O) to the columns of its ended row (`status`, `details`,
    `run_state`, `cursor`); those get no work item and do not count towards `start`. Idempotent: when the
    iterations of `key` exist already, nothing is inserted. Returns the number of children started."""
    finished = finished or {}
    if count_children(conn, key):
        return 0
    base = {
        "flow_id": parent["flow_id"],
        "flow_version": parent["flow_version"],
        "run_owner": parent["run_owner"],
        "created_by": parent["created_by"],
        "label": None,
        "tags": [],
        "run_managers": [],
        "run_monitors": [],
        "activity_notification_policy": None,
        "details": {"code": "FlowStarting", "description": "The Flow is starting execution"},
        "cursor": {"state": None},
        "start_time": now,
        "completion_time": None,
        "updated_at": now,
        "version": 0,
        "log_seq": 0,
        "parent_run_id": key.parent_run_id,
        "parent_state": key.state,
        "parent_visit": key.visit,
    }
    bind = _binder(conn)
    constant = {name: bind(name, value) for name, value in base.items()}
    ended = {name: bind(name, now) for name in ("completion_time",)}
    rows = []
    to_start: list[uuid.UUID] = []
    for index, item_input in enumerate(inputs):
        run_id = child_run_id(key, index)
        row = {
            "id": run_id,
            "iteration": index,
            "status": QUEUED,
            "input": item_input,
            "run_state": item_input,
        }
        row["context"] = contexts[index]
        if index in finished:
            row.update(finished[index])
        elif len(to_start) < start:
            row["status"] = "ACTIVE"
            to_start.append(run_id)
        row = {**constant, **{name: bind(name, value) for name, value in row.items()}}
        if index in finished:
            row.update(ended)
        rows.append(row)
        if len(rows) == INSERT_CHUNK:  # a chunk at a time: a 10,000-item map never holds all its rows
            _insert_bound(conn, rows)
            rows = []
    if rows:
        _insert_bound(conn, rows)
    for run_id in to_start:
        _enqueue_start(conn, run_id, now)
    return len(to_start)


#: child rows inserted per statement
INSERT_CHUNK = 500  # rows
#: `runs` without column types: the rows `create_children` inserts are bound once per value by `_binder`
_UNTYPED_RUNS = sa.table("runs", *(sa.column(column.name) for column in runs.c))
#: placeholders of the drivers' positional parameter styles
_POSITIONAL = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _insert_bound(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert child rows whose values `_binder` bound: one executemany straight to the driver (SQLAlchemy
    would look at every value of every row again), or through SQLAlchemy for a driver with another style."""
    mark = _POSITIONAL.get(conn.dialect.paramstyle)
    if mark is None:
        conn.execute(sa.insert(_UNTYPED_RUNS), rows)
        return
    names = list(rows[0])
    sql = f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"
    conn.exec_driver_sql(sql, [tuple(row[name] for name in names) for row in rows])


def _binder(conn: sa.Connection) -> Any:
    """`bind(column, value)`: `value` as the driver receives it for that column of `runs` (the column type's
    own bind processor for this dialect), so that the many rows of a Map are bound once per value rather than
    once per value and per row (the columns every child shares are bound once for all)."""
    processors = {
        column.name: column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for column in runs.c
    }

    def bind(name: str, value: Any) -> Any:
        processor = processors[name]
        return value if processor is None else processor(value)

    return bind


def _enqueue_start(
    conn: sa.Connection, run_id: uuid.UUID, now: dt.datetime, *, redriven: bool = False
) -> None:
    """The first STEP item of an iteration: "start" (from the sub-machine's StartAt), or for one a redrive
    set back to run at the state it failed at, "redrive" (the executor enters that state again)."""
    payload = {"event": "redrive" if redriven else "start"}
    item = NewWorkItem(run_id=run_id, kind=kinds.STEP, due_at=now, payload=payload)
    enqueue_work_item(conn, item, now=now)


def count_children(conn: sa.Connection, key: IterationsKey) -> dict[str, int]:
    """The iterations of `key` by status (`{}` when there are none)."""
    stmt = sa.select(runs.c.status, sa.func.count()).where(*key.where()).group_by(runs.c.status)
    return {status: count for status, count in conn.execute(stmt)}


def start_queued(conn: sa.Connection, key: IterationsKey, *, limit: int, now: dt.datetime) -> list[int]:
    """Start up to `limit` QUEUED iterations, lowest index first, each with a STEP item; returns their
    indexes. (The executor starts most at their first step instead: `queued_iterations`, engine/fanout.py.)"""
    chosen = queued_iterations(conn, key, limit=limit)
    for run_id, _, cursor in chosen:
        activate_queued(conn, run_id, now=now, redriven=(cursor or {}).get("state") is not None)
    return [index for _, index, _ in chosen]


def queued_iterations(
    conn: sa.Connection, key: IterationsKey, *, limit: int
) -> list[tuple[uuid.UUID, int, dict[str, Any] | None]]:
    """Up to `limit` QUEUED iterations of `key`, lowest index first: (run id, index, cursor). A cursor at a
    state is a redriven iteration's (it enters that state again when it starts)."""
    if limit <= 0:
        return []
    stmt = (
        sa.select(runs.c.id, runs.c.iteration, runs.c.cursor)
        .where(*key.where(), runs.c.status == QUEUED)
        .order_by(runs.c.iteration)
        .limit(limit)
    )
    return [(run_id, index, cursor) for run_id, index, cursor in conn.execute(stmt)]


def activate_queued(conn: sa.Connection, run_id: uuid.UUID, *, now: dt.datetime, redriven: bool) -> None:
    """Make a QUEUED iteration ACTIVE with a STEP item ("start", or "redrive" for a redriven one, which keeps
    the time it first started)."""
    started = {} if redriven else {"start_time": now}
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id, runs.c.status == QUEUED)
        .values(status="ACTIVE", updated_at=now, version=runs.c.version + 1, **started)
    )
    _enqueue_start(conn, run_id, now, redriven=redriven)


def iteration_ends(conn: sa.Connection, key: IterationsKey) -> list[IterationEnd]:
    """Every iteration of `key`, in index order, with its output or error (read once the state is done)."""
    stmt = (
        sa.select(runs.c.iteration, runs.c.status, runs.c.run_state, runs.c.details)
        .where(*key.where())
        .order_by(runs.c.iteration)
    )
    ends = []
    for index, status, run_state, details in conn.execute(stmt):
        if status == "SUCCEEDED":
            ends.append(IterationEnd(index, status, output=run_state))
        elif status in ("FAILED", "ENDED"):
            inner = (details or {}).get("details") if isinstance(details, dict) else None
            inner = inner if isinstance(inner, dict) else {}
            ends.append(IterationEnd(index, status, error=inner.get("error"), cause=inner.get("cause")))
        else:
            ends.append(IterationEnd(index, status))
    return ends


def end_queued(conn: sa.Connection, key: IterationsKey, *, now: dt.datetime) -> int:
    """End the QUEUED iterations (the state failed early): they never start. Returns how many."""
    result = conn.execute(
        sa.update(runs)
        .where(*key.where(), runs.c.status == QUEUED)
        .values(status="ENDED", completion_time=now, updated_at=now, version=runs.c.version + 1)
    )
    return int(result.rowcount or 0)


def running_children(conn: sa.Connection, key: IterationsKey) -> list[uuid.UUID]:
    """The ids of the iterations still running (to cancel, with their actions, when the state fails)."""
    stmt = sa.select(runs.c.id).where(*key.where(), runs.c.status.in_(RUNNING)).order_by(runs.c.iteration)
    return [run_id for (run_id,) in conn.execute(stmt)]


def failed_iterations(conn: sa.Connection, key: IterationsKey) -> list[int]:
    """The indexes of the iterations that failed (what a redrive runs again)."""
    stmt = (
        sa.select(runs.c.iteration).where(*key.where(), runs.c.status == "FAILED").order_by(runs.c.iteration)
    )
    return [index for (index,) in conn.execute(stmt)]


def parent_of(conn: sa.Connection, run_id: uuid.UUID) -> IterationsKey | None:
    """The iterations a run belongs to, or None for a run a user started."""
    row = conn.execute(
        sa.select(runs.c.parent_run_id, runs.c.parent_state, runs.c.parent_visit).where(runs.c.id == run_id)
    ).first()
    if row is None or row[0] is None:
        return None
    return IterationsKey(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class IterationRow:
    """An iteration as a redrive of its parent reads it (`iterations_to_redrive`)."""

    id: uuid.UUID
    index: int
    status: str
    details: dict[str, Any]
    cursor: dict[str, Any]
    start_time: dt.datetime
    completion_time: dt.datetime | None
    version: int
    log_seq: int

    def as_run(self) -> dict[str, Any]:
        """The fields `engine.redrive.redrive_point` reads of a run."""
        return {
            "id": self.id,
            "status": self.status,
            "details": self.details,
            "cursor": self.cursor,
            "start_time": self.start_time,
            "completion_time": self.completion_time,
        }


def iterations_to_redrive(conn: sa.Connection, key: IterationsKey) -> list[IterationRow]:
    """The iterations of `key` that ended without succeeding (FAILED, cancelled, or ENDED before they
    started), in index order."""
    stmt = (
        sa.select(
            runs.c.id,
            runs.c.iteration,
            runs.c.status,
            runs.c.details,
            runs.c.cursor,
            runs.c.start_time,
            runs.c.completion_time,
            runs.c.version,
            runs.c.log_seq,
        )
        .where(*key.where(), runs.c.status.in_(("FAILED", "ENDED")))
        .order_by(runs.c.iteration)
    )
    return [
        IterationRow(
            id=row.id,
            index=row.iteration,
            status=row.status,
            details=row.details if isinstance(row.details, dict) else {},
            cursor=row.cursor if isinstance(row.cursor, dict) else {},
            start_time=row.start_time,
            completion_time=row.completion_time,
            version=row.version,
            log_seq=row.log_seq,
        )
        for row in conn.execute(stmt)
    ]


def redrive_iteration(
    conn: sa.Connection,
    row: IterationRow,
    *,
    status: str,
    cursor: dict[str, Any],
    details: dict[str, Any],
    entry: LogRow | None,
    now: dt.datetime,
    restart: bool = False,
) -> None:
    """Set an ended iteration back to run (a redrive of its parent, engine/redrive.py): `status` QUEUED (it
    starts in its turn under MaxConcurrency: `start_queued`) or ACTIVE (it waits for its own iterations),
    `cursor`, `details`, no completion time, the FlowRedriven log `entry` (None: none), the web inputs its end
    closed open again. `restart`: it runs from its start, its run state its input again. Guarded on the
    version read (ConcurrentUpdate)."""
    values: dict[str, Any] = {
        "status": status,
        "cursor": cursor,
        "details": details,
        "completion_time": None,
        "updated_at": now,
        "version": row.version + 1,
        "log_seq": row.log_seq + (1 if entry is not None else 0),
    }
    if restart:
        values["run_state"] = runs.c.input
    result = conn.execute(
        sa.update(runs).where(runs.c.id == row.id, runs.c.version == row.version).values(**values)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"iteration {row.id} changed while it was being redriven")
    if entry is not None:
        append_run_logs(conn, run_id=row.id, first_seq=row.log_seq, entries=[entry])
    if row.completion_time is not None:
        reopen_run_web_inputs(conn, row.id, closed_at=row.completion_time, now=now)


def enqueue_children_item(
    conn: sa.Connection, run_id: uuid.UUID, key: IterationsKey, *, now: dt.datetime, **extra: Any
) -> None:
    """A `children` item due now for `run_id`, which waits for the iterations of `key` (its handler starts
    queued ones and gathers them when they have all ended)."""
    payload = {"state": key.state, "visit": key.visit, **extra}
    enqueue_work_item(
        conn, NewWorkItem(run_id=run_id, kind=kinds.CHILDREN, due_at=now, payload=payload), now=now
    )


def pending_children_items(conn: sa.Connection, run_id: uuid.UUID, *, besides: int) -> list[int]:
    """The ids of `run_id`'s unleased `children` items other than `besides` (not those of a redrive, which
    its handler counts), as this transaction sees them: each was committed with the iteration end that
    enqueued it, so a read of the iterations in the same snapshot sees what they would have looked at."""
    rows = conn.execute(
        sa.select(work_items.c.id, work_items.c.payload).where(
            work_items.c.run_id == run_id,
            work_items.c.kind == kinds.CHILDREN,
            work_items.c.lease_owner.is_(None),
            work_items.c.id != besides,
        )
    )
    return [row.id for row in rows if not (isinstance(row.payload, Mapping) and row.payload.get("redrive"))]


def drop_children_items(conn: sa.Connection, item_ids: Sequence[int]) -> int:
    """Delete these `children` items (`pending_children_items`) that are still unleased, skipping any row
    another transaction holds (PostgreSQL: SKIP LOCKED): the `children` item being handled looked at what
    they would have. Every iteration's end enqueues an item of its own (`engine/fanout.py` `notify_parent`):
    without this, each would be claimed and handled in turn."""
    if not item_ids:
        return 0
    chosen = (
        sa.select(work_items.c.id)
        .where(work_items.c.id.in_(list(item_ids)), work_items.c.lease_owner.is_(None))
        .with_for_update(skip_locked=True)
    )
    return int(conn.execute(sa.delete(work_items).where(work_items.c.id.in_(chosen))).rowcount or 0)


def descendant_ids(conn: sa.Connection, run_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The ids of the iterations of `run_ids`, and of theirs (nested Maps and Parallels): what is deleted with
    them (release, retention)."""
    found: list[uuid.UUID] = []
    level = list(run_ids)
    while level:
        below: list[uuid.UUID] = []
        for start in range(0, len(level), 500):
            chunk = level[start : start + 500]
            below.extend(conn.execute(sa.select(runs.c.id).where(runs.c.parent_run_id.in_(chunk))).scalars())
        found.extend(below)
        level = below
    return found


# --- iterations that wait for their user (INACTIVE) ---------------------------------------------------------

#: the key of `details` that says a run waits for an INACTIVE iteration, and which (`waiting_details`)
WAITING_KEY = "iteration"
#: the `details` of a run that no longer waits for an INACTIVE iteration (as after any resume)
RESUMED_DETAILS = {"code": "FlowResumed", "description": "The Flow run was resumed"}


def waits_for_iteration(details: Any) -> bool:
    """Whether a run's `details` say it is INACTIVE because one of its iterations is (`waiting_details`)."""
    return isinstance(details, Mapping) and isinstance(details.get(WAITING_KEY), Mapping)


def waiting_details(item_details: Any, *, state: str, index: int, context: Any = None) -> dict[str, Any]:
    """The `details` of a run INACTIVE because iteration `index` of its Map or Parallel state `state` is: the
    item's own fields as they are (`code`, `required_scope`, `authorization_parameters`, `resolution_url`:
    the GARE a client acts on, exactly as a top-level INACTIVE run has them), `state_name` the Map or
    Parallel state, a description naming the item ("Item 1 of state Fan is inactive: <the item's>";
    "Branch" for a Parallel branch, read from the item's stored `context`), and `iteration`: `{"state",
    "index"}`, with the item's own `iteration` nested when it waits in turn for one of its iterations."""
    inner = dict(item_details) if isinstance(item_details, Mapping) else {}
    where: dict[str, Any] = {"state": state, "index": index}
    if waits_for_iteration(inner):
        where[WAITING_KEY] = inner[WAITING_KEY]
    own = context.get("iteration") if isinstance(context, Mapping) else None
    noun = "Branch" if isinstance(own, Mapping) and "parallel_branch" in own else "Item"
    reason = inner.get("description")
    if not isinstance(reason, str) or not reason:
        reason = "it needs user intervention"
    code = inner.get("code") if isinstance(inner.get("code"), str) else "ActionInactive"
    return {
        **inner,
        "code": code,
        "description": f"{noun} {index} of state {state} is inactive: {reason}",
        "state_name": state,
        WAITING_KEY: where,
    }


def inactive_children(conn: sa.Connection, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """The INACTIVE iterations of `run_id` (any state), in index order, with what a resume of them and
    `sync_ancestors` read (`id`, `iteration`, `parent_state`, `details`, `context`, `version`, `log_seq`)."""
    stmt = (
        sa.select(
            runs.c.id,
            runs.c.iteration,
            runs.c.parent_state,
            runs.c.details,
            runs.c.context,
            runs.c.version,
            runs.c.log_seq,
        )
        .where(runs.c.parent_run_id == run_id, runs.c.status == "INACTIVE")
        .order_by(runs.c.iteration, runs.c.parent_state)
    )
    return [dict(row._mapping) for row in conn.execute(stmt)]


def _first_inactive_child(conn: sa.Connection, run_id: uuid.UUID) -> Any:
    stmt = (
        sa.select(runs.c.iteration, runs.c.parent_state, runs.c.details, runs.c.context)
        .where(runs.c.parent_run_id == run_id, runs.c.status == "INACTIVE")
        .order_by(runs.c.iteration, runs.c.parent_state)
        .limit(1)
    )
    return conn.execute(stmt).first()


_ANCESTOR_COLUMNS = (
    runs.c.id,
    runs.c.status,
    runs.c.details,
    runs.c.version,
    runs.c.log_seq,
    runs.c.parent_run_id,
    runs.c.run_owner,
    runs.c.activity_notification_policy,
    runs.c.flow_id,
    runs.c.label,
    runs.c.context,
)


def sync_ancestors(conn: sa.Connection, parent_run_id: uuid.UUID, *, now: dt.datetime) -> int:
    """Bring the status of `parent_run_id` and of every run above it in line with their iterations, in the
    transaction of a child's change into or out of INACTIVE (so it is as durable as that change).

    A run that waits at a Map or Parallel state (ACTIVE) while one of its iterations is INACTIVE becomes
    INACTIVE with `waiting_details` of its lowest INACTIVE iteration and a FlowInactive log entry; the top
    run (no parent) also gets the activity notification its policy asks for (iterations never notify). A run
    INACTIVE that way whose iterations no longer wait is ACTIVE again (`RESUMED_DETAILS`). Each run's row is
    locked before its iterations are read (PostgreSQL: two children changing at once see each other's
    change), and the walk goes up only while a run changed. A run that ended, or that is INACTIVE for a
    reason of its own, is left alone. Returns how many runs changed."""
    changed = 0
    run_id: uuid.UUID | None = parent_run_id
    while run_id is not None:
        run = conn.execute(sa.select(*_ANCESTOR_COLUMNS).where(runs.c.id == run_id).with_for_update()).first()
        if run is None or run.status not in RUNNING:
            break
        own = run.details if isinstance(run.details, Mapping) else {}
        waiting = _first_inactive_child(conn, run_id)
        entries: list[LogRow] = []
        if waiting is not None:
            if run.status == "INACTIVE" and not waits_for_iteration(own):
                break  # INACTIVE for a reason of its own
            details = waiting_details(
                waiting.details, state=waiting.parent_state, index=waiting.iteration, context=waiting.context
            )
            if run.status == "INACTIVE" and details == own:
                break
            status = "INACTIVE"
            if run.status != "INACTIVE":
                entry = runlog.flow_inactive(now.isoformat(), details)
                entries.append(
                    LogRow(time=now, code=entry.code, description=entry.description, details=entry.details)
                )
        else:
            if run.status != "INACTIVE" or not waits_for_iteration(own):
                break
            status, details = "ACTIVE", dict(RESUMED_DETAILS)
        result = conn.execute(
            sa.update(runs)
            .where(runs.c.id == run_id, runs.c.version == run.version)
            .values(
                status=status,
                details=details,
                version=run.version + 1,
                log_seq=run.log_seq + len(entries),
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"run {run_id} changed while its iterations were being looked at")
        append_run_logs(conn, run_id=run_id, first_seq=run.log_seq, entries=entries)
        changed += 1
        if run.parent_run_id is None and status != run.status:
            context = run.context if isinstance(run.context, Mapping) else {}
            notice = activity_notice(
                run_id=run_id,
                run_owner=run.run_owner,
                policy=run.activity_notification_policy,
                old_status=run.status,
                new_status=status,
                new_version=run.version + 1,
                details=details,
                flow_id=run.flow_id,
                flow_title=str(context.get("flow_title") or ""),
                run_label=run.label,
                time=now,
            )
            if notice is not None:
                enqueue_notifications(conn, [notice], now=now)
        run_id = run.parent_run_id
    return changed
