"""The globus CLI's way (auth-protocol notes §3): a confidential instance of the CLI's template client, made
without authentication; the code flow with HTTP Basic and no PKCE; `validate` before every command; `session
show`'s introspection of its own token; logout by revoking as the template client."""

from __future__ import annotations

import datetime as dt
import uuid

import globus_sdk
import pytest
from authkit import AuthServer, confidential, native

from openflows.auth import catalog
from openflows.store.schema import auth_sessions

CLI_SCOPES = (
    "openid profile email urn:globus:auth:scope:auth.globus.org:view_identity_set "
    "urn:globus:auth:scope:transfer.api.globus.org:all urn:globus:auth:scope:groups.api.globus.org:all "
    "urn:globus:auth:scope:search.api.globus.org:all "
    "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer"
    "[urn:globus:auth:scope:transfer.api.globus.org:all] "
    "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"
)


def make_instance(auth_server: AuthServer) -> tuple[str, str]:
    template = native(catalog.GLOBUS_CLI_TEMPLATE_ID)
    created = template.create_native_app_instance(catalog.GLOBUS_CLI_TEMPLATE_ID, "Globus CLI")
    credential = created["included"]["client_credential"]
    assert created["client"]["parent_client"] == str(catalog.GLOBUS_CLI_TEMPLATE_ID)
    assert created["client"]["public_client"] is False and created["client"]["project"] is None
    assert credential["client"] == created["client"]["id"] and credential["secret"]
    return credential["client"], credential["secret"]


def add_session(auth_server: AuthServer, identity_id: uuid.UUID) -> tuple[uuid.UUID, dt.datetime]:
    session_id = uuid.uuid4()
    when = auth_server.clock.now().replace(microsecond=0)
    auth_server.db.transact(
        lambda conn: conn.execute(
            auth_sessions.insert().values(
                id=session_id,
                token_hash=uuid.uuid4().hex * 2,
                identity_id=identity_id,
                method="password",
                idp="local",
                auth_time=when,
                created_at=when,
                expires_at=when + dt.timedelta(days=1),
            )
        )
    )
    return session_id, when


def test_globus_login_the_cli_way(auth_server: AuthServer) -> None:
    bob = auth_server.person("bob")
    session_id, signed_in = add_session(auth_server, bob)
    client_id, secret = make_instance(auth_server)
    cli = confidential(client_id, secret)
    redirect = cli.base_url + "v2/web/auth-code"  # the CLI's string concatenation
    cli.oauth2_start_flow(redirect, requested_scopes=CLI_SCOPES, refresh_tokens=True)
    url = cli.oauth2_get_authorize_url(query_params={"prompt": "login"})
    assert "code_challenge" not in url
    code = auth_server.approve(url, bob, session_id=session_id)
    tokens = cli.oauth2_exchange_code_for_tokens(code)
    servers = {
        "auth.globus.org",
        "transfer.api.globus.org",
        "groups.api.globus.org",
        "search.api.globus.org",
        catalog.TIMERS_RESOURCE_SERVER,
        "flows.globus.org",
    }
    assert set(tokens.by_resource_server) == servers
    assert tokens.decode_id_token(jwt_params={"leeway": 300})["sub"] == str(bob)  # aud = the instance
    for data in tokens.by_resource_server.values():  # what the CLI checks before each command
        answer = cli.post("/v2/oauth2/token/validate", data={"token": data["refresh_token"]}, encoding="form")
        assert answer["active"] is True

    auth_token = tokens.by_resource_server["auth.globus.org"]["access_token"]
    info = cli.oauth2_token_introspect(auth_token, include="session_info,identity_set")
    assert info["active"] is True and info["client_id"] == client_id and info["sub"] == str(bob)
    assert set(info["aud"]) == {"auth.globus.org", client_id}
    assert info["identity_set"] == [str(bob)]
    assert info["session_info"]["session_id"] == str(session_id)
    authentication = info["session_info"]["authentications"][str(bob)]
    assert authentication["auth_time"] == int(signed_in.timestamp())

    # logout: every token revoked by the template client (no auth, client_id in the form), always 200
    template = native(catalog.GLOBUS_CLI_TEMPLATE_ID)
    for data in tokens.by_resource_server.values():
        template.oauth2_revoke_token(data["access_token"])
        template.oauth2_revoke_token(data["refresh_token"])
    template.oauth2_revoke_token("of_never-issued")  # unknown tokens too
    for data in tokens.by_resource_server.values():
        answer = cli.post("/v2/oauth2/token/validate", data={"token": data["refresh_token"]}, encoding="form")
        assert answer["active"] is False
    assert cli.oauth2_token_introspect(auth_token)["active"] is False

    # `globus logout --delete-client`: the instance deletes itself with its own credentials
    cli.delete(f"/v2/api/clients/{client_id}")
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        cli.oauth2_token_introspect(auth_token)
    assert caught.value.http_status == 401


