"""Sign-in through a real OpenID Connect provider (the `oidc-provider` npm package under Node, started by the
test) in headless Chromium: OpenFlows' authorize URL → OpenFlows' sign-in page → the provider's login and
consent pages → back to OpenFlows → OpenFlows' consent page → the code on the auth-code page. A second
sign-in of the same upstream person, after a restart of OpenFlows, gets the same identity. The app is
globus-sdk's `NativeAppAuthClient` (gladier's client id): PKCE, the display redirect, the code exchanged for
tokens, the ID token decoded, `userinfo`."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from e2e.crashkit import ServerProcess
from e2e.oidc_upstream import OidcProvider, upstream_sign_in

#: the public native client gladier ships with: it uses the display redirect (`{base}v2/web/auth-code`)
APP_CLIENT_ID = uuid.UUID("f1631610-d9e4-4db2-81ba-7f93ad4414e3")
FLOWS_ALL = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"
WAIT_MS = 20_000
ACCOUNTS = {
    "alice-sub-1": {"preferred_username": "alice", "name": "Alice Upstream", "email": "alice@uni.example"},
}

pytestmark = pytest.mark.slow


class Deployment:
    def __init__(self, server: ServerProcess, provider: OidcProvider) -> None:
        self.server = server
        self.provider = provider

    def database(self) -> Any:
        from openflows.store.db import Database

        return Database(self.server.database_url)

    def ensure_app_client(self) -> None:
        """The app whose authorize URL the test opens (registered by OpenFlows itself once built-in clients
        exist; inserted here otherwise)."""
        from openflows.store.identities import ensure_identity
        from openflows.store.schema import oauth_clients

        redirect = f"{self.server.url}v2/web/auth-code"

        def ensure(conn: Any) -> None:
            row = conn.execute(
                sa.select(oauth_clients.c.id).where(oauth_clients.c.id == APP_CLIENT_ID)
            ).first()
            if row is None:
                import datetime as dt

                now = dt.datetime.now(dt.UTC)
                identity = ensure_identity(conn, f"{APP_CLIENT_ID}@clients.auth.globus.org", now=now)
                conn.execute(
                    sa.insert(oauth_clients).values(
                        id=APP_CLIENT_ID,
                        identity_id=identity.id,
                        created_at=now,
                        name="Gladier Client",
                        public_client=True,
                        client_type="public_installed_client",
                        redirect_uris=[redirect],
                        builtin=True,
                    )
                )

        db = self.database()
        try:
            db.transact(ensure)
        finally:
            db.dispose()

    def auth_client(self) -> Any:
        """globus-sdk's native app client (gladier's id) pointed at this server."""
        import globus_sdk

        return globus_sdk.NativeAppAuthClient(APP_CLIENT_ID, base_url=self.server.url)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-upstream-"))
    home = workdir / "home"
    home.mkdir()
    server = ServerProcess(home, extra_env={"OPENFLOWS_LOG_LEVEL": "WARNING"})
    provider = OidcProvider(
        workdir, redirect_uris=[f"{server.url}v2/web/upstream/callback"], accounts=ACCOUNTS
    )
    provider.start()
    server.env.update(provider.env())
    try:
        server.start()
        deployment = Deployment(server, provider)
        deployment.ensure_app_client()
        yield deployment
    finally:
        server.stop()
        provider.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def sign_in_for_a_code(
    browser: Any, deployment: Deployment, url: str, screenshots: Path | None = None
) -> str:
    """Open the authorize URL in a fresh browser, sign in upstream, allow; return the code shown."""
    context = browser.new_context(viewport={"width": 900, "height": 760})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(url)
        page.get_by_role("heading", name="Sign in").wait_for()
        if screenshots is not None:
            page.screenshot(path=screenshots / "signin-page.png")
        upstream_sign_in(page, deployment.provider, "alice-sub-1")
        allow = page.get_by_role("button", name="Allow")
        code = page.locator("#auth-code")
        allow.or_(code).first.wait_for()
        if allow.is_visible():
            assert "Gladier Client" in page.locator("h1").text_content()
            assert FLOWS_ALL in page.locator("#requested-scopes").text_content()
            if screenshots is not None:
                page.screenshot(path=screenshots / "consent-page.png", full_page=True)
            allow.click()
        code.wait_for()
        assert page.url.startswith(f"{deployment.server.url}v2/web/auth-code?code=")
        return code.text_content().strip()
    finally:
        context.close()


def native_app_login(browser: Any, deployment: Deployment, screenshots: Path | None = None) -> Any:
    """globus-sdk's native app flow (PKCE, display redirect, refresh tokens) with the sign-in done in the
    browser; return the token response."""
    client = deployment.auth_client()
    client.oauth2_start_flow(requested_scopes=f"openid profile email {FLOWS_ALL}", refresh_tokens=True)
    url = client.oauth2_get_authorize_url()
    assert url.startswith(f"{deployment.server.url}v2/oauth2/authorize?")
    code = sign_in_for_a_code(browser, deployment, url, screenshots)
    return client.oauth2_exchange_code_for_tokens(code)


def test_upstream_sign_in_gives_tokens_and_the_same_identity_after_a_restart(
    chromium_browser: Any, deployment: Deployment, screenshots: Path
) -> None:
    import globus_sdk

    tokens = native_app_login(chromium_browser, deployment, screenshots)
    identity_id = tokens.decode_id_token()["sub"]
    assert "flows.globus.org" in tokens.by_resource_server
    auth_token = tokens.by_resource_server["auth.globus.org"]["access_token"]
    auth = globus_sdk.AuthClient(
        base_url=deployment.server.url, authorizer=globus_sdk.AccessTokenAuthorizer(auth_token)
    )
    me = auth.userinfo()
    assert me["sub"] == identity_id
    assert me["preferred_username"] == "alice"
    assert me["name"] == "Alice Upstream" and me["email"] == "alice@uni.example"

    deployment.server.stop()
    deployment.server.start()
    again = native_app_login(chromium_browser, deployment)
    assert again.decode_id_token()["sub"] == identity_id
    assert again.by_resource_server["auth.globus.org"]["access_token"] != auth_token
    person_id = uuid.UUID(identity_id)

    from openflows.store.schema import identity_links

    db = deployment.database()
    try:
        with db.read() as conn:
            links = conn.execute(sa.select(identity_links)).all()
    finally:
        db.dispose()
    assert [(link.issuer, link.subject, link.identity_id) for link in links] == [
        (deployment.provider.issuer, "alice-sub-1", person_id)
    ]


def test_the_dashboard_signs_in_through_the_upstream_provider(
    chromium_browser: Any, deployment: Deployment
) -> None:
    context = chromium_browser.new_context(base_url=deployment.server.url.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto("/ui#/runs")
        page.get_by_role("link", name="Sign in", exact=True).click()
        upstream_sign_in(page, deployment.provider, "alice-sub-1")
        allow = page.get_by_role("button", name="Allow")
        identity = page.locator(".identity", has_text="alice")
        allow.or_(identity).first.wait_for()
        if allow.is_visible():
            assert "OpenFlows dashboard" in page.locator("h1").text_content()
            allow.click()
        identity.wait_for()
        page.get_by_role("heading", name="Runs").wait_for()
        assert page.evaluate("location.hash") == "#/runs"
    finally:
        context.close()
