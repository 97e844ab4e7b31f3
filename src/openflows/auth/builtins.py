"""`ensure_catalog`: write the built-in scopes and clients of `auth.catalog` into the database, idempotently.

Run at every start-up (`server.build_server`): rows already there are kept (ids never change); the built-in
clients' redirect URIs follow the service's current public URL (`<base>v2/web/auth-code`,
`<base>ui/callback`). Several processes may run it at once (PostgreSQL scale-out): every insert is "insert if
missing".
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..store import auth_clients as client_store
from ..store import auth_scopes as scope_store
from ..store.identities import ensure_client_identity
from . import catalog
from .clients import PUBLIC_CLIENT_TYPE


def ensure_catalog(conn: sa.Connection, *, now: dt.datetime, base_url: str | None) -> None:
    """Store the built-in scopes (with their dependencies) and clients."""
    for scope in catalog.SCOPES:
        scope_store.insert_scope(
            conn,
            scope_store.NewScope(
                id=scope.scope_id,
                scope_string=scope.scope_string,
                resource_server=scope.resource_server,
                client_id=None,
                name=scope.name,
                description=scope.description,
                scope_suffix=scope.scope_string.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
                advertised=True,
            ),
            now=now,
            if_missing=True,
        )
    ids = {scope.scope_string: scope.scope_id for scope in catalog.SCOPES}
    for scope in catalog.SCOPES:
        if scope.dependencies:
            scope_store.set_dependencies(
                conn,
                scope.scope_id,
                [scope_store.Dependency(ids[text], optional, True) for text, optional in scope.dependencies],
            )
    for client in catalog.CLIENTS:
        ensure_client_identity(conn, client.id, name=client.name, now=now)
        redirect_uris = (
            [base_url.rstrip("/") + "/" + path for path in client.redirect_paths] if base_url else []
        )
        client_store.insert_client(
            conn,
            if_missing=True,
            id=client.id,
            identity_id=client.id,
            name=client.name,
            created_at=now,
            public_client=True,
            client_type=PUBLIC_CLIENT_TYPE,
            redirect_uris=redirect_uris,
            visibility="public",
            builtin=True,
        )
        if base_url:
            client_store.update_client(conn, client.id, redirect_uris=redirect_uris)
