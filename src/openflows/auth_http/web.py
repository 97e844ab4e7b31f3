"""Where people sign in and consent, the Globus Auth way (browser pages, server-rendered, no scripts).

- `GET /v2/oauth2/authorize`: the request is checked by `auth.authorization.check_request`; an error that may
  go back to the app is redirected there (`error`, `error_description`, `state`), any other is shown. With no
  sign-in session (or `prompt=login`, or a `session_required_identities`/`_single_domain` the session does not
  meet) the sign-in page is shown; `session_required_mfa=true` and `session_required_policies` cannot be met
  here and are refused with a page. Then the consent page lists what the app asks for, dependent scopes
  included (`describe`), unless the person already consented (`already_consented`). Allow → `approve` →
  `redirect_uri?code=…&state=…`; Deny → `redirect_uri?error=access_denied&state=…`.
- `POST /v2/web/signin` (username + password of a local account, rate-limited),
  `POST /v2/web/signin/upstream` → the upstream provider → `GET /v2/web/upstream/callback`,
  `POST /v2/web/signin/local` (the local administrator, loopback only). Each ends in
  `sessions.start_session` and a redirect to `next`, which can only be this server's authorize endpoint (no
  open redirect).
- `POST /v2/web/consent`, `GET /v2/web/auth-code` (the code for apps using the display redirect),
  `GET /v2/web/logout` + `POST /v2/web/signout`.

Cookies: the session (`openflows_auth`: random, stored hashed, HttpOnly, SameSite=Lax, Secure on https); the
CSRF token (`openflows_csrf`, echoed in a hidden field of every form and compared, plus an `Origin`/`Referer`
check); the pending upstream sign-in (`openflows_upstream`, 10 minutes, only under `/v2/web/upstream`).
Network calls to the upstream provider happen outside database transactions.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..auth import accounts, authorization, ratelimit, sessions
from ..auth.tokens import Authenticator
from ..auth.upstream import PendingLogin, UpstreamConfig, UpstreamError, UpstreamProvider, link_identity
from ..settings import Settings
from ..store.db import Database
from . import pages
from .local_admin import local_admin_token
from .origins import same_origin
from .session_rules import SessionRules, unmet_requirement

log = logging.getLogger(__name__)

AUTH_COOKIE = "openflows_auth"
CSRF_COOKIE = "openflows_csrf"
UPSTREAM_COOKIE = "openflows_upstream"
AUTHORIZE_PATH = "/v2/oauth2/authorize"
UPSTREAM_CALLBACK_PATH = "/v2/web/upstream/callback"
#: how long a started upstream sign-in may take
UPSTREAM_COOKIE_SECONDS = 600  # seconds
#: largest form body read (the consent form carries the whole authorize query)
MAX_FORM_BYTES = 64 * 1024  # bytes


@dataclasses.dataclass
class Web:
    """What the pages need; built by `create_web_router`."""

    db: Database
    settings: Settings
    home: Path
    authenticator: Authenticator
    upstream: UpstreamProvider | None
    limits: ratelimit.SignInLimits
    now: Callable[[], dt.datetime]

    @property
    def session_lifetime(self) -> dt.timedelta:
        return dt.timedelta(hours=self.settings.session_hours)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- cookies, forms, redirects ------------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    """Whether cookies get `Secure`: the request came over https, or the service is advertised on https
    (behind a TLS-terminating proxy)."""
    return request.url.scheme == "https" or str(
        request.app.state.service.settings.public_url or ""
    ).startswith("https://")


def _html(text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={**pages.PAGE_HEADERS, **(headers or {})})


def _csrf_token(request: Request) -> str:
    token = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(token) <= 100:
        return token
    cached = getattr(request.state, "new_csrf", None)
    if cached is None:
        cached = request.state.new_csrf = secrets.token_urlsafe(32)
    return cached


def _finish(request: Request, response: Response) -> Response:
    """Set the CSRF cookie on the response if this request made one."""
    token = getattr(request.state, "new_csrf", None)
    if token is not None:
        response.set_cookie(
            CSRF_COOKIE, token, path="/", httponly=True, samesite="strict", secure=_secure(request)
        )
    return response


def _set_session_cookie(request: Request, response: Response, cookie: str, lifetime: dt.timedelta) -> None:
    response.set_cookie(
        AUTH_COOKIE,
        cookie,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _form_ok(request: Request, web: Web, form: Mapping[str, str]) -> bool:
    """The CSRF token matches the cookie and the form was posted from this server's pages."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    presented = form.get("csrf", "")
    matches = bool(cookie) and hmac.compare_digest(cookie.encode(), presented.encode())
    return matches and same_origin(request, web.settings.public_url)


