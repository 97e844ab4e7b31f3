"""Redrive (issue 19): a FAILED run starts again at the state that failed, with the input that state had,
keeping everything the states before it did. An OpenFlows extension (the hosted Globus Flows service has
none); `POST /runs/{run_id}/redrive` (api/redrive.py) uses what is here, in one transaction with
`store.runs.redrive_run`.

What "the state that failed" is. A run fails in one of three ways, and its stored cursor (`Cursor.state`)
and run state say where:
- an error no Retry and no Catch handled, raised by a state (an Action whose action failed or could not
  start, a Pass/ExpressionEval/Choice whose expression failed, a Wait, an AwaitWebInput whose input never
  came, the run state cap): the cursor names that state and the run state is that state's input, untouched
  by the error (an error never writes the run state). A redrive enters that state afresh with that input
  (the web inputs the failure closed are open again: `store.web_inputs.reopen_run_web_inputs`);
- a `Fail` state: the flow itself chose to fail (often after a Catch sent it there). There is no failed
  step to run again (entering the Fail state fails the run once more), so such a run is NOT redrivable:
  409, start a new run instead;
- the engine could not go on (`States.Runtime` "The engine could not process this run", a definition that
  no longer parses): the cursor names the state the run was at; a redrive enters it again like the first
  case.

Exactly-once actions (DESIGN invariant 2). The redriven cursor has no `visit` (and no action, attempt or
Retry counters) but keeps the run's visit counter `visits`, so entering an Action state begins a new visit:
its request id `<run_id>/<state>/<visits + 1>/0` differs from every request the run sent before (a NEW
action is started, never the failed one returned), and it is decided by the stored cursor, so a worker that
crashes after the redrive committed and replays the step sends the very same request id.

The work item. A redrive enqueues one STEP item with payload `{"event": "redrive", "redrive": n}`; the
executor delivers it as `Enter()` (any event other than "start" and "timer" is an `Enter`).

Inside a Map or Parallel (`prepare_redrive`, `write_redrive`). A run that failed at a Map or Parallel state
whose iterations (child runs, store/children.py) exist keeps its cursor (the same visit and attempt of the
state, so the same iterations) and waits for them again: a `children` item instead of the STEP item. Only
the iterations that did not succeed run again, each redriven like a run:
- one that failed at a state of its sub-machine (or was cancelled there when the state failed early)
  starts again at that state with the input it had there, a new visit (new request ids), keeping the states
  it had done; it is QUEUED and starts in its turn under MaxConcurrency (`children.start_queued` sends it
  the "redrive" event);
- one that never started (ENDED while QUEUED, or cancelled before its first step) starts from its start;
- one that failed at a nested Map or Parallel waits for its own iterations again, redriven the same way;
- one that failed at its sub-machine's Fail state chose to fail and is not run again; when those alone
  already fail the state (past what it tolerates), the redrive is refused (409), and so is a redrive with
  nothing to run again (every iteration succeeded and the state failed after gathering them).
The iterations that succeeded are not touched: their results are gathered with the others, in index order,
when all have ended (`fanout.IterationItems._do_children`).

Who the run acts as. A run acts as its user (`run_owner`) with delegated tokens (engine/delegation.py) that
were given back when it failed. `redelegate` obtains them again in the redrive's transaction:
- the run still holds tokens that work (the give-back had not run yet): they are kept, and the pending
  give-back item is dropped (`store.runs.drop_pending_revocation`);
- otherwise, redriven by its user: obtained again from the caller's token like `run_flow` does (403
  ConsentRequired when that token does not rest on consent to what the flow needs);
- otherwise, redriven by a run manager who is not its user: 403 FORBIDDEN. Only the run's user can let the
  run act as them again; a manager may redrive runs that need no delegation (flows without `RunAs: "User"`
  Action states that need a consent).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..auth.delegation import ConsentRequired, Subject
from ..language.iterations import MapState, ParallelState, sub_definition, tolerates
from ..language.model import Cursor, LogEntry, isoformat
from ..language.states import Definition
from ..shared.urns import identity_urn
from ..store import children
from ..store import delegations as store_delegations
from ..store import runs as store_runs
from .fanout import iterations_key
from .steps import log_row

#: the run-log code of a redrive, and of the run's `details` until its next status change
FLOW_REDRIVEN = "FlowRedriven"
#: the STEP item payload's event of a redrive (the executor delivers it as `Enter()`)
REDRIVE_EVENT = "redrive"


class NotRedrivable(Exception):
    """The run cannot be redriven (the message says why and what to do instead): a 409 at the API."""


class NotRunUser(Exception):
    """A redrive needs the run's delegation again, which only the run's user can give: a 403 at the API."""


@dataclasses.dataclass(frozen=True, slots=True)
class RedrivePoint:
    """Where a redriven run starts again, and what the redrive writes."""

    #: the state entered again
    state: str
    #: the redriven cursor (as stored)
    cursor: dict[str, Any]
    #: which redrive of the run this is (1 for the first)
    count: int
    #: the run's `details` until its next status change
    details: dict[str, Any]
    #: the FlowRedriven log entry
    entry: LogEntry
    #: the iterations run again, for a run that failed at a Map or Parallel state (None: none)
    iterations: IterationsRedrive | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class IterationRedrive:
    """One iteration run again (see the module docstring)."""

    row: children.IterationRow
    #: QUEUED (it starts in its turn) or ACTIVE (it waits for its own iterations: `nested`)
    status: str
    cursor: dict[str, Any]
    details: dict[str, Any]
    #: its FlowRedriven log entry (None: it has no log yet)
    entry: LogEntry | None
    #: it runs from its start (its run state its input again)
    restart: bool = False
    nested: IterationsRedrive | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class IterationsRedrive:
    """The iterations of one visit of a Map or Parallel state that a redrive runs again."""

    key: children.IterationsKey
    again: tuple[IterationRedrive, ...]

    def count(self) -> int:
        """How many iterations run again (nested ones not counted)."""
        return len(self.again)


def redrive_point(
    run: Mapping[str, Any],
    definition: Definition,
    *,
    previous_redrives: int,
    now: dt.datetime,
    retention_days: int,
    max_duration_days: int,
) -> RedrivePoint:
    """Where `run` (a run row: status, details, cursor, start and completion times) starts again, or
    NotRedrivable. `definition` is the version the run started with; `previous_redrives` how many times it
    was redriven before."""
    run_id = run["id"]
    status = run["status"]
    details = run["details"] if isinstance(run.get("details"), Mapping) else {}
    if status != "FAILED":
        raise NotRedrivable(
            f"Run {run_id} has status '{status}' but must have status in {{'FAILED'}} to be redriven"
        )
    if details.get("code") == "FlowCanceled":
        raise NotRedrivable(f"Run {run_id} was canceled; a canceled run cannot be redriven: start a new run")
    completed = run.get("completion_time")
    if retention_days > 0 and completed is not None and completed < now - dt.timedelta(days=retention_days):
        raise NotRedrivable(
            f"Run {run_id} failed more than {retention_days} days ago (the retention period): start a new run"
        )
    if run["start_time"] < now - dt.timedelta(days=max_duration_days):
        raise NotRedrivable(
            f"Run {run_id} started more than {max_duration_days} days ago (the maximum run duration): "
            "start a new run"
        )
    cursor = Cursor.from_dict(run.get("cursor") or {})
    state = definition.states.get(cursor.state) if cursor.state is not None else None
    if state is None:
        raise NotRedrivable(f"Run {run_id} did not fail at a state of its definition: start a new run")
    if state.type_name == "Fail":
        raise NotRedrivable(
            f"Run {run_id} failed at its Fail state '{state.name}': the flow chose to fail there and there "
            "is no failed step to run again; start a new run"
        )
    count = previous_redrives + 1
    new_details, entry = _redriven(details, state.name, count, now)
    return RedrivePoint(state.name, redriven_cursor(cursor).as_dict(), count, new_details, entry)


def _redriven(
    failed_details: Mapping[str, Any], state_name: str, count: int, now: dt.datetime
) -> tuple[dict[str, Any], LogEntry]:
    """The `details` and the FlowRedriven log entry of a run (or an iteration) redriven at `state_name`."""
    failure = failed_details.get("details") if isinstance(failed_details.get("details"), Mapping) else {}
    entry = LogEntry(
        isoformat(now),
        FLOW_REDRIVEN,
        f"The Flow Instance was redriven from state {state_name}",
        {"redrive_count": count, "state_name": state_name, "previous_error": failure.get("error")},
    )
    new_details = {
        "code": FLOW_REDRIVEN,
        "description": f"The Flow run was redriven from state {state_name}",
        "details": {"redrive_count": count, "state_name": state_name},
    }
    return new_details, entry


def prepare_redrive(
    conn: sa.Connection,
    run: Mapping[str, Any],
    definition: Definition,
    *,
    now: dt.datetime,
    retention_days: int,
    max_duration_days: int,
) -> RedrivePoint:
    """`redrive_point` of `run` (a run row) read in the redrive's transaction, and for a run that failed at a
    Map or Parallel state with iterations, the iterations to run again (the module docstring); raises
    NotRedrivable."""
    point = redrive_point(
        run,
        definition,
        previous_redrives=store_runs.count_redrives(conn, run_id=run["id"]),
        now=now,
        retention_days=retention_days,
        max_duration_days=max_duration_days,
    )
    state = definition.states[point.state]
    if not isinstance(state, MapState | ParallelState):
        return point
    again = _iterations_to_redrive(conn, run["id"], dict(run["cursor"]), state, definition, now=now)
    if again is None:  # it failed before its iterations were made: it enters the state afresh
        return point
    entry = dataclasses.replace(point.entry, details={**point.entry.details, "iterations": again.count()})
    return dataclasses.replace(point, cursor=dict(run["cursor"]), entry=entry, iterations=again)


def _iterations_to_redrive(
    conn: sa.Connection,
    run_id: Any,
    cursor: dict[str, Any],
    state: MapState | ParallelState,
    definition: Definition,
    *,
    now: dt.datetime,
) -> IterationsRedrive | None:
    """The iterations of the visit of `state` at `cursor` to run again (None: the visit has none)."""
    key = iterations_key(run_id, cursor)
    counts = children.count_children(conn, key)
    if not counts:
        return None
    total = sum(counts.values())
    again: list[IterationRedrive] = []
    chose_to_fail: list[tuple[int, str]] = []
    for row in children.iterations_to_redrive(conn, key):
        machine = sub_definition(definition, state.name, row.index)
        failed = Cursor.from_dict(row.cursor)
        inner = machine.states.get(failed.state) if failed.state is not None else None
        if row.status == "ENDED" or inner is None:  # it never ran a state: from its start
            entry = None
            new_details = {"code": "FlowStarting", "description": "The Flow is starting execution"}
            if row.log_seq:
                count = store_runs.count_redrives(conn, run_id=row.id) + 1
                new_details, entry = _redriven(row.details, machine.start_at, count, now)
            again.append(
                IterationRedrive(row, children.QUEUED, Cursor(None).as_dict(), new_details, entry, True)
            )
            continue
        if inner.type_name == "Fail":
            chose_to_fail.append((row.index, inner.name))
            continue
        count = store_runs.count_redrives(conn, run_id=row.id) + 1
        new_details, entry = _redriven(row.details, inner.name, count, now)
        if isinstance(inner, MapState | ParallelState):
            try:
                nested = _iterations_to_redrive(conn, row.id, row.cursor, inner, definition, now=now)
            except NotRedrivable:  # nothing in it can succeed now: it stays failed
                chose_to_fail.append((row.index, inner.name))
                continue
            if nested is not None:
                again.append(
                    IterationRedrive(row, "ACTIVE", dict(row.cursor), new_details, entry, nested=nested)
                )
                continue
        again.append(
            IterationRedrive(row, children.QUEUED, redriven_cursor(failed).as_dict(), new_details, entry)
        )
    if chose_to_fail and not tolerates(state, len(chose_to_fail), total):
        index, at = chose_to_fail[0]
        raise NotRedrivable(
            f"Iteration {index} of state {state.name} failed at its state '{at}', which a redrive would "
            f"not change, and that fails state {state.name} again: start a new run"
        )
    if not again:
        raise NotRedrivable(
            f"Every iteration of state {state.name} succeeded (or chose to fail); the state failed after "
            "gathering them and would fail the same way again: start a new run"
        )
    return IterationsRedrive(key, tuple(again))


def write_redrive(
    conn: sa.Connection, run: Mapping[str, Any], point: RedrivePoint, *, now: dt.datetime
) -> dict[str, Any]:
    """Write the redrive `point` of `run` (as read in this transaction): the run ACTIVE again
    (`store.runs.redrive_run`) and the iterations it runs again set back to run. Returns the run."""
    updated = store_runs.redrive_run(
        conn,
        run=run,
        cursor=point.cursor,
        details=point.details,
        entry=point.entry,
        count=point.count,
        now=now,
        iterations=point.iterations.key if point.iterations is not None else None,
    )
    if point.iterations is not None:
        _write_iterations(conn, point.iterations, now=now)
    return updated


def _write_iterations(conn: sa.Connection, iterations: IterationsRedrive, *, now: dt.datetime) -> None:
    for one in iterations.again:
        children.redrive_iteration(
            conn,
            one.row,
            status=one.status,
            cursor=one.cursor,
            details=one.details,
            entry=log_row(one.entry) if one.entry is not None else None,
            now=now,
            restart=one.restart,
        )
        if one.nested is not None:
            _write_iterations(conn, one.nested, now=now)
            children.enqueue_children_item(conn, one.row.id, one.nested.key, now=now)


def redriven_cursor(failed: Cursor) -> Cursor:
    """The cursor that enters the failed state afresh: a new visit (no `visit`, the run's `visits` kept),
    first attempt, no Retry counts, no action or web input."""
    assert failed.state is not None
    return Cursor(failed.state, visits=failed.visits)


def redelegate(
    conn: sa.Connection,
    delegations: Any,
    *,
    run: Mapping[str, Any],
    flow: Mapping[str, Any],
    subject: Subject,
    prepared: Any,
    now: dt.datetime,
) -> ConsentRequired | None:
    """Make the redriven run able to act as its user again (see the module docstring); `delegations` is the
    service's `engine.delegation.Delegations` (None: runs act as their owner by convention). Returns
    ConsentRequired (the caller's consent does not cover the flow), raises NotRunUser."""
    if delegations is None:
        return None
    run_id = run["id"]
    rows = store_delegations.list_grants(conn, run_id)
    if rows and delegations.holds_usable(conn, run_id):
        return None
    if not flow.get("dependent_scopes"):
        return None  # nothing to act as the user for
    if run["run_owner"] != identity_urn(subject.identity_id):
        raise NotRunUser(
            f"Run {run_id} acts as its user {run['run_owner']}, and the tokens they gave it were returned "
            "when it failed: only they can redrive it (consenting again if asked)"
        )
    if rows:
        renewed = delegations.renew(
            conn, run_id=run_id, subject=subject, flow=flow, prepared=prepared, now=now
        )
        return renewed if isinstance(renewed, ConsentRequired) else None
    return delegations.obtain(conn, run_id=run_id, subject=subject, flow=flow, prepared=prepared, now=now)
