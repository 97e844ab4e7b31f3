"""The migrations and `schema.py` cannot drift apart: both are built and compared by reflection."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from openflows.store import errors
from openflows.store.db import Database
from openflows.store.migrate import current_revision, head_revision, upgrade
from openflows.store.schema import metadata


def _describe(url: str) -> dict[str, Any]:
    """Tables, columns (loose types), primary keys, indexes (and predicates), uniques, foreign keys."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        described: dict[str, Any] = {}
        for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            columns = {
                column["name"]: (
                    _loose_type(column["type"]),
                    column["nullable"],
                    _loose_default(column.get("default")),
                )
                for column in inspector.get_columns(table)
            }
            pk = inspector.get_pk_constraint(table)
            indexes = {
                index["name"]: (
                    tuple(index["column_names"]),
                    bool(index["unique"]),
                    _predicate(index),
                )
                for index in inspector.get_indexes(table)
                if not index.get("duplicates_constraint")
            }
            uniques = {
                unique["name"]: tuple(unique["column_names"])
                for unique in inspector.get_unique_constraints(table)
            }
            foreign_keys = sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            )
            described[table] = {
                "columns": columns,
                "primary_key": (pk.get("name"), tuple(pk["constrained_columns"])),
                "indexes": indexes,
                "uniques": uniques,
                "foreign_keys": foreign_keys,
            }
        return described
    finally:
        engine.dispose()


def _loose_type(type_: sa.types.TypeEngine[Any]) -> str:
    name = type(type_).__name__.upper()
    length = getattr(type_, "length", None)
    return f"{name}({length})" if length else name


def _loose_default(default: Any) -> str | None:
    if default is None:
        return None
    return str(default).split("::")[0].strip("'\"() ")


def _predicate(index: dict[str, Any]) -> str | None:
    options = index.get("dialect_options") or {}
    where = options.get("postgresql_where") or options.get("sqlite_where")
    return " ".join(str(where).replace("(", "").replace(")", "").split()) if where is not None else None


def test_migrations_produce_exactly_the_schema(make_database_url: Any) -> None:
    migrated_url = make_database_url(migrated=False)
    created_url = make_database_url(migrated=False)
    assert upgrade(migrated_url) == head_revision()
    engine = sa.create_engine(created_url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()

    migrated = _describe(migrated_url)
    created = _describe(created_url)

    assert set(migrated) == set(metadata.tables)
    assert migrated == created
    # the parts most easily lost in a hand-written migration are really there
    work_items = migrated["work_items"]
    assert work_items["indexes"]["ix_work_items_due_unleased"][2] == "lease_owner IS NULL"
    assert migrated["identities"]["uniques"] == {"uq_identities_username": ("username",)}
    assert migrated["provider_actions"]["uniques"] == {
        "uq_provider_actions_provider_creator_id_request_id": ("provider", "creator_id", "request_id")
    }
    assert (
        "fk_tokens_identity_id_identities",
        ("identity_id",),
        "identities",
        ("id",),
        "CASCADE",
    ) in migrated["tokens"]["foreign_keys"]


def test_upgrade_is_idempotent_and_records_the_revision(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        assert current_revision(db) is None
        head = head_revision()
        assert upgrade(db) == head
        assert current_revision(db) == head
        assert upgrade(db) == head
        assert current_revision(db) == head
    finally:
        db.dispose()


def test_upgrade_refuses_a_database_from_a_newer_version(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        upgrade(db)
        with db.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(errors.MigrationError, match="9999"):
            upgrade(db)
    finally:
        db.dispose()


def test_database_fixture_is_migrated(db: Database) -> None:
    assert current_revision(db) == head_revision()