def _forbidden_form(request: Request) -> Response:
    text = "This form expired or did not come from this site. Go back, reload the page and try again."
    return _finish(request, _html(pages.message_page("Please try again", text, error=True), 403))


def safe_next(value: str | None) -> str | None:
    """`value` when it is this server's authorize endpoint (a path with a query, nothing else), else None."""
    if not value or len(value) > 16 * 1024 or "\\" in value or any(ord(c) < 32 for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != AUTHORIZE_PATH or value.startswith("//"):
        return None
    return value


def _without_prompt_login(next_url: str) -> str:
    """The authorize URL to resume after a fresh sign-in: `prompt=login` has been honoured."""
    parts = urlsplit(next_url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not (k == "prompt" and v == "login")
    ]
    return f"{parts.path}?{urlencode(query)}"


def _after_sign_in(next_url: str | None) -> str:
    return _without_prompt_login(next_url) if next_url else "/v2/web/signed-in"


def redirect_to_client(redirect_uri: str, params: Mapping[str, str | None]) -> RedirectResponse:
    """A 302 to the app's (already validated) redirect URI with `params` added to its query."""
    query = {k: v for k, v in params.items() if v is not None}
    location = authorization.add_query(redirect_uri, query)
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})


# --- the pieces of the authorize flow -----------------------------------------------------------------------


def _local_admin_token(request: Request, web: Web) -> str | None:
    return local_admin_token(request, web.home, enabled=web.settings.local_admin_signin)


def _methods(request: Request, web: Web) -> pages.Methods:
    return pages.Methods(
        password=web.settings.local_accounts,
        upstream=web.upstream.config.display_name if web.upstream else None,
        local_admin=_local_admin_token(request, web) is not None,
    )


def _sign_in_page(
    request: Request,
    web: Web,
    *,
    next_url: str | None,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    headers: Mapping[str, str] | None = None,
) -> Response:
    message = app_name = None
    if next_url:
        query = dict(parse_qsl(urlsplit(next_url).query))
        message = query.get("session_message") or None
        rules = SessionRules.parse(query)
        if rules.identities or rules.single_domain:
            message = (message + " " if message else "") + rules.explain()
        app_name = _app_name(request, web, query)
    text = pages.sign_in_page(
        methods=_methods(request, web),
        csrf=_csrf_token(request),
        next_url=next_url or "",
        username=username,
        error=error,
        message=message,
        app_name=app_name,
    )
    return _finish(request, _html(text, status, headers))


def _app_name(request: Request, web: Web, query: Mapping[str, str]) -> str | None:
    checked = _check(request, web, query)
    return checked.client_name if isinstance(checked, authorization.AuthorizeRequest) else None


def _current(request: Request, web: Web) -> sessions.SignedIn | None:
    with web.db.read() as conn:
        return sessions.current_session(conn, request.cookies.get(AUTH_COOKIE), now=web.now())


def _request_error(request: Request, error: authorization.AuthorizeError) -> Response:
    if error.redirect_uri:
        return redirect_to_client(
            error.redirect_uri,
            {"error": error.error, "error_description": error.description, "state": error.state},
        )
    text = f"This sign-in link cannot be used: {error.description}"
    return _finish(request, _html(pages.message_page("Invalid request", text, error=True), 400))


def _consent_lines(described: list[Any]) -> list[pages.ScopeLine]:
    def line(item: Any) -> pages.ScopeLine:
        return pages.ScopeLine(
            name=item.name,
            description=item.description,
            scope_string=item.scope_string,
            resource_server=item.resource_server,
            optional=item.optional,
            dependencies=tuple(line(dep) for dep in item.dependencies),
        )

    return [line(item) for item in described]


