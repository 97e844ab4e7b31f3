"""The database handle: one SQLAlchemy engine (sync, Core), transactions, busy retries and error translation.

SQLite (the default) runs in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign keys on; the
driver's own transaction handling is switched off (`isolation_level=None`, as in SQLAlchemy's pysqlite recipe)
and we emit `BEGIN IMMEDIATE` for write transactions and a deferred `BEGIN` for reads, so two writers never
deadlock on a lock upgrade. PostgreSQL (`postgresql+psycopg://`) uses READ COMMITTED for writes and REPEATABLE
READ READ ONLY for reads (one snapshot per read transaction).

Driver errors are translated here, once, into `store.errors` exceptions; `Database.transact` retries `Busy`.
Only what a retry can cure is `Busy` (lock, serialization failure, deadlock) or `Unavailable` (no connection);
a value the database refuses (PostgreSQL's data exceptions, a NUL psycopg will not send, a string that is not
valid UTF-8) is `InvalidValue`: the same request would fail the same way again.
"""

from __future__ import annotations

import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from . import errors
from .types import dumps_json

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: how long SQLite waits for a lock before reporting "database is locked"
DEFAULT_BUSY_TIMEOUT_MS = 30_000  # milliseconds
#: attempts of one `transact` call before `Busy` is raised to the caller
DEFAULT_MAX_ATTEMPTS = 8  # attempts
#: first backoff between attempts (doubling, with jitter)
RETRY_INITIAL_SECONDS = 0.005  # seconds
#: cap of the backoff between attempts
RETRY_MAX_SECONDS = 0.5  # seconds
#: connections kept open per process
POOL_SIZE = 8  # connections
#: extra connections allowed under load
POOL_MAX_OVERFLOW = 32  # connections

_WRITE_OPTION = "openflows_write"

# PostgreSQL SQLSTATEs
_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_PG_RETRYABLE = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_PG_DATA_EXCEPTION = "22"  # class 22: the value is invalid (bad encoding, out of range, NUL in JSONB text)
_PG_UNAVAILABLE_CLASSES = ("08", "57P")  # connection exception; operator intervention (shutdown)
# SQLite primary result codes
_SQLITE_BUSY = sqlite3.SQLITE_BUSY
_SQLITE_LOCKED = sqlite3.SQLITE_LOCKED
_SQLITE_CONSTRAINT_FOREIGNKEY = 787
_SQLITE_CONSTRAINT_UNIQUE_CODES = {1555, 2067}  # PRIMARYKEY, UNIQUE


def normalize_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` as `postgresql+psycopg://`; return other URLs unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def display_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid database URL>"


