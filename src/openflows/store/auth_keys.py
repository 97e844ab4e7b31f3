"""Store operations for the ID-token signing keys (`signing_keys`); the rules are in `auth.keys`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from .identities import insert_statement
from .schema import signing_keys

#: a retired key stays in the JWKS this long (ID tokens signed just before a rotation still verify)
RETIRED_KEY_PUBLISHED = dt.timedelta(days=2)

_NEWEST_FIRST = (signing_keys.c.created_at.desc(), signing_keys.c.kid.desc())


def current_key(conn: sa.Connection) -> sa.Row[Any] | None:
    """The newest unretired key, or None."""
    return conn.execute(
        sa.select(signing_keys).where(signing_keys.c.retired_at.is_(None)).order_by(*_NEWEST_FIRST).limit(1)
    ).first()


def get_key(conn: sa.Connection, kid: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(signing_keys).where(signing_keys.c.kid == kid)).first()


def list_keys(conn: sa.Connection) -> list[sa.Row[Any]]:
    return list(conn.execute(sa.select(signing_keys).order_by(*_NEWEST_FIRST)))


def highest_generation(conn: sa.Connection) -> int:
    """The largest n of the key ids `k<n>` (0 when there are none)."""
    generations = [int(row.kid[1:]) for row in list_keys(conn) if row.kid[1:].isdigit()]
    return max(generations, default=0)


def insert_key_if_missing(
    conn: sa.Connection,
    kid: str,
    algorithm: str,
    private_key: str,
    public_jwk: dict[str, Any],
    *,
    now: dt.datetime,
) -> None:
    conn.execute(
        insert_statement(conn, signing_keys)
        .values(kid=kid, algorithm=algorithm, private_key=private_key, public_jwk=public_jwk, created_at=now)
        .on_conflict_do_nothing()
    )


def reseal_key(conn: sa.Connection, kid: str, private_key: str) -> None:
    conn.execute(signing_keys.update().where(signing_keys.c.kid == kid).values(private_key=private_key))


def retire_keys(conn: sa.Connection, *, now: dt.datetime) -> None:
    """Retire every unretired key."""
    conn.execute(signing_keys.update().where(signing_keys.c.retired_at.is_(None)).values(retired_at=now))


def published_keys(conn: sa.Connection, *, now: dt.datetime) -> list[sa.Row[Any]]:
    """The keys the JWKS lists: unretired ones, then those retired recently; newest first."""
    rows = list_keys(conn)
    live = [row for row in rows if row.retired_at is None]
    cutoff = now - RETIRED_KEY_PUBLISHED
    retired = [row for row in rows if row.retired_at is not None and row.retired_at > cutoff]
    return live + retired
