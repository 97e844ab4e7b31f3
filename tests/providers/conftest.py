"""Fixtures of the provider tests: a fake clock, an inline background runner, local collections in tmp_path,
every built-in provider on the test database, and callers."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from providerkit import MakeCollection

from openflows.engine.clock import FakeClock
from openflows.providers.base import Provider
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.collections import Collection, load_collection
from openflows.providers.config import ProviderSettings
from openflows.providers.runner import ActionRunner
from openflows.store.collections import add_collection
from openflows.store.db import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))


@pytest.fixture
def runner(db: Database, clock: FakeClock) -> ActionRunner:
    """Background work done inline, inside `/run` (no threads)."""
    return ActionRunner(db, clock=clock, inline=True)


@pytest.fixture
def provider_settings(tmp_path: Path) -> ProviderSettings:
    return ProviderSettings(outbox_dir=tmp_path / "outbox", compute_timeout_seconds=20, compute_memory_mb=512)


@pytest.fixture
def providers(
    db: Database, provider_settings: ProviderSettings, runner: ActionRunner, clock: FakeClock
) -> dict[str, Provider]:
    built = create_builtin_providers(db, provider_settings, runner=runner, clock=clock)
    return {provider.name: provider for provider in built}


@pytest.fixture
def make_collection(db: Database, tmp_path: Path, clock: FakeClock) -> MakeCollection:
    """Create a directory and register it as a local collection; return the Collection."""

    def make(name: str = "c", root: Path | None = None) -> Collection:
        root = root or tmp_path / "collections" / f"{name}-{uuid.uuid4().hex[:6]}"
        root.mkdir(parents=True, exist_ok=True)
        collection_id = uuid.uuid4()
        db.transact(
            add_collection, collection_id=collection_id, name=name, root=root.resolve(), now=clock.now()
        )
        return load_collection(db, collection_id)

    return make
