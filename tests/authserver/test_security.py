"""Security properties of the token endpoints: PKCE enforced, codes single-use and short-lived, redirect URIs
exact, tokens confined to their resource server, refresh tokens never bearer tokens, revoked and expired
tokens refused everywhere, and no secret in the server's logs."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import uuid
from typing import Any

import globus_sdk
import httpx
import pytest
from authkit import AuthServer, confidential, native

from openflows.auth import authorization, catalog, clients
from openflows.auth.scopes import ALL as FLOWS_ALL
from openflows.auth.tokens import create_token
from openflows.store.identities import ensure_identity

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_query(auth_server: AuthServer, **overrides: str) -> dict[str, str]:
    query = {
        "client_id": str(catalog.GLADIER_CLIENT_ID),
        "redirect_uri": auth_server.base_url + "v2/web/auth-code",
        "response_type": "code",
        "scope": "openid " + FLOWS_ALL,
        "code_challenge": challenge_of("v" * 50),
        "code_challenge_method": "S256",
        "access_type": "offline",
        "state": "s1",
    }
    query.update(overrides)
    return {key: value for key, value in query.items() if value != ""}


def check(auth_server: AuthServer, query: dict[str, str]) -> Any:
    with auth_server.db.read() as conn:
        return authorization.check_request(conn, query, base_url=auth_server.base_url)


def token_post(auth_server: AuthServer, form: dict[str, str], auth: Any = None) -> httpx.Response:
    return httpx.post(auth_server.base_url + "v2/oauth2/token", data=form, auth=auth)


def code_for(auth_server: AuthServer, identity: uuid.UUID, **overrides: str) -> str:
    request = check(auth_server, authorize_query(auth_server, **overrides))
    assert isinstance(request, authorization.AuthorizeRequest), request
    return auth_server.approve(
        auth_server.base_url
        + "v2/oauth2/authorize?"
        + httpx.QueryParams(authorize_query(auth_server, **overrides)).__str__(),
        identity,
    )


def exchange_form(auth_server: AuthServer, code: str, verifier: str | None = "v" * 50, **extra: str) -> dict:
    form = {
        "grant_type": "authorization_code",
        "client_id": str(catalog.GLADIER_CLIENT_ID),
        "code": code,
        "redirect_uri": auth_server.base_url + "v2/web/auth-code",
        **extra,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    return form


def test_pkce_is_required_of_public_clients_and_verified(auth_server: AuthServer) -> None:
    refused = check(auth_server, authorize_query(auth_server, code_challenge="", code_challenge_method=""))
    assert isinstance(refused, authorization.AuthorizeError) and refused.redirectable
    assert "PKCE" in refused.description
    assert refused.redirect_url().startswith(auth_server.base_url + "v2/web/auth-code?error=invalid_request")
    plain = check(auth_server, authorize_query(auth_server, code_challenge_method="plain"))
    assert isinstance(plain, authorization.AuthorizeError) and plain.error == "invalid_request"

    alice = auth_server.person()
    code = code_for(auth_server, alice)
    for verifier in (None, "w" * 50, "short"):
        answer = token_post(auth_server, exchange_form(auth_server, code, verifier))
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_grant"
        assert answer.json()["errors"][0]["detail"] == "invalid_grant"  # globus-cli's "please log in again"
    ok = token_post(auth_server, exchange_form(auth_server, code))
    assert ok.status_code == 200 and ok.json()["other_tokens"][0]["resource_server"] == "flows.globus.org"


def test_codes_are_single_use_and_a_replay_revokes_what_they_gave(auth_server: AuthServer) -> None:
    alice = auth_server.person()
    code = code_for(auth_server, alice)
    first = token_post(auth_server, exchange_form(auth_server, code)).json()
    userinfo = auth_server.base_url + "v2/oauth2/userinfo"
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert httpx.get(userinfo, headers=bearer).status_code == 200
    again = token_post(auth_server, exchange_form(auth_server, code))
    assert again.status_code == 401 and again.json()["error"] == "invalid_grant"
    assert httpx.get(userinfo, headers=bearer).status_code == 401
    refresh = token_post(
        auth_server,
        {
            "grant_type": "refresh_token",
            "client_id": str(catalog.GLADIER_CLIENT_ID),
            "refresh_token": first["refresh_token"],
        },
    )
    assert refresh.status_code == 401


def test_codes_expire(auth_server: AuthServer) -> None:
    alice = auth_server.person()
    code = code_for(auth_server, alice)
    auth_server.clock.advance(601)  # codes live 600 s
    answer = token_post(auth_server, exchange_form(auth_server, code))
    assert answer.status_code == 401 and "expired" in answer.json()["error_description"]


def test_redirect_uris_match_exactly(auth_server: AuthServer) -> None:
    registered = "https://app.example.org/callback"

    def make(conn: Any) -> uuid.UUID:
        spec = clients.ClientSpec(
            name="web app",
            public_client=False,
            client_type="confidential_client",
            redirect_uris=(registered,),
        )
        return clients.create_client(conn, spec, now=auth_server.clock.now())

    web_app = auth_server.db.transact(make)
    for uri in (
        registered + "/",
        registered + "?x=1",
        "http://app.example.org/callback",
        "https://app.example.org/Callback",
        "https://app.example.org:444/callback",
        "https://evil.example/callback",
        "http://localhost:8000/callback",  # no loopback wildcard for a confidential client
    ):
        refused = check(auth_server, authorize_query(auth_server, client_id=str(web_app), redirect_uri=uri))
        assert isinstance(refused, authorization.AuthorizeError), uri
        assert not refused.redirectable  # never sent to an unregistered URI
    accepted = check(
        auth_server, authorize_query(auth_server, client_id=str(web_app), redirect_uri=registered)
    )
    assert isinstance(accepted, authorization.AuthorizeRequest)
    # a native client: its registered URI, or a loopback URI on any port; nothing else
    for uri in (
        "https://evil.example/v2/web/auth-code",
        "http://localhost.evil.example:8000/",
        "https://localhost/",
    ):
        refused = check(auth_server, authorize_query(auth_server, redirect_uri=uri))
        assert isinstance(refused, authorization.AuthorizeError) and not refused.redirectable, uri
    for uri in ("http://localhost:8123/", "http://127.0.0.1:51234", "http://[::1]:9000/callback"):
        assert isinstance(
            check(auth_server, authorize_query(auth_server, redirect_uri=uri)), authorization.AuthorizeRequest
        )
    unknown = check(auth_server, authorize_query(auth_server, client_id=str(uuid.uuid4())))
    assert isinstance(unknown, authorization.AuthorizeError) and not unknown.redirectable
    # the token request must name the code's redirect URI exactly
    alice = auth_server.person()
    code = code_for(auth_server, alice, redirect_uri="http://localhost:8123/")
    mismatch = token_post(
        auth_server, exchange_form(auth_server, code, redirect_uri="http://localhost:8124/")
    )
    assert mismatch.status_code == 401


def test_tokens_stay_with_their_resource_server(auth_server: AuthServer) -> None:
    alice = auth_server.person()
    client = native(catalog.GLADIER_CLIENT_ID)
    client.oauth2_start_flow(
        requested_scopes=["openid", catalog.TRANSFER_ALL, FLOWS_ALL], refresh_tokens=True
    )
    tokens = client.oauth2_exchange_code_for_tokens(
        auth_server.approve(client.oauth2_get_authorize_url(), alice)
    )
    transfer = tokens.by_resource_server["transfer.api.globus.org"]
    flows_token = tokens.by_resource_server["flows.globus.org"]
    auth_token = tokens.by_resource_server["auth.globus.org"]

    def flows(token: str) -> globus_sdk.FlowsClient:
        return globus_sdk.FlowsClient(
            base_url=auth_server.base_url, authorizer=globus_sdk.AccessTokenAuthorizer(token)
        )

    for other in (transfer["access_token"], auth_token["access_token"]):
        with pytest.raises(globus_sdk.FlowsAPIError) as caught:
            flows(other).list_flows()
        assert caught.value.http_status == 403 and caught.value.code == "MISSING_SCOPE"
    assert flows(flows_token["access_token"]).create_flow("mine", PASS, {})["flow_owner"].endswith(str(alice))
    for other in (transfer["access_token"], flows_token["access_token"]):
        with pytest.raises(globus_sdk.AuthAPIError) as caught:
            globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(other)).userinfo()
        assert caught.value.http_status == 403
    # a refresh token is never a bearer token
    for refresh in (flows_token["refresh_token"], auth_token["refresh_token"]):
        with pytest.raises(globus_sdk.GlobusAPIError) as caught:
            flows(refresh).list_flows()
        assert caught.value.http_status == 401
        response = httpx.get(
            auth_server.base_url + "v2/oauth2/userinfo", headers={"Authorization": f"Bearer {refresh}"}
        )
        assert response.status_code == 401


def test_an_administrator_token_still_works_everywhere(auth_server: AuthServer) -> None:
    def make(conn: Any) -> str:
        identity = ensure_identity(conn, "admin", now=auth_server.clock.now())
        return create_token(conn, identity_id=identity.id, now=auth_server.clock.now())[0]

    token = auth_server.db.transact(make)
    authorizer = globus_sdk.AccessTokenAuthorizer(token)
    flows = globus_sdk.FlowsClient(base_url=auth_server.base_url, authorizer=authorizer)
    assert flows.create_flow("by admin", PASS, {})["title"] == "by admin"
    assert globus_sdk.AuthClient(authorizer=authorizer).userinfo()["preferred_username"] == "admin"
    assert list(globus_sdk.GroupsClient(authorizer=authorizer).get_my_groups()) == []


def test_expired_and_revoked_tokens_are_refused_everywhere(auth_server: AuthServer) -> None:
    provider_secret = None
    alice = auth_server.person()
    client = native(catalog.GLADIER_CLIENT_ID)
    client.oauth2_start_flow(requested_scopes=["openid", FLOWS_ALL], refresh_tokens=True)
    tokens = client.oauth2_exchange_code_for_tokens(
        auth_server.approve(client.oauth2_get_authorize_url(), alice)
    )
    flows_token = tokens.by_resource_server["flows.globus.org"]
    auth_token = tokens.by_resource_server["auth.globus.org"]
    flows = globus_sdk.FlowsClient(
        base_url=auth_server.base_url,
        authorizer=globus_sdk.AccessTokenAuthorizer(flows_token["access_token"]),
    )
    assert list(flows.list_flows()) == []
    del provider_secret

    auth_server.clock.advance(48 * 3600 + 1)  # access tokens live 48 h
    with pytest.raises(globus_sdk.FlowsAPIError) as caught:
        list(flows.list_flows())
    assert caught.value.http_status == 401
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        globus_sdk.AuthClient(
            authorizer=globus_sdk.AccessTokenAuthorizer(auth_token["access_token"])
        ).userinfo()
    assert caught.value.http_status == 401
    # the refresh token still works and gives a fresh access token ...
    fresh = client.oauth2_refresh_token(flows_token["refresh_token"])
    assert fresh["refresh_token"] == flows_token["refresh_token"] and fresh["other_tokens"] == []
    renewed = globus_sdk.FlowsClient(
        base_url=auth_server.base_url, authorizer=globus_sdk.AccessTokenAuthorizer(fresh["access_token"])
    )
    assert list(renewed.list_flows()) == []
    # ... until it is revoked: then the access token issued from it goes too
    client.oauth2_revoke_token(flows_token["refresh_token"])
    with pytest.raises(globus_sdk.FlowsAPIError) as caught:
        list(renewed.list_flows())
    assert caught.value.http_status == 401
    # a refresh token unused for longer than the idle period (180 days) stops working
    auth_server.clock.advance(181 * 86400)
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        client.oauth2_refresh_token(auth_token["refresh_token"])
    assert caught.value.http_status == 401 and caught.value.raw_json["error"] == "invalid_grant"


def test_no_secret_reaches_the_logs(auth_server: AuthServer, captured_logs: pytest.LogCaptureFixture) -> None:
    alice = auth_server.person()
    template = native(catalog.GLOBUS_CLI_TEMPLATE_ID)
    credential = template.create_native_app_instance(catalog.GLOBUS_CLI_TEMPLATE_ID, "Globus CLI")[
        "included"
    ]["client_credential"]
    cli = confidential(credential["client"], credential["secret"])
    cli.oauth2_start_flow(
        auth_server.base_url + "v2/web/auth-code", requested_scopes=["openid", FLOWS_ALL], refresh_tokens=True
    )
    code = auth_server.approve(cli.oauth2_get_authorize_url(), alice)
    tokens = cli.oauth2_exchange_code_for_tokens(code)
    secrets = [credential["secret"], code]
    for data in tokens.by_resource_server.values():
        secrets += [data["access_token"], data["refresh_token"]]
        cli.oauth2_token_introspect(data["access_token"])
        cli.oauth2_refresh_token(data["refresh_token"])
    with pytest.raises(globus_sdk.AuthAPIError):  # refusals are logged too
        cli.oauth2_exchange_code_for_tokens(code)
    with pytest.raises(globus_sdk.AuthAPIError):
        confidential(credential["client"], "wrong-" + credential["secret"]).oauth2_client_credentials_tokens(
            "openid"
        )
    cli.oauth2_revoke_token(tokens.by_resource_server["flows.globus.org"]["refresh_token"])
    server_records = [
        record for record in captured_logs.records if not record.name.startswith(("globus_sdk", "urllib3"))
    ]
    assert any(record.name.startswith("openflows") for record in server_records)  # the capture works
    text = "\n".join(record.getMessage() + repr(record.args) for record in server_records)
    text += captured_logs.text
    leaked = [secret[:8] + "..." for secret in secrets if secret in text]
    assert leaked == []


def test_the_code_lifetime_setting_applies(auth_server: AuthServer) -> None:
    context = auth_server.server.auth_context
    context.lifetimes = dataclasses.replace(context.lifetimes, code=dt.timedelta(seconds=60))
    alice = auth_server.person()
    code = code_for(auth_server, alice)  # stored with the default 600 s
    auth_server.clock.advance(61)
    answer = token_post(auth_server, exchange_form(auth_server, code))
    assert answer.status_code == 401 and "expired" in answer.json()["error_description"]
