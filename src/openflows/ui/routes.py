"""The dashboard's HTTP surface under `/ui`, and `install_ui`, which adds it to a Flows API app.

- `GET /ui`: the single-page app (static HTML; its ES modules and CSS under `/ui/static/`).
- `GET /ui/session`: who is signed in, the session's CSRF token, and whether the one-click local sign-in
  is offered. `POST /ui/session` `{"token"}`: sign in with a token. `POST /ui/session/local`: sign in as the
  local admin (loopback only). `DELETE /ui/session`: sign out.
- `GET /ui/api/flows/{id}/permissions`, `GET /ui/api/runs/{id}/permissions`: what the caller may do,
  computed by the API's own role code (`shared.roles`, `api.flows.load_flow`, `api.runs.load_run`).
- `GET /ui/api/runs/{id}/events`: the run as server-sent events, read with the API's role check and
  documents: each log entry (`event: entry`, `id: <seq>`), the run document whenever it changed (`event: run`:
  status, details and output, label, tags, ...), ending with `event: end` once the run is over. The run page
  draws everything from this stream, so nothing on it goes stale.

The page's calls to `/flows`, `/runs`, `/registered_apis` and `/ui/api/` are authenticated by
`bridge.SessionBridge`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..api.deps import PrincipalDep, Service, ServiceDep, require_scope
from ..api.documents import log_entry_document, run_document
from ..api.errors import APIError, AuthenticationError, Forbidden
from ..api.flows import load_flow
from ..api.runs import load_run
from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..auth.sessions import end_session as end_sign_in
from ..auth_http.local_admin import ADMIN_TOKEN_FILE, is_loopback_request  # noqa: F401 (re-exported)
from ..auth_http.local_admin import local_admin_token as read_local_admin_token
from ..auth_http.web import AUTH_COOKIE
from ..shared import roles
from ..store import runs as store_runs
from ..store.work import TERMINAL_STATUSES
from .bridge import SessionBridge, same_origin
from .login import revoke_issued_token
from .login import router as login_router
from .sessions import COOKIE_NAME, CSRF_HEADER, Session, SessionStore

STATIC_DIR = Path(__file__).parent / "static"
#: seconds between two reads of the run log by an open event stream
EVENT_POLL_SECONDS = 0.5
#: an event stream closes after this long and the browser reconnects with Last-Event-ID; short, because a
#: stopping server waits for open responses to finish
EVENT_STREAM_SECONDS = 15.0
#: log entries read per poll
EVENT_BATCH = 200

_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _sessions(request: Request) -> SessionStore:
    return request.app.state.ui_sessions


def _home(request: Request) -> Path:
    return request.app.state.ui_home


def _service(request: Request) -> Service:
    return request.app.state.service


def _current(request: Request) -> tuple[Session, Principal] | None:
    session = _sessions(request).get_session(request.cookies.get(COOKIE_NAME))
    if session is None:
        return None
    principal = _service(request).authenticator.authenticate(session.token)
    if principal is None:
        return None
    return session, principal


def session_principal(request: Request) -> Principal | None:
    """Who is signed in to the dashboard in this browser (None: nobody), for pages outside `/ui`."""
    sessions = getattr(request.app.state, "ui_sessions", None)
    if sessions is None:
        return None
    current = _current(request)
    return current[1] if current is not None else None


def local_admin_token(request: Request) -> str | None:
    """The local admin token, when the one-click sign-in is offered (loopback request, token in home)."""
    enabled = _service(request).settings.local_admin_signin
    return read_local_admin_token(request, _home(request), enabled=enabled)


def _identity(principal: Principal) -> dict[str, Any]:
    return {
        "username": principal.username,
        "name": principal.name,
        "identity_urn": principal.identity_urn,
    }


def start_session(
    request: Request, response: Response, token: str, *, issued: bool = False, timers_token: str | None = None
) -> Session:
    """Replace the browser's dashboard session with one for `token` (and `timers_token`); set its cookie on
    `response`."""
    _sessions(request).delete_session(request.cookies.get(COOKIE_NAME))
    session = _sessions(request).create_session(token, issued=issued, timers_token=timers_token)
    response.set_cookie(
        COOKIE_NAME,
        session.session_id,
        max_age=int(_sessions(request).lifetime),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return session


def _signed_in(request: Request, token: str) -> JSONResponse:
    principal = _service(request).authenticator.authenticate(token)
    if principal is None:
        raise AuthenticationError()
    response = JSONResponse({})
    session = start_session(request, response, token)
    cookie = response.headers["set-cookie"]
    answer = JSONResponse({"signed_in": True, "csrf": session.csrf, **_identity(principal)})
    answer.headers.append("set-cookie", cookie)
    return answer


def _check_origin(request: Request) -> None:
    if not same_origin(request, _service(request).settings.public_url):
        raise Forbidden("Cross-origin request refused")


router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("")
@router.get("/")
def get_page() -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/session")
def get_session(request: Request) -> JSONResponse:
    current = _current(request)
    local = local_admin_token(request) is not None
    if current is None:
        return JSONResponse(
            {"signed_in": False, "local_sign_in": local}, headers={"Cache-Control": "no-store"}
        )
    session, principal = current
    return JSONResponse(
        {"signed_in": True, "local_sign_in": local, "csrf": session.csrf, **_identity(principal)},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/session")
def create_session(
    request: Request, token: Annotated[str, Body(embed=True, max_length=4096)]
) -> JSONResponse:
    _check_origin(request)
    return _signed_in(request, token.strip())


@router.post("/session/local")
def create_local_session(request: Request) -> JSONResponse:
    _check_origin(request)
    token = local_admin_token(request)
    if token is None:
        raise Forbidden("The local admin sign-in is only offered to this machine (loopback)")
    return _signed_in(request, token)


@router.delete("/session")
async def delete_session(request: Request) -> JSONResponse:
    """Sign out: the dashboard session ends, a token the dashboard obtained by signing in is revoked, and
    the sign-in session at the authorize pages ends too."""
    _check_origin(request)
    session = _sessions(request).get_session(request.cookies.get(COOKIE_NAME))
    if session is not None:
        if not session.csrf_matches(request.headers.get(CSRF_HEADER)):
            raise Forbidden("Missing or wrong CSRF token (X-CSRF-Token)")
        _sessions(request).delete_session(session.session_id)
        if session.issued:
            await revoke_issued_token(request, session.token)
            if session.timers_token is not None:
                await revoke_issued_token(request, session.timers_token)
    service = _service(request)
    cookie = request.cookies.get(AUTH_COOKIE)
    if cookie:
        await run_in_threadpool(
            service.db.transact, lambda conn: end_sign_in(conn, cookie, now=service.now())
        )
    response = JSONResponse({"signed_in": False})
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    response.delete_cookie(AUTH_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/api/flows/{flow_id}/permissions")
def get_flow_permissions(flow_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """What the caller may do on the flow (404 if it may not see it), by `shared.roles`."""
    require_scope(principal, flows_scopes.VIEW_FLOWS)
    with service.db.read() as conn:
        _, held = load_flow(conn, flow_id, principal, roles.Permission.VIEW)
    return {
        "roles": roles.ordered(held, roles.FLOW_ROLES),
        "run": roles.flow_allows(held, roles.Permission.RUN),
        "update": roles.flow_allows(held, roles.Permission.UPDATE),
        "delete": roles.flow_allows(held, roles.Permission.DELETE),
    }


@router.get("/api/runs/{run_id}/permissions")
def get_run_permissions(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """What the caller may do on the run (404 if it may not see it), by `shared.roles`."""
    require_scope(principal, flows_scopes.RUN_STATUS)
    with service.db.read() as conn:
        _, held = load_run(conn, run_id, principal, roles.Permission.VIEW)
    allows = lambda permission: roles.run_allows(held, permission)  # noqa: E731
    return {
        "roles": roles.ordered(held, roles.RUN_ROLES),
        "cancel": allows(roles.Permission.CANCEL),
        "resume": allows(roles.Permission.RESUME),
        "redrive": allows(roles.Permission.RESUME),  # the run's owner or a run manager (issue 19)
        "update": allows(roles.Permission.UPDATE),
        "release": allows(roles.Permission.RELEASE),
    }


def read_log_events(
    service: Service, bearer: str, run_id: uuid.UUID, after_seq: int | None
) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any], bool]:
    """Log entries after `after_seq`, the run document as of the same read (re-authenticating and
    re-checking the role each time) and whether the run is over."""
    principal = service.authenticator.authenticate(bearer)
    if principal is None:
        raise AuthenticationError()
    require_scope(principal, flows_scopes.RUN_STATUS)
    with service.db.read() as conn:
        run, _ = load_run(conn, run_id, principal, roles.Permission.MONITOR)
        rows, _ = store_runs.get_run_logs(
            conn, run_id=run_id, after_seq=after_seq, reverse=False, limit=EVENT_BATCH
        )
    entries = [(row["seq"], log_entry_document(row)) for row in rows]
    return entries, run_document(run, urns=principal.urns), run["status"] in TERMINAL_STATUSES


@router.get("/api/runs/{run_id}/events")
def stream_run_events(
    run_id: uuid.UUID, request: Request, principal: PrincipalDep, service: ServiceDep
) -> StreamingResponse:
    """Server-sent events: every log entry of the run after `Last-Event-ID` (or `?after=`), and the run
    document at the start and whenever it changes."""
    bearer = request.headers["authorization"].partition(" ")[2].strip()
    last = request.headers.get("last-event-id") or request.query_params.get("after")
    after_seq = int(last) if last and last.isdigit() else None
    read_log_events(service, bearer, run_id, after_seq)  # 401/403/404 answered now, before streaming

    async def events() -> AsyncIterator[str]:
        nonlocal after_seq
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EVENT_STREAM_SECONDS
        yield "retry: 1000\n\n"
        sent_run = None
        while loop.time() < deadline:
            try:
                batch, run, over = await run_in_threadpool(
                    read_log_events, service, bearer, run_id, after_seq
                )
            except APIError:  # the token was revoked, the role removed or the run deleted: end the stream
                yield "event: end\ndata: {}\n\n"
                return
            for seq, entry in batch:
                after_seq = seq
                yield f"id: {seq}\nevent: entry\ndata: {json.dumps(entry)}\n\n"
            run_text = json.dumps(run)
            if run_text != sent_run:  # after the entries: the page sees the log that led to the change
                sent_run = run_text
                yield f"event: run\ndata: {run_text}\n\n"
            if over and len(batch) < EVENT_BATCH:
                yield "event: end\ndata: {}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def install_ui(app: FastAPI, *, home: Path, sessions: SessionStore | None = None) -> SessionStore:
    """Serve the dashboard at `/ui` on `app` (a `create_app` app): routes, static files and the session
    bridge. `home` is OPENFLOWS_HOME (where `openflows serve` keeps the local admin token)."""
    store = sessions or SessionStore()
    app.state.ui_sessions = store
    app.state.ui_home = home
    app.include_router(router)
    app.include_router(login_router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(SessionBridge, sessions=store, public_url=app.state.service.settings.public_url)
    return store
