"""Browser sign-in sessions at the authorize pages (`auth_sessions`).

Every sign-in method (a local password, the upstream OpenID Connect provider, the loopback-only local
administrator) ends the same way: `start_session` records who signed in, how and where, and returns a random
cookie value; only its sha256 is stored. The authorize endpoint asks `current_session` "who is this
browser?" and never knows which method was used (Ory Hydra's login/consent split, in one process). The
tokens issued from a session carry its id (`tokens.session_id`), for `include=session_info`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid

import sqlalchemy as sa

from ..store import auth_sessions as store
from .tokens import hash_token

#: the sign-in methods, as stored in `auth_sessions.method`
PASSWORD = "password"
UPSTREAM = "oidc"
LOCAL_ADMIN = "local_admin"
#: `auth_sessions.idp` of local accounts and the local administrator
LOCAL_IDP = "local"
#: ended (expired or signed-out) sessions are deleted this long afterwards
FORGET_AFTER = dt.timedelta(days=1)
#: longest cookie value looked up
MAX_COOKIE_LENGTH = 256  # characters


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """The person a browser session stands for."""

    session_id: uuid.UUID
    identity_id: uuid.UUID
    username: str
    name: str | None
    email: str | None
    method: str
    idp: str
    auth_time: dt.datetime


def start_session(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    method: str,
    idp: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> tuple[str, uuid.UUID]:
    """Record a sign-in; return `(cookie value, session id)`. Sessions over for a day are forgotten."""
    store.delete_sessions_ended_before(conn, now - FORGET_AFTER)
    cookie = secrets.token_urlsafe(32)
    session_id = store.insert_session(
        conn,
        token_hash=hash_token(cookie),
        identity_id=identity_id,
        method=method,
        idp=idp,
        now=now,
        expires_at=now + lifetime,
    )
    return cookie, session_id


def current_session(conn: sa.Connection, cookie: str | None, *, now: dt.datetime) -> SignedIn | None:
    """Who the cookie signs in, or None (no cookie, unknown, expired or signed out)."""
    if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
        return None
    row = store.get_session_by_hash(conn, hash_token(cookie))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return SignedIn(
        session_id=row.id,
        identity_id=row.identity_id,
        username=row.username,
        name=row.name,
        email=row.email,
        method=row.method,
        idp=row.idp,
        auth_time=row.auth_time,
    )


def end_session(conn: sa.Connection, cookie: str | None, *, now: dt.datetime) -> bool:
    """Sign the cookie's session out; return whether there was one."""
    signed_in = current_session(conn, cookie, now=now)
    if signed_in is None:
        return False
    store.revoke_session(conn, signed_in.session_id, now=now)
    return True