def test_the_instance_needs_its_secret_and_the_template_is_not_usable(auth_server: AuthServer) -> None:
    carol = auth_server.person("carol")
    client_id, secret = make_instance(auth_server)
    code = auth_server.approve_scopes(client_id, carol, "openid")
    wrong = confidential(client_id, "not-the-secret")
    wrong.oauth2_start_flow(auth_server.base_url + "v2/web/auth-code", requested_scopes="openid")
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        wrong.oauth2_exchange_code_for_tokens(code)
    assert caught.value.http_status == 401
    # a confidential client cannot exchange a code as if it were public (client_id only, no secret)
    public_try = native(client_id)
    public_try.oauth2_start_flow(
        redirect_uri=auth_server.base_url + "v2/web/auth-code", requested_scopes="openid"
    )
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        public_try.oauth2_exchange_code_for_tokens(code)
    assert caught.value.http_status == 401
    # the code still works for its owner
    cli = confidential(client_id, secret)
    cli.oauth2_start_flow(auth_server.base_url + "v2/web/auth-code", requested_scopes="openid")
    assert cli.oauth2_exchange_code_for_tokens(code)["resource_server"] == "auth.globus.org"
    # templates are public: nobody makes an instance of a client that is not a template
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        native(catalog.GLADIER_CLIENT_ID).create_native_app_instance(catalog.GLADIER_CLIENT_ID, "x")
    assert caught.value.http_status == 404


def test_client_login_asks_for_its_consents_by_client_id(auth_server: AuthServer) -> None:
    """`GLOBUS_CLI_CLIENT_ID` mode: before reusing a stored token whose scope has dependencies (a flow timer's
    `timer[<flow scope>]`), the CLI reads the consents of "the current identity", which it takes to be the
    client id. A client of `openflows clients create` acts as another identity: it is answered with that
    identity's consents rooted at the client, not with a 403 that would abort the command."""
    from openflows.auth.clients import create_legacy_client

    robot = auth_server.person("robot")
    client_id, secret = auth_server.db.transact(
        lambda conn: create_legacy_client(conn, identity_id=robot, now=auth_server.clock.now())
    )
    client = confidential(client_id, secret)
    tokens = client.oauth2_client_credentials_tokens(requested_scopes="openid profile email")
    auth = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            tokens.by_resource_server["auth.globus.org"]["access_token"]
        )
    )
    assert auth.get_consents(client_id)["consents"] == []
    assert auth.get_consents(robot)["consents"] == []
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        auth.get_consents(auth_server.person("someone"))
    assert refused.value.http_status == 403


def test_globus_login_timer_flow_records_the_consent_timer_create_flow_checks(
    auth_server: AuthServer,
) -> None:
    """`globus login --timer flow:ID` asks for `timer[<flow scope>]`; before `globus timer create flow ID` the
    CLI checks the consent forest for it (auth-protocol notes §3.2, §3.4)."""
    from openflows.store.flows import create_flow

    ada = auth_server.person("ada")
    flow_id = str(uuid.uuid4())
    auth_server.db.transact(
        lambda conn: create_flow(
            conn,
            flow_id=uuid.UUID(flow_id),
            flow_owner=f"urn:globus:auth:identity:{ada}",
            title="timed",
            definition={"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            input_schema={},
            now=auth_server.clock.now(),
        )
    )
    flow_scope = f"https://auth.globus.org/scopes/{flow_id}/flow_{flow_id.replace('-', '_')}_user"
    required = f"{catalog.TIMERS_TIMER}[{flow_scope}]"
    client_id, secret = make_instance(auth_server)
    cli = confidential(client_id, secret)
    cli.oauth2_start_flow(
        cli.base_url + "v2/web/auth-code",
        requested_scopes=f"openid profile email {required}",
        refresh_tokens=True,
    )
    code = auth_server.approve_scopes(client_id, ada, f"openid profile email {required}")
    tokens = cli.oauth2_exchange_code_for_tokens(code)
    assert tokens.by_resource_server[catalog.TIMERS_RESOURCE_SERVER]["scope"] == catalog.TIMERS_TIMER
    auth = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            tokens.by_resource_server["auth.globus.org"]["access_token"]
        )
    )
    forest = auth.get_consents(ada).to_forest()
    assert forest.meets_scope_requirements([required])
    other = f"https://auth.globus.org/scopes/{uuid.uuid4()}/flow_x_user"
    assert not forest.meets_scope_requirements([f"{catalog.TIMERS_TIMER}[{other}]"])
