"""Store operations for the people who sign in: local accounts (`local_accounts`) and identities linked to an
upstream OpenID Connect provider (`identity_links`). The logic (password hashing, username choice) is in
`auth.accounts` and `auth.upstream`; these are named statements run inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from .identities import insert_statement as _insert
from .schema import identities, identity_links, local_accounts

_ACCOUNT_COLUMNS = (
    identities.c.id.label("identity_id"),
    identities.c.username,
    identities.c.name,
    identities.c.email,
    local_accounts.c.password_hash,
    local_accounts.c.created_at,
    local_accounts.c.updated_at,
    local_accounts.c.disabled_at,
)


def _select_accounts() -> sa.Select[Any]:
    return sa.select(*_ACCOUNT_COLUMNS).select_from(
        local_accounts.join(identities, local_accounts.c.identity_id == identities.c.id)
    )


def get_local_account(conn: sa.Connection, username: str) -> sa.Row[Any] | None:
    """The local account (joined with its identity) of `username`, or None."""
    return conn.execute(_select_accounts().where(identities.c.username == username)).first()


def list_local_accounts(conn: sa.Connection) -> list[sa.Row[Any]]:
    """Every local account, by username."""
    return list(conn.execute(_select_accounts().order_by(identities.c.username)))


def insert_local_account(
    conn: sa.Connection, *, identity_id: uuid.UUID, password_hash: str, now: dt.datetime
) -> None:
    conn.execute(
        local_accounts.insert().values(
            identity_id=identity_id, password_hash=password_hash, created_at=now, updated_at=now
        )
    )


def set_password_hash(
    conn: sa.Connection, identity_id: uuid.UUID, password_hash: str, *, now: dt.datetime
) -> None:
    conn.execute(
        local_accounts.update()
        .where(local_accounts.c.identity_id == identity_id)
        .values(password_hash=password_hash, updated_at=now)
    )


def set_account_disabled(
    conn: sa.Connection, identity_id: uuid.UUID, *, disabled_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Disable (a time) or enable (None) the account; return whether it exists."""
    done = conn.execute(
        local_accounts.update()
        .where(local_accounts.c.identity_id == identity_id)
        .values(disabled_at=disabled_at, updated_at=now)
    )
    return done.rowcount > 0


def delete_local_account(conn: sa.Connection, identity_id: uuid.UUID) -> bool:
    """Remove the account (the identity stays: role lists and run histories name it); return whether it
    existed."""
    done = conn.execute(local_accounts.delete().where(local_accounts.c.identity_id == identity_id))
    return done.rowcount > 0


def get_identity_link(conn: sa.Connection, issuer: str, subject: str) -> sa.Row[Any] | None:
    """The link of an upstream (issuer, sub) pair, or None."""
    return conn.execute(
        sa.select(identity_links).where(
            identity_links.c.issuer == issuer, identity_links.c.subject == subject
        )
    ).first()


def identity_is_linked(conn: sa.Connection, identity_id: uuid.UUID) -> bool:
    """Whether some upstream (issuer, sub) signs in as this identity."""
    found = conn.execute(
        sa.select(identity_links.c.subject).where(identity_links.c.identity_id == identity_id).limit(1)
    ).first()
    return found is not None


def insert_identity_link(
    conn: sa.Connection, *, issuer: str, subject: str, identity_id: uuid.UUID, now: dt.datetime
) -> None:
    conn.execute(
        identity_links.insert().values(
            issuer=issuer, subject=subject, identity_id=identity_id, created_at=now, last_seen_at=now
        )
    )


def touch_identity_link(conn: sa.Connection, issuer: str, subject: str, *, now: dt.datetime) -> None:
    conn.execute(
        identity_links.update()
        .where(identity_links.c.issuer == issuer, identity_links.c.subject == subject)
        .values(last_seen_at=now)
    )


def insert_identity(
    conn: sa.Connection, *, username: str, name: str | None, email: str | None, now: dt.datetime
) -> sa.Row[Any] | None:
    """A new identity with this username, or None if the username is taken (nothing is written then)."""
    identity_id = uuid.uuid4()
    done = conn.execute(
        _insert(conn, identities)
        .values(id=identity_id, username=username, name=name, email=email, created_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    if done.rowcount == 0:
        return None
    return conn.execute(sa.select(identities).where(identities.c.id == identity_id)).first()


def update_identity_profile(
    conn: sa.Connection, identity_id: uuid.UUID, *, name: str | None, email: str | None
) -> None:
    """Refresh the name and email (never the username) from the latest upstream sign-in."""
    changes = {key: value for key, value in (("name", name), ("email", email)) if value}
    if changes:
        conn.execute(identities.update().where(identities.c.id == identity_id).values(**changes))
