"""The pages of the weboption provider (providers/weboption.py), served by OpenFlows itself:

- `GET /weboption/landing_page/<suffix>`: the landing page (header, preamble, the options as links or buttons,
  and a text field `user_input` when `include_text_input_form`);
- `GET|POST /weboption/option/<suffix>`: choosing that option. Query parameters (and form fields or a JSON
  object body) become the result's `parameters`. The answer is `completed_message` (an HTML page, or JSON
  `{"message", "name", "url_suffix"}` when the client prefers `application/json`).

An option with `selectable_by` needs its chooser to be one of those principals: a bearer token
(`Authorization`) or a dashboard session identifies them; otherwise 401 (not signed in) or 403. Once an
option was chosen (or the action ended), every URL of the action answers 404, as the hosted provider does.
Choosing goes through `store.web_inputs.respond`, the same transaction an API answer uses, so the waiting run
is woken at once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from html import escape
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..auth.principal import Principal
from ..language.webinputs import option_id
from ..store import web_inputs as store_web_inputs
from ..store.db import Database
from ..store.schema import provider_actions

#: parameters kept from one choice
MAX_PARAMETERS = 64  # keys
MAX_PARAMETER_CHARS = 4096  # characters per value
MAX_BODY_BYTES = 64 * 1024  # bytes
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30})$")
_IMAGE = re.compile(r"^https?://[^\s\"'<>]{1,2000}$")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: http: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Authenticate = Callable[[str | None], Principal | None]


def _page(title: str, body: str, *, status: int = 200, header: str = "") -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/ui/static/app.css"></head>'
        f'<body>{header}<main id="main" class="weboption">{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _refusal(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"code": {401: "Unauthorized", 403: "Forbidden"}.get(status, "NotFound"), "description": message},
            status_code=status,
        )
    link = ' <a href="/ui#/signin">Sign in</a>, then open this link again.' if status == 401 else ""
    return _page("Not available", f"<h1>Not available</h1><p>{escape(message)}{link}</p>", status=status)


def _action_state(conn: sa.Connection, action_id: uuid.UUID) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(provider_actions.c.state).where(
            provider_actions.c.id == action_id, provider_actions.c.provider == "weboption"
        )
    ).first()
    return row.state if row is not None and isinstance(row.state, dict) else None


def _landing_html(state: dict[str, Any]) -> str:
    landing = state.get("landing_page") or {}
    options = state.get("options") or []
    form = bool(landing.get("include_text_input_form"))
    parts = []
    if landing.get("preamble_text"):
        parts.append(f'<p class="preamble">{escape(landing["preamble_text"])}</p>')
    if form:
        prompt = escape(landing.get("text_input_form_prompt") or "Your input")
        buttons = "".join(
            f'<button type="submit" formaction="/weboption/option/{escape(o["url_suffix"])}" '
            f'name="choice" value="{escape(o["name"])}">{escape(o["name"])}</button>'
            + (f' <span class="sub">{escape(o["description"])}</span>' if o.get("description") else "")
            for o in options
        )
        parts.append(
            '<form method="post" class="stack"><label for="user_input">'
            f'{prompt}</label><input id="user_input" name="user_input" type="text" maxlength="4000">'
            f'<div class="actions">{buttons}</div></form>'
        )
    else:
        items = "".join(
            f'<li><a class="button" href="/weboption/option/{escape(o["url_suffix"])}">'
            f"{escape(o['name'])}</a>"
            + (f' <span class="sub">{escape(o["description"])}</span>' if o.get("description") else "")
            + "</li>"
            for o in options
        )
        parts.append(f'<ul class="options">{items}</ul>')
    return "".join(parts)


def _header(landing: dict[str, Any]) -> str:
    color = landing.get("header_background") or ""
    style = f' style="background: {color}; color: white"' if _COLOR.match(color) else ""
    icon = landing.get("header_icon_link") or ""
    image = f'<img src="{escape(icon)}" alt="" height="32"> ' if _IMAGE.match(icon) else ""
    text = escape(landing.get("header_text") or "")
    return f'<header class="top"{style}><span class="brand">{image}{text}</span></header>'


async def _parameters(request: Request) -> dict[str, Any]:
    """Query parameters, then form fields or a JSON object body: what the choice carried."""
    found: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raw = b""
        kind = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in kind:
            from urllib.parse import parse_qsl

            found.update(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
        elif "json" in kind and raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if isinstance(data, dict):
                found.update(data)
    kept: dict[str, Any] = {}
    for key, value in list(found.items())[:MAX_PARAMETERS]:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        kept[str(key)[:256]] = text[:MAX_PARAMETER_CHARS].replace("\x00", "")
    return kept


def create_weboption_router(
    db: Database,
    *,
    authenticate: Authenticate,
    now: Callable[[], dt.datetime],
    wake: Callable[[], Any] | None = None,
    session_principal: Callable[[Request], Principal | None] | None = None,
) -> APIRouter:
    """The weboption pages on `db`; `authenticate` reads bearer tokens, `session_principal` (the dashboard's)
    a signed-in browser, and `wake` wakes the executor after a choice."""
    router = APIRouter(prefix="/weboption", include_in_schema=False)

    def principal_of(request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return authenticate(header[7:].strip())
        return session_principal(request) if session_principal is not None else None

    def find(suffix: str) -> tuple[dict[str, Any], int | None, dict[str, Any]] | None:
        with db.read() as conn:
            found = store_web_inputs.find_by_suffix(conn, suffix)
            if found is None or found[0]["status"] != "open" or found[0]["source"] != "weboption":
                return None
            state = _action_state(conn, found[0]["id"])
        return (found[0], found[1], state) if state is not None else None

    @router.get("/landing_page/{suffix}")
    def landing_page(suffix: str, request: Request) -> Response:
        found = find(suffix)
        if found is None or found[1] is not None:
            return _refusal(request, 404, "There is nothing to choose at this address (any more).")
        _, _, state = found
        landing = state.get("landing_page") or {}
        allowed = landing.get("selectable_by")
        if allowed:
            principal = principal_of(request)
            if principal is None:
                return _refusal(request, 401, "Only some people may choose here: sign in first.")
            if not set(allowed) & principal.urns:
                return _refusal(request, 403, "You are not among those who may choose here.")
        title = landing.get("page_title") or landing.get("header_text") or "Choose an option"
        body = f"<h1>{escape(title)}</h1>{_landing_html(state)}"
        return _page(title, body, header=_header(landing))

    async def choose(suffix: str, request: Request) -> Response:
        found = await run_in_threadpool(find, suffix)
        if found is None or found[1] is None:
            return _refusal(request, 404, "There is nothing to choose at this address (any more).")
        web_input, index, state = found
        option = (state.get("options") or [])[index]
        principal = await run_in_threadpool(principal_of, request)
        if option.get("selectable_by"):
            if principal is None:
                return _refusal(request, 401, "Only some people may choose this option: sign in first.")
            if not set(option["selectable_by"]) & principal.urns:
                return _refusal(request, 403, "You are not among those who may choose this option.")
        parameters = await _parameters(request)

        def respond(conn: sa.Connection) -> None:
            store_web_inputs.respond(
                conn,
                web_input_id=web_input["id"],
                value=option_id(str(web_input["id"]), index),
                respondent_urn=principal.identity_urn if principal is not None else None,
                now=now(),
                parameters=parameters,
            )

        try:
            await run_in_threadpool(db.transact, respond)
        except (store_web_inputs.WebInputClosed, LookupError):
            return _refusal(request, 404, "An option was chosen already.")
        if wake is not None:
            wake()
        message = option.get("completed_message") or f"You chose {option['name']}."
        if _wants_json(request):
            return JSONResponse({"message": message, "name": option["name"], "url_suffix": suffix})
        return _page(message, f'<h1 id="completed">{escape(message)}</h1>')

    router.add_api_route("/option/{suffix}", choose, methods=["GET", "POST"])
    return router
