"""Fixtures shared by the whole suite: databases on SQLite and (when configured) PostgreSQL, settings.

- `database_url` is parametrised over "sqlite" and, when OPENFLOWS_TEST_POSTGRES_URL is set (for example
  `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`), "postgres" (marked `postgres`). Each test gets
  its own migrated database: a copy of a migrated SQLite file, or `CREATE DATABASE ... TEMPLATE` of a
  PostgreSQL database migrated once per session (per xdist worker), emptied after the test and reused.
- `empty_database_url` is the same without the schema; `make_database_url(migrated=...)` makes more of either.
- `db` is a migrated `Database`, `settings` a `Settings` with `home` in tmp_path and that database.
- OPENFLOWS_* variables are removed for every test, so tests never depend on the environment.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from openflows.settings import Settings
    from openflows.store.db import Database

#: where the PostgreSQL tests connect (a role allowed to CREATE DATABASE); unset = SQLite only
POSTGRES_URL_ENV = "OPENFLOWS_TEST_POSTGRES_URL"
_POSTGRES_URL = os.environ.get(POSTGRES_URL_ENV, "").strip() or None

BACKENDS = ["sqlite"] + ([pytest.param("postgres", marks=pytest.mark.postgres)] if _POSTGRES_URL else [])

MakeDatabaseUrl = Callable[..., str]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every OPENFLOWS_* variable so that no test depends on the caller's environment."""
    for name in list(os.environ):
        if name.startswith("OPENFLOWS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """The admin URL of the test PostgreSQL server, or None when PostgreSQL tests are off."""
    return _POSTGRES_URL


class PostgresDatabases:
    """Creates and drops uniquely named PostgreSQL databases on the test server (one per test)."""

    def __init__(self, admin_url: str, prefix: str) -> None:
        import sqlalchemy as sa

        from openflows.store.db import normalize_url

        self._url = sa.make_url(normalize_url(admin_url))
        self._admin = sa.create_engine(self._url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self._prefix = prefix
        self._template: str | None = None
        self._free_migrated: list[str] = []
        self._free_empty: list[str] = []

    def url_for(self, name: str) -> str:
        """The URL of database `name` on the same server."""
        return self._url.set(database=name).render_as_string(hide_password=False)

    def create(self, *, migrated: bool) -> str:
        """A database of its own for one test (a copy of the migrated template when `migrated`); its name.

        Databases are reused: `release` empties them, which is much cheaper than DROP + CREATE.
        """
        free = self._free_migrated if migrated else self._free_empty
        if free:
            return free.pop()
        name = f"{self._prefix}_{uuid.uuid4().hex[:12]}"
        template = self._migrated_template() if migrated else "template0"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def release(self, name: str) -> None:
        """Give back a database after a test: empty it for reuse (DROP DATABASE is slow: it checkpoints)."""
        state = self._reset(name)
        if state == "migrated":
            self._free_migrated.append(name)
        elif state == "empty":
            self._free_empty.append(name)
        else:
            self.drop(name)

    def drop(self, name: str) -> None:
        """Drop database `name`, disconnecting anyone still using it."""
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Drop every database made here and close the admin connection."""
        for name in [*self._free_migrated, *self._free_empty, *([self._template] if self._template else [])]:
            self.drop(name)
        self._admin.dispose()

    def _reset(self, name: str) -> str | None:
        """Empty a database; return "migrated" (rows deleted, at head), "empty" (no tables) or None."""
        import sqlalchemy as sa

        from openflows.store.migrate import head_revision
        from openflows.store.schema import metadata

        engine = sa.create_engine(self.url_for(name), poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                tables = set(sa.inspect(conn).get_table_names())
                at_head = "alembic_version" in tables and conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalars().all() == [head_revision()]
                if at_head and tables == {*metadata.tables, "alembic_version"}:
                    for table in reversed(
                        metadata.sorted_tables
                    ):  # DELETE: cheaper than TRUNCATE on tiny tables
                        conn.execute(table.delete())
                    for sequence in conn.exec_driver_sql(
                        "SELECT relname FROM pg_class WHERE relkind = 'S'"
                    ).scalars():
                        conn.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
                    return "migrated"
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
                return "empty"
        except sa.exc.DBAPIError:
            return None
        finally:
            engine.dispose()

    def _migrated_template(self) -> str:
        if self._template is None:
            from openflows.store.migrate import upgrade

            name = f"{self._prefix}_tpl"
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            upgrade(self.url_for(name))  # disposes its engine: no connection left on the template
            self._template = name
        return self._template

    def _execute(self, statement: str) -> None:
        import sqlalchemy as sa

        with self._admin.connect() as conn:
            conn.execute(sa.text(statement))


@pytest.fixture(scope="session")
def _postgres_databases(postgres_url: str | None, worker_id: str) -> Iterator[PostgresDatabases | None]:
    if postgres_url is None:
        yield None
        return
    databases = PostgresDatabases(postgres_url, f"oftest_{worker_id}_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per session; tests get copies."""
    from openflows.store.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: "sqlite" or "postgres"."""
    return str(request.param)


@pytest.fixture
def make_database_url(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[MakeDatabaseUrl]:
    """Factory: `make_database_url(migrated=True)` gives the URL of a new database on this backend."""
    created: list[str] = []
    postgres: PostgresDatabases | None = None
    if backend == "postgres":
        postgres = request.getfixturevalue("_postgres_databases")

    def make(*, migrated: bool = True) -> str:
        if postgres is not None:
            name = postgres.create(migrated=migrated)
            created.append(name)
            return postgres.url_for(name)
        path = tmp_path / f"db-{uuid.uuid4().hex[:8]}" / "openflows.db"
        path.parent.mkdir()
        if migrated:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"

    yield make
    if postgres is not None:
        for name in created:
            postgres.release(name)


@pytest.fixture
def database_url(make_database_url: MakeDatabaseUrl) -> str:
    """The URL of a new, migrated database for this test."""
    return make_database_url(migrated=True)


@pytest.fixture
def empty_database_url(make_database_url: MakeDatabaseUrl) -> str:
    """The URL of a new database without any table."""
    return make_database_url(migrated=False)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated `openflows.store.db.Database` for this test."""
    from openflows.store.db import Database

    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """`Settings` with its home in tmp_path and this test's database."""
    from openflows.settings import Settings

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return Settings(home=home, database_url=database_url)
