"""Fixtures of the provider tests: a fake clock, an inline background runner, local collections in tmp_path,
every built-in provider on the test database, callers, and a valid action body for each built-in provider."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from providerkit import ALICE, FUNCTION_ID, Bodies, MakeCollection, write_tree

from openflows.providers.base import Provider
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.collections import Collection, load_collection
from openflows.providers.config import ProviderSettings
from openflows.providers.runner import ActionRunner
from openflows.shared.clock import FakeClock
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
    """Create a directory and register it as a local collection owned by `owner` (ALICE by default) with
    the access `rules` ((principal, path components, "r" or "rw")); return the Collection."""

    def make(
        name: str = "c",
        root: Path | None = None,
        *,
        owner: str | None = ALICE.identity,
        rules: tuple[tuple[str, tuple[str, ...], str], ...] = (),
    ) -> Collection:
        root = root or tmp_path / "collections" / f"{name}-{uuid.uuid4().hex[:6]}"
        root.mkdir(parents=True, exist_ok=True)
        collection_id = uuid.uuid4()
        db.transact(
            add_collection,
            collection_id=collection_id,
            name=name,
            root=root.resolve(),
            now=clock.now(),
            owner=owner,
            rules=rules,
        )
        return load_collection(db, collection_id)

    return make


@pytest.fixture
def bodies(make_collection: MakeCollection) -> Bodies:
    """A valid body for each built-in provider (`bodies(name, n)`; n varies the body), on a collection holding
    `f.txt` and `d/g.txt` owned by ALICE; compute calls `FUNCTION_ID`, which the test registers."""
    c = make_collection("conformance")
    write_tree(c.root, {"f.txt": "f", "d/g.txt": "g"})
    endpoint = str(c.id)

    def body(name: str, n: int) -> dict[str, Any]:
        return {
            "hello_world": {"echo_string": f"hi {n}"},
            "transfer": {
                "source_endpoint": endpoint,
                "destination_endpoint": endpoint,
                "DATA": [{"source_path": "/f.txt", "destination_path": f"/copy-{n}.txt"}],
            },
            "delete": {"endpoint": endpoint, "DATA": [{"path": f"/never-{n}"}], "ignore_missing": True},
            "ls": {"endpoint_id": endpoint, "path": "/", "limit": 100 + n},
            "mkdir": {"endpoint_id": endpoint, "path": f"/new-{n}"},
            "stat": {"endpoint_id": endpoint, "path": "/f.txt" if n == 1 else "/d"},
            "expression_eval": {"expression": "x + 1", "arguments": {"x": n}},
            "compute": {"endpoint": str(uuid.uuid4()), "function": FUNCTION_ID, "args": [n, 1]},
            "notification": {
                "destination": "a@example.org",
                "subject": "s",
                "body_template": "hi $n",
                "body_variables": {"n": n},
            },
            "search_ingest": {"search_index": "idx", "subject": f"s{n}", "content": {"n": n}},
            "search_delete": {"search_index": "idx", "delete_by": "subject", "subject": f"s{n}"},
            "manage_permission": {
                "operation": "CREATE",
                "endpoint_id": endpoint,
                "path": f"/shared-{n}/",
                "principal_type": "all_authenticated_users",
                "principal": "",
                "permissions": "r",
            },
            "weboption": {
                "options": [
                    {
                        "name": "yes",
                        "url_suffix": f"yes-{n}-{uuid.uuid4().hex[:8]}",
                        "completed_message": "ok",
                    },
                    {"name": "no", "url_suffix": f"no-{n}-{uuid.uuid4().hex[:8]}"},
                ]
            },
        }[name]

    return body
