"""The built-in catalog: resource-server names as globus-sdk stores tokens, stable scope ids, and
`ensure_catalog` writing scopes and clients idempotently."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from openflows.auth import builtins, catalog, scope_registry
from openflows.auth.scopes import ALL, flow_scope
from openflows.store import auth_clients
from openflows.store.db import Database
from openflows.store.schema import auth_scopes, identities, oauth_clients

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def test_resource_servers_are_named_as_globus_sdk_names_them() -> None:
    flow_id = uuid.uuid4()
    assert catalog.resource_server_of(ALL) == "flows.globus.org"
    assert catalog.resource_server_of(catalog.COMPUTE_ALL) == "funcx_service"
    assert catalog.resource_server_of(catalog.TIMERS_TIMER) == "524230d7-ea86-4a52-8312-86065a9e0417"
    assert catalog.resource_server_of(flow_scope(flow_id)) == str(flow_id)
    assert catalog.resource_server_of("openid") == "auth.globus.org"
    assert catalog.resource_server_of(catalog.GROUPS_VIEW) == "groups.api.globus.org"
    assert catalog.resource_server_of("urn:globus:auth:scope:example.org:all") == "example.org"
    client = uuid.uuid4()
    assert catalog.resource_server_of(f"https://auth.globus.org/scopes/{client}/x") == str(client)


def test_scope_ids_are_stable() -> None:
    by_string = {scope.scope_string: scope.scope_id for scope in catalog.SCOPES}
    assert by_string[catalog.GROUPS_VIEW] == uuid.UUID("73320ffe-4cb4-4b25-a0a3-83d53d59ce4f")
    assert by_string[ALL] == uuid.uuid5(uuid.NAMESPACE_URL, ALL)
    assert len(set(by_string.values())) == len(by_string)


def test_ensure_catalog_is_idempotent_and_follows_the_public_url(db: Database) -> None:
    db.transact(lambda conn: builtins.ensure_catalog(conn, now=NOW, base_url="http://a.example/"))
    db.transact(lambda conn: builtins.ensure_catalog(conn, now=NOW, base_url="https://b.example/"))
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(auth_scopes)).scalar() == len(
            catalog.SCOPES
        )
        cli = auth_clients.get_client(conn, catalog.GLOBUS_CLI_TEMPLATE_ID)
        assert cli.redirect_uris == ["https://b.example/v2/web/auth-code"]
        assert cli.public_client and cli.builtin
        dashboard = auth_clients.get_client(conn, catalog.DASHBOARD_CLIENT_ID)
        assert dashboard.redirect_uris == ["https://b.example/ui/callback"]
        usernames = conn.execute(
            sa.select(identities.c.username).where(identities.c.id == catalog.GLADIER_CLIENT_ID)
        ).scalar()
        assert usernames == f"{catalog.GLADIER_CLIENT_ID}@clients.auth.globus.org"
        assert conn.execute(sa.select(sa.func.count()).select_from(oauth_clients)).scalar() == len(
            catalog.CLIENTS
        )
        resolved = scope_registry.resolve(conn, [catalog.GROUPS_VIEW, "nonsense", flow_scope(uuid.uuid4())])
    assert list(resolved) == [catalog.GROUPS_VIEW]  # unknown strings and flows that do not exist are absent
    assert resolved[catalog.GROUPS_VIEW].stored


def test_built_in_scopes_resolve_before_they_are_stored(db: Database) -> None:
    with db.read() as conn:
        info = scope_registry.resolve(conn, [catalog.COMPUTE_ALL])[catalog.COMPUTE_ALL]
    assert not info.stored and info.resource_server == "funcx_service"
    assert info.owner == uuid.UUID(catalog.COMPUTE_CLIENT_ID)
