"""Named store operations on runs for the API: start, get, list (role filters + keyset), update, cancel,
resume, redrive, release, the run log, and batch changes.

Every function takes an open connection first and keyword-only arguments; times come in as `now`. Run role
lists live as JSON on the run row and as `run_roles` rows (`run_owner`, `run_manager`, `run_monitor`) for
indexed role filters; both are written together here. Every change of a run bumps `runs.version`, so a
concurrent executor step (which commits only if the version it read is unchanged) loses cleanly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..language import runlog
from ..shared import roles
from ..shared.urns import IDENTITY_URN_PREFIX
from . import kinds
from .children import (
    RESUMED_DETAILS,
    IterationsKey,
    descendant_ids,
    enqueue_children_item,
    inactive_children,
    sync_ancestors,
    waits_for_iteration,
)
from .delegations import has_grants
from .keyset import SortKey, after, columns, order_by, row_values
from .notifications import activity_notice, enqueue_notifications
from .schema import flow_roles, flows, run_logs, run_roles, runs, work_items
from .web_inputs import close_run_web_inputs, reopen_run_web_inputs
from .work import TERMINAL_STATUSES, LogRow, NewWorkItem, append_run_logs, enqueue_work_item

STATUSES = ("ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED", "ENDED")
#: statuses from which a run may be released (deleted)
RELEASABLE = ("ENDED", "SUCCEEDED", "FAILED")

#: flow columns joined into run rows (prefixed `flow_`), for run documents and role checks
FLOW_COLUMNS = {
    "flow_title": flows.c.title,
    "flow_last_updated": flows.c.updated_at,
    "flow_owner": flows.c.flow_owner,
    "flow_administrators": flows.c.flow_administrators,
    "flow_run_managers": flows.c.run_managers,
    "flow_run_monitors": flows.c.run_monitors,
    "flow_subtitle": flows.c.subtitle,
    "flow_description": flows.c.description,
    "flow_keywords": flows.c.keywords,
    "flow_created_by": flows.c.created_by,
    "flow_created_at": flows.c.created_at,
    "flow_deleted_at": flows.c.deleted_at,
}

SORT_FIELDS: dict[str, SortKey] = {
    "id": SortKey("id", runs.c.id, "uuid"),
    "start_time": SortKey("start_time", runs.c.start_time, "datetime"),
    "completion_time": SortKey("completion_time", runs.c.completion_time, "datetime", nullable=True),
    "status": SortKey("status", runs.c.status, "str"),
    "label": SortKey("label", runs.c.label, "str", nullable=True),
}


class InvalidRunState(Exception):
    """The run's status does not allow the operation."""

    def __init__(self, run_id: uuid.UUID, status: str, allowed: Iterable[str]) -> None:
        self.run_id = run_id
        self.status = status
        self.allowed = tuple(allowed)
        wanted = "{" + ", ".join(f"'{s}'" for s in sorted(self.allowed)) + "}"
        super().__init__(
            f"Run {run_id} has status '{status}' but must have status in {wanted} for requested operation"
        )


def flow_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """The flow role lists of a joined run row, shaped like a flow row (for `shared.roles`)."""
    return {
        "flow_owner": row["flow_owner"],
        "flow_administrators": row["flow_administrators"] or [],
        "run_managers": row["flow_run_managers"] or [],
        "run_monitors": row["flow_run_monitors"] or [],
        "flow_viewers": [],
        "flow_starters": [],
    }


def _select_runs() -> sa.Select[Any]:
    return sa.select(runs, *(column.label(name) for name, column in FLOW_COLUMNS.items())).select_from(
        runs.join(flows, runs.c.flow_id == flows.c.id)
    )


def _role_rows(
    run_id: uuid.UUID, *, owner: str | None, managers: Iterable[str] | None, monitors: Iterable[str] | None
):
    rows = []
    if owner is not None:
        rows.append({"run_id": run_id, "role": roles.RUN_OWNER, "principal": owner})
    for role, principals in ((roles.RUN_MANAGER, managers), (roles.RUN_MONITOR, monitors)):
        for principal in dict.fromkeys(principals or ()):
            rows.append({"run_id": run_id, "role": role, "principal": principal})
    return rows


