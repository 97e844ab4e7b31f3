"""Built-in bearer tokens (random strings stored only as sha256 hashes) and the `Authenticator`.

A token looks like `of_<43 url-safe characters>`. `lookup_principal` turns one into a `Principal` (or None
when it is unknown, revoked, expired, or a refresh token: those are only good at the token endpoint);
`Authenticator` adds a short cache in front of it for the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..shared.urns import group_urn
from ..store import identities as store
from .principal import Principal
from .scopes import TIMERS, WILDCARD, timer_flow_id

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..store.db import Database

#: prefix of every token this server issues
TOKEN_PREFIX = "of_"
#: `tokens.kind` of a bearer token (the other kind, "refresh", is only accepted by the token endpoint)
ACCESS_KIND = "access"
#: how long `Authenticator` trusts a looked-up token before reading it again
DEFAULT_CACHE_SECONDS = 5.0  # seconds
#: entries kept in the `Authenticator` cache before it is emptied
CACHE_MAX_ENTRIES = 10_000  # entries
#: tokens longer than this are rejected without a lookup (Action Provider tools accept at most 2,048)
MAX_TOKEN_LENGTH = 2048  # characters


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


def generate_token() -> str:
    """A new random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    scopes: Iterable[str] | None = None,
    description: str | None = None,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
) -> tuple[str, sa.Row[Any]]:
    """Create a token for the identity; return `(token_string, row)`. Only the hash is stored.

    `scopes` None or empty means every scope (`["*"]`, see `auth.scopes`). A flow's scope among them is
    consented to on the person's behalf, with the flow's current dependent scopes, for the `openflows`
    command line's client (`catalog.OPENFLOWS_CLI_CLIENT_ID`): the token rests on that consent, so a run it
    starts may act as the person at the flow's providers (issue 14). `timer[<flow scope>]` (a flow timer's
    scope, `scopes.timer_flow_scope`) is consented to the same way, with the flow's scope below the Timers
    scope; the token holds the Timers scope (issue 17).
    """
    asked = sorted(set(scopes or ())) or [WILDCARD]
    consent_ids = _consent_to_flows(conn, identity_id, asked, now=now)
    # `timer[<flow scope>]` is consented to with its dependency; the token holds the Timers scope
    held = sorted({TIMERS if timer_flow_id(text) is not None else text for text in asked})
    token = generate_token()
    row = store.insert_token(
        conn,
        token_hash=hash_token(token),
        identity_id=identity_id,
        scopes=held,
        description=description,
        now=now,
        expires_at=expires_at,
        consent_ids=consent_ids,
    )
    return token, row


def _consent_to_flows(
    conn: sa.Connection, identity_id: uuid.UUID, scopes: list[str], *, now: dt.datetime
) -> list[int] | None:
    """Record the consents for the flow scopes among `scopes`; the root consents' ids (None: no flow
    scope)."""
    from .authorization import record_consents
    from .catalog import OPENFLOWS_CLI_CLIENT_ID
    from .scope_strings import ScopeRequirement
    from .scopes import flow_scope, parse_flow_scope

    roots: list[int] = []
    for text in scopes:
        timed = timer_flow_id(text)
        if timed is not None:
            requested = ScopeRequirement(TIMERS, dependencies=(ScopeRequirement(flow_scope(timed)),))
        elif parse_flow_scope(text) is not None:
            requested = ScopeRequirement(text)
        else:
            continue
        try:
            roots += record_consents(
                conn,
                identity_id=identity_id,
                client_id=OPENFLOWS_CLI_CLIENT_ID,
                requested=[requested],
                now=now,
            )
        except ValueError:  # the scope of a flow that does not exist (yet): nothing to consent to
            continue
    return roots or None