class Database:
    """A database (SQLite file or PostgreSQL) and the transactions every store operation runs in."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = normalize_url(url)
        try:
            parsed = sa.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise errors.StoreError(f"invalid database URL: {exc}") from exc
        self.dialect: str = parsed.get_backend_name()
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._busy_timeout_s = busy_timeout_ms / 1000
        self._write_lock: threading.Lock | None = None
        if self.dialect == "sqlite":
            self.engine = _create_sqlite_engine(parsed, echo=echo, busy_timeout_ms=busy_timeout_ms)
            self._write_lock = threading.Lock()
        elif self.dialect == "postgresql":
            try:
                self.engine = sa.create_engine(
                    parsed,
                    echo=echo,
                    isolation_level="READ COMMITTED",
                    pool_size=POOL_SIZE,
                    max_overflow=POOL_MAX_OVERFLOW,
                    pool_pre_ping=True,
                )
            except ImportError as exc:
                raise errors.StoreError(
                    "PostgreSQL needs the psycopg driver: pip install 'openflows[postgres]'"
                ) from exc
        else:
            raise errors.StoreError(
                f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://"
            )

    def __repr__(self) -> str:
        return f"Database({display_url(self.url)!r})"

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return display_url(self.url)

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A write transaction: commits when the block ends, rolls back on an exception.

        On SQLite it starts with `BEGIN IMMEDIATE` (takes the write lock up front). Raises `errors.Busy` when
        the database stays locked; prefer `transact`, which retries. Never open a write transaction inside
        another one in the same thread: on SQLite the inner one waits for the outer one forever.
        """
        with self._writer(), translate_errors(), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """On a SQLite file, this process's write transactions take turns on a Python lock before `BEGIN
        IMMEDIATE`: a writer waiting for another thread of the process then starts the moment the lock is
        free, instead of sleeping in SQLite's busy handler (1, 2, 5, 10 ... 100 ms steps), which made the
        p99 latency of run starts 20-60 ms while the executor committed steps. Other processes (workers,
        the CLI) still meet at SQLite's lock, with its busy timeout."""
        lock = self._write_lock
        if lock is None:
            yield
            return
        if not lock.acquire(timeout=self._busy_timeout_s):
            raise errors.Busy("database busy: another write transaction of this process is still open")
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only transaction seeing one consistent snapshot; rolled back when the block ends."""
        with translate_errors(), self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            trans = conn.begin()
            try:
                yield conn
            finally:
                trans.rollback()

    def transact(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args, **kwargs)` in a write transaction and return its result.

        Retries the whole transaction when the database is busy (SQLite lock, PostgreSQL serialization failure
        or deadlock), with a short doubling backoff, at most `max_attempts` times; then raises `errors.Busy`.
        `fn` must therefore only touch the database (no network calls, no other side effects).
        """
        delay = RETRY_INITIAL_SECONDS
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.begin() as conn:
                    return fn(conn, *args, **kwargs)
            except errors.Busy:
                if attempt >= self.max_attempts:
                    raise
                log.info(
                    "database busy, retrying",
                    extra={"action": "retry_transaction", "attempt": attempt, "function": _name(fn)},
                )
                self._sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        """Close every pooled connection (call when done with the database)."""
        self.engine.dispose()

    def connect_listener(self) -> Any:
        """A new psycopg connection in autocommit mode, outside the pool (PostgreSQL only): for `LISTEN`,
        which needs one connection held for as long as the process listens. The caller closes it."""
        if self.dialect != "postgresql":
            raise errors.StoreError("LISTEN/NOTIFY needs PostgreSQL")
        import psycopg

        url = sa.make_url(self.url).set(drivername="postgresql")
        try:
            return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        except psycopg.Error as exc:
            raise errors.Unavailable(f"database unavailable: {exc}") from exc

    def pool_status(self) -> dict[str, int]:
        """Connections of this process's pool: `size` (kept open), `checked_out` (in use), `overflow`
        (opened beyond `size`), `checked_in` (idle). Zeros for pools that do not count (in-memory SQLite)."""
        pool = self.engine.pool
        if not isinstance(pool, sa.pool.QueuePool):
            return {"size": 0, "checked_out": 0, "overflow": 0, "checked_in": 0}
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "overflow": max(pool.overflow(), 0),
            "checked_in": pool.checkedin(),
        }


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def _create_sqlite_engine(parsed: sa.URL, *, echo: bool, busy_timeout_ms: int) -> sa.Engine:
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        # One shared connection: only for throwaway experiments, not for concurrent use.
        engine = sa.create_engine(
            parsed,
            echo=echo,
            json_serializer=dumps_json,
            poolclass=sa.pool.StaticPool,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )
    else:
        path = Path(database).expanduser()
        if not database.startswith("file:"):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise errors.Unavailable(
                    f"cannot create the database directory {path.parent}: {exc}"
                ) from exc
        engine = sa.create_engine(
            parsed,
            echo=echo,
            json_serializer=dumps_json,
            poolclass=sa.pool.QueuePool,
            pool_size=POOL_SIZE,
            max_overflow=POOL_MAX_OVERFLOW,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite would otherwise begin lazily and commit before DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def translate_errors() -> Iterator[None]:
    """Translate driver errors raised in the block into `store.errors` exceptions (with `__cause__`)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise translate_error(exc) from exc
    except sa.exc.TimeoutError as exc:  # connection pool exhausted
        raise errors.Busy("no database connection available; try again") from exc
    except UnicodeEncodeError as exc:  # a parameter holding an unpaired surrogate (SQLite, psycopg)
        raise errors.InvalidValue(f"invalid value: {exc}") from exc


def translate_error(exc: sa.exc.DBAPIError) -> errors.StoreError:
    """The `store.errors` exception for one SQLAlchemy driver error."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None or type(orig).__module__.startswith("psycopg"):
        return _translate_postgres(exc, orig, sqlstate)
    if isinstance(orig, sqlite3.Error):
        return _translate_sqlite(orig)
    return errors.StoreError(f"database error: {orig}")


def _translate_postgres(exc: sa.exc.DBAPIError, orig: Any, sqlstate: str | None) -> errors.StoreError:
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if sqlstate == _PG_UNIQUE:
        return errors.UniqueViolation(text, constraint_name=constraint)
    if sqlstate == _PG_FOREIGN_KEY:
        return errors.ForeignKeyViolation(text, constraint_name=constraint)
    if sqlstate is not None and sqlstate.startswith("23"):
        return errors.Conflict(text, constraint_name=constraint)
    if sqlstate in _PG_RETRYABLE:
        return errors.Busy(f"database busy: {text}")
    if (sqlstate is not None and sqlstate.startswith(_PG_DATA_EXCEPTION)) or isinstance(
        exc, sa.exc.DataError
    ):
        # e.g. 22P05 "\u0000 cannot be converted to text"; psycopg's own "cannot contain NUL (0x00) bytes"
        # has no SQLSTATE: it never reaches the server
        return errors.InvalidValue(f"invalid value: {text}")
    if sqlstate is None:
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):  # no or a lost connection
            return errors.Unavailable(f"database unavailable: {text}")
        return errors.StoreError(f"database error: {text}")
    if sqlstate.startswith(_PG_UNAVAILABLE_CLASSES):
        return errors.Unavailable(f"database unavailable: {text}")
    return errors.StoreError(f"database error: {text}")


