"""Issuing tokens the way Globus Auth does, revoking them, and ID tokens.

- One token per resource server: the scopes of a request are grouped by the resource server that owns each,
  and every group gets its own access token (and refresh token, when asked for and allowed). The answer puts
  the `auth.globus.org` token (else the first) at the top level and every other one in `other_tokens`, which
  is always present (globus-sdk reads it unconditionally).
- Lineage: an access token issued beside a refresh token, or from it by a refresh grant, has the refresh token
  as parent; dependent tokens have the user's token as parent. Revoking a token revokes its descendants.
- Lifetimes: access tokens expire (`access_token_seconds`, 48 h); refresh tokens live until revoked, or until
  unused for `refresh_token_idle_days`.
- Refresh grants echo the presented refresh token instead of rotating it: globus-sdk's authorizers replace
  their refresh token with whatever the answer holds, and gladier's confidential login manager and
  hand-written scripts never store a new one, so a rotated token would lock them out after a restart.
- ID tokens (with `openid`): RS512 JWTs with `sub`, `aud` (the client id), `iss`, `iat`, `exp`, `at_hash`, the
  profile/email claims the scopes allow and the `identity_set`; `nonce` when the request had one.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..store import auth_tokens as store
from ..store.identities import get_identity, get_token_by_hash
from . import catalog
from .identity_docs import LOCAL_IDP, claims, identity_providers
from .keys import SigningKeys
from .tokens import generate_token, hash_token

ACCESS = "access"
REFRESH = "refresh"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Lifetimes:
    """How long tokens and codes live (from the settings)."""

    access: dt.timedelta = dt.timedelta(hours=48)
    #: None: refresh tokens never expire from disuse
    refresh_idle: dt.timedelta | None = dt.timedelta(days=180)
    code: dt.timedelta = dt.timedelta(minutes=10)

    @classmethod
    def from_settings(cls, settings: Any) -> Lifetimes:
        idle = settings.refresh_token_idle_days
        return cls(
            access=dt.timedelta(seconds=settings.access_token_seconds),
            refresh_idle=dt.timedelta(days=idle) if idle > 0 else None,
            code=dt.timedelta(seconds=settings.auth_code_seconds),
        )


@dataclasses.dataclass(frozen=True)
class Issued:
    """The tokens of one resource server."""

    resource_server: str
    scopes: tuple[str, ...]
    access_token: str
    expires_in: int
    access_id: uuid.UUID
    refresh_token: str | None = None
    refresh_id: uuid.UUID | None = None

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "access_token": self.access_token,
            "scope": " ".join(self.scopes),
            "resource_server": self.resource_server,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
        }
        if self.refresh_token is not None:
            document["refresh_token"] = self.refresh_token
        return document

    @property
    def token_ids(self) -> list[uuid.UUID]:
        return [self.access_id, *([self.refresh_id] if self.refresh_id else [])]


def issue(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    client_id: uuid.UUID | None,
    by_server: Mapping[str, Iterable[str]],
    refresh_servers: Iterable[str] = (),
    lifetimes: Lifetimes,
    now: dt.datetime,
    parent_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    consent_ids: Mapping[str, list[int]] | None = None,
    description: str | None = None,
) -> list[Issued]:
    """Access tokens (and refresh tokens for `refresh_servers`) for each resource server's scopes."""
    with_refresh = set(refresh_servers)
    issued = []
    for server, scopes in by_server.items():
        scope_list = tuple(dict.fromkeys(scopes))
        common = {
            "identity_id": identity_id,
            "scopes": scope_list,
            "client_id": client_id,
            "resource_server": server,
            "now": now,
            "session_id": session_id,
            "consent_ids": (consent_ids or {}).get(server),
            "description": description,
        }
        refresh_token = refresh_id = None
        if server in with_refresh:
            refresh_token = generate_token()
            refresh_id = store.insert_token(
                conn,
                token_hash=hash_token(refresh_token),
                kind=REFRESH,
                expires_at=None,
                parent_id=parent_id,
                **common,
            )
        access_token = generate_token()
        access_id = store.insert_token(
            conn,
            token_hash=hash_token(access_token),
            kind=ACCESS,
            expires_at=now + lifetimes.access,
            parent_id=refresh_id or parent_id,
            **common,
        )
        expires_in = int(lifetimes.access.total_seconds())
        issued.append(
            Issued(server, scope_list, access_token, expires_in, access_id, refresh_token, refresh_id)
        )
    return issued


