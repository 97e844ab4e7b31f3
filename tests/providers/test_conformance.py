"""The Action Provider conformance test, run over HTTP (the real router, real tokens) against every built-in
provider: introspection, idempotent /run, status, cancel, release (then 404), log, and who may see or
manage an action (the creator, monitor_by, manage_by)."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from providerkit import ALICE, FUNCTION_ID, Bodies, add_identity

from openflows.auth.tokens import Authenticator, create_token
from openflows.providers.base import ProviderRegistry
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.config import ProviderSettings
from openflows.providers.http import create_provider_router
from openflows.providers.runner import ActionRunner
from openflows.shared.clock import FakeClock
from openflows.shared.urns import identity_urn
from openflows.store.collections import register_function
from openflows.store.db import Database
from openflows.store.identities import ensure_identity

with warnings.catch_warnings():  # starlette deprecates httpx in favour of httpx2, which is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BUILTINS = [
    "hello_world",
    "transfer",
    "delete",
    "ls",
    "mkdir",
    "stat",
    "expression_eval",
    "compute",
    "notification",
    "search_ingest",
    "search_delete",
    "manage_permission",
]


class Site:
    def __init__(self, client: TestClient, tokens: dict[str, tuple[str, str]]) -> None:
        self.client = client
        self.tokens = tokens

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who][0]}"}

    def urn(self, who: str) -> str:
        return self.tokens[who][1]


@pytest.fixture
def site(db: Database, tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    # background actions stay ACTIVE (the runner is never started), so cancel can be exercised
    runner = ActionRunner(db, clock=clock)
    settings = ProviderSettings(outbox_dir=tmp_path / "outbox")
    registry = ProviderRegistry(create_builtin_providers(db, settings, runner=runner, clock=clock))
    now = dt.datetime.now(dt.UTC)
    tokens = {}
    with db.begin() as conn:
        for who in ("alice", "bob", "carol", "dave"):
            # alice is ALICE, who owns the collection of the `bodies`
            identity_id = add_identity(conn, who, ALICE, now=now) if who == "alice" else None
            identity_id = identity_id or ensure_identity(conn, who, now=now).id
            token, _ = create_token(conn, identity_id=identity_id, now=now)
            tokens[who] = (token, identity_urn(identity_id))
        register_function(conn, function_id=uuid.UUID(FUNCTION_ID), target="operator:add", now=now)
    app = FastAPI()
    app.include_router(create_provider_router(registry, Authenticator(db).authenticate))
    with TestClient(app) as client:
        yield Site(client, tokens)


@pytest.mark.parametrize("name", BUILTINS)
def test_introspection(site: Site, name: str):
    response = site.client.get(f"/actions/{name}/")
    assert response.status_code == 200
    doc = response.json()
    assert doc["types"] == ["Action"] and doc["api_version"] == "1.0"
    for field in (
        "title",
        "globus_auth_scope",
        "synchronous",
        "log_supported",
        "input_schema",
        "runnable_by",
    ):
        assert field in doc, field
    assert isinstance(doc["synchronous"], bool) and doc["input_schema"]["type"] == "object"


@pytest.mark.parametrize("name", BUILTINS)
def test_the_action_lifecycle(site: Site, bodies: Bodies, name: str):
    client = site.client
    alice, bob, carol, dave = (site.auth(w) for w in ("alice", "bob", "carol", "dave"))
    request = {
        "request_id": f"conf-{name}",
        "body": bodies(name, 1),
        "monitor_by": [site.urn("bob")],
        "manage_by": [site.urn("carol")],
        "label": "conformance",
    }
    assert client.post(f"/actions/{name}/run", json=request).status_code == 401
    started = client.post(f"/actions/{name}/run", json=request, headers=alice)
    assert started.status_code == 202, started.json()
    action = started.json()
    action_id = action["action_id"]
    assert action["status"] in ("ACTIVE", "SUCCEEDED"), action
    assert action["creator_id"] == site.urn("alice") and action["label"] == "conformance"
    assert action["monitor_by"] == [site.urn("bob")] and action["manage_by"] == [site.urn("carol")]
    # idempotent: the same request_id and body is the same action (200), a different body is a conflict
    again = client.post(f"/actions/{name}/actions", json=request, headers=alice)
    assert again.status_code == 200 and again.json()["action_id"] == action_id
    conflict = client.post(f"/actions/{name}/run", json={**request, "body": bodies(name, 2)}, headers=alice)
    assert conflict.status_code == 409
    # who sees what
    for who in (alice, bob, carol):
        assert client.get(f"/actions/{name}/{action_id}/status", headers=who).status_code == 200
    assert client.get(f"/actions/{name}/{action_id}/status", headers=dave).status_code == 404
    assert client.post(f"/actions/{name}/{action_id}/cancel", headers=dave).status_code == 404
    assert client.post(f"/actions/{name}/{action_id}/cancel", headers=bob).status_code == 403
    assert client.post(f"/actions/{name}/{action_id}/release", headers=bob).status_code == 403
    # log
    log = client.get(f"/actions/{name}/{action_id}/log", headers=bob)
    assert log.status_code == 200 and log.json()["entries"][0]["code"] == "ActionStarted"
    if action["status"] == "ACTIVE":
        assert client.post(f"/actions/{name}/{action_id}/release", headers=alice).status_code == 409
    # cancel (a manager may): an active action ends FAILED/CANCELED, a finished one is unchanged
    canceled = client.post(f"/actions/{name}/actions/{action_id}/cancel", headers=carol)
    assert canceled.status_code == 200
    expected = "FAILED" if action["status"] == "ACTIVE" else action["status"]
    assert canceled.json()["status"] == expected
    # release (then 404 everywhere)
    released = client.delete(f"/actions/{name}/actions/{action_id}", headers=carol)
    assert released.status_code == 200 and released.json()["status"] == expected
    for path in (f"{action_id}/status", f"actions/{action_id}", f"{action_id}/log"):
        missing = client.get(f"/actions/{name}/{path}", headers=alice)
        assert missing.status_code == 404 and missing.json()["code"] == "ActionNotFound"
    assert client.post(f"/actions/{name}/run", json=request, headers=alice).status_code == 404


@pytest.mark.parametrize("name", BUILTINS)
def test_bad_requests_are_400(site: Site, name: str):
    alice = site.auth("alice")
    for request in ({"body": {}}, {"request_id": "x", "body": "nope"}, {"request_id": "", "body": {}}):
        response = site.client.post(f"/actions/{name}/run", json=request, headers=alice)
        assert response.status_code == 400 and response.json()["code"] == "BadActionRequest"
