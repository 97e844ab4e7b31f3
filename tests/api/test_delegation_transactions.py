"""No database transaction is open while OpenFlows asks an upstream Auth over the network (DESIGN.md,
invariant 2; docs/auth.md, Federation): `validate_run`'s consent check (the upstream's dependent-token grant,
given back at once), `run_flow`'s grant, the introspection and Groups lookups of an upstream token.

The API is served by uvicorn on a free port, with the federated delegation source and authenticator pointed
at a scripted upstream (httpx's MockTransport answering as Globus Auth does). Every time the upstream is
called it records how many connections of the server's pool are checked out: a request that asked it from
inside a transaction would hold one (on PostgreSQL a pooled connection, on SQLite a connection and, for a
write, the database's lock) for as long as the upstream takes to answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import globus_sdk
import httpx
import pytest
import uvicorn
from globus_sdk.transport import RetryConfig

from openflows.api.app import create_app
from openflows.auth import catalog, tokens
from openflows.auth.federated_delegation import FederatedDelegationSource, UpstreamScopePublisher
from openflows.auth.federated_tokens import FederatedAuthenticator
from openflows.auth.federation import FederationConfig, UpstreamAuth, UpstreamScopes
from openflows.auth.issuing import Lifetimes
from openflows.auth.keys import SecretBox
from openflows.auth.local_delegation import LocalDelegationSource
from openflows.engine.delegation import Delegations
from openflows.settings import Settings
from openflows.shared.urns import identity_urn
from openflows.store import flows as flow_store
from openflows.store import identities
from openflows.store.db import Database

CLIENT = uuid.UUID("11111111-2222-3333-4444-555555555555")
SECRET = "s3cret-value-never-shown"
ALICE = uuid.UUID("aaaaaaaa-0000-0000-0000-000000000001")
AP_SCOPE = "https://auth.globus.org/scopes/77777777-0000-0000-0000-000000000000/action_all"
DEPENDENT_GRANT = "urn:globus:auth:grant_type:dependent_token"
PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


@dataclasses.dataclass(frozen=True)
class Call:
    """One request the upstream answered, and the server's pool while it was answering."""

    path: str
    grant: str
    offline: bool
    checked_out: int


