"""Scopes at the edge of the built-in providers (issue 12, item 4): over HTTP each provider requires its own
scope, the one its hosted counterpart advertises as `globus_auth_scope` (or a legacy one it also answers
for). A token without it gets 403 on every route, without a token 401; a token made without `--scope` holds
every scope."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from providerkit import ALICE, FUNCTION_ID, Bodies, add_identity

from openflows.auth import scopes
from openflows.auth.tokens import Authenticator, create_token
from openflows.language.analysis import known_scope
from openflows.providers.base import Provider, ProviderRegistry
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.collections import load_collection
from openflows.providers.config import ProviderSettings
from openflows.providers.http import create_provider_router
from openflows.providers.runner import ActionRunner
from openflows.shared.clock import FakeClock
from openflows.store.collections import register_function
from openflows.store.db import Database
from openflows.store.schema import provider_actions

with warnings.catch_warnings():  # starlette deprecates httpx in favour of httpx2, which is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BUILTINS = sorted(scopes.PROVIDER_SCOPES)
LEGACY_TRANSFER = "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer"
#: the tokens of one identity, by what they hold (None: made without `--scope`, i.e. every scope)
TOKEN_SCOPES: dict[str, list[str] | None] = {
    "every": None,
    "view_flows": [scopes.VIEW_FLOWS],
    "flows_all": [scopes.ALL],
    "transfer": [scopes.TRANSFER_API],
    "legacy_transfer": [LEGACY_TRANSFER],
    "hello_world": [scopes.PROVIDER_SCOPES["hello_world"]],
}


class Edge:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[token]}"}

    def start(self, name: str, body: dict, token: str) -> tuple[int, dict]:
        request = {"request_id": uuid.uuid4().hex, "body": body}
        response = self.client.post(f"/actions/{name}/run", json=request, headers=self.auth(token))
        return response.status_code, response.json()


@pytest.fixture
def registry(db: Database, tmp_path: Path, clock: FakeClock) -> ProviderRegistry:
    # background actions stay ACTIVE (the runner is never started): nothing runs behind the test's back
    runner = ActionRunner(db, clock=clock)
    settings = ProviderSettings(outbox_dir=tmp_path / "outbox")
    return ProviderRegistry(create_builtin_providers(db, settings, runner=runner, clock=clock))


@pytest.fixture
def edge(db: Database, registry: ProviderRegistry) -> Iterator[Edge]:
    now = dt.datetime.now(dt.UTC)
    tokens = {}
    with db.begin() as conn:
        identity_id = add_identity(conn, "alice", ALICE, now=now)  # owns the collection of the `bodies`
        for key, held in TOKEN_SCOPES.items():
            tokens[key], _ = create_token(conn, identity_id=identity_id, scopes=held, now=now)
        register_function(conn, function_id=uuid.UUID(FUNCTION_ID), target="operator:add", now=now)
    app = FastAPI()
    app.include_router(create_provider_router(registry, Authenticator(db).authenticate))
    with TestClient(app) as client:
        yield Edge(client, tokens)


def test_every_builtin_has_the_scope_of_its_hosted_provider(registry: ProviderRegistry):
    assert sorted(provider.name for provider in registry) == BUILTINS
    for provider in registry:
        assert provider.introspect()["globus_auth_scope"] == scopes.PROVIDER_SCOPES[provider.name]
        assert provider.accepted_scopes == scopes.provider_scopes(provider.name)


def test_validate_reports_a_scope_the_provider_accepts(registry: ProviderRegistry):
    """`POST /flows/validate` names the scope of a hosted URL (language.analysis); the built-in that stands in
    for that URL accepts a token for it."""
    checked = 0
    for provider in registry:
        for url in provider.hosted_urls:
            scope = known_scope(url)
            if scope is not None:
                assert scope in provider.accepted_scopes, (provider.name, url, scope)
                checked += 1
    assert checked >= 20


@pytest.mark.parametrize("name", BUILTINS)
def test_a_token_without_the_scope_is_refused_on_every_route(
    edge: Edge, bodies: Bodies, db: Database, name: str
):
    status, action = edge.start(name, bodies(name, 1), "every")
    assert status == 202, action
    action_id = action["action_id"]
    routes = [
        ("POST", "run"),
        ("POST", "actions"),
        ("GET", f"{action_id}/status"),
        ("GET", f"actions/{action_id}"),
        ("GET", f"{action_id}/log"),
        ("GET", f"actions/{action_id}/log"),
        ("POST", f"{action_id}/cancel"),
        ("POST", f"actions/{action_id}/cancel"),
        ("POST", f"{action_id}/resume"),
        ("POST", f"{action_id}/release"),
        ("DELETE", f"actions/{action_id}"),
    ]
    request = {"request_id": "refused", "body": bodies(name, 2)}
    for method, path in routes:
        url = f"/actions/{name}/{path}"
        body = request if method == "POST" and path in ("run", "actions") else None
        for token in ("view_flows", "flows_all"):
            refused = edge.client.request(method, url, json=body, headers=edge.auth(token))
            assert refused.status_code == 403, (method, url, token, refused.text)
            error = refused.json()
            assert error["code"] == "ForbiddenRequest"
            assert scopes.PROVIDER_SCOPES[name] in error["description"]
        anonymous = edge.client.request(method, url, json=body)
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "UnauthorizedRequest"
    # nothing happened: one action (the first), neither canceled nor released
    with db.read() as conn:
        rows = conn.execute(sa.select(provider_actions).where(provider_actions.c.provider == name)).all()
    assert [(str(r.id), r.status, r.released_at) for r in rows] == [(action_id, action["status"], None)]


def test_a_view_flows_token_changes_no_file(edge: Edge, bodies: Bodies, db: Database):
    """The defect as found: a token holding only view_flows started transfer, mkdir and delete actions."""
    endpoint = bodies("mkdir", 1)["endpoint_id"]
    root = load_collection(db, uuid.UUID(endpoint)).root
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    attempts = {
        "mkdir": {"endpoint_id": endpoint, "path": "/made"},
        "delete": {"endpoint": endpoint, "DATA": [{"path": "/f.txt"}]},
        "transfer": bodies("transfer", 1),
    }
    for name, body in attempts.items():
        status, error = edge.start(name, body, "view_flows")
        assert status == 403 and error["code"] == "ForbiddenRequest", (name, error)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 0
    # the Transfer API scope is what they need (as at transfer.actions.globus.org)
    status, made = edge.start("mkdir", {"endpoint_id": endpoint, "path": "/made"}, "transfer")
    assert status == 202 and made["status"] == "SUCCEEDED", made
    assert (root / "made").is_dir()


@pytest.mark.parametrize(
    ("token", "allowed"),
    [
        ("every", set(BUILTINS)),
        ("transfer", {"transfer", "delete", "ls", "mkdir", "stat", "manage_permission"}),
        ("legacy_transfer", {"transfer"}),
        ("hello_world", {"hello_world"}),
        ("flows_all", set()),
        ("view_flows", set()),
    ],
)
def test_which_token_starts_which_provider(
    edge: Edge, bodies: Bodies, registry: ProviderRegistry, token: str, allowed: set[str]
):
    started = set()
    for provider in registry:
        status, answer = edge.start(provider.name, bodies(provider.name, 3), token)
        assert status in (202, 403), (provider.name, token, answer)
        if status == 202:
            started.add(provider.name)
    assert started == allowed


def test_introspection_stays_public(edge: Edge, registry: ProviderRegistry):
    provider: Provider
    for provider in registry:
        response = edge.client.get(f"/actions/{provider.name}")
        assert response.status_code == 200
        assert response.json()["globus_auth_scope"] == scopes.PROVIDER_SCOPES[provider.name]


def test_the_docs_list_every_providers_scopes():
    text = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text()
    for name in BUILTINS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` | `")), None)
        assert row is not None, name
        assert all(f"`{scope}`" in row for scope in scopes.provider_scopes(name)), row
