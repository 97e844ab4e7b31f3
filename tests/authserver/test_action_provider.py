"""An action provider registered and used the documented way (globus-action-provider-tools' set-up guide): the
developer API (project, client, credential, a scope depending on Groups' view scope by its fixed id),
introspection by the provider's own credentials, and dependent tokens for the user's groups."""

from __future__ import annotations

import dataclasses
from typing import Any

import globus_sdk
import pytest
from authkit import AuthServer, confidential, native
from globus_sdk.gare import to_gare

from openflows.auth import authorization, catalog
from openflows.store.auth_consents import list_consents
from openflows.store.identities import add_group_member, ensure_group


@dataclasses.dataclass
class Provider:
    client_id: str
    secret: str
    scope: str
    scope_id: str
    project_id: str
    developer: globus_sdk.AuthClient


def user_tokens(auth_server: AuthServer, identity: Any, scopes: list[str], *, client_id: Any = None) -> Any:
    client = native(client_id or catalog.GLADIER_CLIENT_ID)
    client.oauth2_start_flow(requested_scopes=scopes, refresh_tokens=True)
    return client.oauth2_exchange_code_for_tokens(
        auth_server.approve(client.oauth2_get_authorize_url(), identity)
    )


def register_provider(auth_server: AuthServer) -> Provider:
    dev = auth_server.person("ap-developer")
    tokens = user_tokens(
        auth_server, dev, ["openid", catalog.MANAGE_PROJECTS], client_id=catalog.GRA_CLIENT_ID
    )
    developer = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            tokens.by_resource_server["auth.globus.org"]["access_token"]
        )
    )
    project = developer.create_project("My provider", "ap@example.org", admin_ids=[str(dev)])["project"]
    assert (
        project["admin_ids"] == [str(dev)]
        and project["admins"]["identities"][0]["username"] == "ap-developer"
    )
    assert [item["id"] for item in developer.get_projects()] == [project["id"]]
    client = developer.create_client(
        "My provider", project=project["id"], client_type="hybrid_confidential_client_resource_server"
    )["client"]
    assert client["public_client"] is False and client["project"] == project["id"]
    credential = developer.create_client_credential(client["id"], "deploy")["credential"]
    assert credential["secret"] and credential["client"] == client["id"]
    listed = developer.get_client_credentials(client["id"])["credentials"]
    assert [(item["id"], item["secret"]) for item in listed] == [(credential["id"], None)]

    # the guide's step 1-4: the provider's own ClientApp with manage_projects registers its scope
    app = globus_sdk.ClientApp(
        "manage-ap",
        client_id=client["id"],
        client_secret=credential["secret"],
        config=globus_sdk.GlobusAppConfig(token_storage="memory"),
    )
    as_client = globus_sdk.AuthClient(app=app)
    as_client.add_app_scope(globus_sdk.AuthClient.scopes.manage_projects)
    [identity] = as_client.get_identities(ids=client["id"])["identities"]
    assert (
        identity["username"] == f"{client['id']}@clients.auth.globus.org"
        and identity["name"] == "My provider"
    )
    [groups_scope] = as_client.get_scopes(scope_strings=[catalog.GROUPS_VIEW])["scopes"]
    assert groups_scope["id"] == "73320ffe-4cb4-4b25-a0a3-83d53d59ce4f"
    created = as_client.create_scope(
        client["id"],
        "Action Provider 'all'",
        "Access to my action provider",
        "action_all",
        dependent_scopes=[
            globus_sdk.DependentScopeSpec("73320ffe-4cb4-4b25-a0a3-83d53d59ce4f", False, False)
        ],
    )
    scope = created["scope"]
    assert created["scopes"] == [scope]
    assert scope["scope_string"] == f"https://auth.globus.org/scopes/{client['id']}/action_all"
    assert scope["dependent_scopes"] == [
        {"scope": "73320ffe-4cb4-4b25-a0a3-83d53d59ce4f", "optional": False, "requires_refresh_token": False}
    ]
    assert developer.get_client(client_id=client["id"])["client"]["scopes"] == [scope["id"]]
    return Provider(
        client["id"], credential["secret"], scope["scope_string"], scope["id"], project["id"], developer
    )


