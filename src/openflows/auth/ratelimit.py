"""Rate limiting of failed sign-ins (`auth_attempts`), by username and by client address.

A failed password is recorded under `user:<username>` and `addr:<address>`. When either key has reached its
limit within the sliding window, the next attempt is refused *before* the password is checked, with the
number of seconds until the oldest failure leaves the window (sent as `Retry-After`). A successful sign-in
clears the username's failures (not the address's: one address guessing many usernames stays limited).
The counts live in the database, so every process of a deployment shares them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import sqlalchemy as sa

from ..store import auth_sessions as store

#: longest address or username kept in a key (the column holds 320 characters)
MAX_KEY_PART = 300  # characters


@dataclasses.dataclass(frozen=True)
class SignInLimits:
    """At most `per_user` failures of one username and `per_address` from one address per `window`."""

    per_user: int = 5
    per_address: int = 30
    window: dt.timedelta = dt.timedelta(minutes=15)


def _keys(username: str, address: str) -> tuple[str, str]:
    return f"user:{username.strip().lower()[:MAX_KEY_PART]}", f"addr:{address[:MAX_KEY_PART]}"


def retry_after(
    conn: sa.Connection, limits: SignInLimits, *, username: str, address: str, now: dt.datetime
) -> int | None:
    """Seconds to wait before trying again, or None when an attempt is allowed now."""
    since = now - limits.window
    waits = []
    for key, limit in zip(_keys(username, address), (limits.per_user, limits.per_address), strict=True):
        count, oldest = store.attempts_since(conn, key, since)
        if count >= limit and oldest is not None:
            waits.append(max(1, math.ceil((oldest + limits.window - now).total_seconds())))
    return max(waits) if waits else None


def record_failure(
    conn: sa.Connection, limits: SignInLimits, *, username: str, address: str, now: dt.datetime
) -> None:
    """Count a failed sign-in; also forget failures older than the window."""
    for key in _keys(username, address):
        store.insert_attempt(conn, key, at=now)
    store.delete_attempts_before(conn, now - limits.window)


def record_success(conn: sa.Connection, *, username: str, address: str) -> None:
    store.delete_attempts(conn, _keys(username, address)[0])
