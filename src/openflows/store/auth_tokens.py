"""Store operations for the tokens of the Auth surface: access and refresh tokens with their lineage, and
authorization codes.

`tokens.parent_id` records what a token was issued from (the refresh token of a refresh grant, the user's
token of a dependent-token grant, the refresh token issued beside an access token); `revoke_cascade` revokes a
token and everything issued from it, transitively. The rules are in `auth.issuing`; only hashes are stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .identities import get_token
from .schema import auth_sessions, authorization_codes, tokens

#: deepest lineage followed by `revoke_cascade` (a refresh token -> its access tokens -> dependent tokens...)
MAX_LINEAGE_DEPTH = 32  # levels


def insert_token(
    conn: sa.Connection,
    *,
    token_hash: str,
    identity_id: uuid.UUID,
    scopes: Iterable[str],
    kind: str,
    client_id: uuid.UUID | None,
    resource_server: str | None,
    now: dt.datetime,
    expires_at: dt.datetime | None,
    parent_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    consent_ids: list[int] | None = None,
    description: str | None = None,
) -> uuid.UUID:
    """Store a token by its hash; return its id. Scopes keep their order (the `scope` field's order)."""
    token_id = uuid.uuid4()
    conn.execute(
        _INSERT_TOKEN,
        {
            "id": token_id,
            "token_hash": token_hash,
            "identity_id": identity_id,
            "scopes": list(dict.fromkeys(scopes)),
            "description": description,
            "created_at": now,
            "expires_at": expires_at,
            "kind": kind,
            "client_id": client_id,
            "resource_server": resource_server,
            "parent_id": parent_id,
            "session_id": session_id,
            "consent_ids": consent_ids,
            "last_used_at": now if kind == "refresh" else None,
            "revoked_at": None,
        },
    )
    return token_id


# built once: a run start issues its delegated tokens with it
_INSERT_TOKEN = tokens.insert()


def touch(conn: sa.Connection, token_id: uuid.UUID, *, now: dt.datetime) -> None:
    """Record that a (refresh) token was used now."""
    conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=now))


def revoke_cascade(conn: sa.Connection, token_ids: Iterable[uuid.UUID], *, now: dt.datetime) -> int:
    """Revoke the tokens and everything issued from them (transitively); return how many were newly
    revoked."""
    seen: set[uuid.UUID] = set()
    frontier = list(dict.fromkeys(token_ids))
    for _ in range(MAX_LINEAGE_DEPTH):
        if not frontier:
            break
        seen.update(frontier)
        children = conn.execute(sa.select(tokens.c.id).where(tokens.c.parent_id.in_(frontier))).scalars()
        frontier = [child for child in children if child not in seen]
    if not seen:
        return 0
    done = conn.execute(
        tokens.update()
        .where(tokens.c.id.in_(list(seen)), tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(done.rowcount or 0)


def revoke_with_children(conn: sa.Connection, token_ids: Iterable[uuid.UUID], *, now: dt.datetime) -> int:
    """Revoke the tokens and those issued directly from them (a refresh token and its access tokens) in one
    statement; how many were newly revoked. For lineages one level deep, such as a run's delegated tokens."""
    wanted = list(dict.fromkeys(token_ids))
    if not wanted:
        return 0
    done = conn.execute(_REVOKE_WITH_CHILDREN, {"b_ids": wanted, "b_now": now})
    return int(done.rowcount or 0)


_REVOKE_WITH_CHILDREN = (
    tokens.update()
    .where(
        sa.or_(
            tokens.c.id.in_(sa.bindparam("b_ids", expanding=True)),
            tokens.c.parent_id.in_(sa.bindparam("b_ids", expanding=True)),
        ),
        tokens.c.revoked_at.is_(None),
    )
    .values(revoked_at=sa.bindparam("b_now"))
)


def active_token_ids_of_client(conn: sa.Connection, client_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the unrevoked tokens issued to a client."""
    return list(
        conn.execute(
            sa.select(tokens.c.id).where(tokens.c.client_id == client_id, tokens.c.revoked_at.is_(None))
        ).scalars()
    )


def active_tokens_on_consents(
    conn: sa.Connection, identity_id: uuid.UUID
) -> list[tuple[uuid.UUID, list[int]]]:
    """`(token id, consent ids)` of the identity's unrevoked tokens that rest on consents."""
    rows = conn.execute(
        sa.select(tokens.c.id, tokens.c.consent_ids).where(
            tokens.c.identity_id == identity_id, tokens.c.revoked_at.is_(None)
        )
    )  # `consent_ids` may hold JSON null: filtered here rather than in SQL
    return [(row.id, [int(value) for value in row.consent_ids]) for row in rows if row.consent_ids]


def token_row(conn: sa.Connection, token_id: uuid.UUID) -> sa.Row[Any] | None:
    """The token joined with its identity (see `store.identities.get_token`)."""
    return get_token(conn, token_id)


def get_auth_session(conn: sa.Connection, session_id: uuid.UUID) -> sa.Row[Any] | None:
    """The sign-in session behind a token (its identity provider and time of sign-in), or None."""
    return conn.execute(sa.select(auth_sessions).where(auth_sessions.c.id == session_id)).first()


# --- authorization codes ----------------------------------------------------------------------------------


def insert_code(conn: sa.Connection, **values: Any) -> None:
    conn.execute(sa.insert(authorization_codes).values(**values))


def get_code(conn: sa.Connection, code_hash: str) -> sa.Row[Any] | None:
    return conn.execute(
        sa.select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
    ).first()


def claim_code(conn: sa.Connection, code_hash: str, *, now: dt.datetime) -> bool:
    """Mark an unused code used; False when it was used already (by this or a concurrent request)."""
    done = conn.execute(
        authorization_codes.update()
        .where(authorization_codes.c.code_hash == code_hash, authorization_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(done.rowcount)


def set_code_tokens(conn: sa.Connection, code_hash: str, token_ids: Iterable[uuid.UUID]) -> None:
    """Remember the tokens a code was exchanged for (revoked if the code is presented again)."""
    conn.execute(
        authorization_codes.update()
        .where(authorization_codes.c.code_hash == code_hash)
        .values(issued_token_ids=[str(token_id) for token_id in token_ids])
    )


def delete_codes_expired_before(conn: sa.Connection, cutoff: dt.datetime) -> int:
    """Delete codes that expired before `cutoff` (housekeeping)."""
    done = conn.execute(authorization_codes.delete().where(authorization_codes.c.expires_at < cutoff))
    return int(done.rowcount or 0)
