"""Acceptance (issue 14, federation): OpenFlows A is a resource server of OpenFlows B, its upstream Globus
Auth (`OPENFLOWS_AUTH_UPSTREAM`), exactly as a site would run A under the real Globus Auth.

- B: people (alice in a group, bob in none), an action provider written with the unchanged
  globus-action-provider-tools and registered at B through the developer API (the fixtures of
  test_action_provider_tools.py, pointed at B), and A's own client, registered at B by a developer with
  globus-sdk's `AuthClient`.
- A: `openflows serve` with B as its upstream. At start-up it creates its service scopes under its client at
  B; creating a flow creates the flow's scope there, with the provider's scope as a dependent scope.
- People sign in at B (a native app, PKCE, the consent page) for A's scopes, use A with those tokens through
  globus-sdk, and A's runs reach the provider with dependent tokens of B: the provider (introspecting at B)
  sees B's identity of the run's user, and her group through a dependent Groups token.
- A misconfigured upstream stops `openflows serve` with one line, the secret nowhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import globus_sdk
import httpx
import pytest
import test_action_provider_tools as apt
from aptkit import sign_in
from test_action_provider_tools import (
    WHOAMI_STATE,
    People,
    Registration,
    unauthorized_line,
    whoami_definition,
)
from test_globus_cli import OPENFLOWS

from openflows.auth import catalog
from openflows.store.db import Database
from sdk.support import Server, flows_client, specific_flow_client, start_server, wait_for_run

pytestmark = pytest.mark.slow

# the provider's fixtures (module scope), pointed at this module's `server`: B
workdir = apt.workdir
apt_venv = apt.apt_venv
server_db = apt.server_db
people = apt.people
registration = apt.registration
provider = apt.provider

SCOPES = "https://auth.globus.org/scopes/"


@dataclass
class Federated:
    """OpenFlows A, a resource server of B (`server`)."""

    server: Server
    client_id: str
    client_secret: str = field(repr=False)

    def scope(self, suffix: str) -> str:
        return f"{SCOPES}{self.client_id}/{suffix}"

    def flow_scope(self, flow_id: str) -> str:
        return self.scope(f"flow_{flow_id.replace('-', '_')}_user")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[Server]:  # B: the upstream (the provider's fixtures use it)
    live = start_server(OPENFLOWS, workdir / "upstream-b")
    try:
        yield live
    finally:
        live.stop()


def developer_client(server: Server, db: Database, username: str) -> globus_sdk.AuthClient:
    """A developer of B, signed in with `manage_projects`, as globus-sdk's `AuthClient`."""
    developer_id = server.create_identity(username).identity_id
    signed_in = sign_in(
        db, server.base_url, str(catalog.GRA_CLIENT_ID), developer_id, ["openid", catalog.MANAGE_PROJECTS]
    )
    return globus_sdk.AuthClient(
        base_url=server.base_url,
        authorizer=globus_sdk.AccessTokenAuthorizer(
            signed_in.by_resource_server["auth.globus.org"]["access_token"]
        ),
    )


@pytest.fixture(scope="module")
def a_client(server: Server, server_db: Database) -> tuple[str, str]:
    """OpenFlows A's client at B: registered by B's developer, as a site registers OpenFlows at Globus."""
    developer = developer_client(server, server_db, "a-operator")
    project = developer.create_project("OpenFlows A", "operator@a.example.org")["project"]
    client = developer.create_client(
        "OpenFlows A", project=project["id"], client_type="hybrid_confidential_client_resource_server"
    )["client"]
    secret = developer.create_client_credential(client["id"], "openflows")["credential"]["secret"]
    return str(client["id"]), str(secret)


def upstream_env(server: Server, client_id: str, secret: str) -> dict[str, str]:
    return {
        "OPENFLOWS_AUTH_UPSTREAM": server.base_url,
        "OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID": client_id,
        "OPENFLOWS_AUTH_UPSTREAM_CLIENT_SECRET": secret,
    }


@pytest.fixture(scope="module")
def federated(server: Server, a_client: tuple[str, str], workdir: Path) -> Iterator[Federated]:
    client_id, secret = a_client
    # introspections and delegated access tokens reused 1 s at most: a withdrawn consent shows at once
    env = upstream_env(server, client_id, secret) | {"OPENFLOWS_AUTH_UPSTREAM_CACHE_SECONDS": "1"}
    live = start_server(OPENFLOWS, workdir / "openflows-a", env)
    try:
        yield Federated(live, client_id, secret)
    finally:
        live.stop()


def a_token(server: Server, db: Database, person_id: str, federated: Federated, scopes: list[str]) -> str:
    """A person's token from B for A's scopes, as an app gets it after the consent page."""
    signed_in = sign_in(db, server.base_url, str(catalog.GLADIER_CLIENT_ID), person_id, scopes)
    token = signed_in.by_resource_server[federated.client_id]
    assert sorted(token["scope"].split()) == sorted(scopes)
    return str(token["access_token"])


