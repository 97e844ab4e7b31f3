"""Bring a database to the current schema with Alembic; every `openflows` command calls `upgrade` first.

The Alembic configuration is built in code (no alembic.ini) and points at the `migrations/` directory shipped
in the package. `upgrade` is idempotent and cheap when the database is already at head (one read of
`alembic_version`); concurrent callers are serialised (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock).

To write a new revision during development::

    .venv/bin/python -c "from openflows.store.migrate import make_config; from alembic import command; \\
        command.revision(make_config(), message='add x', rev_id='0002')"

and hand-write its operations (dialect-neutral; `op.batch_alter_table` for changes to existing tables).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from . import errors
from .db import Database

log = logging.getLogger(__name__)

#: the migrations directory inside the installed package
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: key of the PostgreSQL advisory lock held while migrating ("openflow" in ASCII)
ADVISORY_LOCK_KEY = 0x6F70656E666C6F77


def make_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic `Config` for our migrations; `connection` (if given) is the one `env.py` migrates."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this version of OpenFlows knows."""
    head = ScriptDirectory.from_config(make_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise errors.MigrationError("no migrations found in the package")
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(target: Database | str, *, revision: str = "head") -> str:
    """Create or migrate the schema of `target` (a `Database` or a URL) to head; return the head revision.

    Does nothing but one read when the database is already at head. Raises `errors.MigrationError` when the
    database is at a revision this version does not know (it was migrated by a newer OpenFlows). `revision`
    stops at an earlier revision instead of head (for tests of the upgrade paths); that revision is returned.
    """
    db = Database(target) if isinstance(target, str) else target
    try:
        goal = head_revision() if revision == "head" else revision
        if current_revision(db) == goal:
            return goal
        with db.begin() as conn:
            if db.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            current = MigrationContext.configure(conn).get_current_revision()
            if current == goal:
                return goal
            _check_known(current)
            log.info(
                "migrating database from %s to %s",
                current or "empty",
                goal,
                extra={"action": "upgrade_database", "database": db.display_url},
            )
            try:
                command.upgrade(make_config(conn), goal)
            except CommandError as exc:
                raise errors.MigrationError(f"migration failed: {exc}") from exc
        return goal
    finally:
        if isinstance(target, str):
            db.dispose()


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    script = ScriptDirectory.from_config(make_config())
    try:
        script.get_revision(revision)
    except CommandError as exc:
        raise errors.MigrationError(
            f"the database is at schema revision {revision!r}, which this version of OpenFlows does not know "
            f"(newest known: {head_revision()!r}); upgrade OpenFlows"
        ) from exc
