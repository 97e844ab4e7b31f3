"""A native app (gladier's public client) through the authorization-code grant with PKCE, refresh tokens, the
ID token, userinfo, identities, consents and revocation, all with the real globus-sdk."""

from __future__ import annotations

import globus_sdk
import pytest
from authkit import AuthServer, native

from openflows.auth import catalog

FLOWS_ALL = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"
TIMER = catalog.TIMERS_TIMER + "[" + catalog.TRANSFER_ALL + "]"


def test_native_app_code_flow_with_refresh_tokens(auth_server: AuthServer) -> None:
    alice = auth_server.person("alice")
    client = native(catalog.GLADIER_CLIENT_ID)
    client.oauth2_start_flow(
        requested_scopes=[
            "openid",
            "profile",
            "email",
            catalog.VIEW_IDENTITY_SET,
            FLOWS_ALL,
            TIMER,
            catalog.COMPUTE_ALL,
        ],
        refresh_tokens=True,
    )
    url = client.oauth2_get_authorize_url()
    assert url.startswith(auth_server.base_url + "v2/oauth2/authorize?")
    code = auth_server.approve(url, alice)
    tokens = client.oauth2_exchange_code_for_tokens(code)

    by_server = tokens.by_resource_server
    assert set(by_server) == {
        "auth.globus.org",
        "flows.globus.org",
        catalog.TIMERS_RESOURCE_SERVER,
        "funcx_service",
    }
    assert by_server["auth.globus.org"]["scope"] == f"openid profile email {catalog.VIEW_IDENTITY_SET}"
    assert by_server[catalog.TIMERS_RESOURCE_SERVER]["scope"] == catalog.TIMERS_TIMER  # roots only
    assert tokens["resource_server"] == "auth.globus.org"  # the auth token on top, like Globus
    assert all(data["refresh_token"] for data in by_server.values())
    assert len({data["access_token"] for data in by_server.values()}) == 4

    claims = tokens.decode_id_token()
    assert claims["sub"] == str(alice)
    assert claims["aud"] == str(catalog.GLADIER_CLIENT_ID)
    assert claims["preferred_username"] == "alice" and claims["email"] == "alice@example.org"
    assert [entry["sub"] for entry in claims["identity_set"]] == [str(alice)]

    auth_token = by_server["auth.globus.org"]
    authorizer = globus_sdk.RefreshTokenAuthorizer(
        auth_token["refresh_token"],
        client,
        access_token=auth_token["access_token"],
        expires_at=auth_token["expires_at_seconds"],
    )
    auth = globus_sdk.AuthClient(authorizer=authorizer)
    info = auth.userinfo()
    assert info["sub"] == str(alice) and info["preferred_username"] == "alice"
    assert info["identity_set"][0]["username"] == "alice"

    # refresh: exactly one resource server, the refresh token echoed, a new access token that works
    authorizer._get_new_access_token()
    assert authorizer.access_token != auth_token["access_token"]
    assert authorizer.refresh_token == auth_token["refresh_token"]
    assert globus_sdk.AuthClient(authorizer=authorizer).userinfo()["sub"] == str(alice)

    found = auth.get_identities(ids=[str(alice)])["identities"]
    assert [(item["id"], item["username"]) for item in found] == [(str(alice), "alice")]

    forest = auth.get_consents(alice).to_forest()
    assert forest.meets_scope_requirements([TIMER, FLOWS_ALL, "openid"])
    assert not forest.meets_scope_requirements([catalog.TIMERS_TIMER + "[" + catalog.GROUPS_ALL + "]"])

    # revoking the refresh token revokes what was issued from it
    client.oauth2_revoke_token(auth_token["refresh_token"])
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(authorizer.access_token)).userinfo()
    assert caught.value.http_status == 401 and caught.value.code == "UNAUTHORIZED"
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        client.oauth2_refresh_token(auth_token["refresh_token"])
    assert caught.value.http_status == 401