def scopes_at(server: Server, token: str, scope_strings: list[str]) -> dict[str, dict]:
    answer = httpx.get(
        f"{server.base_url}v2/api/scopes",
        params={"scope_strings": ",".join(scope_strings)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return {item["scope_string"]: item for item in answer.json()["scopes"]}


def test_a_run_on_a_reaches_a_provider_of_b_as_bs_user(
    server: Server,
    server_db: Database,
    federated: Federated,
    registration: Registration,
    people: People,
    provider,  # noqa: ANN001
) -> None:
    a = federated.server
    admin_b = server.create_identity("b-admin")  # an administrator's token of B, to read B's scopes

    # A created its service scopes under its own client at B, with Groups as their dependent scope
    service = scopes_at(server, admin_b.token, [federated.scope("all"), federated.scope("run")])
    assert set(service) == {federated.scope("all"), federated.scope("run")}
    assert [dep["scope"] for dep in service[federated.scope("all")]["dependent_scopes"]] == [
        str(catalog.GROUPS_VIEW_SCOPE_ID)
    ]

    # alice of B signs in at B for A's `all` scope and creates a flow on A calling B's provider
    alice_all = a_token(server, server_db, people.alice.identity_id, federated, [federated.scope("all")])
    alice_flows = flows_client(a.base_url, alice_all)
    flow = alice_flows.create_flow(
        "Who am I, federated",
        whoami_definition(provider.url),
        input_schema={},
        flow_starters=["all_authenticated_users"],
    )
    flow_id = str(flow["id"])
    assert flow["flow_owner"] == people.alice.urn  # B's identity is A's user, unchanged
    # A published the flow's scope at B, with the provider's scope (and Groups) as dependent scopes
    flow_scope = federated.flow_scope(flow_id)
    published = scopes_at(server, admin_b.token, [flow_scope, registration.scope])
    assert flow_scope in published, published
    assert {dep["scope"] for dep in published[flow_scope]["dependent_scopes"]} == {
        published[registration.scope]["id"],
        str(catalog.GROUPS_VIEW_SCOPE_ID),
    }

    # the `all` token does not start the flow: that needs the flow's own scope
    with pytest.raises(globus_sdk.GlobusAPIError) as refused:
        specific_flow_client(a.base_url, alice_all, flow_id).run_flow(body={"message": "no"})
    assert refused.value.http_status == 403

    # with consent to the flow's scope at B, alice's run reaches the provider as B's alice, with her group
    alice_run_token = a_token(server, server_db, people.alice.identity_id, federated, [flow_scope])
    started = specific_flow_client(a.base_url, alice_run_token, flow_id).run_flow(
        body={"message": "from alice"}, label="alice at A"
    )
    assert started["run_owner"] == people.alice.urn
    done = wait_for_run(alice_flows, str(started["run_id"]))
    assert done["status"] == "SUCCEEDED", f"{done}\n{provider.log()[-3000:]}\n{a.log_tail(60)}"
    assert done["details"]["output"]["whoami"]["details"] == {
        "message": "from alice",
        "effective_identity": people.alice.urn,
        "identities": [people.alice.urn],
        "groups": [people.group_urn],
    }

    # bob of B (in no group): the provider sees bob, refuses him, and his run fails with its error
    seen_before = len(provider.log())
    bob_all = a_token(server, server_db, people.bob.identity_id, federated, [federated.scope("all")])
    bob_run_token = a_token(server, server_db, people.bob.identity_id, federated, [flow_scope])
    bob_started = specific_flow_client(a.base_url, bob_run_token, flow_id).run_flow(body={"message": "bob"})
    bob_done = wait_for_run(flows_client(a.base_url, bob_all), str(bob_started["run_id"]))
    assert bob_done["status"] == "FAILED" and bob_done["run_owner"] == people.bob.urn, bob_done
    failure = bob_done["details"]["details"]
    assert failure["state_name"] == WHOAMI_STATE and failure["cause"]["code"] == "UnauthorizedRequest"
    assert unauthorized_line(people.bob) in provider.log()[seen_before:]

    # `openflows federation sync` publishes every flow's scope again and names it
    synced = subprocess.run(
        [str(OPENFLOWS), "federation", "sync", "--json"],
        env=a.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report["flows"] == [{"flow_id": flow_id, "scope": flow_scope}] and report["failed"] == []
    assert federated.scope("run_status") in report["service_scopes"]

    # a token of B that is not for A's scopes gets nowhere on A; the secret never reached A's log
    with pytest.raises(globus_sdk.GlobusAPIError) as foreign:
        flows_client(a.base_url, people.alice.token).list_flows()
    assert foreign.value.http_status == 401
    # neither the people's tokens nor OpenFlows' secret are in A's log or database file
    a_log = a.log_tail(100_000)
    a_db = (a.workdir / "openflows.db").read_bytes() + b"".join(
        path.read_bytes() for path in a.workdir.glob("openflows.db-wal")
    )
    for secret in (federated.client_secret, alice_all, alice_run_token, bob_all, bob_run_token):
        assert secret not in a_log and secret.encode() not in a_db


def b_command(server: Server, *args: str) -> str:
    done = subprocess.run(
        [str(OPENFLOWS), *args], env=server.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_consent_is_given_and_withdrawn_at_the_upstream(
    server: Server,
    server_db: Database,
    federated: Federated,
    registration: Registration,
    people: People,
    provider,  # noqa: ANN001
) -> None:
    a = federated.server
    alice = people.alice
    alice_flows = flows_client(
        a.base_url, a_token(server, server_db, alice.identity_id, federated, [federated.scope("all")])
    )
    pause = {"Type": "Wait", "Seconds": 8, "Next": WHOAMI_STATE}
    whoami = whoami_definition(provider.url)["States"][WHOAMI_STATE]
    flow = alice_flows.create_flow(
        "Pause, then who am I",
        {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}}},
        {},
    )
    flow_id = str(flow["id"])
    flow_scope = federated.flow_scope(flow_id)
    old_token = a_token(server, server_db, alice.identity_id, federated, [flow_scope])
    # the flow gains a step acting as alice at B's provider: her consent no longer covers it
    alice_flows.update_flow(
        flow_id, definition={"StartAt": "Pause", "States": {"Pause": pause, WHOAMI_STATE: whoami}}
    )
    with pytest.raises(globus_sdk.GlobusAPIError) as refused:
        specific_flow_client(a.base_url, old_token, flow_id).run_flow(body={"message": "old consent"})
    assert refused.value.http_status == 403 and refused.value.raw_json["code"] == "ConsentRequired"
    required = refused.value.raw_json["authorization_parameters"]["required_scopes"]
    assert required == [f"{flow_scope}[{registration.scope} {catalog.GROUPS_VIEW}]"]

    # she consents at B again (the consent page lists the provider now), and the run starts
    token = a_token(server, server_db, alice.identity_id, federated, [flow_scope])
    run_id = str(specific_flow_client(a.base_url, token, flow_id).run_flow(body={"message": "hi"})["run_id"])

    # while it waits, she withdraws that consent at B: the run goes INACTIVE at the provider's step
    [root] = [
        item
        for item in json.loads(b_command(server, "consents", "list", "--username", "alice", "--json"))[
            "consents"
        ]
        if item["scope_string"] == flow_scope and item["parent_id"] is None
    ]
    b_command(server, "consents", "revoke", str(root["id"]), "--username", "alice")
    inactive = wait_for_run(alice_flows, run_id, statuses={"INACTIVE", "SUCCEEDED", "FAILED"}, timeout=40)
    assert inactive["status"] == "INACTIVE", f"{inactive}\n{a.log_tail(60)}"
    assert inactive["details"]["code"] == "ConsentRequired"
    assert inactive["details"]["state_name"] == WHOAMI_STATE
    assert inactive["details"]["authorization_parameters"]["required_scopes"] == required

    # consenting again and resuming finishes it, as alice
    again = a_token(server, server_db, alice.identity_id, federated, [flow_scope])
    specific_flow_client(a.base_url, again, flow_id).resume_run(run_id)
    done = wait_for_run(alice_flows, run_id)
    assert done["status"] == "SUCCEEDED", f"{done}\n{a.log_tail(60)}"
    assert done["details"]["output"]["whoami"]["details"]["effective_identity"] == alice.urn


def test_a_misconfigured_upstream_stops_serve_with_one_line(
    server: Server, a_client: tuple[str, str], workdir: Path
) -> None:
    client_id, secret = a_client
    home = workdir / "misconfigured"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "OPENFLOWS_HOME": str(home),
        "OPENFLOWS_DATABASE_URL": f"sqlite:///{home / 'openflows.db'}",
    }
    wrong = "not-the-secret-" + uuid.uuid4().hex
    cases = [
        (upstream_env(server, client_id, wrong), "refused OpenFlows' client"),
        ({"OPENFLOWS_AUTH_UPSTREAM": server.base_url}, "OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID"),
        (upstream_env(server, "not-a-uuid", wrong), "must be a client id"),
        (
            {**upstream_env(server, client_id, secret), "OPENFLOWS_AUTH_UPSTREAM": "http://127.0.0.1:9"},
            "cannot be reached",
        ),
    ]
    for extra, expected in cases:
        done = subprocess.run(
            [str(OPENFLOWS), "serve", "--host", "127.0.0.1", "--port", "0"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1, (extra, done.stderr)
        assert lines[-1].startswith("Error: ") and expected in lines[-1], done.stderr
        assert wrong not in done.stderr + done.stdout and secret not in done.stderr + done.stdout