def _approve(web: Web, checked: authorization.AuthorizeRequest, signed_in: sessions.SignedIn) -> Response:
    def approve(conn: Any) -> str:
        return authorization.approve(
            conn,
            identity_id=signed_in.identity_id,
            client_id=checked.client_id,
            session_id=signed_in.session_id,
            requested=checked.requested,
            redirect_uri=checked.redirect_uri,
            code_challenge=checked.code_challenge,
            code_challenge_method=checked.code_challenge_method,
            nonce=checked.nonce,
            access_type=checked.access_type,
            now=web.now(),
            lifetime=dt.timedelta(seconds=web.settings.auth_code_seconds),
        )

    code = web.db.transact(approve)
    return redirect_to_client(checked.redirect_uri, {"code": code, "state": checked.state})


def authorize_flow(request: Request, web: Web, query: Mapping[str, str], *, consent_shown: bool) -> Response:
    """Everything `GET /v2/oauth2/authorize` does after parsing (also used to re-check a consent form)."""
    checked = _check(request, web, query)
    if isinstance(checked, authorization.AuthorizeError):
        return _request_error(request, checked)
    next_url = f"{AUTHORIZE_PATH}?{urlencode(query)}"
    signed_in = _current(request, web)
    if signed_in is None or query.get("prompt") == "login":
        return _sign_in_page(request, web, next_url=next_url)
    rules = SessionRules.parse(query)
    unmet = unmet_requirement(rules, signed_in)
    if unmet is not None:
        if unmet.can_sign_in_again:
            return _sign_in_page(request, web, next_url=next_url, error=unmet.message)
        return _finish(request, _html(pages.message_page("Cannot continue", unmet.message, error=True), 400))
    if not consent_shown:
        with web.db.read() as conn:
            consented = query.get("prompt") != "consent" and authorization.already_consented(
                conn, signed_in.identity_id, checked.client_id, checked.requested
            )
            described = [] if consented else authorization.describe(conn, checked.requested)
        if not consented:
            text = pages.consent_page(
                app_name=checked.client_name,
                username=signed_in.username,
                lines=_consent_lines(described),
                csrf=_csrf_token(request),
                request_query=urlencode(query),
                offline=checked.access_type == "offline",
            )
            return _finish(request, _html(text))
    return _approve(web, checked, signed_in)


# --- the router ---------------------------------------------------------------------------------------------