def test_provider_introspects_and_gets_the_users_groups(auth_server: AuthServer) -> None:
    provider = register_provider(auth_server)
    alice = auth_server.person("alice")
    team = auth_server.db.transact(lambda conn: ensure_group(conn, "team", now=auth_server.clock.now()))
    auth_server.db.transact(lambda conn: add_group_member(conn, group_id=team.id, identity_id=alice))
    tokens = user_tokens(auth_server, alice, ["openid", provider.scope])
    ap_token = tokens.by_resource_server[provider.client_id]["access_token"]
    assert tokens.by_resource_server[provider.client_id]["scope"] == provider.scope

    # the consent includes the registered dependent scope (what the consent page showed)
    forest = (
        globus_sdk.AuthClient(
            authorizer=globus_sdk.AccessTokenAuthorizer(
                tokens.by_resource_server["auth.globus.org"]["access_token"]
            )
        )
        .get_consents(alice)
        .to_forest()
    )
    assert forest.meets_scope_requirements([f"{provider.scope}[{catalog.GROUPS_VIEW}]"])

    ap = confidential(provider.client_id, provider.secret)
    info = ap.oauth2_token_introspect(ap_token, include="identity_set")
    assert info["active"] is True and info["scope"] == provider.scope and info["identity_set"] == [str(alice)]
    assert info["sub"] == str(alice) and info["client_id"] == str(catalog.GLADIER_CLIENT_ID)

    dependent = ap.oauth2_get_dependent_tokens(ap_token)  # what the provider tools do: no scope, no refresh
    assert list(dependent.by_resource_server) == ["groups.api.globus.org"]
    groups_token = dependent.by_scopes[catalog.GROUPS_VIEW]
    assert "refresh_token" not in groups_token or groups_token["refresh_token"] is None
    groups = globus_sdk.GroupsClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(groups_token["access_token"])
    )
    assert [group["id"] for group in groups.get_my_groups()] == [str(team.id)]
    assert groups.get_group(team.id)["name"] == "team"
    # the dependent token is the provider's: it introspects it, and gets a refresh token when it asks
    assert ap.oauth2_token_introspect(groups_token["access_token"])["active"] is True
    offline = ap.oauth2_get_dependent_tokens(ap_token, refresh_tokens=True, scope=catalog.GROUPS_VIEW)
    refresh = offline.by_resource_server["groups.api.globus.org"]["refresh_token"]
    refreshed = ap.oauth2_refresh_token(refresh)
    assert refreshed["resource_server"] == "groups.api.globus.org" and refreshed["other_tokens"] == []

    # a dependent scope the person did not consent to: Globus Auth's error, which globus-sdk makes a GARE
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        ap.oauth2_get_dependent_tokens(ap_token, scope=catalog.TRANSFER_ALL)
    assert caught.value.http_status == 403
    gare = to_gare(caught.value)
    assert gare is not None and gare.authorization_parameters.required_scopes == [catalog.TRANSFER_ALL]

    # dependent tokens rest on the person's consent, not on the token presented: revoking that token (a
    # logout) leaves them working; taking the consent back revokes them
    native(catalog.GLADIER_CLIENT_ID).oauth2_revoke_token(ap_token)
    assert ap.oauth2_token_introspect(ap_token)["active"] is False
    assert ap.oauth2_token_introspect(groups_token["access_token"])["active"] is True
    assert ap.oauth2_token_introspect(refresh)["active"] is True
    root = consent_root(auth_server, alice, provider.scope)
    auth_server.db.transact(
        lambda conn: authorization.revoke_consent(
            conn, identity_id=alice, consent_id=root, now=auth_server.clock.now()
        )
    )
    assert ap.oauth2_token_introspect(groups_token["access_token"])["active"] is False
    assert ap.oauth2_token_introspect(refresh)["active"] is False
    with pytest.raises(globus_sdk.GroupsAPIError):
        list(groups.get_my_groups())


def consent_root(auth_server: AuthServer, identity_id: Any, scope: str) -> int:
    """The id of the person's root consent to `scope`."""
    with auth_server.db.read() as conn:
        rows = list_consents(conn, identity_id)
    [root] = [int(row.id) for row in rows if row.parent_id is None and row.scope_string == scope]
    return root


def test_provider_sees_only_its_own_tokens(auth_server: AuthServer) -> None:
    provider = register_provider(auth_server)
    alice = auth_server.person("alice")
    tokens = user_tokens(auth_server, alice, ["openid", catalog.TRANSFER_ALL, provider.scope])
    transfer_token = tokens.by_resource_server["transfer.api.globus.org"]["access_token"]
    ap = confidential(provider.client_id, provider.secret)
    assert ap.oauth2_token_introspect(transfer_token).data == {"active": False}
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        ap.oauth2_get_dependent_tokens(transfer_token)
    assert caught.value.http_status == 403
    # another confidential client does not see the provider's tokens either
    other = provider.developer.create_client(
        "Other", project=provider.project_id, client_type="confidential_client"
    )["client"]
    secret = provider.developer.create_client_credential(other["id"], "x")["credential"]["secret"]
    ap_token = tokens.by_resource_server[provider.client_id]["access_token"]
    assert confidential(other["id"], secret).oauth2_token_introspect(ap_token).data == {"active": False}
    assert ap.oauth2_token_introspect(ap_token)["active"] is True


def test_developer_api_needs_manage_projects(auth_server: AuthServer) -> None:
    provider = register_provider(auth_server)
    mallory = auth_server.person("mallory")
    tokens = user_tokens(auth_server, mallory, ["openid", "profile", catalog.MANAGE_PROJECTS])
    plain = user_tokens(auth_server, mallory, ["openid", "profile"])
    weak = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            plain.by_resource_server["auth.globus.org"]["access_token"]
        )
    )
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        weak.create_project("x", "x@example.org")
    assert caught.value.http_status == 403
    assert (
        weak.get_scopes(scope_strings=[provider.scope])["scopes"][0]["id"] == provider.scope_id
    )  # reading is open
    strong = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            tokens.by_resource_server["auth.globus.org"]["access_token"]
        )
    )
    assert list(strong.get_projects()) == [] and list(strong.get_clients()) == []
    for call in (
        lambda: strong.get_client(client_id=provider.client_id),
        lambda: strong.create_client_credential(provider.client_id, "stolen"),
        lambda: strong.create_scope(provider.client_id, "x", "x", "sneaky"),
        lambda: strong.delete_project(provider.project_id),
    ):
        with pytest.raises(globus_sdk.AuthAPIError) as caught:
            call()
        assert caught.value.http_status == 403