_SQLITE_CONSTRAINT_RE = re.compile(r"(?:UNIQUE|PRIMARY KEY) constraint failed: (?P<columns>.+)$")


def _translate_sqlite(orig: sqlite3.Error) -> errors.StoreError:
    code = getattr(orig, "sqlite_errorcode", None)
    text = str(orig)
    primary = code & 0xFF if code is not None else None
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in text:
        return errors.Busy(f"database busy: {text}")
    if isinstance(orig, sqlite3.IntegrityError):
        if code in _SQLITE_CONSTRAINT_UNIQUE_CODES or _SQLITE_CONSTRAINT_RE.search(text):
            return errors.UniqueViolation(text, constraint_name=_sqlite_constraint_name(text))
        if code == _SQLITE_CONSTRAINT_FOREIGNKEY or "FOREIGN KEY" in text:
            return errors.ForeignKeyViolation(text)
        return errors.Conflict(text)
    if isinstance(orig, sqlite3.OperationalError) and ("unable to open" in text or "disk I/O" in text):
        return errors.Unavailable(f"database unavailable: {text}")
    return errors.StoreError(f"database error: {text}")


def _sqlite_constraint_name(text: str) -> str | None:
    """Name the constraint SQLite reports only by its columns ("UNIQUE constraint failed: t.a, t.b")."""
    match = _SQLITE_CONSTRAINT_RE.search(text)
    if not match:
        return None
    qualified = [part.strip() for part in match.group("columns").split(",")]
    tables = {part.split(".", 1)[0] for part in qualified if "." in part}
    if len(tables) != 1:
        return None
    (table_name,) = tables
    columns = [part.split(".", 1)[1] for part in qualified]
    from .schema import metadata  # the schema knows the names the naming convention gave

    table = metadata.tables.get(table_name)
    if table is None:
        return None
    wanted = set(columns)
    if {column.name for column in table.primary_key.columns} == wanted:
        return str(table.primary_key.name)
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and {c.name for c in constraint.columns} == wanted:
            return str(constraint.name)
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == wanted:
            return str(index.name)
    return None
