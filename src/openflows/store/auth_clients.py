"""Store operations for OAuth clients, their credentials and the developer API's projects.

The rules (who may change what, templates, redirect URIs) are in `auth.clients`. Every function takes the
connection first and runs inside the caller's transaction. Secrets are never stored: only sha256 hashes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .identities import insert_statement
from .schema import auth_projects, client_credentials, identities, oauth_clients

# --- clients ----------------------------------------------------------------------------------------------


def insert_client(conn: sa.Connection, *, if_missing: bool = False, **values: Any) -> None:
    """Insert an `oauth_clients` row (`if_missing`: do nothing when the id exists)."""
    statement = insert_statement(conn, oauth_clients).values(**values)
    conn.execute(statement.on_conflict_do_nothing() if if_missing else statement)


def get_client(conn: sa.Connection, client_id: uuid.UUID) -> sa.Row[Any] | None:
    return conn.execute(sa.select(oauth_clients).where(oauth_clients.c.id == client_id)).first()


def update_client(conn: sa.Connection, client_id: uuid.UUID, **changes: Any) -> None:
    if changes:
        conn.execute(sa.update(oauth_clients).where(oauth_clients.c.id == client_id).values(**changes))


def delete_client(conn: sa.Connection, client_id: uuid.UUID) -> None:
    """Delete a client and (by cascade) its credentials."""
    conn.execute(sa.delete(client_credentials).where(client_credentials.c.client_id == client_id))
    conn.execute(sa.delete(oauth_clients).where(oauth_clients.c.id == client_id))


def list_clients(conn: sa.Connection, *, project_ids: Iterable[uuid.UUID] | None = None) -> list[sa.Row[Any]]:
    """Clients with the username of the identity each acts as, oldest first (only those of `project_ids`)."""
    query = (
        sa.select(oauth_clients, identities.c.username)
        .join(identities, identities.c.id == oauth_clients.c.identity_id)
        .order_by(oauth_clients.c.created_at, oauth_clients.c.id)
    )
    if project_ids is not None:
        query = query.where(oauth_clients.c.project_id.in_(list(project_ids)))
    return list(conn.execute(query))


def list_child_clients(conn: sa.Connection, parent_id: uuid.UUID) -> list[sa.Row[Any]]:
    return list(conn.execute(sa.select(oauth_clients).where(oauth_clients.c.parent_client_id == parent_id)))


# --- credentials ------------------------------------------------------------------------------------------


def insert_credential(
    conn: sa.Connection,
    *,
    credential_id: uuid.UUID,
    client_id: uuid.UUID,
    name: str | None,
    secret_hash: str,
    now: dt.datetime,
) -> None:
    conn.execute(
        sa.insert(client_credentials).values(
            id=credential_id, client_id=client_id, name=name, secret_hash=secret_hash, created_at=now
        )
    )


def list_credentials(conn: sa.Connection, client_id: uuid.UUID) -> list[sa.Row[Any]]:
    return list(
        conn.execute(
            sa.select(client_credentials)
            .where(client_credentials.c.client_id == client_id)
            .order_by(client_credentials.c.created_at, client_credentials.c.id)
        )
    )


def delete_credential(
    conn: sa.Connection, client_id: uuid.UUID, credential_id: uuid.UUID
) -> sa.Row[Any] | None:
    """Delete one credential of the client; return it, or None if the client has no such credential."""
    row = conn.execute(
        sa.select(client_credentials).where(
            client_credentials.c.id == credential_id, client_credentials.c.client_id == client_id
        )
    ).first()
    if row is not None:
        conn.execute(sa.delete(client_credentials).where(client_credentials.c.id == credential_id))
    return row


# --- projects ---------------------------------------------------------------------------------------------


def insert_project(conn: sa.Connection, **values: Any) -> None:
    conn.execute(sa.insert(auth_projects).values(**values))


def get_project(conn: sa.Connection, project_id: uuid.UUID) -> sa.Row[Any] | None:
    return conn.execute(sa.select(auth_projects).where(auth_projects.c.id == project_id)).first()


def list_projects(conn: sa.Connection) -> list[sa.Row[Any]]:
    return list(
        conn.execute(sa.select(auth_projects).order_by(auth_projects.c.created_at, auth_projects.c.id))
    )


def update_project(conn: sa.Connection, project_id: uuid.UUID, **changes: Any) -> None:
    if changes:
        conn.execute(sa.update(auth_projects).where(auth_projects.c.id == project_id).values(**changes))


def delete_project(conn: sa.Connection, project_id: uuid.UUID) -> None:
    conn.execute(sa.delete(auth_projects).where(auth_projects.c.id == project_id))