def create_run(
    conn: sa.Connection,
    *,
    run_id: uuid.UUID,
    flow: Mapping[str, Any],
    run_owner: str,
    body: dict[str, Any],
    details_input: Any,
    context: dict[str, Any],
    cursor: dict[str, Any],
    now: dt.datetime,
    label: str | None = None,
    tags: Sequence[str] = (),
    run_managers: Sequence[str] = (),
    run_monitors: Sequence[str] = (),
    activity_notification_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert an ACTIVE run of the flow's current version, its role rows and its first work item (a STEP with
    event "start", due now). Returns the run joined with its flow's columns."""
    conn.execute(
        _INSERT_RUN,
        {
            "id": run_id,
            "flow_id": flow["id"],
            "flow_version": flow["version"],
            "run_owner": run_owner,
            "created_by": run_owner,
            "label": label,
            "tags": list(tags),
            "run_managers": list(run_managers),
            "run_monitors": list(run_monitors),
            "activity_notification_policy": activity_notification_policy,
            "status": "ACTIVE",
            "details": {
                "code": "FlowStarting",
                "description": "The Flow is starting execution",
                "details": {"input": details_input},
            },
            "input": body,
            "run_state": body,
            "cursor": cursor,
            "context": context,
            "start_time": now,
            "completion_time": None,
            "updated_at": now,
            "version": 0,
            "log_seq": 0,
        },
    )
    conn.execute(
        _INSERT_ROLES, _role_rows(run_id, owner=run_owner, managers=run_managers, monitors=run_monitors)
    )
    enqueue_work_item(
        conn, NewWorkItem(run_id=run_id, kind=kinds.STEP, due_at=now, payload={"event": "start"}), now=now
    )
    run = get_run(conn, run_id=run_id)
    assert run is not None
    return run


# built once: a run start and every get_run use them
_INSERT_RUN = sa.insert(runs)
_INSERT_ROLES = sa.insert(run_roles)
_GET_RUN = _select_runs().where(runs.c.id == sa.bindparam("b_id"))


def get_run(conn: sa.Connection, *, run_id: uuid.UUID) -> dict[str, Any] | None:
    """The run joined with its flow's columns, or None."""
    row = conn.execute(_GET_RUN, {"b_id": run_id}).first()
    return dict(row._mapping) if row is not None else None