def revoke_token(
    conn: sa.Connection, token_or_id: str | uuid.UUID, *, now: dt.datetime
) -> sa.Row[Any] | None:
    """Revoke a token given by its id or its value; return its row, or None if there is no such token."""
    token_id: uuid.UUID | None
    if isinstance(token_or_id, uuid.UUID):
        token_id = token_or_id
    else:
        try:
            token_id = uuid.UUID(token_or_id)
        except ValueError:
            row = store.get_token_by_hash(conn, hash_token(token_or_id))
            token_id = row.id if row is not None else None
    if token_id is None:
        return None
    row = store.set_token_revoked(conn, token_id, now=now)
    if row is not None:  # and what was issued from it (a refresh token's access tokens, dependent tokens)
        from ..store.auth_tokens import revoke_cascade

        revoke_cascade(conn, [token_id], now=now)
    return row


list_tokens = store.list_tokens


def lookup_principal(conn: sa.Connection, token: str, *, now: dt.datetime) -> Principal | None:
    """The principal a bearer token stands for, or None if it is unknown, revoked or expired."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = store.get_token_by_hash(conn, hash_token(token))
    if row is None or row.kind != ACCESS_KIND or not token_is_active(row, now=now):
        return None  # unknown, revoked, expired, or a refresh token (never a bearer token)
    return Principal(
        identity_id=row.identity_id,
        username=row.username,
        email=row.email,
        name=row.name,
        group_urns=frozenset(group_urn(group_id) for group_id in store.list_group_ids(conn, row.identity_id)),
        scopes=frozenset(row.scopes),
        token_id=row.id,
        client_id=row.client_id,
        resource_server=row.resource_server,
        session_id=row.session_id,
        expires_at=row.expires_at,
    )


def token_is_active(row: Any, *, now: dt.datetime) -> bool:
    """Whether a tokens row is neither revoked nor expired at `now`."""
    if row.revoked_at is not None:
        return False
    return row.expires_at is None or row.expires_at > now


def parse_bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (or of a bare token); None if absent."""
    if authorization is None:
        return None
    text = authorization.strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() == "bearer":
        text = rest.strip()
    elif rest:
        return None  # another scheme (Basic ...)
    return text or None


class Authenticator:
    """Authenticates bearer tokens against the database, caching each answer for a few seconds.

    Unknown tokens are not cached (a token created a moment ago by another process works at once). Revoking
    through `revoke_token` of the same instance takes effect immediately; elsewhere, within `cache_seconds`.
    """

    def __init__(
        self,
        db: Database,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        #: token hash -> (principal, cache deadline on `clock`, token expiry)
        self._cache: dict[str, tuple[Principal, float, dt.datetime | None]] = {}

    def authenticate(self, bearer: str | None) -> Principal | None:
        """The principal for a token (or an `Authorization` header value), or None if it is not valid."""
        token = parse_bearer(bearer)
        if token is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        key = hash_token(token)
        now = self._now()
        principal = self._cached(key, now)
        if principal is not None:
            return principal
        with self.db.read() as conn:
            principal = lookup_principal(conn, token, now=now)
        expires_at = principal.expires_at if principal is not None else None
        with self._lock:
            if principal is None:
                self._cache.pop(key, None)
            else:
                if len(self._cache) >= CACHE_MAX_ENTRIES:
                    self._cache.clear()
                self._cache[key] = (principal, self._clock() + self.cache_seconds, expires_at)
        return principal

    def cached(self, bearer: str | None) -> Principal | None:
        """The principal for a token if a recent answer is cached, else None (no database access: the API
        calls this on its event loop and goes to `authenticate` in a thread only on a miss)."""
        token = parse_bearer(bearer)
        if token is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        return self._cached(hash_token(token), self._now())

    def _cached(self, key: str, now: dt.datetime) -> Principal | None:
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            return None
        principal, deadline, expires_at = cached
        if self._clock() < deadline and (expires_at is None or expires_at > now):
            return principal
        return None

    def revoke_token(self, token_or_id: str | uuid.UUID) -> Any:
        """Revoke a token (by id or value) and forget every cached answer; return its row or None."""
        row = self.db.transact(revoke_token, token_or_id, now=self._now())
        self.invalidate()
        return row

    def invalidate(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._cache.clear()
