"""The dashboard signs in like any other app: it is a public OAuth client of its own server
(`catalog.DASHBOARD_CLIENT_ID`), using the authorization code grant with PKCE and the same sign-in and consent
pages as everyone else.

- `GET /ui/login`: a new PKCE verifier and `state`, kept in a short-lived HttpOnly cookie limited to
  `/ui/callback`, then a redirect to `/v2/oauth2/authorize` (redirect URI `<base>ui/callback`, the Flows
  `all` scope and the Timers scope).
- `GET /ui/callback`: the `state` must match the cookie's; the code is exchanged at this server's own token
  endpoint (in-process, through the ASGI app: the same code path as any client) and the dashboard session
  keeps the Flows access token, exactly as a pasted token, and the Timers access token for the Timers page.
  Then back to the page the person wanted (`/ui#/signed-in`; the page remembers its target). A refusal
  (`access_denied`) or a mismatch goes back to the sign-in page with a message.
- Signing out of the dashboard revokes the tokens it obtained this way (never a pasted token) and ends the
  sign-in session at the authorize pages too, so the next "Sign in" asks again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import catalog
from ..auth.scopes import FLOWS_CLIENT_ID

log = logging.getLogger(__name__)

#: the cookie that carries the PKCE verifier and state from /ui/login to /ui/callback
LOGIN_COOKIE = "openflows_ui_login"
CALLBACK_PATH = "/" + catalog.DASHBOARD_CALLBACK
#: how long a sign-in started at /ui/login may take
LOGIN_COOKIE_SECONDS = 900  # seconds
#: what the dashboard asks for: the Flows API, all of it, and the Timers API (the Timers page)
DASHBOARD_SCOPE = f"https://auth.globus.org/scopes/{FLOWS_CLIENT_ID}/all {catalog.TIMERS_TIMER}"
FLOWS_RESOURCE_SERVER = "flows.globus.org"

router = APIRouter(include_in_schema=False)


def base_url(request: Request) -> str:
    """This server's base URL, ending with "/" (the advertised public URL, else the request's)."""
    public = request.app.state.service.settings.public_url
    return (public or str(request.base_url)).rstrip("/") + "/"


def redirect_uri(request: Request) -> str:
    return base_url(request) + catalog.DASHBOARD_CALLBACK


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _back_to_sign_in(message: str) -> RedirectResponse:
    response = RedirectResponse(f"/ui#/signin?{urlencode({'message': message})}", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH)
    return response


@router.get("/ui/login")
def start_login(request: Request) -> Response:
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    query = {
        "client_id": str(catalog.DASHBOARD_CLIENT_ID),
        "redirect_uri": redirect_uri(request),
        "scope": DASHBOARD_SCOPE,
        "response_type": "code",
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
        "access_type": "online",
    }
    response = RedirectResponse(f"/v2/oauth2/authorize?{urlencode(query)}", status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        f"{state}.{verifier}",
        max_age=LOGIN_COOKIE_SECONDS,
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _token(document: dict[str, Any], resource_server: str) -> str | None:
    for item in [document, *document.get("other_tokens", [])]:
        if item.get("resource_server") == resource_server and item.get("access_token"):
            return str(item["access_token"])
    return None


async def _own_endpoint(request: Request, path: str, form: dict[str, str]) -> httpx.Response:
    """POST a form to one of this server's own endpoints, in-process through the ASGI app."""
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
        return await client.post(path, data=form)


@router.get(CALLBACK_PATH)
async def finish_login(
    request: Request, code: str | None = None, state: str | None = None, error: str | None = None
) -> Response:
    from .routes import start_session

    remembered = request.cookies.get(LOGIN_COOKIE, "")
    expected_state, _, verifier = remembered.partition(".")
    if not expected_state or not hmac.compare_digest(expected_state.encode(), (state or "").encode()):
        return _back_to_sign_in("That sign-in did not start here or took too long. Please sign in again.")
    if error:
        text = (
            "You did not allow the dashboard."
            if error == "access_denied"
            else f"Sign-in failed ({error[:64]})."
        )
        return _back_to_sign_in(text)
    answer = await _own_endpoint(
        request,
        "/v2/oauth2/token",
        {
            "grant_type": "authorization_code",
            "code": code or "",
            "redirect_uri": redirect_uri(request),
            "client_id": str(catalog.DASHBOARD_CLIENT_ID),
            "code_verifier": verifier,
        },
    )
    document = answer.json() if answer.status_code == 200 else {}
    token = _token(document, FLOWS_RESOURCE_SERVER)
    if token is None:
        log.warning("the dashboard's code exchange failed: HTTP %s", answer.status_code)
        return _back_to_sign_in("Sign-in failed. Please try again.")
    response = RedirectResponse("/ui#/signed-in", status_code=303)
    start_session(
        request, response, token, issued=True, timers_token=_token(document, catalog.TIMERS_RESOURCE_SERVER)
    )
    response.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH)
    response.headers["Cache-Control"] = "no-store"
    return response


async def revoke_issued_token(request: Request, token: str) -> None:
    """Revoke a token the dashboard obtained at /ui/callback (its own client, no secret)."""
    await _own_endpoint(
        request, "/v2/oauth2/token/revoke", {"token": token, "client_id": str(catalog.DASHBOARD_CLIENT_ID)}
    )
