"""Acceptance (issue 14): an action provider written with the unchanged globus-action-provider-tools, as its
documentation shows, against a live `openflows serve`.

- Registration the documented way: a developer signs in with `manage_projects` and makes a project, a client
  and a secret with globus-sdk's `AuthClient` (developer API); then the guide's `manage-ap.py` (run in the
  toolkit's virtualenv, globus-sdk 3.x) checks the credentials and creates the `action_all` scope with Groups'
  `view_my_groups_and_memberships` (73320ffe-…) as its dependent scope.
- The provider (`apt_provider/app.py`, Flask, `ActionProviderBlueprint`) allows only a group in `runnable_by`,
  so the toolkit must introspect each caller's token with `identity_set` and get the caller's groups through
  OpenFlows' dependent-token grant and `my_groups`. Alice is in the group, Bob is not.
- Called directly (people's tokens for the provider's scope, from OpenFlows' sign-in): it sees Alice as Alice
  and accepts her, sees Bob as Bob and refuses him, and OpenFlows recorded the dependent Groups tokens.
- Called by a flow: each run reaches the provider with a token of its own user (delegation).

The tests share one server, one registration and one provider process (module fixtures).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import globus_sdk
import httpx
import pytest
import sqlalchemy as sa
from aptkit import (
    ProviderProcess,
    apt_python,
    clean_environment,
    run_script,
    running_provider,
    sdk_environment,
    sign_in,
)
from test_globus_cli import OPENFLOWS

from openflows.auth import catalog
from openflows.store.db import Database
from openflows.store.schema import tokens
from sdk.support import Identity, Server, flows_client, specific_flow_client, start_server, wait_for_run

pytestmark = pytest.mark.slow

GROUP = "whoami-users"
HTTP_TIMEOUT = 30.0  # seconds


@dataclass
class Registration:
    client_id: str
    client_secret: str = field(repr=False)
    scope: str


@dataclass
class People:
    alice: Identity  # in GROUP
    bob: Identity  # in no group
    group_urn: str


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="openflows-apt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def apt_venv() -> Path:
    """The python of the toolkit's virtualenv (`aptkit.apt_python`: built once, then cached)."""
    return apt_python()


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[Server]:
    live = start_server(OPENFLOWS, workdir / "openflows")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def server_db(server: Server) -> Iterator[Database]:
    """The server's own database (SQLite), for approving sign-ins and looking at issued tokens."""
    database = Database(server.env["OPENFLOWS_DATABASE_URL"])
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def people(server: Server) -> People:
    alice = server.create_identity("alice", groups=[GROUP])
    bob = server.create_identity("bob")
    [group_urn] = alice.group_urns
    return People(alice, bob, group_urn)


@pytest.fixture(scope="module")
def registration(server: Server, server_db: Database, apt_venv: Path, workdir: Path) -> Registration:
    developer_id = server.create_identity("ap-developer").identity_id
    signed_in = sign_in(
        server_db,
        server.base_url,
        str(catalog.GRA_CLIENT_ID),
        developer_id,
        ["openid", catalog.MANAGE_PROJECTS],
    )
    developer = globus_sdk.AuthClient(
        base_url=server.base_url,
        authorizer=globus_sdk.AccessTokenAuthorizer(
            signed_in.by_resource_server["auth.globus.org"]["access_token"]
        ),
    )
    project = developer.create_project("Who am I", "ap-developer@example.org")["project"]
    client = developer.create_client(
        "Who Am I provider", project=project["id"], client_type="hybrid_confidential_client_resource_server"
    )["client"]
    secret = developer.create_client_credential(client["id"], "deploy")["credential"]["secret"]

    env = manage_env(server, client["id"], secret, workdir)
    [me] = run_script(apt_venv, "manage_ap.py", ["show-self"], env)["identities"]
    assert me["id"] == client["id"] and me["username"] == f"{client['id']}@clients.auth.globus.org"
    [scope] = run_script(apt_venv, "manage_ap.py", ["create-scope"], env)["scopes"]
    assert scope["scope_string"] == f"https://auth.globus.org/scopes/{client['id']}/action_all"
    assert scope["dependent_scopes"] == [
        {"scope": str(catalog.GROUPS_VIEW_SCOPE_ID), "optional": False, "requires_refresh_token": False}
    ]
    return Registration(client["id"], secret, scope["scope_string"])


