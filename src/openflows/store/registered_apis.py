"""Named store operations on registered APIs (issue 15): create, get, update, mark for deletion, list.

Like `store.flows`: every function takes an open connection first and keyword-only arguments; times come in
as `now`. The role lists live as JSON on the row and, for indexed role filters, as `registered_api_roles`
rows (`owner`, `administrator`, `viewer`); both are written together here.

Deletion follows the hosted service: `mark_deleted` sets the status to `DELETE_PENDING` and a
`scheduled_deletion_at` after a grace period; `get_registered_api` stops returning the row once that time
has passed (`now` decides), listings skip rows marked for deletion, and `purge_deleted` removes rows whose
time has passed (run by retention).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..language.analysis import registered_api_states
from .keyset import SortKey, after, columns, order_by, row_values
from .schema import registered_api_roles, registered_apis

OWNER = "owner"
ADMINISTRATOR = "administrator"
VIEWER = "viewer"
#: role -> the row column holding its principals
ROLE_COLUMNS = {OWNER: "owners", ADMINISTRATOR: "administrators", VIEWER: "viewers"}

ACTIVE = "ACTIVE"
DELETE_PENDING = "DELETE_PENDING"

#: columns a PATCH may change
UPDATABLE = (
    "name",
    "description",
    "target",
    "data_templates",
    "state_input_schema",
    "scopes",
    "owners",
    "administrators",
    "viewers",
    "subscription_id",
)

#: orderby field -> sort key
SORT_FIELDS: dict[str, SortKey] = {
    "id": SortKey("id", registered_apis.c.id, "uuid"),
    "name": SortKey("name", registered_apis.c.name, "str"),
    "created_timestamp": SortKey("created_timestamp", registered_apis.c.created_at, "datetime"),
    "updated_timestamp": SortKey("updated_timestamp", registered_apis.c.updated_at, "datetime"),
}


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _role_rows(api_id: uuid.UUID, values: Mapping[str, Any], roles: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for role in roles:
        for principal in dict.fromkeys(values[ROLE_COLUMNS[role]]):
            rows.append({"registered_api_id": api_id, "role": role, "principal": principal})
    return rows


def create_registered_api(
    conn: sa.Connection,
    *,
    api_id: uuid.UUID,
    created_by: str,
    name: str,
    description: str,
    target: dict[str, Any],
    data_templates: dict[str, Any],
    state_input_schema: dict[str, Any],
    scopes: Sequence[str],
    owners: Sequence[str],
    administrators: Sequence[str] = (),
    viewers: Sequence[str] = (),
    subscription_id: str | None = None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Insert a registered API with its role rows; return the stored row."""
    values = {
        "id": api_id,
        "name": name,
        "description": description,
        "target": target,
        "data_templates": data_templates,
        "state_input_schema": state_input_schema,
        "scopes": list(scopes),
        "owners": list(dict.fromkeys(owners)),
        "administrators": list(dict.fromkeys(administrators)),
        "viewers": list(dict.fromkeys(viewers)),
        "subscription_id": subscription_id,
        "status": ACTIVE,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "edited_at": None,
        "scheduled_deletion_at": None,
    }
    conn.execute(sa.insert(registered_apis).values(**values))
    rows = _role_rows(api_id, values, list(ROLE_COLUMNS))
    if rows:
        conn.execute(sa.insert(registered_api_roles), rows)
    return values


_GET = sa.select(registered_apis).where(registered_apis.c.id == sa.bindparam("b_id"))


