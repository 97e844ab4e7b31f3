"""How identities look on the wire: `/v2/api/identities` documents, userinfo and ID-token claims.

OpenFlows links no identities together, so a person's identity set is that one identity. The identity provider
of an identity is the upstream OpenID Connect issuer it signed in through (`identity_links`), else OpenFlows
itself ("local": local accounts, the local administrator, identities made with `openflows tokens create`); it
is shown as a stable UUID, as Globus Auth does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from ..store.identities import CLIENT_USERNAME_DOMAIN
from ..store.schema import identity_links
from . import catalog

LOCAL_IDP = "local"
LOCAL_IDP_NAME = "OpenFlows"


def idp_id(idp: str) -> uuid.UUID:
    """The stable id of an identity provider ("local" or an issuer URL)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"openflows-identity-provider:{idp}")


def idp_display_name(idp: str) -> str:
    return LOCAL_IDP_NAME if idp == LOCAL_IDP else (urlsplit(idp).hostname or idp)


def identity_providers(conn: sa.Connection, identity_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The identity provider of each identity (issuer URL for linked ones; missing: local)."""
    if not identity_ids:
        return {}
    rows = conn.execute(
        sa.select(identity_links.c.identity_id, identity_links.c.issuer).where(
            identity_links.c.identity_id.in_(identity_ids)
        )
    )
    return {row.identity_id: row.issuer for row in rows}


def is_client_identity(username: str) -> bool:
    return username.endswith("@" + CLIENT_USERNAME_DOMAIN)


def identity_document(row: Any, idp: str = LOCAL_IDP) -> dict[str, Any]:
    """An identity as `/v2/api/identities` shows it (`row`: an identities row)."""
    client = is_client_identity(row.username)
    return {
        "id": str(row.id),
        "username": row.username,
        "name": row.name or row.username,
        "email": row.email,
        "status": "used",
        "identity_provider": str(idp_id(idp)),
        "identity_type": None if client else "login",
        "organization": None,
    }


def _person(identity_id: uuid.UUID, username: str, name: str | None, email: str | None, idp: str) -> dict:
    return {
        "sub": str(identity_id),
        "username": username,
        "name": name or username,
        "email": email,
        "identity_provider": str(idp_id(idp)),
        "identity_provider_display_name": idp_display_name(idp),
        "organization": None,
        "status": "used",
    }


def claims(
    *,
    identity_id: uuid.UUID,
    username: str,
    name: str | None,
    email: str | None,
    scopes: frozenset[str] | set[str],
    idp: str = LOCAL_IDP,
    last_authentication: dt.datetime | None = None,
    everything: bool = False,
) -> dict[str, Any]:
    """The OpenID Connect claims of an identity that the scopes allow (userinfo, ID tokens): `sub` always;
    name and username with `profile`; `email` with `email`; `identity_set` with `view_identity_set`.
    `everything` (an administrator's `*` token) shows them all."""
    result: dict[str, Any] = {"sub": str(identity_id)}
    person = _person(identity_id, username, name, email, idp)
    if last_authentication is not None:
        person["last_authentication"] = int(last_authentication.timestamp())
    if everything or catalog.PROFILE in scopes:
        result.update(
            preferred_username=username,
            name=person["name"],
            organization=None,
            identity_provider=person["identity_provider"],
            identity_provider_display_name=person["identity_provider_display_name"],
        )
        if last_authentication is not None:
            result["last_authentication"] = person["last_authentication"]
    if everything or catalog.EMAIL in scopes:
        result["email"] = email
    if everything or catalog.VIEW_IDENTITY_SET in scopes:
        result["identity_set"] = [person]
    return result
