"""Store operations for identities, groups, group members and token rows (token logic: `auth.tokens`).

Every function takes the connection first and runs inside the caller's transaction (`Database.transact`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .schema import group_members, groups, identities, tokens

#: the domain of client identities' usernames (`<client id>@clients.auth.globus.org`)
CLIENT_USERNAME_DOMAIN = "clients.auth.globus.org"


def insert_statement(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that supports `on_conflict_do_nothing` / `on_conflict_do_update` on both dialects."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def get_identity(conn: sa.Connection, identity_id: uuid.UUID) -> sa.Row[Any] | None:
    """The identity row with this id, or None."""
    return conn.execute(sa.select(identities).where(identities.c.id == identity_id)).first()


def get_identity_by_username(conn: sa.Connection, username: str) -> sa.Row[Any] | None:
    """The identity row with this username, or None."""
    return conn.execute(sa.select(identities).where(identities.c.username == username)).first()


def ensure_identity(
    conn: sa.Connection,
    username: str,
    *,
    email: str | None = None,
    name: str | None = None,
    now: dt.datetime,
) -> sa.Row[Any]:
    """The identity row for `username`, created (with a new random id) if missing.

    The id never changes once created. `email` and `name`, when given, replace the stored values.
    """
    conn.execute(
        insert_statement(conn, identities)
        .values(id=uuid.uuid4(), username=username, email=email, name=name, created_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    changes = {key: value for key, value in (("email", email), ("name", name)) if value is not None}
    if changes:
        conn.execute(identities.update().where(identities.c.username == username).values(**changes))
    row = get_identity_by_username(conn, username)
    assert row is not None
    return row


def ensure_client_identity(conn: sa.Connection, client_id: uuid.UUID, *, name: str, now: dt.datetime) -> None:
    """The identity of an OAuth client: the same id, username `<id>@clients.auth.globus.org` (Globus
    Auth's)."""
    conn.execute(
        insert_statement(conn, identities)
        .values(id=client_id, username=client_username(client_id), name=name, created_at=now)
        .on_conflict_do_nothing()
    )
    conn.execute(identities.update().where(identities.c.id == client_id).values(name=name))


def client_username(client_id: uuid.UUID) -> str:
    """The username of a client's identity."""
    return f"{client_id}@{CLIENT_USERNAME_DOMAIN}"


def get_group_by_name(conn: sa.Connection, name: str) -> sa.Row[Any] | None:
    """The group row with this name, or None."""
    return conn.execute(sa.select(groups).where(groups.c.name == name)).first()


def ensure_group(conn: sa.Connection, name: str, *, now: dt.datetime) -> sa.Row[Any]:
    """The group row named `name`, created (with a new random id) if missing."""
    conn.execute(
        insert_statement(conn, groups)
        .values(id=uuid.uuid4(), name=name, created_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    row = get_group_by_name(conn, name)
    assert row is not None
    return row


def add_group_member(conn: sa.Connection, *, group_id: uuid.UUID, identity_id: uuid.UUID) -> None:
    """Make the identity a member of the group (no-op if it already is)."""
    conn.execute(
        insert_statement(conn, group_members)
        .values(group_id=group_id, identity_id=identity_id)
        .on_conflict_do_nothing(index_elements=["group_id", "identity_id"])
    )


def remove_group_member(conn: sa.Connection, *, group_id: uuid.UUID, identity_id: uuid.UUID) -> bool:
    """Remove the identity from the group; return whether it was a member."""
    result = conn.execute(
        group_members.delete().where(
            group_members.c.group_id == group_id, group_members.c.identity_id == identity_id
        )
    )
    return result.rowcount > 0


def list_group_ids(conn: sa.Connection, identity_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the groups the identity belongs to, sorted."""
    return [row.group_id for row in conn.execute(_GROUP_IDS, {"b_identity": identity_id})]


# built once: every authentication of a token not in the cache reads it
_GROUP_IDS = (
    sa.select(group_members.c.group_id)
    .where(group_members.c.identity_id == sa.bindparam("b_identity"))
    .order_by(group_members.c.group_id)
)


def insert_token(
    conn: sa.Connection,
    *,
    token_hash: str,
    identity_id: uuid.UUID,
    scopes: Iterable[str],
    description: str | None,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    consent_ids: list[int] | None = None,
) -> sa.Row[Any]:
    """Store a token by its hash; return the new tokens row. `consent_ids`: the root consents it rests on."""
    token_id = uuid.uuid4()
    conn.execute(
        tokens.insert().values(
            id=token_id,
            token_hash=token_hash,
            identity_id=identity_id,
            scopes=sorted(set(scopes)),
            description=description,
            created_at=now,
            expires_at=expires_at,
            consent_ids=consent_ids,
        )
    )
    row = get_token(conn, token_id)
    assert row is not None
    return row


_TOKEN_COLUMNS = (
    tokens.c.id,
    tokens.c.identity_id,
    identities.c.username,
    identities.c.email,
    identities.c.name,
    tokens.c.scopes,
    tokens.c.description,
    tokens.c.created_at,
    tokens.c.expires_at,
    tokens.c.revoked_at,
    tokens.c.kind,
    tokens.c.client_id,
    tokens.c.resource_server,
    tokens.c.parent_id,
    tokens.c.session_id,
    tokens.c.consent_ids,
    tokens.c.last_used_at,
)


def _select_tokens() -> sa.Select[Any]:
    return sa.select(*_TOKEN_COLUMNS).select_from(
        tokens.join(identities, tokens.c.identity_id == identities.c.id)
    )


# built once: these run for every run start and every token the API has not cached
_GET_TOKEN = _select_tokens().where(tokens.c.id == sa.bindparam("b_id"))
_GET_TOKEN_BY_HASH = _select_tokens().where(tokens.c.token_hash == sa.bindparam("b_hash"))


def get_token(conn: sa.Connection, token_id: uuid.UUID) -> sa.Row[Any] | None:
    """The token (without its hash) joined with its identity's username, email and name; or None."""
    return conn.execute(_GET_TOKEN, {"b_id": token_id}).first()


def get_token_by_hash(conn: sa.Connection, token_hash: str) -> sa.Row[Any] | None:
    """Like `get_token`, found by the token's sha256 hex hash."""
    return conn.execute(_GET_TOKEN_BY_HASH, {"b_hash": token_hash}).first()


def set_token_revoked(conn: sa.Connection, token_id: uuid.UUID, *, now: dt.datetime) -> sa.Row[Any] | None:
    """Mark the token revoked (an earlier revocation time is kept); return it, or None if unknown."""
    conn.execute(
        tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return get_token(conn, token_id)


def list_tokens(conn: sa.Connection, username: str | None = None) -> list[sa.Row[Any]]:
    """Every token (never its value or hash), oldest first, optionally only those of `username`."""
    query = _select_tokens().order_by(tokens.c.created_at, tokens.c.id)
    if username is not None:
        query = query.where(identities.c.username == username)
    return list(conn.execute(query))
