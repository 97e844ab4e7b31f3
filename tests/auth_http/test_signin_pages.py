"""`GET /v2/oauth2/authorize` and the sign-in, consent, auth-code and sign-out pages, through the real app:
the whole person-facing flow, the page contract (input and button names, `auth-code`), and the security
rules (state returned, CSRF on every form, cookie flags, no open redirect, disabled accounts, prompt=login,
session_required_*)."""

from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa

from openflows.auth import accounts
from openflows.auth_http.web import AUTH_COOKIE, CSRF_COOKIE
from openflows.store.schema import auth_sessions, authorization_codes, local_accounts

from .conftest import APP_REDIRECT, ORIGIN, PASSWORD, SignIn, hidden, make_signin, query_of, sign_in


def consent_form(page: str) -> dict[str, str]:
    return {"csrf": hidden(page, "csrf"), "request": hidden(page, "request")}


def test_sign_in_consent_allow_gives_a_code_and_the_state(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice", name="Alice A.")
    url = signin.authorize_url()
    page = browser.get(url)
    assert page.status_code == 200
    assert '<input type="text" id="username" name="username"' in page.text
    assert '<input type="password" id="password" name="password"' in page.text
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    assert "<script" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no scripts
    assert "Example App" in page.text

    signed = sign_in(browser, signin, url, "alice")
    assert signed.status_code == 303
    assert signed.headers["location"] == url
    consent = browser.get(signed.headers["location"])
    assert consent.status_code == 200
    assert "Allow Example App?" in consent.text
    assert '<button type="submit" name="allow"' in consent.text
    assert '<button type="submit" name="deny"' in consent.text
    assert "eec9b274-0c81-4334-bdc2-54e90e689b9a/all" in consent.text  # what is asked, shown

    allowed = browser.post(
        "/v2/web/consent", data={**consent_form(consent.text), "allow": "allow"}, headers={"Origin": ORIGIN}
    )
    assert allowed.status_code == 302
    location = allowed.headers["location"]
    assert location.startswith(APP_REDIRECT + "?")
    answer = query_of(location)
    assert answer["state"] == "xyz"
    with signin.db.read() as conn:
        row = conn.execute(
            sa.select(authorization_codes).where(
                authorization_codes.c.code_hash == hashlib.sha256(answer["code"].encode()).hexdigest()
            )
        ).one()
    assert row.client_id == signin.client_id
    assert row.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert row.session_id is not None


def test_deny_sends_access_denied_with_the_state(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    url = signin.authorize_url(state="s-42")
    consent = browser.get(sign_in(browser, signin, url, "alice").headers["location"])
    denied = browser.post(
        "/v2/web/consent", data={**consent_form(consent.text), "deny": "deny"}, headers={"Origin": ORIGIN}
    )
    assert denied.status_code == 302
    answer = query_of(denied.headers["location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == "s-42"
    assert "code" not in answer


def test_session_cookie_flags(signin: SignIn) -> None:
    signin.add_user("alice")
    with signin.browser(base_url="https://testserver") as client:
        page = client.get(signin.authorize_url())
        csrf_cookie = page.headers["set-cookie"]
        assert csrf_cookie.startswith(f"{CSRF_COOKIE}=")
        assert "HttpOnly" in csrf_cookie and "SameSite=strict" in csrf_cookie and "Secure" in csrf_cookie
        form = {"csrf": hidden(page.text, "csrf"), "next": hidden(page.text, "next"), "username": "alice"}
        signed = client.post(
            "/v2/web/signin", data={**form, "password": PASSWORD}, headers={"Origin": "https://testserver"}
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith(f"{AUTH_COOKIE}=")
        for flag in ("HttpOnly", "SameSite=lax", "Secure", "Path=/", "Max-Age=43200"):
            assert flag in cookie, flag
        value = cookie.split(";")[0].split("=", 1)[1]
    with signin.db.read() as conn:  # stored hashed only
        hashes = [row.token_hash for row in conn.execute(sa.select(auth_sessions))]
    assert hashes == [hashlib.sha256(value.encode()).hexdigest()]
    with signin.browser() as plain:  # on http, not Secure
        page = plain.get(signin.authorize_url())
        assert "Secure" not in page.headers["set-cookie"]


def test_every_form_needs_the_csrf_token_and_this_origin(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    url = signin.authorize_url()
    page = browser.get(url)
    form = {"csrf": hidden(page.text, "csrf"), "next": url, "username": "alice", "password": PASSWORD}
    for bad in ({**form, "csrf": ""}, {**form, "csrf": "x" * 43}):
        refused = browser.post("/v2/web/signin", data=bad, headers={"Origin": ORIGIN})
        assert refused.status_code == 403
        assert AUTH_COOKIE not in refused.headers.get("set-cookie", "")
    foreign = browser.post("/v2/web/signin", data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert browser.post("/v2/web/signin", data=form).status_code == 403  # neither Origin nor Referer
    for path in ("/v2/web/signin/local", "/v2/web/signin/upstream", "/v2/web/signout", "/v2/web/consent"):
        assert browser.post(path, data={"csrf": "nope"}, headers={"Origin": ORIGIN}).status_code == 403, path

    consent = browser.get(sign_in(browser, signin, url, "alice").headers["location"])
    forged = {**consent_form(consent.text), "allow": "allow", "csrf": "forged-value-forged-value"}
    refused = browser.post("/v2/web/consent", data=forged, headers={"Origin": ORIGIN})
    assert refused.status_code == 403
    with signin.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(authorization_codes)).scalar() == 0


def test_wrong_passwords_are_rate_limited_by_username_then_allowed_again(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    url = signin.authorize_url()
    for _ in range(5):
        wrong = sign_in(browser, signin, url, "alice", password="not the password")
        assert wrong.status_code == 401
        assert "Wrong username or password." in wrong.text
    limited = sign_in(browser, signin, url, "alice")  # the right password, too late
    assert limited.status_code == 429
    assert "Too many failed sign-ins. Try again in about 15 minutes." in limited.text
    assert int(limited.headers["retry-after"]) == 900
    signin.clock.advance(600)
    again = sign_in(browser, signin, url, "alice")
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) == 300
    signin.clock.advance(301)
    assert sign_in(browser, signin, url, "alice").status_code == 303


def test_wrong_passwords_are_rate_limited_by_address(settings, db) -> None:  # type: ignore[no-untyped-def]
    signin = make_signin(settings, db, signin_max_failures_per_address=4)
    signin.add_user("zed")
    url = signin.authorize_url()
    with signin.browser() as client:
        for name in ("a", "b", "c", "d"):
            assert sign_in(client, signin, url, name, password="guess").status_code == 401
        limited = sign_in(client, signin, url, "zed")
        assert limited.status_code == 429
        assert "retry-after" in limited.headers


def test_unknown_user_and_wrong_password_look_the_same(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    url = signin.authorize_url()
    unknown = sign_in(browser, signin, url, "nobody", password="whatever1")
    wrong = sign_in(browser, signin, url, "alice", password="whatever1")
    assert unknown.status_code == wrong.status_code == 401
    strip = lambda text: re.sub(r'value="[^"]*"', "", text)  # noqa: E731  (the username is echoed back)
    assert strip(unknown.text) == strip(wrong.text)


def test_passwords_are_never_stored_in_clear_nor_logged(signin: SignIn, browser, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level("DEBUG")
    signin.add_user("alice")
    url = signin.authorize_url()
    sign_in(browser, signin, url, "alice", password="wrong-secret-123")
    assert sign_in(browser, signin, url, "alice").status_code == 303
    with signin.db.read() as conn:
        stored = conn.execute(sa.select(local_accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PASSWORD not in caplog.text and "wrong-secret-123" not in caplog.text


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    url = signin.authorize_url()
    assert sign_in(browser, signin, url, "alice").status_code == 303
    assert "Allow Example App?" in browser.get(url).text
    signin.db.transact(lambda conn: accounts.disable_account(conn, "alice", now=signin.clock.now()))
    assert '<input type="password"' in browser.get(url).text  # signed out: the sign-in page again
    refused = sign_in(browser, signin, url, "alice")
    assert refused.status_code == 401
    signin.db.transact(
        lambda conn: accounts.disable_account(conn, "alice", now=signin.clock.now(), enable=True)
    )
    assert sign_in(browser, signin, url, "alice").status_code == 303


def test_sign_in_never_redirects_off_site(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    for target in (
        "https://evil.example/v2/oauth2/authorize?x=1",
        "//evil.example/v2/oauth2/authorize",
        "/\\evil.example/v2/oauth2/authorize",
        "/ui/../v2/oauth2/authorize@evil.example",
        "javascript:alert(1)",
        "/v2/web/signout",
    ):
        page = browser.get("/v2/web/signin", params={"next": target})
        assert hidden(page.text, "next") == ""
        form = {"csrf": hidden(page.text, "csrf"), "next": target, "username": "alice", "password": PASSWORD}
        signed = browser.post("/v2/web/signin", data=form, headers={"Origin": ORIGIN})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/v2/web/signed-in", target
    assert "You are signed in as <strong>alice</strong>" in browser.get("/v2/web/signed-in").text


def test_errors_that_cannot_go_back_to_the_app_are_shown(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    unknown = browser.get(signin.authorize_url(client_id="00000000-0000-0000-0000-000000000000"))
    assert unknown.status_code == 400
    assert "location" not in unknown.headers
    elsewhere = browser.get(signin.authorize_url(redirect_uri="https://evil.example/cb"))
    assert elsewhere.status_code == 400
    assert "evil.example" not in elsewhere.headers.get("location", "")
    bad_scope = browser.get(signin.authorize_url(scope="a [b]"))  # a redirectable error
    assert bad_scope.status_code == 302
    answer = query_of(bad_scope.headers["location"])
    assert answer["error"] == "invalid_scope" and answer["state"] == "xyz"


def test_prompt_login_asks_again_once(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    signin.add_user("bob")
    url = signin.authorize_url()
    sign_in(browser, signin, url, "alice")
    forced = signin.authorize_url(prompt="login")
    assert '<input type="password"' in browser.get(forced).text
    signed = sign_in(browser, signin, forced, "bob")
    assert signed.status_code == 303
    assert "prompt" not in query_of(signed.headers["location"])
    consent = browser.get(signed.headers["location"])
    assert "Allow Example App?" in consent.text and "<strong>bob</strong>" in consent.text


def test_session_required_parameters(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    alice = signin.add_user("alice@uni.example")
    signin.add_user("bob@other.example")
    sign_in(browser, signin, signin.authorize_url(), "bob@other.example")
    mfa = browser.get(signin.authorize_url(session_required_mfa="True"))
    assert mfa.status_code == 400 and "multi-factor" in mfa.text
    policies = browser.get(signin.authorize_url(session_required_policies="p1,p2"))
    assert policies.status_code == 400 and "p1, p2" in policies.text
    assert "Allow Example App?" in browser.get(signin.authorize_url(session_required_mfa="False")).text
    wanted = signin.authorize_url(session_required_identities=str(alice.identity_id), session_message="Hi!")
    page = browser.get(wanted)
    assert '<input type="password"' in page.text
    assert "You are signed in as bob@other.example" in page.text and "Hi!" in page.text
    signed = sign_in(browser, signin, wanted, "alice@uni.example")
    assert "Allow Example App?" in browser.get(signed.headers["location"]).text
    domain = signin.authorize_url(session_required_single_domain="uni.example")
    assert "Allow Example App?" in browser.get(domain).text
    other = signin.authorize_url(session_required_single_domain="other.example")
    assert "This app needs an identity from: other.example." in browser.get(other).text


def test_the_auth_code_page_shows_the_code(browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.get("/v2/web/auth-code", params={"code": "abc<def>", "state": "_default"})
    assert page.status_code == 200
    assert '<code id="auth-code" class="auth-code">abc&lt;def&gt;</code>' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    error = browser.get("/v2/web/auth-code", params={"error": "access_denied", "error_description": "No."})
    assert 'id="auth-code"' not in error.text and "No." in error.text


def test_sign_out(signin: SignIn, browser) -> None:  # type: ignore[no-untyped-def]
    signin.add_user("alice")
    url = signin.authorize_url()
    consent = browser.get(sign_in(browser, signin, url, "alice").headers["location"])
    out = browser.post(
        "/v2/web/signout", data={"csrf": hidden(consent.text, "csrf")}, headers={"Origin": ORIGIN}
    )
    assert out.status_code == 200 and "You are signed out." in out.text
    assert '<input type="password"' in browser.get(url).text
    with signin.db.read() as conn:
        assert conn.execute(sa.select(auth_sessions.c.revoked_at)).scalar_one() is not None


def test_local_administrator_from_loopback_only(signin: SignIn) -> None:
    from openflows.auth import tokens
    from openflows.auth_http.local_admin import ADMIN_TOKEN_FILE
    from openflows.store.identities import ensure_identity

    def admin(conn):  # type: ignore[no-untyped-def]
        identity = ensure_identity(conn, "admin", now=signin.clock.now())
        return tokens.create_token(conn, identity_id=identity.id, now=signin.clock.now())[0]

    (signin.settings.home / ADMIN_TOKEN_FILE).write_text(signin.db.transact(admin) + "\n")
    url = signin.authorize_url()
    with signin.browser() as remote:
        page = remote.get(url)
        assert "local administrator" not in page.text
        form = {"csrf": hidden(page.text, "csrf"), "next": url}
        assert remote.post("/v2/web/signin/local", data=form, headers={"Origin": ORIGIN}).status_code == 403
    origin = "http://127.0.0.1:8765"
    with signin.browser(base_url=origin, client=("127.0.0.1", 40000)) as local:
        page = local.get(url)
        assert "Sign in as the local administrator" in page.text
        form = {"csrf": hidden(page.text, "csrf"), "next": hidden(page.text, "next")}
        signed = local.post("/v2/web/signin/local", data=form, headers={"Origin": origin})
        assert signed.status_code == 303
        assert "<strong>admin</strong>" in local.get(signed.headers["location"]).text


def test_no_method_configured_says_so(settings, db) -> None:  # type: ignore[no-untyped-def]
    signin = make_signin(settings, db, local_accounts=False)
    with signin.browser() as client:
        page = client.get(signin.authorize_url())
        assert 'name="password"' not in page.text
        assert "No sign-in method is available here." in page.text


def test_cookies_are_secure_behind_a_tls_proxy(settings, db) -> None:  # type: ignore[no-untyped-def]
    signin = make_signin(settings, db, public_url="https://flows.example.org/")
    with signin.browser() as client:  # plain http to the process, https outside
        page = client.get(signin.authorize_url())
        assert "Secure" in page.headers["set-cookie"]


def test_the_local_administrator_can_be_turned_off(settings, db) -> None:  # type: ignore[no-untyped-def]
    from openflows.auth_http.local_admin import ADMIN_TOKEN_FILE

    (settings.home / ADMIN_TOKEN_FILE).write_text("of_whatever\n")
    origin = "http://127.0.0.1:8765"
    for enabled in (True, False):
        signin = make_signin(settings, db, local_admin_signin=enabled)
        with signin.browser(base_url=origin, client=("127.0.0.1", 40000)) as local:
            page = local.get(signin.authorize_url())
            assert ("Sign in as the local administrator" in page.text) is enabled
            assert local.get("/ui/session").json()["local_sign_in"] is enabled


def test_a_redirect_uri_with_a_query_keeps_it(settings, db) -> None:  # type: ignore[no-untyped-def]
    from openflows.auth_http.web import redirect_to_client

    location = redirect_to_client("https://app.example.org/cb?x=1", {"code": "c", "state": None}).headers[
        "location"
    ]
    assert location == "https://app.example.org/cb?x=1&code=c"
