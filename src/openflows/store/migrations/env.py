"""Alembic environment: runs migrations on the connection `store.migrate` hands over (batch mode for SQLite).

`store.migrate.upgrade` passes an open connection inside a write transaction through `config.attributes`; with
the stock `alembic` command (development only) the URL comes from `sqlalchemy.url` or OPENFLOWS_DATABASE_URL.
"""

from __future__ import annotations

import os

from alembic import context

from openflows.store.schema import metadata


def run_migrations_online() -> None:
    """Run the pending migrations on the given (or a new) connection."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from openflows.store.db import Database

    url = config.get_main_option("sqlalchemy.url") or os.environ.get("OPENFLOWS_DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or OPENFLOWS_DATABASE_URL")
    db = Database(url)
    try:
        with db.begin() as conn:
            _run(conn)
    finally:
        db.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("OpenFlows migrations run online only")
run_migrations_online()
