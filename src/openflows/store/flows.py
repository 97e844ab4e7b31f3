"""Named store operations on flows: create, get, update, soft delete, list (role filters + keyset pages).

Every function takes an open connection first (`Database.begin()` to write, `Database.read()` to read) and
keyword-only arguments; times come in as `now`. The role lists live as JSON on the flow row and, for indexed
role filters, as `flow_roles` rows (singular role names, the owner included); both are written together here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..shared import roles
from .keyset import SortKey, after, columns, order_by, row_values
from .schema import flow_roles, flow_versions, flows

#: flow row column -> the singular role name of its `flow_roles` rows
ROLE_COLUMNS = {column: role for role, column in roles.FLOW_ROLE_COLUMNS.items()}

#: columns a client may change with update_flow
UPDATABLE = (
    "title",
    "subtitle",
    "description",
    "keywords",
    "definition",
    "input_schema",
    "flow_owner",
    "flow_viewers",
    "flow_starters",
    "flow_administrators",
    "run_managers",
    "run_monitors",
    "subscription_id",
    "authentication_policy_id",
)

#: orderby field -> sort key factory
SORT_FIELDS: dict[str, SortKey] = {
    "id": SortKey("id", flows.c.id, "uuid"),
    "title": SortKey("title", flows.c.title, "str"),
    "created_at": SortKey("created_at", flows.c.created_at, "datetime"),
    "updated_at": SortKey("updated_at", flows.c.updated_at, "datetime"),
    "flow_owner": SortKey("flow_owner", flows.c.flow_owner, "str"),
    "flow_administrators": SortKey(
        "flow_administrators", sa.cast(flows.c.flow_administrators, sa.String()), "str"
    ),
}


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _role_rows(
    flow_id: uuid.UUID, values: Mapping[str, Any], columns_: Iterable[str]
) -> list[dict[str, Any]]:
    rows = []
    for column in columns_:
        if column == "flow_owner":
            rows.append({"flow_id": flow_id, "role": roles.FLOW_OWNER, "principal": values["flow_owner"]})
            continue
        for principal in dict.fromkeys(values[column]):
            rows.append({"flow_id": flow_id, "role": ROLE_COLUMNS[column], "principal": principal})
    return rows


def create_flow(
    conn: sa.Connection,
    *,
    flow_id: uuid.UUID,
    flow_owner: str,
    title: str,
    definition: dict[str, Any],
    input_schema: dict[str, Any],
    now: dt.datetime,
    subtitle: str = "",
    description: str = "",
    keywords: Sequence[str] = (),
    flow_viewers: Sequence[str] = (),
    flow_starters: Sequence[str] = (),
    flow_administrators: Sequence[str] = (),
    run_managers: Sequence[str] = (),
    run_monitors: Sequence[str] = (),
    subscription_id: str | None = None,
    authentication_policy_id: str | None = None,
    dependent_scopes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Insert a flow (version 1) with its role rows; return the stored row. `dependent_scopes`: the flow
    scope's dependent scopes (None: not computed)."""
    values = {
        "id": flow_id,
        "flow_owner": flow_owner,
        "created_by": flow_owner,
        "title": title,
        "subtitle": subtitle,
        "description": description,
        "keywords": list(keywords),
        "definition": definition,
        "input_schema": input_schema,
        "version": 1,
        "flow_viewers": list(flow_viewers),
        "flow_starters": list(flow_starters),
        "flow_administrators": list(flow_administrators),
        "run_managers": list(run_managers),
        "run_monitors": list(run_monitors),
        "subscription_id": subscription_id,
        "authentication_policy_id": authentication_policy_id,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "dependent_scopes": list(dependent_scopes) if dependent_scopes is not None else None,
    }
    conn.execute(sa.insert(flows).values(**values))
    conn.execute(
        sa.insert(flow_versions).values(
            flow_id=flow_id, version=1, definition=definition, input_schema=input_schema, created_at=now
        )
    )
    conn.execute(sa.insert(flow_roles), _role_rows(flow_id, values, ["flow_owner", *ROLE_COLUMNS]))
    return values


_GET_FLOW = sa.select(flows).where(flows.c.id == sa.bindparam("b_id"))
_GET_LIVE_FLOW = _GET_FLOW.where(flows.c.deleted_at.is_(None))


def get_flow(
    conn: sa.Connection, *, flow_id: uuid.UUID, include_deleted: bool = False
) -> dict[str, Any] | None:
    row = conn.execute(_GET_FLOW if include_deleted else _GET_LIVE_FLOW, {"b_id": flow_id}).first()
    return _row(row) if row is not None else None


