"""CI runs the PostgreSQL half of the suite: when CI=true, a missing or unreachable PostgreSQL fails the build
instead of silently skipping every PostgreSQL test."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from openflows.store.db import Database


def test_ci_configures_postgres(postgres_url: str | None) -> None:
    if os.environ.get("CI", "").lower() != "true":
        pytest.skip("only enforced in CI (CI=true)")
    assert postgres_url, "CI must set OPENFLOWS_TEST_POSTGRES_URL (see .ci/run)"
    db = Database(postgres_url)
    try:
        with db.read() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def test_the_database_fixtures_cover_postgres_in_ci(backend: str, db: Database) -> None:
    """Every db-touching fixture is parametrised over the backends; in CI this test runs twice."""
    assert db.dialect == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM work_items")).scalar_one() == 0


def test_ci_collects_postgres_backend(request: pytest.FixtureRequest) -> None:
    if os.environ.get("CI", "").lower() != "true":
        pytest.skip("only enforced in CI (CI=true)")
    names = {item.name for item in request.session.items}
    assert "test_the_database_fixtures_cover_postgres_in_ci[postgres]" in names
