"""globus-sdk's `UserApp` the way gladier uses it (its public client, refresh tokens, the command-line login
flow with the display redirect `<base>v2/web/auth-code`), with a dependent-scope requirement that UserApp
checks through `get_consents` after every retrieval; and a flow's own scope, whose resource server is the flow
id."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import globus_sdk
import pytest
from authkit import AuthServer
from globus_sdk.login_flows import CommandLineLoginFlowManager

from openflows.auth import catalog, scope_registry
from openflows.auth.scopes import ALL as FLOWS_ALL
from openflows.auth.scopes import flow_scope
from openflows.auth.tokens import create_token
from openflows.store.identities import ensure_identity

TIMER = f"{catalog.TIMERS_TIMER}[{catalog.TRANSFER_ALL}]"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


class ApprovingLoginFlow(CommandLineLoginFlowManager):
    """The command-line flow, with the person's Allow done by `approve` instead of typing a code."""

    def __init__(self, auth_server: AuthServer, identity: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auth_server = auth_server
        self.identity = identity
        self.urls: list[str] = []

    def print_authorize_url(self, authorize_url: str) -> None:
        self.urls.append(authorize_url)

    def prompt_for_code(self) -> str:
        return self.auth_server.approve(self.urls[-1], self.identity)


def user_app(auth_server: AuthServer, identity: Any, requirements: dict[str, list[Any]]) -> tuple[Any, Any]:
    client = globus_sdk.NativeAppAuthClient(str(catalog.GLADIER_CLIENT_ID))
    flow = ApprovingLoginFlow(auth_server, identity, client, request_refresh_tokens=True)
    config = globus_sdk.GlobusAppConfig(
        request_refresh_tokens=True, token_storage="memory", login_flow_manager=flow
    )
    app = globus_sdk.UserApp(
        "Gladier Client",
        client_id=str(catalog.GLADIER_CLIENT_ID),
        scope_requirements=requirements,
        config=config,
    )
    return app, flow


def test_user_app_login_with_a_dependent_requirement(auth_server: AuthServer) -> None:
    erin = auth_server.person("erin")
    app, flow = user_app(
        auth_server,
        erin,
        {
            "flows.globus.org": [FLOWS_ALL],
            catalog.TIMERS_RESOURCE_SERVER: [TIMER],
            "funcx_service": [catalog.COMPUTE_ALL],
        },
    )
    app.login()
    [url] = flow.urls
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [auth_server.base_url + "v2/web/auth-code"]
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    authorizer = app.get_authorizer(catalog.TIMERS_RESOURCE_SERVER)  # checks the consents for the dependency
    assert authorizer.get_authorization_header().startswith("Bearer ")
    flows = globus_sdk.FlowsClient(app=app, base_url=auth_server.base_url)
    flow_doc = flows.create_flow("from UserApp", PASS, {})
    assert flow_doc["flow_owner"].endswith(str(erin))
    assert app.login_required() is False
    app.logout()
    assert app.login_required() is True


def test_a_flow_scope_is_granted_for_the_flow_and_its_hook(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make(conn: Any) -> str:
        identity = ensure_identity(conn, "owner", now=auth_server.clock.now())
        return create_token(conn, identity_id=identity.id, now=auth_server.clock.now())[0]

    admin = auth_server.db.transact(make)
    flows = globus_sdk.FlowsClient(
        base_url=auth_server.base_url, authorizer=globus_sdk.AccessTokenAuthorizer(admin)
    )
    flow_id = flows.create_flow("shared", PASS, {}, flow_starters=["all_authenticated_users"])["id"]
    scope = flow_scope(flow_id)
    # issue 14 makes a flow's scope depend on its steps' scopes; here the hook says Transfer
    monkeypatch.setattr(scope_registry, "flow_dependent_scopes", lambda conn, fid: [catalog.TRANSFER_ALL])
    frank = auth_server.person("frank")
    app, _ = user_app(auth_server, frank, {flow_id: [scope]})
    app.login()
    forest = globus_sdk.AuthClient(app=app).get_consents(frank).to_forest()
    assert forest.meets_scope_requirements([f"{scope}[{catalog.TRANSFER_ALL}]"])
    specific = globus_sdk.SpecificFlowClient(flow_id, app=app)
    specific.base_url = auth_server.base_url
    assert specific.run_flow({})["status"] in ("ACTIVE", "SUCCEEDED")
    with auth_server.db.read() as conn:
        [info] = scope_registry.resolve(conn, [scope]).values()
    assert info.stored and info.resource_server == flow_id and str(info.owner) == flow_id
