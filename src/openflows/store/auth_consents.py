"""Store operations for consents (`auth_consents`): a forest per identity, a child being a dependent scope of
its parent consented for the client that owns the parent scope. The rules are in `auth.consents` and
`auth.authorization`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .schema import auth_consents, auth_scopes

_WITH_SCOPE = sa.select(auth_consents, auth_scopes.c.scope_string).join(
    auth_scopes, auth_scopes.c.id == auth_consents.c.scope_id
)


_OF_IDENTITY = _WITH_SCOPE.where(auth_consents.c.identity_id == sa.bindparam("b_identity")).order_by(
    auth_consents.c.id
)


def list_consents(conn: sa.Connection, identity_id: uuid.UUID) -> list[sa.Row[Any]]:
    """Every consent of the identity, with its scope string, in id order (parents before children)."""
    return list(conn.execute(_OF_IDENTITY, {"b_identity": identity_id}))


def get_consents(conn: sa.Connection, consent_ids: Iterable[int]) -> list[sa.Row[Any]]:
    wanted = list(dict.fromkeys(consent_ids))
    if not wanted:
        return []
    return list(conn.execute(_WITH_SCOPE.where(auth_consents.c.id.in_(wanted)).order_by(auth_consents.c.id)))


def find_consent(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    client_id: uuid.UUID,
    scope_id: uuid.UUID,
    parent_id: int | None,
) -> sa.Row[Any] | None:
    parent = (
        auth_consents.c.parent_id.is_(None) if parent_id is None else auth_consents.c.parent_id == parent_id
    )
    return conn.execute(
        sa.select(auth_consents).where(
            auth_consents.c.identity_id == identity_id,
            auth_consents.c.client_id == client_id,
            auth_consents.c.scope_id == scope_id,
            parent,
        )
    ).first()


def insert_consent(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    client_id: uuid.UUID,
    scope_id: uuid.UUID,
    parent: sa.Row[Any] | None,
    allows_refresh: bool,
    now: dt.datetime,
) -> int:
    """Insert a consent under `parent` (None: a root); return its id (its dependency path ends with it)."""
    result = conn.execute(
        sa.insert(auth_consents).values(
            identity_id=identity_id,
            client_id=client_id,
            scope_id=scope_id,
            parent_id=None if parent is None else parent.id,
            dependency_path=[],
            allows_refresh=allows_refresh,
            created_at=now,
            updated_at=now,
            last_used_at=now,
        )
    )
    consent_id = int(result.inserted_primary_key[0])
    path = [*(parent.dependency_path if parent is not None else []), consent_id]
    conn.execute(auth_consents.update().where(auth_consents.c.id == consent_id).values(dependency_path=path))
    return consent_id


def touch_consents(
    conn: sa.Connection, consent_ids: Iterable[int], *, now: dt.datetime, approved: bool
) -> None:
    """Record use (`last_used_at`), and a new approval (`updated_at`) when `approved`."""
    wanted = list(dict.fromkeys(consent_ids))
    if not wanted:
        return
    values: dict[str, Any] = {"last_used_at": now}
    if approved:
        values["updated_at"] = now
    conn.execute(auth_consents.update().where(auth_consents.c.id.in_(wanted)).values(**values))


def delete_consents(conn: sa.Connection, consent_ids: Iterable[int]) -> int:
    """Delete consents (a revoked consent is gone, as in Globus Auth); return how many were deleted."""
    wanted = list(dict.fromkeys(consent_ids))
    if not wanted:
        return 0
    done = conn.execute(auth_consents.delete().where(auth_consents.c.id.in_(wanted)))
    return int(done.rowcount or 0)
