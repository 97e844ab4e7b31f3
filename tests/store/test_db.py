"""`Database`: transactions, snapshots, busy retries across threads, error translation, portable types."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from openflows.store import errors
from openflows.store.db import Database, display_url, normalize_url
from openflows.store.migrate import upgrade
from openflows.store.schema import identities, tokens

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _add_identity(conn: sa.Connection, username: str, created_at: dt.datetime = NOW) -> uuid.UUID:
    identity_id = uuid.uuid4()
    conn.execute(identities.insert().values(id=identity_id, username=username, created_at=created_at))
    return identity_id


def _usernames(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(identities.c.username).order_by(identities.c.username)).scalars())


def test_begin_commits_and_rolls_back_on_error(db: Database) -> None:
    with db.begin() as conn:
        _add_identity(conn, "alice")
    with pytest.raises(RuntimeError), db.begin() as conn:
        _add_identity(conn, "bob")
        raise RuntimeError("boom")
    assert _usernames(db) == ["alice"]


def test_transact_returns_the_function_result(db: Database) -> None:
    identity_id = db.transact(_add_identity, "carol")
    with db.read() as conn:
        assert conn.execute(
            sa.select(identities.c.id).where(identities.c.username == "carol")
        ).scalar_one() == (identity_id)


def test_read_sees_one_snapshot(db: Database) -> None:
    db.transact(_add_identity, "alice")
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(identities)).scalar_one() == 1
        db.transact(_add_identity, "bob")  # commits on another connection meanwhile
        assert conn.execute(sa.select(sa.func.count()).select_from(identities)).scalar_one() == 1
    assert _usernames(db) == ["alice", "bob"]


def test_unique_violation_keeps_the_constraint_name(db: Database) -> None:
    db.transact(_add_identity, "alice")
    with pytest.raises(errors.UniqueViolation) as caught:
        db.transact(_add_identity, "alice")
    assert caught.value.constraint_name == "uq_identities_username"
    assert isinstance(caught.value.__cause__, sa.exc.IntegrityError)
    assert _usernames(db) == ["alice"]


def test_primary_key_violation_is_a_unique_violation(db: Database) -> None:
    identity_id = db.transact(_add_identity, "alice")

    def insert_same_id(conn: sa.Connection) -> None:
        conn.execute(identities.insert().values(id=identity_id, username="other", created_at=NOW))

    with pytest.raises(errors.UniqueViolation) as caught:
        db.transact(insert_same_id)
    assert caught.value.constraint_name == "pk_identities"


def test_foreign_key_violation(db: Database) -> None:
    def insert_orphan_token(conn: sa.Connection) -> None:
        conn.execute(
            tokens.insert().values(
                id=uuid.uuid4(), token_hash="0" * 64, identity_id=uuid.uuid4(), scopes=["*"], created_at=NOW
            )
        )

    with pytest.raises(errors.ForeignKeyViolation):
        db.transact(insert_orphan_token)


def test_transact_retries_while_another_thread_holds_the_lock(database_url: str, backend: str) -> None:
    """A writer that finds the database locked backs off (injected sleep), then succeeds once it is free."""
    holding = threading.Event()
    release = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        release.set()
        holder.join(timeout=10)

    db = Database(database_url, busy_timeout_ms=0, sleep=sleep)
    alice = db.transact(_add_identity, "alice")

    def hold_lock() -> None:
        with db.begin() as conn:
            if backend == "postgres":
                conn.execute(sa.select(identities).where(identities.c.id == alice).with_for_update())
            conn.execute(identities.update().where(identities.c.id == alice).values(name="held"))
            holding.set()
            release.wait(timeout=10)

    def rename(conn: sa.Connection) -> str:
        if backend == "postgres":
            conn.exec_driver_sql("SET LOCAL lock_timeout = '20ms'")
        conn.execute(identities.update().where(identities.c.id == alice).values(name="renamed"))
        return "done"

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        assert db.transact(rename) == "done"
    finally:
        release.set()
        holder.join(timeout=10)
        with db.read() as conn:
            name = conn.execute(sa.select(identities.c.name).where(identities.c.id == alice)).scalar_one()
        db.dispose()
    assert len(sleeps) == 1
    assert name == "renamed"


def test_transact_gives_up_after_max_attempts(database_url: str, backend: str) -> None:
    sleeps: list[float] = []
    db = Database(database_url, busy_timeout_ms=0, max_attempts=3, sleep=sleeps.append)
    alice = db.transact(_add_identity, "alice")
    calls = 0

    def rename(conn: sa.Connection) -> None:
        nonlocal calls
        calls += 1
        if backend == "postgres":
            conn.exec_driver_sql("SET LOCAL lock_timeout = '20ms'")
        conn.execute(identities.update().where(identities.c.id == alice).values(name="renamed"))

    other = Database(database_url)  # another process's connection holds the lock
    try:
        with other.begin() as conn:
            conn.execute(identities.update().where(identities.c.id == alice).values(name="held"))
            with pytest.raises(errors.Busy) as caught:
                db.transact(rename)
    finally:
        other.dispose()
        db.dispose()
    assert isinstance(caught.value.__cause__, sa.exc.OperationalError)
    assert calls == (3 if backend == "postgres" else 0)  # on SQLite, BEGIN IMMEDIATE itself is refused
    assert len(sleeps) == 2
    assert all(0 < seconds <= 0.5 for seconds in sleeps)


def test_sqlite_writers_of_one_process_take_turns_without_busy_retries(tmp_path: Path) -> None:
    """Two threads writing through one Database: the second waits on the process's write lock and starts
    as soon as the first commits, never through SQLite's busy handler or `transact`'s retry sleeps."""
    sleeps: list[float] = []
    db = Database(f"sqlite:///{tmp_path / 'turns.db'}", sleep=sleeps.append)
    upgrade(db)
    alice = db.transact(_add_identity, "alice")
    holding, order = threading.Event(), []

    def slow(conn: sa.Connection) -> None:
        conn.execute(identities.update().where(identities.c.id == alice).values(name="first"))
        holding.set()
        time.sleep(0.2)
        order.append("first")

    def second(conn: sa.Connection) -> None:
        conn.execute(identities.update().where(identities.c.id == alice).values(name="second"))
        order.append("second")

    holder = threading.Thread(target=db.transact, args=(slow,))
    holder.start()
    try:
        assert holding.wait(timeout=10)
        began = time.monotonic()
        db.transact(second)
        waited = time.monotonic() - began
    finally:
        holder.join(timeout=10)
    with db.read() as conn:
        name = conn.execute(sa.select(identities.c.name).where(identities.c.id == alice)).scalar_one()
    db.dispose()
    assert order == ["first", "second"] and name == "second"
    assert sleeps == []
    assert 0.05 < waited < 5


def test_utc_datetime_round_trip(db: Database) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    local = dt.datetime(2026, 1, 2, 9, 30, 15, 123456, tzinfo=tokyo)
    db.transact(_add_identity, "early", local)
    db.transact(_add_identity, "late", dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC))
    with db.read() as conn:
        rows = conn.execute(
            sa.select(identities.c.username, identities.c.created_at).order_by(identities.c.created_at)
        )
        ordered = [(row.username, row.created_at) for row in rows]
    assert ordered[0] == ("early", dt.datetime(2026, 1, 2, 0, 30, 15, 123456, tzinfo=dt.UTC))
    assert ordered[0][1].tzinfo is dt.UTC
    assert ordered[1][0] == "late"


def test_naive_datetimes_are_rejected(db: Database) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.transact(_add_identity, "naive", dt.datetime(2026, 1, 1))
    assert _usernames(db) == []


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/new/dir/openflows.db")
    try:
        with db.read() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    finally:
        db.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000, "foreign_keys": 1}
    assert (tmp_path / "new" / "dir" / "openflows.db").exists()
    assert db.dialect == "sqlite"


def test_urls() -> None:
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    assert display_url("postgresql+psycopg://user:secret@host/db") == "postgresql+psycopg://user:***@host/db"
    with pytest.raises(errors.StoreError, match="invalid database URL"):
        Database("not a url")
    with pytest.raises(errors.StoreError, match="unsupported database 'mysql'"):
        Database("mysql://localhost/x")


def test_store_errors_use_their_docstring_as_default_message() -> None:
    assert str(errors.Busy()).startswith("The database is busy")
    assert errors.UniqueViolation("dup", constraint_name="uq_x").constraint_name == "uq_x"
    assert issubclass(errors.UniqueViolation, errors.Conflict)


def test_json_columns_keep_big_integers_unicode_and_integer_keys(db: Database) -> None:
    """Column values are written with orjson where it can (SQLite) and json.dumps where it cannot: an
    integer beyond 64 bits (expressions allow up to 14,000 bits) and non-string keys still round-trip as
    JSON would (`json.loads` reads them back exactly)."""
    from openflows.store.types import dumps_json

    assert json.loads(dumps_json({"big": 2**200, "é": "ü", "n": [1.5, None, True]})) == {
        "big": 2**200,
        "é": "ü",
        "n": [1.5, None, True],
    }
    assert json.loads(dumps_json({1: "one"})) == {"1": "one"}
    alice = db.transact(_add_identity, "alice")
    with db.begin() as conn:
        conn.execute(
            tokens.insert().values(
                id=uuid.uuid4(),
                identity_id=alice,
                token_hash="h" * 64,
                scopes=[2**100, "é"],
                created_at=NOW,
            )
        )
    with db.read() as conn:
        assert conn.execute(sa.select(tokens.c.scopes)).scalar_one() == [2**100, "é"]


@pytest.mark.parametrize(
    ("username", "scopes"),
    [("a\ud800b", ["s"]), ("alice", ["\udcff"]), ("a\x00b", ["s"]), ("alice", ["a\x00"])],
    ids=["surrogate-text", "surrogate-json", "nul-text", "nul-json"],
)
def test_values_the_database_refuses_are_invalid_values_not_busy(
    db: Database, backend: str, username: str, scopes: list[str]
) -> None:
    """Issue 12: PostgreSQL's refusal of a NUL (psycopg's own, without SQLSTATE, for text; 22P05 for JSONB)
    was translated as "database unavailable" (a 503 "retry" to clients, ~9 minutes of retries in the
    engine). A value that cannot be stored is `InvalidValue`, raised once: no retry can cure it."""
    attempts = []

    def insert(conn: sa.Connection) -> None:
        attempts.append(1)
        identity_id = _add_identity(conn, username)
        conn.execute(
            tokens.insert().values(
                id=uuid.uuid4(), identity_id=identity_id, token_hash="h" * 64, scopes=scopes, created_at=NOW
            )
        )

    stored_as_is = backend == "sqlite" and "\x00" in username + scopes[0]  # SQLite keeps NUL
    if stored_as_is:
        db.transact(insert)
        return
    with pytest.raises(errors.InvalidValue) as caught:
        db.transact(insert)
    assert not isinstance(caught.value, errors.Busy | errors.Unavailable)
    assert len(attempts) == 1  # not retried
    assert _usernames(db) == []


def test_translation_keeps_unavailable_for_lost_connections_only() -> None:
    """Errors without a SQLSTATE: a connection problem is `Unavailable` (a retry may cure it), a data error
    `InvalidValue`, anything else a plain `StoreError` (a bug: 500)."""
    from openflows.store.db import translate_error

    psycopg = pytest.importorskip("psycopg")

    def wrapped(cls: type[sa.exc.DBAPIError], orig: Exception) -> sa.exc.DBAPIError:
        return cls("SELECT 1", {}, orig)

    nul = wrapped(
        sa.exc.DataError, psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    )
    assert type(translate_error(nul)) is errors.InvalidValue
    lost = wrapped(sa.exc.OperationalError, psycopg.OperationalError("server closed the connection"))
    assert type(translate_error(lost)) is errors.Unavailable
    closed = wrapped(sa.exc.InterfaceError, psycopg.InterfaceError("the connection is closed"))
    assert type(translate_error(closed)) is errors.Unavailable
    misuse = wrapped(sa.exc.ProgrammingError, psycopg.ProgrammingError("wrong number of parameters"))
    assert type(translate_error(misuse)) is errors.StoreError