def get_runs(conn: sa.Connection, *, run_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    return {row.id: dict(row._mapping) for row in conn.execute(_select_runs().where(runs.c.id.in_(ids)))}


#: a caller whose role rows reach at most this many runs gets a plan driven by those rows (cost grows with the
#: runs they can see, at most this many); above it, the plan walks the runs index in the requested order and
#: probes the roles of each row (cost grows with page size divided by the share of runs they can see)
ROLE_DRIVEN_MAX = 5000  # runs


def _role_holders(wanted: Sequence[str]) -> tuple[list[str], list[str]]:
    wanted = list(wanted) or list(roles.RUN_ROLE_HOLDERS)
    run_holders: set[str] = set()
    flow_holders: set[str] = set()
    for role in wanted:
        direct, via_flow = roles.RUN_ROLE_HOLDERS[role]
        run_holders.update(direct)
        flow_holders.update(via_flow)
    return sorted(run_holders), sorted(flow_holders)


def role_condition(urns: Sequence[str], wanted: Sequence[str]) -> Any:
    """Runs on which `urns` hold any of the run roles `wanted` (every role when empty)."""
    run_holders, flow_holders = _role_holders(wanted)
    urns = list(urns)
    conditions = []
    # Correlated EXISTS probes (primary keys of run_roles / flow_roles) rather than IN-lists: the planner then
    # walks the runs index that matches ORDER BY and stops after one page, whatever the table size.
    if run_holders:
        conditions.append(
            sa.exists().where(
                run_roles.c.run_id == runs.c.id,
                run_roles.c.role.in_(run_holders),
                run_roles.c.principal.in_(urns),
            )
        )
    if flow_holders:
        conditions.append(
            sa.exists().where(
                flow_roles.c.flow_id == runs.c.flow_id,
                flow_roles.c.role.in_(flow_holders),
                flow_roles.c.principal.in_(urns),
            )
        )
    return sa.or_(*conditions)


def visible_run_ids(urns: Sequence[str], wanted: Sequence[str]) -> Any:
    """The ids of the runs on which `urns` hold any of the run roles `wanted`, from the role rows' indexes."""
    run_holders, flow_holders = _role_holders(wanted)
    urns = list(urns)
    parts = []
    if run_holders:
        parts.append(
            sa.select(run_roles.c.run_id.label("id")).where(
                run_roles.c.principal.in_(urns), run_roles.c.role.in_(run_holders)
            )
        )
    if flow_holders:
        managed_flows = sa.select(flow_roles.c.flow_id).where(
            flow_roles.c.principal.in_(urns), flow_roles.c.role.in_(flow_holders)
        )
        parts.append(sa.select(runs.c.id.label("id")).where(runs.c.flow_id.in_(managed_flows)))
    # UNION ALL: no de-duplication pass, so a capped count stops early (IN ignores duplicates)
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def _count_capped(conn: sa.Connection, ids: Any) -> int:
    """How many rows `ids` yields, counting no further than ROLE_DRIVEN_MAX + 1."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(ids.limit(ROLE_DRIVEN_MAX + 1).subquery())
        ).scalar_one()
    )


def _identity_urns(urns: Sequence[str]) -> list[str]:
    """The identity URNs among `urns` (groups never own runs)."""
    return [urn for urn in urns if urn.startswith(IDENTITY_URN_PREFIX)]


#: most flows whose runs a caller sees through a flow role for which `_index_union` walks each flow's runs
INDEX_UNION_MAX_FLOWS = 20  # flows


def _index_union(
    conn: sa.Connection,
    urns: Sequence[str],
    wanted: Sequence[str],
    conditions: Sequence[Any],
    order: Sequence[SortKey],
    limit: int,
    *,
    join_flows: bool,
) -> Any | None:
    """For a caller who sees many runs: the ids of the best `limit + 1` rows of each source of their
    visibility, each read on its own index with every filter, the keyset position and the LIMIT applied:
    the runs they own (`runs (run_owner, start_time, id)`), the runs of each flow on which they hold a flow
    role (`runs (flow_id, start_time, id)`), and the runs on which they hold another run role (few, or this
    plan is not used). The page is the best `limit + 1` of their union, so it equals the page of the whole
    visible set. None when the caller holds flow roles on more than INDEX_UNION_MAX_FLOWS flows or other
    run roles on more than ROLE_DRIVEN_MAX runs."""
    run_holders, flow_holders = _role_holders(wanted)
    other_roles = [role for role in run_holders if role != roles.RUN_OWNER]
    flow_ids: list[uuid.UUID] = []
    if flow_holders:
        flow_ids = list(
            conn.execute(
                sa.select(flow_roles.c.flow_id)
                .where(flow_roles.c.principal.in_(list(urns)), flow_roles.c.role.in_(flow_holders))
                .distinct()
                .limit(INDEX_UNION_MAX_FLOWS + 1)
            ).scalars()
        )
        if len(flow_ids) > INDEX_UNION_MAX_FLOWS:
            return None
    other_ids = None
    if other_roles:
        other_ids = sa.select(run_roles.c.run_id.label("id")).where(
            run_roles.c.principal.in_(list(urns)), run_roles.c.role.in_(other_roles)
        )
        other_count = _count_capped(conn, other_ids)
        if other_count > ROLE_DRIVEN_MAX:
            return None
        if other_count == 0:
            other_ids = None

    # the flows table is joined only when a condition needs it (the flow-title filter)
    source_table = runs.join(flows, runs.c.flow_id == flows.c.id) if join_flows else runs

    def first_rows(source: Any) -> Any:
        best = (
            sa.select(runs.c.id)
            .select_from(source_table)
            .where(source, *conditions)
            .order_by(*order_by(order))
            .limit(limit + 1)
            .subquery()
        )
        return sa.select(best.c.id)

    parts = []
    owners = _identity_urns(urns)
    if roles.RUN_OWNER in run_holders and owners:
        parts.append(first_rows(runs.c.run_owner.in_(owners)))
    parts.extend(first_rows(runs.c.flow_id == flow_id) for flow_id in flow_ids)
    if other_ids is not None:
        parts.append(other_ids)
    if not parts:
        return None
    return runs.c.id.in_(parts[0] if len(parts) == 1 else sa.union_all(*parts))


def list_runs(
    conn: sa.Connection,
    *,
    urns: Sequence[str],
    filter_roles: Sequence[str] = (),
    flow_ids: Sequence[uuid.UUID] = (),
    statuses: Sequence[str] = (),
    label: str | None = None,
    flow_title: str | None = None,
    tags: Sequence[str] = (),
    start_time: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
    completion_time: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
    order: Sequence[SortKey],
    after_key: Sequence[Any] | None = None,
    limit: int,
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """One page of runs visible through `filter_roles` (empty = any role), with filters; `order` ends with the
    id key. Time ranges are half-open [start, end). Returns (rows, key of the last row if more, else None).

    The plan depends on how many runs the caller can see (counted from the role indexes, up to
    ROLE_DRIVEN_MAX), so that a page costs about the same with 1,000 or 100,000 stored runs:
    - few (<= ROLE_DRIVEN_MAX): select exactly those runs by id, then filter and sort them;
    - many, through ownership and the roles of a few flows (the usual case: one's own runs of one's own
      flows): `_index_union`, the first page of each source walked on its own index;
    - many through many flows or run roles: walk the runs index in the requested order, probing the roles
      of each row (EXISTS on the role tables' primary keys).
    """
    wanted = list(filter_roles) or list(roles.RUN_ROLE_HOLDERS)
    # child runs (children.py) are not listed; the column is wrapped so that no planner walks the children's
    # index for "IS NULL" (nearly every row) instead of the index of the requested order (test_query_plans)
    conditions: list[Any] = [sa.func.coalesce(runs.c.parent_run_id, sa.null()).is_(None)]
    if flow_ids:
        conditions.append(runs.c.flow_id.in_(list(flow_ids)))
    if statuses:
        conditions.append(runs.c.status.in_(list(statuses)))
    if label:
        conditions.append(_contains(runs.c.label, label))
    if flow_title:
        conditions.append(_contains(flows.c.title, flow_title))
    for tag in tags:
        conditions.append(_contains(sa.cast(runs.c.tags, sa.String()), tag))
    for column, (start, end) in ((runs.c.start_time, start_time), (runs.c.completion_time, completion_time)):
        if start is not None:
            conditions.append(column >= start)
        if end is not None:
            conditions.append(column < end)
    if after_key is not None:
        conditions.append(after(order, after_key))

    visible: Any
    seen = _count_capped(conn, visible_run_ids(urns, wanted))
    if seen <= ROLE_DRIVEN_MAX:
        if seen == 0:
            return [], None
        visible = runs.c.id.in_(visible_run_ids(urns, wanted))
    else:
        visible = _index_union(conn, urns, wanted, conditions, order, limit, join_flows=bool(flow_title))
        if visible is None:
            visible = role_condition(urns, wanted)
    stmt = (
        _select_runs()
        .add_columns(*columns(order))
        .where(visible, *conditions)
        .order_by(*order_by(order))
        .limit(limit + 1)
    )
    result = [dict(row._mapping) for row in conn.execute(stmt)]
    more = len(result) > limit
    page = result[:limit]
    next_key = row_values(order, page[-1]) if more and page else None
    return page, next_key


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(expr: Any, text: str) -> Any:
    return sa.func.lower(expr).like(_like(text), escape="\\")


def _bump(conn: sa.Connection, run: Mapping[str, Any], values: dict[str, Any], *, now: dt.datetime) -> None:
    """Update the run row, bumping its version (guarded on the version read)."""
    from .errors import ConcurrentUpdate

    result = conn.execute(
        sa.update(runs)
        .where(runs.c.id == run["id"], runs.c.version == run["version"])
        .values(version=run["version"] + 1, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"run {run['id']} changed while it was being updated")


def _set_roles(conn: sa.Connection, run_id: uuid.UUID, role: str, principals: Sequence[str]) -> None:
    conn.execute(sa.delete(run_roles).where(run_roles.c.run_id == run_id, run_roles.c.role == role))
    rows = [{"run_id": run_id, "role": role, "principal": p} for p in dict.fromkeys(principals)]
    if rows:
        conn.execute(sa.insert(run_roles), rows)


def update_run(
    conn: sa.Connection, *, run_id: uuid.UUID, changes: Mapping[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """Change `label`, `tags`, `run_managers`, `run_monitors` and/or `activity_notification_policy` (only the
    keys given; a running run's policy applies to its next status change). Returns the run."""
    allowed = {"label", "tags", "run_managers", "run_monitors", "activity_notification_policy"}
    unknown = set(changes) - allowed
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    run = get_run(conn, run_id=run_id)
    if run is None:
        raise LookupError(str(run_id))
    values = {
        key: list(value) if isinstance(value, list | tuple) else value for key, value in changes.items()
    }
    if isinstance(values.get("activity_notification_policy"), Mapping):
        values["activity_notification_policy"] = dict(values["activity_notification_policy"])
    _bump(conn, run, values, now=now)
    if "run_managers" in changes:
        _set_roles(conn, run_id, roles.RUN_MANAGER, changes["run_managers"])
    if "run_monitors" in changes:
        _set_roles(conn, run_id, roles.RUN_MONITOR, changes["run_monitors"])
    updated = get_run(conn, run_id=run_id)
    assert updated is not None
    return updated


def _log(conn: sa.Connection, run: Mapping[str, Any], *entries: Any) -> dict[str, Any]:
    """Append language LogEntry objects at the run's log_seq; return the values that bump log_seq."""
    append_run_logs(
        conn,
        run_id=run["id"],
        first_seq=run["log_seq"],
        entries=[
            LogRow(
                time=dt.datetime.fromisoformat(entry.time),
                code=entry.code,
                description=entry.description,
                details=entry.details,
            )
            for entry in entries
        ],
    )
    return {"log_seq": run["log_seq"] + len(entries)}


def cancel_run(conn: sa.Connection, *, run_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    """Cancel an ACTIVE or INACTIVE run in one transaction: status FAILED with FlowCanceled details, a
    FlowCanceled log entry (after a FlowStarted one if the executor never took the first step), pending work
    dropped (except action cancel/release items and notifications), an ACTION_CANCEL item for an in-flight
    action, a REVOKE_TOKENS item when the run holds delegated tokens, its open web inputs closed, and the
    activity notification FAILED causes under its policy. A run that already ended is returned unchanged
    (cancel is idempotent)."""
    run = get_run(conn, run_id=run_id)
    if run is None:
        raise LookupError(str(run_id))
    if run["status"] in TERMINAL_STATUSES:
        return run
    time_text = now.isoformat()
    entries = [runlog.flow_canceled(time_text)]
    if run["log_seq"] == 0:
        # canceled before the executor's first step: the log still starts with FlowStarted
        entries.insert(0, runlog.flow_started(run["start_time"].isoformat(), run["input"]))
    values = {
        "status": "FAILED",
        "completion_time": now,
        "details": {
            "time": time_text,
            "code": "FlowCanceled",
            "description": "The Flow Instance was canceled by the user",
            "details": {},
        },
        **_log(conn, run, *entries),
    }
    _bump(conn, run, values, now=now)
    # the iterations of a Map or Parallel state it waits in (children.py) are cancelled with it
    pending_children = sa.select(runs.c.id).where(
        runs.c.parent_run_id == run_id, runs.c.status.in_(("ACTIVE", "INACTIVE", "QUEUED"))
    )
    for (child_id,) in conn.execute(pending_children).all():
        cancel_run(conn, run_id=child_id, now=now)
    if run["status"] == "INACTIVE" and run.get("parent_run_id") is not None:
        # an iteration that waited for its user: the runs above it may no longer wait (children.py)
        sync_ancestors(conn, run["parent_run_id"], now=now)
    conn.execute(
        sa.delete(work_items).where(
            work_items.c.run_id == run_id,
            work_items.c.kind.not_in(
                [kinds.ACTION_CANCEL, kinds.ACTION_RELEASE, kinds.NOTIFY, kinds.REVOKE_TOKENS]
            ),
        )
    )
    close_run_web_inputs(conn, run_id, now=now)
    notice = activity_notice(
        run_id=run_id,
        run_owner=run["run_owner"],
        policy=run["activity_notification_policy"],
        old_status=run["status"],
        new_status="FAILED",
        new_version=run["version"] + 1,
        details=values["details"],
        flow_id=run["flow_id"],
        flow_title=run["flow_title"] or "",
        run_label=run["label"],
        time=now,
    )
    if notice is not None:
        enqueue_notifications(conn, [notice], now=now)
    action = (run["cursor"] or {}).get("action")
    if action:
        enqueue_work_item(
            conn,
            NewWorkItem(run_id=run_id, kind=kinds.ACTION_CANCEL, due_at=now, payload=dict(action)),
            now=now,
        )
    if has_grants(conn, run_id):  # the tokens it held for its user are given back
        enqueue_work_item(
            conn, NewWorkItem(run_id=run_id, kind=kinds.REVOKE_TOKENS, due_at=now, payload=None), now=now
        )
    updated = get_run(conn, run_id=run_id)
    assert updated is not None
    return updated


def resume_run(conn: sa.Connection, *, run_id: uuid.UUID, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Resume an INACTIVE run: ACTIVE, a FlowResumed log entry and a RESUME work item due now. A run INACTIVE
    because iterations of its Map or Parallel state are (children.py) resumes every INACTIVE iteration below
    it instead, each like a run, and is ACTIVE again waiting for them (`_resume_waiting`). An ACTIVE run is
    returned unchanged; an ended run raises InvalidRunState. Returns (run, whether it changed)."""
    run = get_run(conn, run_id=run_id)
    if run is None:
        raise LookupError(str(run_id))
    if run["status"] == "ACTIVE":
        return run, False
    if run["status"] != "INACTIVE":
        raise InvalidRunState(run_id, run["status"], ("ACTIVE", "INACTIVE"))
    _resume_one(conn, run, now=now)
    updated = get_run(conn, run_id=run_id)
    assert updated is not None
    return updated, True


def _resume_one(conn: sa.Connection, run: Mapping[str, Any], *, now: dt.datetime) -> None:
    """Resume the INACTIVE `run` (as read: `id`, `version`, `log_seq`, `details`). One that waits for INACTIVE
    iterations resumes them first (the lowest runs first, the order in which a child's transaction locks its
    parents), then is ACTIVE with FlowResumed details and no work item of its own: it still waits for its
    iterations (entering its state again would start them anew). Any other gets a RESUME item (its action's
    `/resume`, or its state entered again)."""
    entry = runlog.flow_resumed(now.isoformat())
    if waits_for_iteration(run["details"]):
        for child in inactive_children(conn, run["id"]):
            _resume_one(conn, child, now=now)
        resumed = {"status": "ACTIVE", "details": dict(RESUMED_DETAILS), **_log(conn, run, entry)}
        _bump(conn, run, resumed, now=now)
        return
    _bump(conn, run, {"status": "ACTIVE", **_log(conn, run, entry)}, now=now)
    enqueue_work_item(
        conn, NewWorkItem(run_id=run["id"], kind=kinds.RESUME, due_at=now, payload=None), now=now
    )


#: the run-log code of a redrive (engine/redrive.py)
FLOW_REDRIVEN = "FlowRedriven"


class RevocationInProgress(Exception):
    """A worker is giving back the run's delegated tokens right now; the redrive may be tried again."""


def count_redrives(conn: sa.Connection, *, run_id: uuid.UUID) -> int:
    """How many times the run was redriven (its FlowRedriven log entries)."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(run_logs)
            .where(run_logs.c.run_id == run_id, run_logs.c.code == FLOW_REDRIVEN)
        ).scalar_one()
    )


def drop_pending_revocation(conn: sa.Connection, *, run_id: uuid.UUID, now: dt.datetime) -> None:
    """Delete the run's REVOKE_TOKENS items that no worker holds (a redrive keeps or replaces the tokens
    they would give back); RevocationInProgress when one is leased now."""
    pending = work_items.c.run_id == run_id, work_items.c.kind == kinds.REVOKE_TOKENS
    free = sa.or_(work_items.c.lease_owner.is_(None), work_items.c.lease_until < now)
    conn.execute(sa.delete(work_items).where(*pending, free))
    if conn.execute(sa.select(work_items.c.id).where(*pending).limit(1)).first() is not None:
        raise RevocationInProgress(str(run_id))


def redrive_run(
    conn: sa.Connection,
    *,
    run: Mapping[str, Any],
    cursor: dict[str, Any],
    details: dict[str, Any],
    entry: Any,
    count: int,
    now: dt.datetime,
    iterations: IterationsKey | None = None,
) -> dict[str, Any]:
    """Make a FAILED run (as read, `run`) ACTIVE again at `cursor` (engine/redrive.py decides it): status
    ACTIVE, `details`, no completion time, the FlowRedriven log `entry`, the web inputs its failure closed
    open again, and a STEP item due now with payload {"event": "redrive", "redrive": count} (or, for a run
    that failed at a Map or Parallel state and waits again for its `iterations`, a `children` item). The run
    state is kept: it is the input of the state entered again. Guarded on the run's version (ConcurrentUpdate
    when it changed since it was read, so of two concurrent redrives one wins). Returns the run."""
    values = {
        "status": "ACTIVE",
        "completion_time": None,
        "details": details,
        "cursor": cursor,
        "log_seq": run["log_seq"] + 1,
    }
    # the versioned update first: a concurrent redrive waits on the row here and then finds it changed,
    # before either writes a log row at the same `seq`
    _bump(conn, run, values, now=now)
    _log(conn, run, entry)
    if run["completion_time"] is not None:  # the questions the run's end closed are open again
        reopen_run_web_inputs(conn, run["id"], closed_at=run["completion_time"], now=now)
    if iterations is not None:
        enqueue_children_item(conn, run["id"], iterations, now=now, redrive=count)
    else:
        payload = {"event": "redrive", "redrive": count, "run_version": run["version"] + 1}
        enqueue_work_item(
            conn, NewWorkItem(run_id=run["id"], kind=kinds.STEP, due_at=now, payload=payload), now=now
        )
    updated = get_run(conn, run_id=run["id"])
    assert updated is not None
    return updated


def release_run(conn: sa.Connection, *, run_id: uuid.UUID) -> dict[str, Any]:
    """Delete an ended run with its log, roles and work items, and its iterations; return the run as it
    was."""
    run = get_run(conn, run_id=run_id)
    if run is None:
        raise LookupError(str(run_id))
    if run["status"] not in RELEASABLE:
        raise InvalidRunState(run_id, run["status"], RELEASABLE)
    for one in [run_id, *descendant_ids(conn, [run_id])]:  # with its iterations (Map, Parallel)
        for table in (work_items, run_logs, run_roles):
            conn.execute(sa.delete(table).where(table.c.run_id == one))
        conn.execute(sa.delete(runs).where(runs.c.id == one))
    return run


def get_run_logs(
    conn: sa.Connection, *, run_id: uuid.UUID, after_seq: int | None, reverse: bool, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of log entries in `seq` order (newest first when `reverse`) after `after_seq`. Returns (entries,
    the seq to continue after if there are more, else None)."""
    stmt = sa.select(run_logs).where(run_logs.c.run_id == run_id)
    if after_seq is not None:
        stmt = stmt.where(run_logs.c.seq < after_seq if reverse else run_logs.c.seq > after_seq)
    stmt = stmt.order_by(run_logs.c.seq.desc() if reverse else run_logs.c.seq.asc()).limit(limit + 1)
    rows = [dict(row._mapping) for row in conn.execute(stmt)]
    more = len(rows) > limit
    page = rows[:limit]
    return page, (page[-1]["seq"] if more and page else None)


def change_run_lists(
    conn: sa.Connection,
    *,
    run: Mapping[str, Any],
    now: dt.datetime,
    set_values: Mapping[str, Sequence[str]] | None = None,
    add: Mapping[str, Sequence[str]] | None = None,
    remove: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Batch change of one run's `tags` / `run_managers` / `run_monitors`: replace (`set_values`), then add,
    then remove items. Returns the updated run."""
    lists = {key: list(run[key] or []) for key in ("tags", "run_managers", "run_monitors")}
    changed: set[str] = set()
    for key, values in (set_values or {}).items():
        lists[key] = list(dict.fromkeys(values))
        changed.add(key)
    for key, values in (add or {}).items():
        lists[key] = list(dict.fromkeys([*lists[key], *values]))
        changed.add(key)
    for key, values in (remove or {}).items():
        gone = set(values)
        lists[key] = [value for value in lists[key] if value not in gone]
        changed.add(key)
    if not changed:
        return dict(run)
    return update_run(conn, run_id=run["id"], changes={key: lists[key] for key in changed}, now=now)
