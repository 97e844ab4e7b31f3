"""The Globus-Auth-compatible surface, driven by globus-sdk's own Auth and Groups clients, and `openflows
clients`."""

from __future__ import annotations

import globus_sdk
import pytest
from clikit import HELLO

from openflows.auth import scopes
from sdk.support import Server


@pytest.fixture
def client(live_server: Server, run_line, monkeypatch: pytest.MonkeyPatch) -> dict:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", live_server.env["OPENFLOWS_DATABASE_URL"])
    for service in ("AUTH", "GROUPS"):
        monkeypatch.setenv(f"GLOBUS_SDK_SERVICE_URL_{service}", live_server.base_url)
    return run_line("openflows clients create --username robot@example.org --json").json()


def test_clients_create_text_and_list(run_line, client: dict) -> None:  # type: ignore[no-untyped-def]
    assert set(client) >= {"client_id", "client_secret", "identity_urn", "username"}
    text = run_line("openflows clients create --username robot@example.org").stdout
    assert "client_id:" in text and "client_secret:" in text and "GLOBUS_CLI_CLIENT_ID=" in text
    listed = run_line("openflows clients list --json").json()["clients"]
    assert client["client_id"] in [c["client_id"] for c in listed]
    assert all("client_secret" not in c for c in listed)


def test_client_credentials_tokens_work_with_flows(client: dict, live_server: Server) -> None:
    auth = globus_sdk.ConfidentialAppAuthClient(client["client_id"], client["client_secret"])
    tokens = auth.oauth2_client_credentials_tokens(requested_scopes=[scopes.ALL, "openid", "profile"])
    flows_token = tokens.by_resource_server["flows.globus.org"]
    assert flows_token["scope"] == scopes.ALL
    assert tokens.by_resource_server["auth.globus.org"]["scope"] == "openid profile"
    flows = globus_sdk.FlowsClient(
        base_url=live_server.base_url,
        authorizer=globus_sdk.AccessTokenAuthorizer(flows_token["access_token"]),
    )
    flow = flows.create_flow(title="by a client", definition=HELLO, input_schema={})
    assert flow["flow_owner"] == client["identity_urn"]
    with pytest.raises(globus_sdk.FlowsAPIError) as caught:  # `all` does not hold the flow's own scope
        specific = globus_sdk.SpecificFlowClient(
            flow["id"], authorizer=globus_sdk.AccessTokenAuthorizer(flows_token["access_token"])
        )
        specific.base_url = live_server.base_url
        specific.run_flow({})
    assert caught.value.code == "MISSING_SCOPE"
    flow_scope = scopes.flow_scope(flow["id"])
    flow_tokens = auth.oauth2_client_credentials_tokens(requested_scopes=flow_scope)
    assert flow_tokens.by_resource_server[flow["id"]]["scope"] == flow_scope
    specific = globus_sdk.SpecificFlowClient(
        flow["id"],
        authorizer=globus_sdk.AccessTokenAuthorizer(
            flow_tokens.by_resource_server[flow["id"]]["access_token"]
        ),
    )
    specific.base_url = live_server.base_url
    assert specific.run_flow({})["status"] == "ACTIVE"


def test_introspect_identities_and_groups(client: dict) -> None:
    auth = globus_sdk.ConfidentialAppAuthClient(client["client_id"], client["client_secret"])
    tokens = auth.oauth2_client_credentials_tokens(requested_scopes=[scopes.VIEW_FLOWS])
    token = tokens.by_resource_server["flows.globus.org"]["access_token"]
    info = auth.oauth2_token_introspect(token, include="identity_set")
    assert info["active"] is True
    assert info["scope"] == scopes.VIEW_FLOWS
    assert info["username"] == "robot@example.org"
    assert info["identity_set"] == [info["sub"]]
    assert "flows.globus.org" in info["aud"] and info["exp"] > info["iat"]
    assert auth.oauth2_token_introspect("of_nonsense")["active"] is False

    # identities need an Auth token, groups a Groups token: the Flows token is refused by both
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(token)).get_identities(
            ids=[info["sub"]]
        )
    assert caught.value.http_status == 403 and caught.value.code == "FORBIDDEN"
    with pytest.raises(globus_sdk.GroupsAPIError) as refused:
        list(globus_sdk.GroupsClient(authorizer=globus_sdk.AccessTokenAuthorizer(token)).get_my_groups())
    assert refused.value.http_status == 403

    others = auth.oauth2_client_credentials_tokens(
        requested_scopes=[
            "openid",
            "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships",
        ]
    )
    auth_token = others.by_resource_server["auth.globus.org"]["access_token"]
    identities = globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(auth_token))
    found = identities.get_identities(ids=[client["identity_id"]])["identities"]
    assert [(i["id"], i["username"]) for i in found] == [(client["identity_id"], "robot@example.org")]
    by_name = identities.get_identities(usernames="robot@example.org")["identities"]
    assert by_name[0]["id"] == client["identity_id"]

    groups_token = others.by_resource_server["groups.api.globus.org"]["access_token"]
    groups = globus_sdk.GroupsClient(authorizer=globus_sdk.AccessTokenAuthorizer(groups_token))
    assert list(groups.get_my_groups()) == []


def test_bad_client_credentials(client: dict) -> None:
    auth = globus_sdk.ConfidentialAppAuthClient(client["client_id"], "wrong-secret")
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        auth.oauth2_client_credentials_tokens(requested_scopes=[scopes.ALL])
    assert caught.value.http_status == 401


def test_revoked_client_gets_no_tokens(run_line, client: dict) -> None:  # type: ignore[no-untyped-def]
    assert (
        f"Revoked client {client['client_id']}."
        in run_line(f"openflows clients revoke {client['client_id']}").stdout
    )
    auth = globus_sdk.ConfidentialAppAuthClient(client["client_id"], client["client_secret"])
    with pytest.raises(globus_sdk.AuthAPIError):
        auth.oauth2_client_credentials_tokens(requested_scopes=[scopes.ALL])
    run_line(f"openflows clients revoke {client['client_id']}", exit_code=1)
