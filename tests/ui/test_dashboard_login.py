"""The dashboard as an OAuth client of its own server (the whole server app, TestClient): /ui/login → the
authorize pages → /ui/callback → a dashboard session holding a Flows token and a Timers token; state
enforced; denial; sign-out revokes those tokens and ends the sign-in session."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from auth_http.kit import hidden
from openflows.auth import accounts
from openflows.auth.catalog import DASHBOARD_CLIENT_ID, TIMERS_TIMER
from openflows.server import build_server
from openflows.settings import Settings
from openflows.ui.login import LOGIN_COOKIE
from openflows.ui.sessions import COOKIE_NAME

ORIGIN = "http://testserver"
FLOWS_ALL = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"
PASSWORD = "a long enough password"


@pytest.fixture
def server(settings: Settings) -> Iterator[Any]:
    built = build_server(settings, run_executor=False)
    built.db.transact(
        lambda conn: accounts.add_account(
            conn, username="alice", password=PASSWORD, now=built.app.state.service.now()
        )
    )
    try:
        yield built
    finally:
        built.db.dispose()


@pytest.fixture
def client(server: Any) -> Iterator[TestClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        with TestClient(server.app, follow_redirects=False) as test_client:
            yield test_client


def query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def to_consent(client: TestClient) -> tuple[str, str]:
    """/ui/login → the sign-in page → signed in; return (the consent page, the state sent)."""
    login = client.get("/ui/login")
    assert login.status_code == 303
    authorize = login.headers["location"]
    sent = query(authorize)
    assert authorize.startswith("/v2/oauth2/authorize?")
    assert sent["client_id"] == str(DASHBOARD_CLIENT_ID)
    assert sent["redirect_uri"] == "http://testserver/ui/callback"
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_COOKIE}=") and "HttpOnly" in cookie and "Path=/ui/callback" in cookie
    page = client.get(authorize)
    form = {
        "csrf": hidden(page.text, "csrf"),
        "next": hidden(page.text, "next"),
        "username": "alice",
        "password": PASSWORD,
    }
    signed = client.post("/v2/web/signin", data=form, headers={"Origin": ORIGIN})
    assert signed.status_code == 303
    consent = client.get(signed.headers["location"])
    assert "Allow OpenFlows dashboard?" in consent.text
    return consent.text, sent["state"]


def decide(client: TestClient, consent: str, button: str) -> Any:
    form = {"csrf": hidden(consent, "csrf"), "request": hidden(consent, "request"), button: button}
    answer = client.post("/v2/web/consent", data=form, headers={"Origin": ORIGIN})
    assert answer.status_code == 302
    return answer


def test_the_dashboard_signs_in_through_the_authorize_pages(client: TestClient, server: Any) -> None:
    consent, state = to_consent(client)
    back = decide(client, consent, "allow")
    assert back.headers["location"].startswith("http://testserver/ui/callback?")
    assert query(back.headers["location"])["state"] == state
    landed = client.get(back.headers["location"])
    assert landed.status_code == 303
    assert landed.headers["location"] == "/ui#/signed-in"
    session = client.get("/ui/session").json()
    assert session["signed_in"] is True and session["username"] == "alice"
    assert client.get("/flows").status_code == 200
    token = server.app.state.ui_sessions.get_session(client.cookies[COOKIE_NAME]).token
    principal = server.authenticator.authenticate(token)
    assert principal is not None and principal.has_scope(
        "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/run"
    )
    # the Timers page's token comes with it, and the bridge uses it for the Timers API only
    timers_token = server.app.state.ui_sessions.get_session(client.cookies[COOKIE_NAME]).timers_token
    timers_principal = server.authenticator.authenticate(timers_token)
    assert timers_principal is not None and timers_principal.has_scope(TIMERS_TIMER)
    assert not principal.has_scope(TIMERS_TIMER) and not timers_principal.has_scope(FLOWS_ALL)
    assert client.get("/jobs/").json() == {"jobs": []}

    # signing in again needs no consent any more: straight back to the dashboard
    again = client.get(client.get("/ui/login").headers["location"])
    assert again.status_code == 302 and again.headers["location"].startswith("http://testserver/ui/callback?")

    out = client.delete("/ui/session", headers={"Origin": ORIGIN, "X-CSRF-Token": session["csrf"]})
    assert out.status_code == 200
    assert server.authenticator.authenticate(token) is None  # the dashboard's tokens are revoked
    assert server.authenticator.authenticate(timers_token) is None
    assert client.get("/jobs/").status_code == 401
    assert client.get("/flows").status_code == 401
    authorize = client.get(client.get("/ui/login").headers["location"])
    assert 'name="password"' in authorize.text  # the sign-in session ended too


def test_the_callback_enforces_the_state(client: TestClient) -> None:
    consent, _ = to_consent(client)
    back = decide(client, consent, "allow")
    forged = back.headers["location"].replace("state=", "state=x")
    refused = client.get(forged)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/ui#/signin?message=")
    assert client.get("/ui/session").json()["signed_in"] is False
    without_cookie = TestClient(client.app, follow_redirects=False)
    assert without_cookie.get(back.headers["location"]).headers["location"].startswith("/ui#/signin?")


def test_denying_the_dashboard_says_so(client: TestClient) -> None:
    consent, _ = to_consent(client)
    back = decide(client, consent, "deny")
    landed = client.get(back.headers["location"])
    assert "You+did+not+allow+the+dashboard" in landed.headers["location"]
    assert client.get("/ui/session").json()["signed_in"] is False


def test_a_pasted_token_is_not_revoked_at_sign_out(client: TestClient, server: Any) -> None:
    from openflows.auth import tokens
    from openflows.store.identities import ensure_identity

    def make(conn: Any) -> str:
        identity = ensure_identity(conn, "carol", now=server.app.state.service.now())
        return tokens.create_token(conn, identity_id=identity.id, now=server.app.state.service.now())[0]

    token = server.db.transact(make)
    signed = client.post("/ui/session", json={"token": token}, headers={"Origin": ORIGIN})
    csrf = signed.json()["csrf"]
    client.delete("/ui/session", headers={"Origin": ORIGIN, "X-CSRF-Token": csrf})
    assert server.authenticator.authenticate(token) is not None
