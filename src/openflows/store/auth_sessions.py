"""Store operations for browser sign-in sessions (`auth_sessions`) and failed sign-in attempts
(`auth_attempts`). The logic is in `auth.sessions` and `auth.ratelimit`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from .schema import auth_attempts, auth_sessions, identities


def insert_session(
    conn: sa.Connection,
    *,
    token_hash: str,
    identity_id: uuid.UUID,
    method: str,
    idp: str,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> uuid.UUID:
    session_id = uuid.uuid4()
    conn.execute(
        auth_sessions.insert().values(
            id=session_id,
            token_hash=token_hash,
            identity_id=identity_id,
            method=method,
            idp=idp,
            auth_time=now,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return session_id


def get_session_by_hash(conn: sa.Connection, token_hash: str) -> sa.Row[Any] | None:
    """The session (joined with its identity's username, name and email) whose cookie hashes to this."""
    query = (
        sa.select(auth_sessions, identities.c.username, identities.c.name, identities.c.email)
        .select_from(auth_sessions.join(identities, auth_sessions.c.identity_id == identities.c.id))
        .where(auth_sessions.c.token_hash == token_hash)
    )
    return conn.execute(query).first()


def revoke_session(conn: sa.Connection, session_id: uuid.UUID, *, now: dt.datetime) -> None:
    conn.execute(
        auth_sessions.update()
        .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_identity_sessions(conn: sa.Connection, identity_id: uuid.UUID, *, now: dt.datetime) -> int:
    """End every session of the identity (an account disabled or removed); return how many."""
    done = conn.execute(
        auth_sessions.update()
        .where(auth_sessions.c.identity_id == identity_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount


def delete_sessions_ended_before(conn: sa.Connection, before: dt.datetime) -> int:
    """Forget sessions that expired or were revoked before `before`."""
    done = conn.execute(
        auth_sessions.delete().where(
            sa.or_(auth_sessions.c.expires_at < before, auth_sessions.c.revoked_at < before)
        )
    )
    return done.rowcount


def insert_attempt(conn: sa.Connection, key: str, *, at: dt.datetime) -> None:
    conn.execute(auth_attempts.insert().values(key=key, at=at))


def attempts_since(conn: sa.Connection, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many failures `key` had at or after `since`, and the oldest of them."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.min(auth_attempts.c.at, type_=auth_attempts.c.at.type)).where(
            auth_attempts.c.key == key, auth_attempts.c.at >= since
        )
    ).one()
    return int(row[0]), row[1]


def delete_attempts(conn: sa.Connection, key: str) -> None:
    conn.execute(auth_attempts.delete().where(auth_attempts.c.key == key))


def delete_attempts_before(conn: sa.Connection, before: dt.datetime) -> int:
    done = conn.execute(auth_attempts.delete().where(auth_attempts.c.at < before))
    return done.rowcount