def manage_env(server: Server, client_id: str, secret: str, workdir: Path) -> dict[str, str]:
    home = workdir / "ap-home"
    home.mkdir(exist_ok=True)
    return clean_environment(
        {"AP_CLIENT_ID": client_id, "AP_CLIENT_SECRET": secret, **sdk_environment(server.base_url)}, home
    )


@pytest.fixture(scope="module")
def provider(
    server: Server, registration: Registration, people: People, apt_venv: Path, workdir: Path
) -> Iterator[ProviderProcess]:
    env = manage_env(server, registration.client_id, registration.client_secret, workdir)
    env |= {"AP_SCOPE": registration.scope, "AP_RUNNABLE_BY": people.group_urn}
    with running_provider(apt_venv, env, workdir) as running:
        yield running


def provider_token(server: Server, db: Database, registration: Registration, person: Identity) -> str:
    """The person's token for the provider's scope, as an app (here gladier) gets it after consent."""
    signed_in = sign_in(
        db, server.base_url, str(catalog.GLADIER_CLIENT_ID), person.identity_id, [registration.scope]
    )
    token = signed_in.by_resource_server[registration.client_id]
    assert token["scope"] == registration.scope
    return str(token["access_token"])


def call(method: str, url: str, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, url, headers=headers, json=body, timeout=HTTP_TIMEOUT)


def groups_tokens(db: Database, registration: Registration, person: Identity) -> list[Any]:
    """The Groups tokens OpenFlows issued to the provider's client for `person`: only the dependent-token
    grant gives a client a token of another identity than its own."""
    with db.read() as conn:
        return conn.execute(
            sa.select(tokens).where(
                tokens.c.client_id == uuid.UUID(registration.client_id),
                tokens.c.identity_id == uuid.UUID(person.identity_id),
                tokens.c.resource_server == catalog.GROUPS_RESOURCE_SERVER,
            )
        ).all()


def unauthorized_line(person: Identity) -> str:
    """The toolkit's log line for a caller refused by `runnable_by` (it names the caller it saw)."""
    return f"{person.urn} is unauthorized to run Action"


