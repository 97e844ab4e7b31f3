"""Fixtures of the engine tests: a fake clock, the built-in providers on the test database, an executor driven
synchronously (`drive`), and a factory that creates a flow and starts a run of it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from enginekit import BASE_URL, insert_run

from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.providers.hello_world import HelloWorldProvider
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store.db import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def hello(db: Database, clock: FakeClock) -> HelloWorldProvider:
    return HelloWorldProvider(db, clock=clock)


@pytest.fixture
def registry(hello: HelloWorldProvider) -> ProviderRegistry:
    return ProviderRegistry([hello], base_urls=[BASE_URL])


@pytest.fixture
def make_executor(
    db: Database, settings: Settings, registry: ProviderRegistry, clock: FakeClock
) -> Callable[..., Executor]:
    def make(**overrides: Any) -> Executor:
        owner = overrides.pop("owner", None)
        return Executor(
            db, settings.replace(**overrides), registry=registry, clock=clock, owner=owner, threads=1
        )

    return make


@pytest.fixture
def executor(make_executor: Callable[..., Executor]) -> Executor:
    return make_executor()


@pytest.fixture
def start_run(db: Database, clock: FakeClock) -> Callable[..., uuid.UUID]:
    def start(definition: dict[str, Any], body: Any = None, **kwargs: Any) -> uuid.UUID:
        return insert_run(db, definition, {} if body is None else body, now=clock.now(), **kwargs)

    return start
