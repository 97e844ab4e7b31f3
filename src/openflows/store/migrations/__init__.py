"""Alembic migrations of the OpenFlows schema: one history for SQLite and PostgreSQL (see store.migrate)."""
