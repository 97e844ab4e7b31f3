"""Named database operations on local collections (`collections` and `collection_rules` tables) and
registered compute functions (`compute_functions` table): what the administrator manages with
`openflows collections|functions ...`, and what the `manage_permission` provider changes.

A collection's owner is stored as an identity URN, or NULL for the local administrator (username
LOCAL_ADMINISTRATOR), whose identity is looked up when the collection is read (`collection_access`): see
shared/collection_access.py for the rules themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from ..shared.collection_access import MAX_RULES, Access, AccessRule, Parts, rule_parts, show_rule_path
from ..shared.urns import identity_urn
from .errors import StoreError
from .identities import get_identity_by_username
from .schema import collection_rules, collections, compute_functions

#: the username of the local administrator, who owns every collection stored without an owner
#: (the same as `server.ADMIN_USERNAME`; a test keeps the two in step)
LOCAL_ADMINISTRATOR = "admin"


class TooManyRules(StoreError):
    """The collection already holds MAX_RULES access rules."""


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionRow:
    id: uuid.UUID
    name: str
    root: Path
    created_at: dt.datetime
    #: the stored owner: an identity URN, or None for the local administrator
    owner: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RuleRow:
    """A stored access rule, with the time it was made."""

    rule: AccessRule
    created_at: dt.datetime


def _row(row: sa.Row) -> CollectionRow:  # type: ignore[type-arg]
    return CollectionRow(row.id, row.name, Path(row.root), row.created_at, row.owner)


def add_collection(
    conn: sa.Connection,
    *,
    collection_id: uuid.UUID,
    name: str,
    root: Path,
    now: dt.datetime,
    owner: str | None = None,
    rules: Iterable[tuple[str, Parts, str]] = (),
) -> CollectionRow:
    """Insert or replace the collection `collection_id` (root: an absolute, resolved directory), owned by
    the identity URN `owner` (None: the local administrator), with the access `rules`
    ((principal, path components, permissions)) and no others."""
    conn.execute(sa.delete(collection_rules).where(collection_rules.c.collection_id == collection_id))
    conn.execute(sa.delete(collections).where(collections.c.id == collection_id))
    conn.execute(
        sa.insert(collections).values(
            id=collection_id, name=name, root=str(root), created_at=now, owner=owner
        )
    )
    for principal, path, permissions in rules:
        set_rule(conn, collection_id, principal=principal, path=path, permissions=permissions, now=now)
    return CollectionRow(collection_id, name, root, now, owner)


def get_collection(conn: sa.Connection, collection_id: uuid.UUID) -> CollectionRow | None:
    row = conn.execute(sa.select(collections).where(collections.c.id == collection_id)).one_or_none()
    return None if row is None else _row(row)


def list_collections(conn: sa.Connection) -> list[CollectionRow]:
    rows = conn.execute(sa.select(collections).order_by(collections.c.name, collections.c.id))
    return [_row(row) for row in rows]


def remove_collection(conn: sa.Connection, collection_id: uuid.UUID) -> bool:
    conn.execute(sa.delete(collection_rules).where(collection_rules.c.collection_id == collection_id))
    return bool(conn.execute(sa.delete(collections).where(collections.c.id == collection_id)).rowcount)


def local_administrator(conn: sa.Connection) -> str | None:
    """The identity URN of the local administrator, or None while it does not exist."""
    row = get_identity_by_username(conn, LOCAL_ADMINISTRATOR)
    return None if row is None else identity_urn(row.id)


def owner_of(conn: sa.Connection, row: CollectionRow) -> str | None:
    """The identity URN owning the collection `row` (its stored owner, else the local administrator)."""
    return row.owner if row.owner is not None else local_administrator(conn)


def collection_access(conn: sa.Connection, row: CollectionRow) -> Access:
    """The owner (resolved) and the access rules of the collection `row`."""
    return Access(owner_of(conn, row), tuple(rule.rule for rule in list_rules(conn, row.id)))


def _rule(row: sa.Row) -> RuleRow:  # type: ignore[type-arg]
    rule = AccessRule(row.id, row.principal, rule_parts(row.path), row.permissions)
    return RuleRow(rule, row.created_at)


def list_rules(conn: sa.Connection, collection_id: uuid.UUID) -> list[RuleRow]:
    """The access rules of a collection, by path then principal."""
    rows = conn.execute(
        sa.select(collection_rules)
        .where(collection_rules.c.collection_id == collection_id)
        .order_by(collection_rules.c.path, collection_rules.c.principal, collection_rules.c.id)
    )
    return [_rule(row) for row in rows]


def get_rule(conn: sa.Connection, collection_id: uuid.UUID, rule_id: uuid.UUID) -> RuleRow | None:
    row = conn.execute(
        sa.select(collection_rules).where(
            collection_rules.c.collection_id == collection_id, collection_rules.c.id == rule_id
        )
    ).one_or_none()
    return None if row is None else _rule(row)


def find_rule(conn: sa.Connection, collection_id: uuid.UUID, principal: str, path: Parts) -> RuleRow | None:
    """The rule of `principal` on exactly `path`, if there is one."""
    row = conn.execute(
        sa.select(collection_rules).where(
            collection_rules.c.collection_id == collection_id,
            collection_rules.c.principal == principal,
            collection_rules.c.path == show_rule_path(path),
        )
    ).one_or_none()
    return None if row is None else _rule(row)


def insert_rule(
    conn: sa.Connection,
    collection_id: uuid.UUID,
    *,
    principal: str,
    path: Parts,
    permissions: str,
    now: dt.datetime,
    rule_id: uuid.UUID | None = None,
) -> AccessRule:
    """Add a rule (`store.errors.UniqueViolation` if `principal` already has one on `path`; `TooManyRules`
    past MAX_RULES)."""
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(collection_rules)
        .where(collection_rules.c.collection_id == collection_id)
    ).scalar_one()
    if count >= MAX_RULES:
        raise TooManyRules(f"collection {collection_id} already has {MAX_RULES} access rules")
    rule = AccessRule(rule_id or uuid.uuid4(), principal, path, permissions)
    conn.execute(
        sa.insert(collection_rules).values(
            id=rule.id,
            collection_id=collection_id,
            principal=principal,
            path=show_rule_path(path),
            permissions=permissions,
            created_at=now,
        )
    )
    return rule


def set_rule(
    conn: sa.Connection,
    collection_id: uuid.UUID,
    *,
    principal: str,
    path: Parts,
    permissions: str,
    now: dt.datetime,
) -> tuple[AccessRule, bool]:
    """Grant `permissions` to `principal` on `path`: a new rule, or the existing one of that principal on
    that path changed; return it and whether it is new."""
    existing = find_rule(conn, collection_id, principal, path)
    if existing is None:
        rule = insert_rule(
            conn, collection_id, principal=principal, path=path, permissions=permissions, now=now
        )
        return rule, True
    update_rule(conn, collection_id, existing.rule.id, permissions=permissions)
    return dataclasses.replace(existing.rule, permissions=permissions), False


def update_rule(
    conn: sa.Connection, collection_id: uuid.UUID, rule_id: uuid.UUID, *, permissions: str
) -> bool:
    """Change the permissions of a rule; False if the collection has no such rule."""
    result = conn.execute(
        sa.update(collection_rules)
        .where(collection_rules.c.collection_id == collection_id, collection_rules.c.id == rule_id)
        .values(permissions=permissions)
    )
    return bool(result.rowcount)


def delete_rule(conn: sa.Connection, collection_id: uuid.UUID, rule_id: uuid.UUID) -> bool:
    """Delete a rule; False if the collection has no such rule."""
    result = conn.execute(
        sa.delete(collection_rules).where(
            collection_rules.c.collection_id == collection_id, collection_rules.c.id == rule_id
        )
    )
    return bool(result.rowcount)


def revoke_rules(
    conn: sa.Connection, collection_id: uuid.UUID, principal: str, path: Parts | None = None
) -> int:
    """Delete the rules of `principal` (only the one on `path` when given); return how many went."""
    query = sa.delete(collection_rules).where(
        collection_rules.c.collection_id == collection_id, collection_rules.c.principal == principal
    )
    if path is not None:
        query = query.where(collection_rules.c.path == show_rule_path(path))
    return int(conn.execute(query).rowcount or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionRow:
    id: uuid.UUID
    target: str
    created_at: dt.datetime


def register_function(
    conn: sa.Connection, *, function_id: uuid.UUID, target: str, now: dt.datetime
) -> FunctionRow:
    """Insert or replace the compute function `function_id` (`module:callable`)."""
    conn.execute(sa.delete(compute_functions).where(compute_functions.c.id == function_id))
    conn.execute(sa.insert(compute_functions).values(id=function_id, target=target, created_at=now))
    return FunctionRow(function_id, target, now)


def get_function(conn: sa.Connection, function_id: uuid.UUID) -> FunctionRow | None:
    row = conn.execute(
        sa.select(compute_functions).where(compute_functions.c.id == function_id)
    ).one_or_none()
    return None if row is None else FunctionRow(row.id, row.target, row.created_at)


def list_functions(conn: sa.Connection) -> list[FunctionRow]:
    rows = conn.execute(sa.select(compute_functions).order_by(compute_functions.c.target))
    return [FunctionRow(row.id, row.target, row.created_at) for row in rows]


def remove_function(conn: sa.Connection, function_id: uuid.UUID) -> bool:
    return bool(
        conn.execute(sa.delete(compute_functions).where(compute_functions.c.id == function_id)).rowcount
    )
