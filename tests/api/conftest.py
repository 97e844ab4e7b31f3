"""Fixtures for the API tests: an app on this test's database, users with tokens, a TestClient, and a live
uvicorn server (in a thread, on a free port) for driving the API with the real globus-sdk clients."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import globus_sdk
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers `httpx2` for its TestClient; httpx works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from openflows.api.app import create_app
from openflows.auth import tokens
from openflows.settings import Settings
from openflows.shared.urns import group_urn
from openflows.store import identities
from openflows.store.db import Database

PASS_DEFINITION: dict[str, Any] = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
WAIT_DEFINITION: dict[str, Any] = {
    "StartAt": "W",
    "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}},
}


def pass_definition(states: int = 1) -> dict[str, Any]:
    names = [f"Pass{i}" for i in range(states)]
    body: dict[str, Any] = {}
    for index, name in enumerate(names):
        body[name] = (
            {"Type": "Pass", "Next": names[index + 1]}
            if index + 1 < len(names)
            else {"Type": "Pass", "End": True}
        )
    return {"StartAt": names[0], "States": body}


@dataclasses.dataclass(frozen=True)
class User:
    """An identity with a bearer token, and an HTTP client bound to it."""

    username: str
    identity_id: uuid.UUID
    urn: str
    token: str
    group_urns: tuple[str, ...]
    http: Any = dataclasses.field(repr=False, default=None)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.put(path, json=json, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, headers=self.headers, **kwargs)

    def create_flow(self, **fields: Any) -> dict[str, Any]:
        body = {
            "title": f"flow-{uuid.uuid4().hex[:8]}",
            "definition": PASS_DEFINITION,
            "input_schema": {},
            **fields,
        }
        response = self.post("/flows", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def run_flow(self, flow_id: str, body: Any = None, **fields: Any) -> dict[str, Any]:
        response = self.post(f"/flows/{flow_id}/run", json={"body": body or {}, **fields})
        assert response.status_code == 201, response.text
        return response.json()


MakeUser = Callable[..., User]


def create_user(
    db: Database, username: str, *, groups: tuple[str, ...] = (), scopes: list[str] | None = None
) -> tuple[str, uuid.UUID, list[str], str]:
    def create(conn: Any) -> tuple[str, uuid.UUID, list[str], str]:
        now = tokens.utcnow()
        identity = identities.ensure_identity(conn, username, email=f"{username}@example.org", now=now)
        urns = []
        for name in groups:
            group = identities.ensure_group(conn, name, now=now)
            identities.add_group_member(conn, group_id=group.id, identity_id=identity.id)
            urns.append(group_urn(group.id))
        token, _ = tokens.create_token(conn, identity_id=identity.id, scopes=scopes, now=now)
        return token, identity.id, urns, f"urn:globus:auth:identity:{identity.id}"

    return db.transact(create)


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def make_user(db: Database, client: TestClient) -> MakeUser:
    """Factory: `make_user("alice", groups=("team",), scopes=[...])` -> a User bound to the TestClient."""

    def make(
        username: str | None = None, *, groups: tuple[str, ...] = (), scopes: list[str] | None = None
    ) -> User:
        name = username or f"user-{uuid.uuid4().hex[:8]}"
        token, identity_id, urns, urn = create_user(db, name, groups=groups, scopes=scopes)
        return User(name, identity_id, urn, token, tuple(urns), client)

    return make


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: MakeUser) -> User:
    return make_user("bob")


# --- a live server for the real globus-sdk ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class LiveServer:
    base_url: str
    db: Database

    def user(
        self, username: str | None = None, *, groups: tuple[str, ...] = (), scopes: list[str] | None = None
    ):
        name = username or f"user-{uuid.uuid4().hex[:8]}"
        token, identity_id, urns, urn = create_user(self.db, name, groups=groups, scopes=scopes)
        return SdkUser(self, name, identity_id, urn, token, tuple(urns))


@dataclasses.dataclass
class SdkUser:
    server: LiveServer
    username: str
    identity_id: uuid.UUID
    urn: str
    token: str
    group_urns: tuple[str, ...]

    @property
    def flows(self) -> globus_sdk.FlowsClient:
        from globus_sdk.transport import RetryConfig

        return globus_sdk.FlowsClient(
            base_url=self.server.base_url,
            authorizer=globus_sdk.AccessTokenAuthorizer(self.token),
            retry_config=RetryConfig(max_retries=0),
        )

    def specific(self, flow_id: str) -> globus_sdk.SpecificFlowClient:
        from globus_sdk.transport import RetryConfig

        client = globus_sdk.SpecificFlowClient(
            flow_id,
            authorizer=globus_sdk.AccessTokenAuthorizer(self.token),
            retry_config=RetryConfig(max_retries=0),
        )
        client.base_url = self.server.base_url
        return client


@pytest.fixture
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The API served by uvicorn in a thread on 127.0.0.1 and a free port (base URL and database)."""
    app = create_app(settings, db=db)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}/", db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
