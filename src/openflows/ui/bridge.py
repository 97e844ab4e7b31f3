"""`SessionBridge`: lets the dashboard call the JSON API with its session cookie instead of a bearer token.

For a request to the API (`/flows`, `/runs`, `/batch/`, `/web_inputs`, `/registered_apis`, the Timers API's
`/jobs` and `/v2/timer`) or to the
dashboard's own endpoints (`/ui/api/`) that carries no `Authorization` header but a valid session cookie, the
bridge adds `Authorization: Bearer <the session's token>` (its Timers token for the Timers API) and passes the
request on: the API then authenticates and authorises it exactly as it does
any bearer request (same code, same roles). A state-changing request (anything but GET/HEAD/OPTIONS) is
bridged only when it carries the session's CSRF token in `X-CSRF-Token` and an `Origin` (or `Referer`) of
this server; otherwise it is refused with 403 before reaching the API. Without a valid session nothing is
added (the API answers 401).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..api.errors import Forbidden, error_response
from ..auth_http.origins import allowed_origins, origin_of, same_origin  # noqa: F401 (re-exported)
from .sessions import COOKIE_NAME, CSRF_HEADER, SessionStore

#: path prefixes the session cookie may authenticate
BRIDGED_PREFIXES = (
    "/flows",
    "/runs",
    "/batch/",
    "/web_inputs",
    "/registered_apis",
    "/ui/api/",
    "/jobs",
    "/v2/timer",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_bridged(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in BRIDGED_PREFIXES)


class SessionBridge:
    """ASGI middleware: session cookie -> bearer token, with the CSRF and Origin checks (module docstring)."""

    def __init__(self, app: ASGIApp, *, sessions: SessionStore, public_url: str | None = None) -> None:
        self.app = app
        self.sessions = sessions
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_bridged(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "authorization" in headers:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        session = self.sessions.get_session(conn.cookies.get(COOKIE_NAME))
        if session is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            refusal = None
            if not session.csrf_matches(headers.get(CSRF_HEADER)):
                refusal = "Missing or wrong CSRF token (X-CSRF-Token)"
            elif not same_origin(conn, self.public_url):
                refusal = "Cross-origin request refused"
            if refusal is not None:
                await error_response(Forbidden(refusal))(scope, receive, send)
                return
        bridged: dict[str, Any] = dict(scope)
        bridged["headers"] = [
            *scope["headers"],
            (b"authorization", f"Bearer {session.token_for(scope['path'])}".encode("latin-1")),
        ]
        await self.app(bridged, receive, send)
