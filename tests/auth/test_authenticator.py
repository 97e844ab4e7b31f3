"""Bearer tokens: creation, lookup, revocation, expiry, and the caching `Authenticator`."""

from __future__ import annotations

import datetime as dt
import uuid

from openflows.auth import scopes
from openflows.auth.tokens import (
    TOKEN_PREFIX,
    Authenticator,
    create_token,
    hash_token,
    list_tokens,
    lookup_principal,
    parse_bearer,
    revoke_token,
)
from openflows.shared.urns import group_urn
from openflows.store.db import Database
from openflows.store.identities import add_group_member, ensure_group, ensure_identity
from openflows.store.schema import tokens

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A monotonic clock and a wall clock that only move when told to."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.now = NOW

    def monotonic(self) -> float:
        return self.seconds

    def utcnow(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.now += dt.timedelta(seconds=seconds)


def _identity_with_token(db: Database, **token_args: object) -> tuple[str, uuid.UUID, uuid.UUID]:
    def create(conn):  # type: ignore[no-untyped-def]
        alice = ensure_identity(conn, "alice", email="a@example.org", name="Alice", now=NOW)
        team = ensure_group(conn, "team", now=NOW)
        add_group_member(conn, group_id=team.id, identity_id=alice.id)
        token, row = create_token(conn, identity_id=alice.id, now=NOW, **token_args)
        return token, alice.id, team.id, row

    token, identity_id, team_id, row = db.transact(create)
    return token, identity_id, team_id


def test_token_is_random_and_stored_only_as_hash(db: Database) -> None:
    token, identity_id, _ = _identity_with_token(db, description="laptop")
    other, _, _ = _identity_with_token(db)
    assert token.startswith(TOKEN_PREFIX) and len(token) >= 40 and token != other
    with db.read() as conn:
        stored = conn.execute(tokens.select()).all()
    assert {row.token_hash for row in stored} == {hash_token(token), hash_token(other)}
    assert all(token not in str(tuple(row)) for row in stored)
    assert [row.scopes for row in stored] == [["*"], ["*"]]


def test_lookup_principal(db: Database) -> None:
    token, identity_id, team_id = _identity_with_token(db, scopes=[scopes.RUN, scopes.VIEW_FLOWS])
    with db.read() as conn:
        principal = lookup_principal(conn, token, now=NOW)
        assert lookup_principal(conn, token + "x", now=NOW) is None
        assert lookup_principal(conn, "", now=NOW) is None
    assert principal is not None
    assert principal.identity_id == identity_id
    assert principal.identity_urn == f"urn:globus:auth:identity:{identity_id}"
    assert (principal.username, principal.email, principal.name) == ("alice", "a@example.org", "Alice")
    assert principal.group_urns == {group_urn(team_id)}
    assert principal.scopes == {scopes.RUN, scopes.VIEW_FLOWS}
    assert principal.has_scope(scopes.RUN) and not principal.has_scope(scopes.MANAGE_FLOWS)


def test_expired_token_is_rejected(db: Database) -> None:
    token, _, _ = _identity_with_token(db, expires_at=NOW + dt.timedelta(hours=1))
    with db.read() as conn:
        assert lookup_principal(conn, token, now=NOW + dt.timedelta(minutes=59)) is not None
        assert lookup_principal(conn, token, now=NOW + dt.timedelta(hours=1)) is None


def test_revoke_by_value_or_id(db: Database) -> None:
    first, _, _ = _identity_with_token(db)
    second, _, _ = _identity_with_token(db)
    revoked = db.transact(revoke_token, first, now=NOW)
    assert revoked.revoked_at == NOW
    with db.read() as conn:
        second_id = next(row.id for row in list_tokens(conn, "alice") if row.revoked_at is None)
    assert db.transact(revoke_token, str(second_id), now=NOW).id == second_id
    # revoking again keeps the first revocation time; unknown tokens give None
    assert db.transact(revoke_token, first, now=NOW + dt.timedelta(days=1)).revoked_at == NOW
    assert db.transact(revoke_token, "of_unknown", now=NOW) is None
    assert db.transact(revoke_token, str(uuid.uuid4()), now=NOW) is None
    with db.read() as conn:
        assert lookup_principal(conn, first, now=NOW) is None
        assert lookup_principal(conn, second, now=NOW) is None


def test_list_tokens_never_shows_values(db: Database) -> None:
    token, _, _ = _identity_with_token(db, description="ci")
    db.transact(ensure_identity, "bob", now=NOW)
    with db.read() as conn:
        rows = list_tokens(conn)
        assert list_tokens(conn, "bob") == []
    assert [(row.username, row.description) for row in rows] == [("alice", "ci")]
    assert "token_hash" not in rows[0]._fields
    assert token not in repr(rows)


def test_parse_bearer() -> None:
    assert parse_bearer("Bearer abc") == "abc"
    assert parse_bearer("bearer   abc ") == "abc"
    assert parse_bearer("abc") == "abc"
    assert parse_bearer("Basic abc") is None
    assert parse_bearer("") is None
    assert parse_bearer(None) is None


def test_authenticator_caches_briefly(db: Database) -> None:
    clock = Clock()
    token, identity_id, _ = _identity_with_token(db)
    authenticator = Authenticator(db, cache_seconds=5, clock=clock.monotonic, now=clock.utcnow)
    principal = authenticator.authenticate(f"Bearer {token}")
    assert principal is not None and principal.identity_id == identity_id
    assert authenticator.authenticate(None) is None
    assert authenticator.authenticate("Bearer of_nope") is None
    assert authenticator.authenticate("x" * 5000) is None

    # revoked elsewhere (another process): still cached for up to cache_seconds, then refused
    db.transact(revoke_token, token, now=NOW)
    clock.advance(4)
    assert authenticator.authenticate(token) == principal
    clock.advance(2)
    assert authenticator.authenticate(token) is None


def test_authenticator_revocation_is_immediate_in_process(db: Database) -> None:
    clock = Clock()
    token, _, _ = _identity_with_token(db)
    authenticator = Authenticator(db, clock=clock.monotonic, now=clock.utcnow)
    assert authenticator.authenticate(token) is not None
    assert authenticator.revoke_token(token) is not None
    assert authenticator.authenticate(token) is None


def test_authenticator_respects_expiry_while_cached(db: Database) -> None:
    clock = Clock()
    token, _, _ = _identity_with_token(db, expires_at=NOW + dt.timedelta(seconds=2))
    authenticator = Authenticator(db, cache_seconds=60, clock=clock.monotonic, now=clock.utcnow)
    assert authenticator.authenticate(token) is not None
    clock.advance(3)
    assert authenticator.authenticate(token) is None


def test_unknown_tokens_are_not_cached(db: Database) -> None:
    clock = Clock()
    authenticator = Authenticator(db, clock=clock.monotonic, now=clock.utcnow)
    token, _, _ = _identity_with_token(db)
    # a token created after a failed attempt works at once (no negative caching)
    assert authenticator.authenticate(token + "typo") is None
    assert authenticator.authenticate(token) is not None