def get_registered_api(conn: sa.Connection, *, api_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    """The registered API, marked-for-deletion ones included until their scheduled deletion time."""
    row = conn.execute(_GET, {"b_id": api_id}).first()
    if row is None:
        return None
    found = _row(row)
    gone = found["scheduled_deletion_at"]
    if gone is not None and gone <= now:
        return None
    return found


def get_registered_apis(
    conn: sa.Connection, *, api_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, dict[str, Any]]:
    """Registered APIs by id (one query; those gone for good are left out)."""
    ids = list(dict.fromkeys(api_ids))
    if not ids:
        return {}
    found = {}
    for row in conn.execute(sa.select(registered_apis).where(registered_apis.c.id.in_(ids))):
        values = _row(row)
        gone = values["scheduled_deletion_at"]
        if gone is None or gone > now:
            found[values["id"]] = values
    return found


def registered_api_scopes(conn: sa.Connection, definition: Any, *, now: dt.datetime) -> dict[str, list[str]]:
    """The scopes of the registered APIs a definition's Action states call: state name -> the API's scopes,
    in the order of its `security` (the first is the one to request). A state whose registered API is
    missing, gone or named by an invalid id maps to [].

    The one lookup of these scopes, here in store/ so that every layer that needs it imports downwards:
    `POST /flows/validate` (api/flows.py, passed to `language.analysis.analyze_definition`), and the flow
    scope's dependent scopes (auth/scope_registry.py `flow_dependent_scopes`, issue 14)."""
    wanted: dict[str, uuid.UUID | None] = {}
    for name, text in registered_api_states(definition).items():
        try:
            wanted[name] = uuid.UUID(text)
        except ValueError:
            wanted[name] = None
    found = get_registered_apis(conn, api_ids=[i for i in wanted.values() if i is not None], now=now)
    return {name: list(found[api_id]["scopes"]) if api_id in found else [] for name, api_id in wanted.items()}


def update_registered_api(
    conn: sa.Connection, *, api_id: uuid.UUID, changes: Mapping[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """Apply `changes` (a subset of UPDATABLE); returns the updated row. KeyError for another column,
    LookupError when the row is missing."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    current = conn.execute(_GET, {"b_id": api_id}).first()
    if current is None:
        raise LookupError(str(api_id))
    values: dict[str, Any] = {
        key: list(dict.fromkeys(v)) if key in ROLE_COLUMNS.values() else v for key, v in changes.items()
    }
    values["updated_at"] = now
    values["edited_at"] = now
    conn.execute(sa.update(registered_apis).where(registered_apis.c.id == api_id).values(**values))
    updated = {**_row(current), **values}
    changed_roles = [role for role, column in ROLE_COLUMNS.items() if column in changes]
    if changed_roles:
        conn.execute(
            sa.delete(registered_api_roles).where(
                registered_api_roles.c.registered_api_id == api_id,
                registered_api_roles.c.role.in_(changed_roles),
            )
        )
        rows = _role_rows(api_id, updated, changed_roles)
        if rows:
            conn.execute(sa.insert(registered_api_roles), rows)
    return updated


def mark_deleted(
    conn: sa.Connection, *, api_id: uuid.UUID, now: dt.datetime, grace: dt.timedelta
) -> dict[str, Any]:
    """DELETE_PENDING, gone for good at `now + grace`; returns the updated row."""
    current = conn.execute(_GET, {"b_id": api_id}).first()
    if current is None:
        raise LookupError(str(api_id))
    values = {"status": DELETE_PENDING, "scheduled_deletion_at": now + grace, "updated_at": now}
    conn.execute(sa.update(registered_apis).where(registered_apis.c.id == api_id).values(**values))
    return {**_row(current), **values}


def purge_deleted(conn: sa.Connection, *, now: dt.datetime, limit: int = 500) -> int:
    """Remove registered APIs whose scheduled deletion time has passed; returns how many."""
    ids = [
        row.id
        for row in conn.execute(
            sa.select(registered_apis.c.id).where(registered_apis.c.scheduled_deletion_at <= now).limit(limit)
        )
    ]
    if not ids:
        return 0
    conn.execute(sa.delete(registered_api_roles).where(registered_api_roles.c.registered_api_id.in_(ids)))
    conn.execute(sa.delete(registered_apis).where(registered_apis.c.id.in_(ids)))
    return len(ids)


def role_condition(urns: Sequence[str], wanted: Sequence[str]) -> Any:
    """Registered APIs on which `urns` directly hold one of the roles `wanted` (indexed role rows)."""
    return sa.exists().where(
        registered_api_roles.c.registered_api_id == registered_apis.c.id,
        registered_api_roles.c.role.in_(list(wanted)),
        registered_api_roles.c.principal.in_(list(urns)),
    )


def list_registered_apis(
    conn: sa.Connection,
    *,
    urns: Sequence[str],
    filter_roles: Sequence[str],
    order: Sequence[SortKey],
    after_key: Sequence[Any] | None = None,
    limit: int,
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """One page of live (not marked for deletion) registered APIs on which `urns` hold one of
    `filter_roles`, ordered by `order` (ending with the id key). Returns (rows, key of the last row if there
    are more rows, else None)."""
    stmt = sa.select(registered_apis, *columns(order)).where(
        registered_apis.c.status == ACTIVE, role_condition(urns, filter_roles)
    )
    if after_key is not None:
        stmt = stmt.where(after(order, after_key))
    stmt = stmt.order_by(*order_by(order)).limit(limit + 1)
    result = [row._mapping for row in conn.execute(stmt)]
    more = len(result) > limit
    page = result[:limit]
    next_key = row_values(order, page[-1]) if more and page else None
    names = [column.name for column in registered_apis.columns]
    return [{key: row[key] for key in names} for row in page], next_key