class Upstream:
    """A Globus-Auth-like upstream that notes, at each call, the connections the server holds."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tokens: dict[str, dict[str, Any]] = {}
        self.consented = True
        self.calls: list[Call] = []

    def token(self, name: str, scope: str) -> str:
        self.tokens[name] = {
            "active": True,
            "scope": scope,
            "sub": str(ALICE),
            "username": "alice@upstream.example.org",
            "client_id": str(uuid.uuid4()),
            "aud": [str(CLIENT)],
            "exp": int((dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).timestamp()),
            "identity_set": [str(ALICE)],
        }
        return name

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[-1] for key, values in parse_qs(request.content.decode()).items()}
        self.calls.append(
            Call(
                request.url.path,
                form.get("grant_type", ""),
                form.get("access_type") == "offline",
                self.db.pool_status()["checked_out"],
            )
        )
        path = request.url.path
        if path == "/v2/oauth2/token/introspect":
            return httpx.Response(200, json=self.tokens.get(form["token"], {"active": False}))
        if path == "/v2/oauth2/token/revoke":
            return httpx.Response(200, json={"active": False})
        if path == "/v2/groups/my_groups":
            return httpx.Response(200, json=[])
        if path == "/v2/api/scopes" and request.method == "GET":
            return httpx.Response(200, json={"scopes": []})
        if path == "/v2/oauth2/token" and form.get("grant_type") == DEPENDENT_GRANT:
            return self._dependent(form)
        return httpx.Response(404, json={"error": "not_found"})

    def _dependent(self, form: dict[str, str]) -> httpx.Response:
        wanted = form.get("scope", "").split()
        if form.get("token") not in self.tokens:
            return httpx.Response(400, json={"error": "invalid_grant"})
        if wanted == [catalog.GROUPS_VIEW]:
            return httpx.Response(
                200, json=[{"access_token": "groups-token", "scope": catalog.GROUPS_VIEW, "expires_in": 60}]
            )
        if not self.consented:
            return httpx.Response(
                403, json={"error": "dependent_consent_required", "unapproved_scopes": wanted}
            )
        offline = form.get("access_type") == "offline"
        return httpx.Response(
            200,
            json=[
                {
                    "access_token": "ap-access",
                    "scope": " ".join(wanted),
                    "resource_server": "77777777-0000-0000-0000-000000000000",
                    "expires_in": 600,
                    **({"refresh_token": "ap-refresh"} if offline else {}),
                }
            ],
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Federated:
    base_url: str
    upstream: Upstream
    flow_id: uuid.UUID

    def specific(self, token: str) -> globus_sdk.SpecificFlowClient:
        client = globus_sdk.SpecificFlowClient(
            self.flow_id,
            authorizer=globus_sdk.AccessTokenAuthorizer(token),
            retry_config=RetryConfig(max_retries=0),
        )
        client.base_url = self.base_url
        return client


@pytest.fixture
def federated(settings: Settings, db: Database) -> Iterator[Federated]:
    """The API on `db` with the federated authenticator and delegation source, served by uvicorn, and a flow
    any signed-in person may start whose scope has a provider's scope as a dependent scope."""
    upstream = Upstream(db)
    config = FederationConfig(
        upstream="https://auth.example.org",
        client_id=CLIENT,
        client_secret=SECRET,
        groups_url="https://auth.example.org",
        cache_seconds=30.0,
    )
    client = UpstreamAuth(config, transport=httpx.MockTransport(upstream))
    local = LocalDelegationSource(db, lifetimes=Lifetimes.from_settings(settings), now=tokens.utcnow)
    source = FederatedDelegationSource(db, local, client, UpstreamScopePublisher(client), now=tokens.utcnow)
    delegations = Delegations(
        db, source, SecretBox.from_settings(settings.secret_key, settings.home), now=tokens.utcnow
    )
    authenticator = FederatedAuthenticator(tokens.Authenticator(db), client)
    flow_id = uuid.uuid4()

    def create(conn: Any) -> None:
        now = tokens.utcnow()
        owner = identities.ensure_identity(conn, "owner", now=now)
        flow_store.create_flow(
            conn,
            flow_id=flow_id,
            flow_owner=identity_urn(owner.id),
            title="acts as its user",
            definition=PASS,
            input_schema={},
            now=now,
            flow_starters=["all_authenticated_users"],
            dependent_scopes=[AP_SCOPE],
        )

    db.transact(create)
    app = create_app(settings, db=db, authenticator=authenticator, delegations=delegations)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="federated-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # a real process starting: polled, not slept for a fixed time
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield Federated(f"http://127.0.0.1:{port}/", upstream, flow_id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        client.close()


def test_the_pool_probe_sees_an_open_transaction(db: Database) -> None:
    """The probe the upstream uses can fail: a transaction holds a connection of the pool."""
    assert db.pool_status()["checked_out"] == 0
    with db.read():
        assert db.pool_status()["checked_out"] == 1


def test_validate_run_asks_the_upstream_with_no_transaction_open(federated: Federated) -> None:
    upstream = federated.upstream
    token = upstream.token("alice-flow", UpstreamScopes(CLIENT).flow(federated.flow_id))
    specific = federated.specific(token)

    assert specific.validate_run({})["message"] == "validation successful"
    grants = [call for call in upstream.calls if call.grant == DEPENDENT_GRANT]
    # the consent check: an online dependent-token grant for the provider's scope (Groups: the principal's)
    assert any(not call.offline for call in grants), upstream.calls
    assert [call.path for call in upstream.calls if call.checked_out] == []

    # withdrawn consent: 403 ConsentRequired, still asked with no transaction open
    upstream.consented = False
    upstream.calls.clear()
    with pytest.raises(globus_sdk.GlobusAPIError) as refused:
        specific.validate_run({})
    assert refused.value.http_status == 403
    assert refused.value.raw_json["code"] == "ConsentRequired"
    flow_scope = UpstreamScopes(CLIENT).flow(federated.flow_id)
    assert refused.value.raw_json["authorization_parameters"]["required_scopes"] == [
        f"{flow_scope}[{AP_SCOPE} {catalog.GROUPS_VIEW}]"
    ]
    assert [call.grant for call in upstream.calls] == [DEPENDENT_GRANT]
    assert [call.checked_out for call in upstream.calls] == [0]


def test_run_flow_obtains_the_runs_grant_with_no_transaction_open(federated: Federated, db: Database) -> None:
    upstream = federated.upstream
    token = upstream.token("alice-flow", UpstreamScopes(CLIENT).flow(federated.flow_id))

    started = federated.specific(token).run_flow({}, label="federated")
    assert started["run_owner"] == identity_urn(ALICE)
    offline = [call for call in upstream.calls if call.grant == DEPENDENT_GRANT and call.offline]
    assert len(offline) == 1  # the run's grant: one offline dependent-token grant, kept by the run
    assert [(call.path, call.grant) for call in upstream.calls if call.checked_out] == []
    from openflows.store import delegations as grant_store

    with db.read() as conn:
        [grant] = grant_store.list_grants(conn, uuid.UUID(started["run_id"]))
    assert list(grant.scopes) == [AP_SCOPE] and grant.token_id is None
