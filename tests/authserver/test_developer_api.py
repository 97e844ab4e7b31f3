"""The developer API's changes and deletions with globus-sdk's AuthClient, and the token endpoint's
refusals."""

from __future__ import annotations

import globus_sdk
import httpx
import pytest
from authkit import AuthServer, confidential, native

from openflows.auth import catalog


def developer(auth_server: AuthServer) -> globus_sdk.AuthClient:
    person = auth_server.person()
    client = native(catalog.GRA_CLIENT_ID)
    client.oauth2_start_flow(requested_scopes=["openid", catalog.MANAGE_PROJECTS])
    tokens = client.oauth2_exchange_code_for_tokens(
        auth_server.approve(client.oauth2_get_authorize_url(), person)
    )
    token = tokens.by_resource_server["auth.globus.org"]["access_token"]
    return globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(token))


def test_clients_credentials_and_scopes_change_and_go(auth_server: AuthServer) -> None:
    dev = developer(auth_server)
    project = dev.create_project("P", "p@example.org")["project"]
    app = dev.create_client(
        "Web app", project=project["id"], public_client=False, redirect_uris=["https://app.example.org/cb"]
    )["client"]
    assert app["client_type"] == "hybrid_confidential_client_resource_server"
    assert "urn:globus:auth:grant_type:dependent_token" in app["grant_types"]
    renamed = dev.update_client(app["id"], name="Renamed", redirect_uris=["https://app.example.org/cb2"])[
        "client"
    ]
    assert renamed["name"] == "Renamed" and renamed["redirect_uris"] == ["https://app.example.org/cb2"]
    nativeapp = dev.create_client("Laptop", project=project["id"], public_client=True)["client"]
    assert nativeapp["grant_types"] == ["authorization_code", "refresh_token"]
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        dev.create_client_credential(nativeapp["id"], "x")  # a public client has no secret
    assert caught.value.http_status == 400

    first = dev.create_client_credential(app["id"], "one")["credential"]
    second = dev.create_client_credential(app["id"], "two")["credential"]
    assert confidential(app["id"], first["secret"]).oauth2_client_credentials_tokens("openid")["access_token"]
    dev.delete_client_credential(app["id"], first["id"])
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        confidential(app["id"], first["secret"]).oauth2_client_credentials_tokens("openid")
    assert caught.value.http_status == 401
    service = confidential(app["id"], second["secret"])
    assert service.oauth2_client_credentials_tokens("openid")["resource_server"] == "auth.globus.org"

    # a child client, made by the client itself with HTTP Basic
    child = service.post("/v2/api/clients", data={"client": {"name": "Child", "public_client": False}})[
        "client"
    ]
    assert child["parent_client"] == app["id"] and child["project"] == project["id"]

    scope = dev.create_scope(app["id"], "Read", "Read things", "read")["scope"]
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        dev.create_scope(app["id"], "Read", "Again", "read")
    assert caught.value.http_status == 409
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        dev.create_scope(app["id"], "Bad", "Bad suffix", "Not-Allowed")
    assert caught.value.http_status == 400
    updated = dev.update_scope(
        scope["id"],
        description="Read more",
        dependent_scopes=[globus_sdk.DependentScopeSpec(catalog.GROUPS_VIEW_SCOPE_ID, True, False)],
    )["scope"]
    assert updated["description"] == "Read more"
    assert updated["dependent_scopes"] == [
        {"scope": str(catalog.GROUPS_VIEW_SCOPE_ID), "optional": True, "requires_refresh_token": False}
    ]
    assert [item["id"] for item in dev.get_scopes(ids=[scope["id"]])["scopes"]] == [scope["id"]]
    assert dev.get_scope(scope["id"])["scope"]["scope_string"].endswith(f"{app['id']}/read")
    with pytest.raises(globus_sdk.AuthAPIError) as caught:  # built-in scopes are not the developer's
        dev.delete_scope(str(catalog.GROUPS_VIEW_SCOPE_ID))
    assert caught.value.http_status in (403, 404)

    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        dev.delete_project(project["id"])  # still has clients
    assert caught.value.http_status == 409
    dev.delete_scope(scope["id"])
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        dev.get_scope(scope["id"])
    assert caught.value.http_status == 404

    token = service.oauth2_client_credentials_tokens("openid")["access_token"]
    for client in (child, nativeapp, app):
        dev.delete_client(client["id"])
    # the deleted client's tokens are revoked and it can no longer authenticate
    userinfo = httpx.get(
        auth_server.base_url + "v2/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    assert userinfo.status_code == 401
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        service.oauth2_client_credentials_tokens("openid")
    assert caught.value.http_status == 401
    assert dev.delete_project(project["id"])["project"]["id"] == project["id"]
    assert list(dev.get_projects()) == []
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        dev.get_client(fqdn="app.example.org")
    assert caught.value.http_status == 404


def test_token_endpoint_refusals(auth_server: AuthServer) -> None:
    token_url = auth_server.base_url + "v2/oauth2/token"
    gladier = str(catalog.GLADIER_CLIENT_ID)

    def post(form: dict[str, str], auth: tuple[str, str] | None = None) -> httpx.Response:
        return httpx.post(token_url, data=form, auth=auth)

    answer = post({"grant_type": "password", "client_id": gladier})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
    answer = post({"grant_type": "client_credentials", "client_id": gladier, "scope": "openid"})
    assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"  # a public client
    answer = post({"grant_type": "refresh_token", "refresh_token": "x"})
    assert answer.status_code == 401 and answer.json()["errors"][0]["code"] == "INVALID_CLIENT"
    assert answer.headers["cache-control"] == "no-store"

    template = native(catalog.GLOBUS_CLI_TEMPLATE_ID)
    credential = template.create_native_app_instance(catalog.GLOBUS_CLI_TEMPLATE_ID, "x")["included"][
        "client_credential"
    ]
    basic = (credential["client"], credential["secret"])
    answer = post({"grant_type": "client_credentials", "scope": "openid nonsense:scope"}, auth=basic)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"
    answer = post({"grant_type": "client_credentials", "scope": "a [b]"}, auth=basic)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"
    answer = post({"grant_type": "client_credentials", "scope": ""}, auth=basic)
    assert answer.status_code == 400
    answer = post({"grant_type": "authorization_code", "code": "made-up", "redirect_uri": "x"}, auth=basic)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_grant"
    ok = post(
        {"grant_type": "client_credentials", "scope": f"openid {catalog.TRANSFER_ALL}"}, auth=basic
    ).json()
    assert ok["resource_server"] == "auth.globus.org" and "refresh_token" not in ok
    assert [item["resource_server"] for item in ok["other_tokens"]] == ["transfer.api.globus.org"]
    # the public endpoints ignore whatever Authorization header they get
    for path in (".well-known/openid-configuration", "jwk.json"):
        assert httpx.get(auth_server.base_url + path, auth=basic).status_code == 200
    config = httpx.get(auth_server.base_url + ".well-known/openid-configuration").json()
    assert config["jwks_uri"] == auth_server.base_url + "jwk.json"
    assert config["id_token_signing_alg_values_supported"] == ["RS512"]
