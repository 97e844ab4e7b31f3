"""Local accounts: people who sign in with a username and a password (a laptop, an air-gapped site).

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile) and never
stored, logged or put in an error message. A hash made with older parameters is upgraded at the next
successful sign-in. An unknown username costs the same hashing time as a wrong password, so response times
do not tell which usernames exist.

A local account is an identity (`identities`) plus a `local_accounts` row. Adding an account for a username
that already exists as an identity (e.g. one made by `openflows tokens create --username`) gives that
identity a password, unless the identity signs in through an upstream provider: then it is refused, so a
password can never open an upstream person's identity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..store import auth_accounts as store
from ..store import auth_sessions as session_store
from ..store.identities import ensure_identity, get_identity_by_username

#: longest password accepted (Argon2 takes any length; this bounds the work one request can cause)
MAX_PASSWORD_LENGTH = 1024  # characters
#: shortest password `openflows users add` accepts
MIN_PASSWORD_LENGTH = 8  # characters
#: longest username
MAX_USERNAME_LENGTH = 256  # characters

_HASHER = PasswordHasher()
#: a hash verified when the username is unknown, so that both cases take as long
_DUMMY_HASH = _HASHER.hash("openflows: no such account")


class AccountError(ValueError):
    """An account operation cannot be done; `code` is for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Account:
    """A local account as listed (never with its hash)."""

    identity_id: uuid.UUID
    username: str
    name: str | None
    email: str | None
    created_at: dt.datetime
    disabled: bool


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of a password."""
    return _HASHER.hash(password)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            "PASSWORD_TOO_SHORT", f"The password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            "PASSWORD_TOO_LONG", f"The password must have at most {MAX_PASSWORD_LENGTH} characters"
        )


def check_username(username: str) -> str:
    cleaned = username.strip()
    if not cleaned or len(cleaned) > MAX_USERNAME_LENGTH or any(c.isspace() for c in cleaned):
        raise AccountError(
            "INVALID_USERNAME", f"A username is 1 to {MAX_USERNAME_LENGTH} characters without spaces"
        )
    return cleaned


def add_account(
    conn: sa.Connection,
    *,
    username: str,
    password: str,
    now: dt.datetime,
    email: str | None = None,
    name: str | None = None,
) -> Account:
    """Create the local account `username` (see the module docstring for an existing identity)."""
    username = check_username(username)
    check_new_password(password)
    if store.get_local_account(conn, username) is not None:
        raise AccountError("ACCOUNT_EXISTS", f"A local account named {username!r} already exists")
    existing = get_identity_by_username(conn, username)
    if existing is not None and store.identity_is_linked(conn, existing.id):
        raise AccountError(
            "IDENTITY_IS_UPSTREAM",
            f"{username!r} signs in through the upstream identity provider; it cannot have a password",
        )
    identity = ensure_identity(conn, username, email=email, name=name, now=now)
    store.insert_local_account(conn, identity_id=identity.id, password_hash=hash_password(password), now=now)
    return Account(identity.id, identity.username, identity.name, identity.email, now, False)


def list_accounts(conn: sa.Connection) -> list[Account]:
    return [_account(row) for row in store.list_local_accounts(conn)]


def _account(row: Any) -> Account:
    return Account(
        row.identity_id, row.username, row.name, row.email, row.created_at, row.disabled_at is not None
    )


def _existing(conn: sa.Connection, username: str) -> Any:
    row = store.get_local_account(conn, username)
    if row is None:
        raise AccountError("NO_SUCH_ACCOUNT", f"There is no local account named {username!r}")
    return row


def disable_account(conn: sa.Connection, username: str, *, now: dt.datetime, enable: bool = False) -> Account:
    """Disable the account (its browser sessions end at once) or enable it again."""
    row = _existing(conn, username)
    store.set_account_disabled(conn, row.identity_id, disabled_at=None if enable else now, now=now)
    if not enable:
        session_store.revoke_identity_sessions(conn, row.identity_id, now=now)
    return _account(store.get_local_account(conn, username))


def set_password(conn: sa.Connection, username: str, password: str, *, now: dt.datetime) -> Account:
    """Give the account a new password; its browser sessions end (a leaked password stops working now)."""
    check_new_password(password)
    row = _existing(conn, username)
    store.set_password_hash(conn, row.identity_id, hash_password(password), now=now)
    session_store.revoke_identity_sessions(conn, row.identity_id, now=now)
    return _account(row)


def remove_account(conn: sa.Connection, username: str, *, now: dt.datetime) -> Account:
    """Remove the account: no more password sign-in, its sessions end. The identity stays (flows and runs
    name it)."""
    row = _existing(conn, username)
    store.delete_local_account(conn, row.identity_id)
    session_store.revoke_identity_sessions(conn, row.identity_id, now=now)
    return _account(row)


def find_account(conn: sa.Connection, username: str) -> Any | None:
    """The local account row of `username` (with its hash), or None."""
    if len(username) > MAX_USERNAME_LENGTH:
        return None
    return store.get_local_account(conn, username.strip())


def password_matches(account: Any | None, password: str) -> bool:
    """Whether `password` opens the account (enabled). CPU only, no database: call it outside transactions
    (Argon2id takes tens of milliseconds). A missing account costs the same time."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        _HASHER.verify(account.password_hash if account is not None else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return account is not None and account.disabled_at is None


def upgrade_hash(conn: sa.Connection, account: Any, password: str, *, now: dt.datetime) -> None:
    """Re-hash a password verified with outdated parameters (after a successful sign-in)."""
    if _HASHER.check_needs_rehash(account.password_hash):
        store.set_password_hash(conn, account.identity_id, hash_password(password), now=now)


def verify_password(conn: sa.Connection, username: str, password: str, *, now: dt.datetime) -> Any | None:
    """The account row when `username` is an enabled local account and the password is right, else None;
    upgrades an outdated hash. (The sign-in page checks outside its transaction instead.)"""
    account = find_account(conn, username)
    if not password_matches(account, password):
        return None
    upgrade_hash(conn, account, password, now=now)
    return account