def token_response(issued: list[Issued], *, id_token: str | None = None) -> dict[str, Any]:
    """Globus Auth's token answer: one resource server at the top, the others in `other_tokens`."""
    ordered = sorted(issued, key=lambda item: item.resource_server != catalog.AUTH_RESOURCE_SERVER)
    first, *others = ordered
    response = first.document()
    if id_token is not None:
        response["id_token"] = id_token
    response["other_tokens"] = [item.document() for item in others]
    return response


# --- reading and revoking ---------------------------------------------------------------------------------


def find(conn: sa.Connection, token: str) -> sa.Row[Any] | None:
    """The tokens row of a token value (any kind, any state), or None."""
    if not token or len(token) > 2048:
        return None
    return get_token_by_hash(conn, hash_token(token))


def is_active(row: Any, *, lifetimes: Lifetimes, now: dt.datetime) -> bool:
    """Not revoked, and neither expired (access) nor unused for too long (refresh)."""
    if row.revoked_at is not None:
        return False
    if row.expires_at is not None and row.expires_at <= now:
        return False
    if row.kind == REFRESH and lifetimes.refresh_idle is not None:
        return (row.last_used_at or row.created_at) + lifetimes.refresh_idle > now
    return True


def expires_at(row: Any, *, lifetimes: Lifetimes) -> dt.datetime | None:
    """When the token stops working if nothing else happens."""
    if row.kind == REFRESH and lifetimes.refresh_idle is not None:
        return (row.last_used_at or row.created_at) + lifetimes.refresh_idle
    return row.expires_at


def revoke(conn: sa.Connection, token: str, *, now: dt.datetime) -> int:
    """Revoke a token (by value) and what was issued from it; the number of tokens newly revoked."""
    row = find(conn, token)
    return store.revoke_cascade(conn, [row.id], now=now) if row is not None else 0


# --- ID tokens --------------------------------------------------------------------------------------------


def at_hash(access_token: str) -> str:
    """OpenID Connect's `at_hash` for RS512: the left half of SHA-512 of the token, base64url."""
    digest = hashlib.sha512(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def id_token(
    conn: sa.Connection,
    keys: SigningKeys,
    *,
    issuer: str,
    identity_id: uuid.UUID,
    client_id: uuid.UUID,
    scopes: Iterable[str],
    access_token: str | None,
    session_id: uuid.UUID | None,
    nonce: str | None,
    lifetimes: Lifetimes,
    now: dt.datetime,
) -> str:
    """A signed ID token for the identity, addressed to the client."""
    identity = get_identity(conn, identity_id)
    assert identity is not None
    session = store.get_auth_session(conn, session_id) if session_id else None
    idp = (
        session.idp
        if session is not None
        else identity_providers(conn, [identity_id]).get(identity_id, LOCAL_IDP)
    )
    body = claims(
        identity_id=identity_id,
        username=identity.username,
        name=identity.name,
        email=identity.email,
        scopes=frozenset(scopes),
        idp=idp,
        last_authentication=session.auth_time if session is not None else None,
    )
    issued_at = int(now.timestamp())
    body.update(
        iss=issuer, aud=str(client_id), iat=issued_at, exp=issued_at + int(lifetimes.access.total_seconds())
    )
    if access_token is not None:
        body["at_hash"] = at_hash(access_token)
    if nonce:
        body["nonce"] = nonce
    return keys.sign(conn, body, now=now)
