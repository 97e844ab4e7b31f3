"""Store operations for scopes and their dependent scopes (`auth_scopes`, `auth_scope_dependencies`).

The rules (which scopes exist, how a flow's scope is made) are in `auth.scope_registry`; here are the rows.
Every function takes the connection first and runs inside the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .identities import insert_statement
from .schema import auth_scope_dependencies, auth_scopes


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewScope:
    id: uuid.UUID
    scope_string: str
    resource_server: str
    client_id: uuid.UUID | None
    name: str
    description: str
    scope_suffix: str | None = None
    advertised: bool = False
    allows_refresh_token: bool = True
    required_domains: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Dependency:
    """One edge: consent to `scope_id` includes `dependent_scope_id`."""

    dependent_scope_id: uuid.UUID
    optional: bool = False
    requires_refresh_token: bool = False


def insert_scope(conn: sa.Connection, scope: NewScope, *, now: dt.datetime, if_missing: bool = False) -> None:
    """Insert a scope row (`if_missing`: do nothing when its id or scope string exists)."""
    values = {
        **dataclasses.asdict(scope),
        "required_domains": list(scope.required_domains),
        "created_at": now,
    }
    statement = insert_statement(conn, auth_scopes).values(**values)
    conn.execute(statement.on_conflict_do_nothing() if if_missing else statement)


def update_scope(conn: sa.Connection, scope_id: uuid.UUID, **changes: Any) -> None:
    """Change some columns of a scope."""
    if changes:
        conn.execute(sa.update(auth_scopes).where(auth_scopes.c.id == scope_id).values(**changes))


def delete_scope(conn: sa.Connection, scope_id: uuid.UUID) -> None:
    """Delete a scope, its dependency edges (both directions) and (by cascade) consents to it."""
    conn.execute(
        sa.delete(auth_scope_dependencies).where(
            sa.or_(
                auth_scope_dependencies.c.scope_id == scope_id,
                auth_scope_dependencies.c.dependent_scope_id == scope_id,
            )
        )
    )
    conn.execute(sa.delete(auth_scopes).where(auth_scopes.c.id == scope_id))


def get_scope(conn: sa.Connection, scope_id: uuid.UUID) -> sa.Row[Any] | None:
    return conn.execute(sa.select(auth_scopes).where(auth_scopes.c.id == scope_id)).first()


# built once (with expanding bind parameters): a run start resolves its flow's scopes with them
_BY_IDS = sa.select(auth_scopes).where(auth_scopes.c.id.in_(sa.bindparam("b_ids", expanding=True)))
_BY_STRINGS = sa.select(auth_scopes).where(
    auth_scopes.c.scope_string.in_(sa.bindparam("b_strings", expanding=True))
)
_DEPENDENCIES = (
    sa.select(auth_scope_dependencies)
    .where(auth_scope_dependencies.c.scope_id.in_(sa.bindparam("b_ids", expanding=True)))
    .order_by(auth_scope_dependencies.c.scope_id, auth_scope_dependencies.c.dependent_scope_id)
)


def get_scopes_by_ids(conn: sa.Connection, ids: Iterable[uuid.UUID]) -> list[sa.Row[Any]]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    return list(conn.execute(_BY_IDS, {"b_ids": wanted}))


def get_scopes_by_strings(conn: sa.Connection, scope_strings: Iterable[str]) -> list[sa.Row[Any]]:
    wanted = list(dict.fromkeys(scope_strings))
    if not wanted:
        return []
    return list(conn.execute(_BY_STRINGS, {"b_strings": wanted}))


def list_scopes_of_clients(conn: sa.Connection, client_ids: Sequence[uuid.UUID]) -> list[sa.Row[Any]]:
    """Scopes owned by these clients, oldest first."""
    if not client_ids:
        return []
    return list(
        conn.execute(
            sa.select(auth_scopes)
            .where(auth_scopes.c.client_id.in_(list(client_ids)))
            .order_by(auth_scopes.c.created_at, auth_scopes.c.scope_string)
        )
    )


def dependencies_of(conn: sa.Connection, scope_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Dependency]]:
    """The dependency edges leaving each of `scope_ids` (missing key: none)."""
    wanted = list(dict.fromkeys(scope_ids))
    found: dict[uuid.UUID, list[Dependency]] = {}
    if not wanted:
        return found
    rows = conn.execute(_DEPENDENCIES, {"b_ids": wanted})
    for row in rows:
        found.setdefault(row.scope_id, []).append(
            Dependency(row.dependent_scope_id, row.optional, row.requires_refresh_token)
        )
    return found


def set_dependencies(conn: sa.Connection, scope_id: uuid.UUID, dependencies: Iterable[Dependency]) -> None:
    """Replace the dependency edges leaving `scope_id`."""
    conn.execute(sa.delete(auth_scope_dependencies).where(auth_scope_dependencies.c.scope_id == scope_id))
    rows = [
        {
            "scope_id": scope_id,
            "dependent_scope_id": dep.dependent_scope_id,
            "optional": dep.optional,
            "requires_refresh_token": dep.requires_refresh_token,
        }
        for dep in {dep.dependent_scope_id: dep for dep in dependencies}.values()
    ]
    if rows:
        conn.execute(sa.insert(auth_scope_dependencies), rows)