def get_flows(conn: sa.Connection, *, flow_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Flows by id, deleted ones included (for run documents)."""
    ids = list(set(flow_ids))
    if not ids:
        return {}
    return {row.id: _row(row) for row in conn.execute(sa.select(flows).where(flows.c.id.in_(ids)))}


def get_flow_version(conn: sa.Connection, *, flow_id: uuid.UUID, version: int) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(flow_versions).where(flow_versions.c.flow_id == flow_id, flow_versions.c.version == version)
    ).first()
    return _row(row) if row is not None else None


def update_flow(
    conn: sa.Connection,
    *,
    flow_id: uuid.UUID,
    changes: Mapping[str, Any],
    now: dt.datetime,
    dependent_scopes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Apply `changes` (a subset of UPDATABLE) to a live flow; a new definition or input schema makes a new
    version. `dependent_scopes`, when given, replaces the flow scope's dependent scopes. Returns the updated
    row. Raises KeyError for a column that cannot be changed."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    current = get_flow(conn, flow_id=flow_id)
    if current is None:
        raise LookupError(str(flow_id))
    values: dict[str, Any] = {key: list(v) if isinstance(v, tuple) else v for key, v in changes.items()}
    values["updated_at"] = now
    if dependent_scopes is not None:
        values["dependent_scopes"] = list(dependent_scopes)
    if "definition" in changes or "input_schema" in changes:
        version = current["version"] + 1
        values["version"] = version
        conn.execute(
            sa.insert(flow_versions).values(
                flow_id=flow_id,
                version=version,
                definition=changes.get("definition", current["definition"]),
                input_schema=changes.get("input_schema", current["input_schema"]),
                created_at=now,
            )
        )
    conn.execute(sa.update(flows).where(flows.c.id == flow_id).values(**values))
    updated = {**current, **values}
    role_columns = [c for c in ["flow_owner", *ROLE_COLUMNS] if c in changes]
    if role_columns:
        role_names = [roles.FLOW_OWNER if c == "flow_owner" else ROLE_COLUMNS[c] for c in role_columns]
        conn.execute(
            sa.delete(flow_roles).where(flow_roles.c.flow_id == flow_id, flow_roles.c.role.in_(role_names))
        )
        rows = _role_rows(flow_id, updated, role_columns)
        if rows:
            conn.execute(sa.insert(flow_roles), rows)
    return updated


def set_dependent_scopes(conn: sa.Connection, *, flow_id: uuid.UUID, scopes: Sequence[str]) -> None:
    """Store the flow scope's dependent scopes (computed for a flow stored without them)."""
    conn.execute(sa.update(flows).where(flows.c.id == flow_id).values(dependent_scopes=list(scopes)))


def delete_flow(conn: sa.Connection, *, flow_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    """Soft delete: the row stays (runs keep referring to it) with its role lists emptied and `deleted_at`
    set; its role rows go (but the owner's), and listings skip it. Returns the row before the emptying."""
    current = get_flow(conn, flow_id=flow_id)
    if current is None:
        raise LookupError(str(flow_id))
    empty = {column: [] for column in ROLE_COLUMNS}
    conn.execute(
        sa.update(flows).where(flows.c.id == flow_id).values(deleted_at=now, updated_at=now, **empty)
    )
    # the owner's row stays: the owner still manages the runs of the deleted flow (listings skip the flow)
    conn.execute(
        sa.delete(flow_roles).where(flow_roles.c.flow_id == flow_id, flow_roles.c.role != roles.FLOW_OWNER)
    )
    return {**current, "deleted_at": now, "updated_at": now}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(expr: Any, text: str) -> Any:
    return sa.func.lower(expr).like(_like(text), escape="\\")


def role_condition(urns: Sequence[str], wanted: Sequence[str]) -> Any:
    """Flows on which `urns` directly hold any of the singular roles `wanted` (every role when empty), via the
    indexed `flow_roles` rows; "public" counts for viewers, "all_authenticated_users" for starters."""
    wanted = list(wanted) or list(roles.FLOW_ROLE_HOLDERS)
    conditions = [
        sa.and_(
            flow_roles.c.role.in_(roles.FLOW_ROLE_HOLDERS[role]),
            flow_roles.c.principal.in_(roles.flow_filter_principals(role, urns)),
        )
        for role in wanted
    ]
    # a correlated EXISTS (flow_roles primary key probe), so that the flows index matching ORDER BY drives the
    # page and the scan stops after one page
    return sa.exists().where(flow_roles.c.flow_id == flows.c.id, sa.or_(*conditions))


def list_flows(
    conn: sa.Connection,
    *,
    urns: Sequence[str],
    filter_roles: Sequence[str] = (),
    fulltext: str | None = None,
    contains: Mapping[str, str] | None = None,
    flow_ids: Sequence[uuid.UUID] = (),
    order: Sequence[SortKey],
    after_key: Sequence[Any] | None = None,
    limit: int,
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """One page of live flows visible through `filter_roles` (singular; empty = any role), ordered by `order`
    (which must end with the id key). Returns (rows, key of the last row if there are more rows, else None).

    `contains` maps a column name (title, subtitle, description, keywords) to a case-insensitive substring;
    `fulltext` matches a substring of title, subtitle, description, owner, administrators or keywords, or
    the exact id.
    """
    stmt = sa.select(flows, *columns(order)).where(
        flows.c.deleted_at.is_(None), role_condition(urns, filter_roles)
    )
    for column, text in (contains or {}).items():
        expr = sa.cast(flows.c[column], sa.String()) if column == "keywords" else flows.c[column]
        stmt = stmt.where(_contains(expr, text))
    if fulltext:
        options = [
            _contains(flows.c.title, fulltext),
            _contains(flows.c.subtitle, fulltext),
            _contains(flows.c.description, fulltext),
            _contains(flows.c.flow_owner, fulltext),
            _contains(sa.cast(flows.c.flow_administrators, sa.String()), fulltext),
            _contains(sa.cast(flows.c.keywords, sa.String()), fulltext),
        ]
        with contextlib.suppress(ValueError):
            options.append(flows.c.id == uuid.UUID(fulltext.strip()))
        stmt = stmt.where(sa.or_(*options))
    if flow_ids:
        stmt = stmt.where(flows.c.id.in_(list(flow_ids)))
    if after_key is not None:
        stmt = stmt.where(after(order, after_key))
    stmt = stmt.order_by(*order_by(order)).limit(limit + 1)
    result = [row._mapping for row in conn.execute(stmt)]
    more = len(result) > limit
    page = result[:limit]
    next_key = row_values(order, page[-1]) if more and page else None
    columns_ = [column.name for column in flows.columns]
    return [{key: row[key] for key in columns_} for row in page], next_key