def test_provider_sees_each_caller_and_authorises_by_group(
    server: Server, server_db: Database, registration: Registration, people: People, provider: ProviderProcess
) -> None:
    alice_token = provider_token(server, server_db, registration, people.alice)
    bob_token = provider_token(server, server_db, registration, people.bob)

    introspection = call("GET", provider.url, None)
    assert (
        introspection.status_code == 200 and introspection.json()["globus_auth_scope"] == registration.scope
    )
    assert introspection.json()["runnable_by"] == [people.group_urn]

    assert groups_tokens(server_db, registration, people.alice) == []
    started = time.monotonic()
    ran = call(
        "POST", f"{provider.url}/run", alice_token, {"request_id": "alice-1", "body": {"message": "hi"}}
    )
    assert ran.status_code == 202, f"{ran.text}\n{provider.log()[-3000:]}"
    action = ran.json()
    assert action["status"] == "SUCCEEDED" and action["creator_id"] == people.alice.urn
    assert action["details"] == {
        "message": "hi",
        "effective_identity": people.alice.urn,
        "identities": [people.alice.urn],
        "groups": [people.group_urn],
    }
    # her groups came through the dependent-token grant: OpenFlows issued the provider a Groups token
    [groups_token] = groups_tokens(server_db, registration, people.alice)
    assert groups_token.scopes == [catalog.GROUPS_VIEW] and groups_token.kind == "access"
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the first call took {elapsed:.1f}s"

    shown = call("GET", f"{provider.url}/actions/{action['action_id']}", alice_token)
    assert shown.status_code == 200 and shown.json()["details"] == action["details"]

    refused = call(
        "POST", f"{provider.url}/run", bob_token, {"request_id": "bob-1", "body": {"message": "hi"}}
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "UnauthorizedRequest"
    assert unauthorized_line(people.bob) in provider.log()  # the toolkit saw Bob, not someone else
    assert unauthorized_line(people.alice) not in provider.log()
    # it looked Bob's groups up the same way, and found none
    assert len(groups_tokens(server_db, registration, people.bob)) == 1
    # Bob is not Alice: her action is not his to see (the toolkit answers 401 despite "_or_404")
    hidden = call("GET", f"{provider.url}/actions/{action['action_id']}", bob_token)
    assert hidden.status_code == 401 and hidden.json()["code"] == "UnauthorizedRequest"
    assert (
        f"None of {people.bob.urn}'s identities are allowed to view {action['action_id']}" in provider.log()
    )

    # tokens that are not for the provider's scope get nowhere
    assert (
        call("POST", f"{provider.url}/run", None, {"request_id": "x", "body": {"message": "x"}}).status_code
        == 401
    )
    for other in (people.alice.token, bob_token + "x"):  # an OpenFlows administrator token; an unknown one
        answer = call("POST", f"{provider.url}/run", other, {"request_id": "y", "body": {"message": "y"}})
        assert answer.status_code == 401 and answer.json()["code"] == "UnauthorizedRequest"
    assert "Failed to load GroupsClient" not in provider.log()  # the toolkit swallows such errors


WHOAMI_STATE = "WhoAmI"


def whoami_definition(action_url: str) -> dict[str, Any]:
    return {
        "StartAt": WHOAMI_STATE,
        "States": {
            WHOAMI_STATE: {
                "Type": "Action",
                "ActionUrl": action_url,
                "Parameters": {"message.$": "$.message"},
                "ResultPath": "$.whoami",
                "End": True,
            }
        },
    }


def start_run(server: Server, username: str, flow_id: str, message: str) -> str:
    """Run the flow as `username`, with a token for the flow's scope (consent to its dependent scopes)."""
    person = server.create_identity(username, scopes=[flow_id])
    run = specific_flow_client(server.base_url, person.token, flow_id).run_flow(
        body={"message": message}, label=f"{username}'s run"
    )
    return str(run["run_id"])


def test_flow_runs_reach_the_provider_as_their_users(
    server: Server, registration: Registration, people: People, provider: ProviderProcess
) -> None:
    owner = flows_client(server.base_url, people.alice.token)
    flow = owner.create_flow(
        "Who am I",
        whoami_definition(provider.url),
        input_schema={},
        flow_starters=["all_authenticated_users"],
    )
    flow_id = flow["id"]
    # the provider's scope (from its introspection document) is a dependent scope of the flow's scope
    validated = owner.validate_flow(flow["definition"], input_schema=flow["input_schema"])
    needed = {item.split("[")[0] for item in validated["scopes"]["User"]}
    assert registration.scope in needed, validated.data

    seen_before = len(provider.log())  # the other test's calls are in the log already
    alice_run = start_run(server, "alice", flow_id, "from alice")
    bob_run = start_run(server, "bob", flow_id, "from bob")
    bob_doc = wait_for_run(flows_client(server.base_url, people.bob.token), bob_run)
    alice_doc = wait_for_run(owner, alice_run)

    # Bob's run fails with the provider's error, and the provider saw Bob
    assert bob_doc["status"] == "FAILED" and bob_doc["run_owner"] == people.bob.urn, bob_doc
    failure = bob_doc["details"]["details"]
    assert failure["error"] == "ActionUnableToRun" and failure["state_name"] == WHOAMI_STATE, failure
    assert failure["cause"]["code"] == "UnauthorizedRequest" and failure["cause"]["status_code"] == 401
    assert unauthorized_line(people.bob) in provider.log()[seen_before:]

    # Alice's run succeeds; the provider saw Alice and her group (a dependent token of her delegated token)
    assert alice_doc["status"] == "SUCCEEDED", f"{alice_doc}\n{provider.log()[-3000:]}"
    assert alice_doc["details"]["output"]["whoami"]["details"] == {
        "message": "from alice",
        "effective_identity": people.alice.urn,
        "identities": [people.alice.urn],
        "groups": [people.group_urn],
    }
    assert unauthorized_line(people.alice) not in provider.log()
