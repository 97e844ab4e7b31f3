"""Token introspection and validation: who may learn what about a token.

A confidential client may introspect a token issued to it (globus-cli's `session show` introspects its own
Auth token) or issued for its own scopes (an action provider checks the tokens sent to it); for any other
token the answer is `{"active": false}`, exactly as for an unknown one, so introspection reveals nothing about
tokens of others. `validate` (what globus-cli calls before every command) answers whether a token issued to
the calling client still works.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from ..store import auth_tokens as token_store
from . import catalog, issuing, scope_registry
from .identity_docs import LOCAL_IDP, identity_providers, idp_id

INACTIVE: dict[str, Any] = {"active": False}


def may_introspect(conn: sa.Connection, row: Any, client_id: uuid.UUID) -> bool:
    """Whether the client may see this token: issued to it, or for its resource server."""
    if row.client_id == client_id:
        return True
    if (
        row.resource_server is not None
        and catalog.client_of_resource_server(row.resource_server) == client_id
    ):
        known = scope_registry.resolve(conn, row.scopes)
        return bool(row.scopes) and all(
            text in known and known[text].owner == client_id for text in row.scopes
        )
    return False


def introspect(
    conn: sa.Connection,
    *,
    client_id: uuid.UUID,
    token: str,
    include: Collection[str],
    issuer: str,
    lifetimes: issuing.Lifetimes,
    now: dt.datetime,
) -> dict[str, Any]:
    """RFC 7662's answer, with Globus Auth's fields (`include`: identity_set, session_info)."""
    row = issuing.find(conn, token)
    if row is None or not issuing.is_active(row, lifetimes=lifetimes, now=now):
        return dict(INACTIVE)
    if not may_introspect(conn, row, client_id):
        return dict(INACTIVE)
    expiry = issuing.expires_at(row, lifetimes=lifetimes)
    audience = [row.resource_server, *([str(row.client_id)] if row.client_id else [])]
    document: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": " ".join(row.scopes),
        "client_id": str(row.client_id) if row.client_id else None,
        "username": row.username,
        "name": row.name or row.username,
        "email": row.email,
        "sub": str(row.identity_id),
        "aud": [item for item in dict.fromkeys(audience) if item],
        "iss": issuer,
        "iat": int(row.created_at.timestamp()),
        "nbf": int(row.created_at.timestamp()),
        "exp": int(expiry.timestamp()) if expiry else None,
    }
    if "identity_set" in include:
        document["identity_set"] = [str(row.identity_id)]
    if "session_info" in include:
        document["session_info"] = session_info(conn, row)
    return document


def session_info(conn: sa.Connection, row: Any) -> dict[str, Any]:
    """The sign-in session behind a token: when and through which identity provider the person signed in."""
    session = token_store.get_auth_session(conn, row.session_id) if row.session_id else None
    if session is None:
        return {"session_id": None, "authentications": {}}
    idp = session.idp or identity_providers(conn, [row.identity_id]).get(row.identity_id, LOCAL_IDP)
    return {
        "session_id": str(session.id),
        "authentications": {
            str(session.identity_id): {
                "acr": None,
                "amr": [session.method] if session.method else None,
                "idp": str(idp_id(idp)),
                "auth_time": int(session.auth_time.timestamp()),
                "custom_claims": {},
            }
        },
    }


def validate(
    conn: sa.Connection, *, client_id: uuid.UUID, token: str, lifetimes: issuing.Lifetimes, now: dt.datetime
) -> bool:
    """Whether the token (access or refresh) was issued to this client and still works."""
    row = issuing.find(conn, token)
    return (
        row is not None
        and row.client_id == client_id
        and issuing.is_active(row, lifetimes=lifetimes, now=now)
    )