def create_web_router(
    db: Database,
    settings: Settings,
    authenticator: Authenticator,
    *,
    home: Path | None = None,
    upstream: UpstreamProvider | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> APIRouter:
    """The sign-in and consent pages. `upstream` defaults to the provider configured in `settings`."""
    if upstream is None:
        config = UpstreamConfig.from_settings(settings)
        upstream = UpstreamProvider(config) if config is not None else None
    web = Web(
        db=db,
        settings=settings,
        home=home or settings.home,
        authenticator=authenticator,
        upstream=upstream,
        limits=ratelimit.SignInLimits(
            per_user=settings.signin_max_failures,
            per_address=settings.signin_max_failures_per_address,
            window=dt.timedelta(seconds=settings.signin_window_seconds),
        ),
        now=now,
    )
    router = APIRouter(include_in_schema=False)

    @router.get(AUTHORIZE_PATH)
    async def authorize(request: Request) -> Response:
        query = dict(request.query_params)
        return await run_in_threadpool(authorize_flow, request, web, query, consent_shown=False)

    @router.get("/v2/web/signin")
    async def sign_in_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
        return await run_in_threadpool(_sign_in_page, request, web, next_url=safe_next(next))

    @router.post("/v2/web/signin")
    async def sign_in_with_password(request: Request) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_password_sign_in, request, web, form)

    @router.post("/v2/web/signin/local")
    async def sign_in_local_admin(request: Request) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_local_admin_sign_in, request, web, form)

    @router.post("/v2/web/signin/upstream")
    async def sign_in_upstream(request: Request) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_upstream_begin, request, web, form)

    @router.get(UPSTREAM_CALLBACK_PATH)
    async def upstream_callback(request: Request) -> Response:
        return await run_in_threadpool(_upstream_finish, request, web, dict(request.query_params))

    @router.post("/v2/web/consent")
    async def consent(request: Request) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_consent, request, web, form)

    @router.get("/v2/web/auth-code")
    def auth_code(
        code: str | None = None, error: str | None = None, error_description: str | None = None
    ) -> Response:
        return _html(pages.auth_code_page(code=code, error=error, description=error_description))

    @router.get("/v2/web/signed-in")
    async def signed_in(request: Request) -> Response:
        current = await run_in_threadpool(_current, request, web)
        if current is None:
            return RedirectResponse("/v2/web/signin", status_code=303)
        return _finish(
            request, _html(pages.signed_in_page(username=current.username, csrf=_csrf_token(request)))
        )

    @router.get("/v2/web/logout")
    async def logout_page(request: Request) -> Response:
        current = await run_in_threadpool(_current, request, web)
        text = pages.sign_out_page(username=current.username if current else None, csrf=_csrf_token(request))
        return _finish(request, _html(text))

    @router.post("/v2/web/signout")
    async def sign_out(request: Request) -> Response:
        form = await _form(request)
        if not _form_ok(request, web, form):
            return _forbidden_form(request)
        await run_in_threadpool(end_browser_session, web, request)
        response = _html(
            pages.message_page("Signed out", "You are signed out.", link=("/ui", "Open the dashboard"))
        )
        response.delete_cookie(AUTH_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
        return response

    return router


def end_browser_session(web: Web, request: Request) -> None:
    web.db.transact(lambda conn: sessions.end_session(conn, request.cookies.get(AUTH_COOKIE), now=web.now()))


def base_url(request: Request, web: Web) -> str:
    """The service's base URL, ending with "/" (`settings.public_url`, else the request's)."""
    return (web.settings.public_url or str(request.base_url)).rstrip("/") + "/"


def _check(request: Request, web: Web, query: Mapping[str, str]) -> Any:
    with web.db.read() as conn:
        return authorization.check_request(conn, query, base_url=base_url(request, web))


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _signed_in_response(
    request: Request, web: Web, identity_id: Any, method: str, idp: str, next_url: str | None
) -> Response:
    def start(conn: Any) -> str:
        sessions.end_session(conn, request.cookies.get(AUTH_COOKIE), now=web.now())
        cookie, _ = sessions.start_session(
            conn,
            identity_id=identity_id,
            method=method,
            idp=idp,
            now=web.now(),
            lifetime=web.session_lifetime,
        )
        return cookie

    cookie = web.db.transact(start)
    response = RedirectResponse(
        _after_sign_in(next_url), status_code=303, headers={"Cache-Control": "no-store"}
    )
    _set_session_cookie(request, response, cookie, web.session_lifetime)
    return response


def _password_sign_in(request: Request, web: Web, form: Mapping[str, str]) -> Response:
    next_url = safe_next(form.get("next"))
    if not _form_ok(request, web, form):
        return _forbidden_form(request)
    if not web.settings.local_accounts:
        return _sign_in_page(
            request, web, next_url=next_url, status=403, error="Password sign-in is turned off here."
        )
    username = form.get("username", "").strip()
    password = form.get("password", "")
    address = _client_address(request)

    with web.db.read() as conn:  # the limit first: a limited attempt costs no hashing
        wait = ratelimit.retry_after(conn, web.limits, username=username, address=address, now=web.now())
        account = accounts.find_account(conn, username) if wait is None else None
    identity = None
    if wait is None:
        matches = bool(username and password) and accounts.password_matches(account, password)
        identity = account if matches else None

        def record(conn: Any) -> None:
            if identity is None:
                ratelimit.record_failure(conn, web.limits, username=username, address=address, now=web.now())
            else:
                ratelimit.record_success(conn, username=username, address=address)
                accounts.upgrade_hash(conn, identity, password, now=web.now())

        web.db.transact(record)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return _sign_in_page(
            request,
            web,
            next_url=next_url,
            status=429,
            username=username,
            error=f"Too many failed sign-ins. Try again in about {minutes} {unit}.",
            headers={"Retry-After": str(wait)},
        )
    if identity is None:
        log.info("failed password sign-in for a local account from %s", address)
        return _sign_in_page(
            request,
            web,
            next_url=next_url,
            status=401,
            username=username,
            error="Wrong username or password.",
        )
    return _signed_in_response(
        request, web, identity.identity_id, sessions.PASSWORD, sessions.LOCAL_IDP, next_url
    )


def _local_admin_sign_in(request: Request, web: Web, form: Mapping[str, str]) -> Response:
    next_url = safe_next(form.get("next"))
    if not _form_ok(request, web, form):
        return _forbidden_form(request)
    token = _local_admin_token(request, web)
    principal = web.authenticator.authenticate(token) if token else None
    if principal is None:
        text = "The local administrator can sign in only on this machine."
        return _finish(request, _html(pages.message_page("Not available", text, error=True), 403))
    return _signed_in_response(
        request, web, principal.identity_id, sessions.LOCAL_ADMIN, sessions.LOCAL_IDP, next_url
    )


def _upstream_redirect_uri(request: Request, web: Web) -> str:
    return base_url(request, web).rstrip("/") + UPSTREAM_CALLBACK_PATH


def _upstream_begin(request: Request, web: Web, form: Mapping[str, str]) -> Response:
    next_url = safe_next(form.get("next"))
    if not _form_ok(request, web, form):
        return _forbidden_form(request)
    if web.upstream is None:
        return _sign_in_page(
            request, web, next_url=next_url, status=404, error="No identity provider is configured."
        )
    try:
        pending = web.upstream.begin(_upstream_redirect_uri(request, web))
    except UpstreamError as exc:
        log.warning("upstream sign-in could not start: %s (%s)", exc, exc.code)
        return _sign_in_page(request, web, next_url=next_url, status=502, error=str(exc))
    remembered = {"s": pending.state, "n": pending.nonce, "v": pending.code_verifier, "next": next_url}
    response = RedirectResponse(pending.url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        UPSTREAM_COOKIE,
        base64.urlsafe_b64encode(json.dumps(remembered).encode()).decode(),
        max_age=UPSTREAM_COOKIE_SECONDS,
        path=UPSTREAM_CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


def _pending(request: Request) -> tuple[PendingLogin | None, str | None]:
    raw = request.cookies.get(UPSTREAM_COOKIE, "")
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        pending = PendingLogin(
            url="", state=str(data["s"]), nonce=str(data["n"]), code_verifier=str(data["v"])
        )
    except (ValueError, KeyError, TypeError):
        return None, None
    return pending, safe_next(data.get("next"))


def _upstream_finish(request: Request, web: Web, params: Mapping[str, str]) -> Response:
    pending, next_url = _pending(request)
    if web.upstream is None:
        return _html(
            pages.message_page("Not available", "No identity provider is configured.", error=True), 404
        )
    try:
        person = web.upstream.finish(params, pending, redirect_uri=_upstream_redirect_uri(request, web))
    except UpstreamError as exc:
        log.warning("upstream sign-in refused: %s (%s)", exc, exc.code)
        retry = f"/v2/web/signin?{urlencode({'next': next_url})}" if next_url else "/v2/web/signin"
        response = _html(
            pages.message_page("Sign-in failed", str(exc), error=True, link=(retry, "Try again")), 400
        )
        response.delete_cookie(UPSTREAM_COOKIE, path=UPSTREAM_CALLBACK_PATH)
        return response
    identity = web.db.transact(lambda conn: link_identity(conn, person, now=web.now()))
    response = _signed_in_response(request, web, identity.id, sessions.UPSTREAM, person.issuer, next_url)
    response.delete_cookie(UPSTREAM_COOKIE, path=UPSTREAM_CALLBACK_PATH)
    return response


def _consent(request: Request, web: Web, form: Mapping[str, str]) -> Response:
    if not _form_ok(request, web, form):
        return _forbidden_form(request)
    query = dict(parse_qsl(form.get("request", ""), keep_blank_values=True))
    checked = _check(request, web, query)
    if isinstance(checked, authorization.AuthorizeError):
        return _request_error(request, checked)
    if "allow" not in form:
        # deny (or neither button): the app learns that the person said no
        return redirect_to_client(
            checked.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "The user denied the request",
                "state": checked.state,
            },
        )
    query.pop("prompt", None)  # consent was just given; a prompt=login was honoured before the page
    return authorize_flow(request, web, query, consent_shown=True)
