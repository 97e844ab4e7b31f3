"""The Auth developer API routes (projects, clients, credentials, scopes), as globus-sdk's `AuthClient` calls
them: JSON bodies wrapped in one key (`{"client": {...}}`), answers likewise (`{"client": C}`).

Authentication: a Bearer token for `auth.globus.org` holding `manage_projects` (or an administrator's `*`),
except two calls Globus Auth allows otherwise: `POST /v2/api/clients` with a `template_id` needs none (globus
CLI's first step, `create_native_app_instance`), and a confidential client may use HTTP Basic to create a
child client or to delete itself (`globus logout --delete-client`). Reading scopes needs any Auth token. The
rules are in `auth.developer`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import catalog, clients
from ..auth import developer as dev
from .common import AuthContext, auth_error, bad_request, basic_credentials, bearer, unauthorized

#: largest developer-API request body
MAX_BODY_BYTES = 256 * 1024  # bytes


async def _body(request: Request, key: str) -> dict[str, Any] | JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return bad_request("The request body is too large.")
    try:
        document = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return bad_request("The request body is not JSON.")
    inner = document.get(key) if isinstance(document, dict) else None
    if not isinstance(inner, dict):
        return bad_request(f"The request body must be {{{key!r}: {{...}}}}.")
    return inner


def create_developer_router(context: AuthContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def run(
        request: Request, work: Callable[..., Any], *, scope: str | None = catalog.MANAGE_PROJECTS
    ) -> Any:
        """Authenticate the Bearer caller, then `work(conn, caller)` in a transaction; errors as documents."""
        principal = bearer(context, request, resource_server=catalog.AUTH_RESOURCE_SERVER, scope=scope)
        if isinstance(principal, JSONResponse):
            return principal

        def transaction(conn: Any) -> Any:
            return work(conn, dev.Caller.of(conn, principal))

        return answer(lambda: context.db.transact(transaction))

    def answer(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except dev.DeveloperError as exc:
            return auth_error(exc.status, exc.code, exc.detail)

    async def threaded(request: Request, work: Callable[..., Any], **kwargs: Any) -> Any:
        return await run_in_threadpool(run, request, work, **kwargs)

    # --- projects -----------------------------------------------------------------------------------------

    @router.get("/v2/api/projects")
    async def get_projects(request: Request) -> Any:
        result = await threaded(request, lambda conn, caller: {"projects": dev.list_projects(conn, caller)})
        return result

    @router.post("/v2/api/projects")
    async def create_project(request: Request) -> Any:
        body = await _body(request, "project")
        if isinstance(body, JSONResponse):
            return body
        now = context.now()
        return await threaded(
            request, lambda conn, caller: {"project": dev.create_project(conn, caller, body, now=now)}
        )

    @router.get("/v2/api/projects/{project_id}")
    async def get_project(request: Request, project_id: str) -> Any:
        return await threaded(
            request, lambda conn, caller: {"project": dev.get_project(conn, caller, project_id)}
        )

    @router.put("/v2/api/projects/{project_id}")
    async def update_project(request: Request, project_id: str) -> Any:
        body = await _body(request, "project")
        if isinstance(body, JSONResponse):
            return body
        return await threaded(
            request, lambda conn, caller: {"project": dev.update_project(conn, caller, project_id, body)}
        )

    @router.delete("/v2/api/projects/{project_id}")
    async def delete_project(request: Request, project_id: str) -> Any:
        return await threaded(
            request, lambda conn, caller: {"project": dev.delete_project(conn, caller, project_id)}
        )

    # --- clients ------------------------------------------------------------------------------------------

    @router.post("/v2/api/clients")
    async def create_client(request: Request) -> Any:
        body = await _body(request, "client")
        if isinstance(body, JSONResponse):
            return body
        now = context.now()
        if "template_id" in body:  # a native-app instance: no authentication
            return await run_in_threadpool(
                answer, lambda: context.db.transact(lambda conn: dev.create_instance(conn, body, now=now))
            )
        basic = basic_credentials(request)
        if basic is not None:
            return await run_in_threadpool(answer, lambda: context.db.transact(child, basic, body, now))
        return await threaded(
            request, lambda conn, caller: {"client": dev.create_client(conn, caller, body, now=now)}
        )

    def child(conn: Any, basic: tuple[str, str], body: dict[str, Any], now: Any) -> Any:
        parent = clients.authenticate(conn, *basic)
        if parent is None:
            return unauthorized()
        return {"client": dev.create_child_client(conn, parent, body, now=now)}

    @router.get("/v2/api/clients")
    def get_clients(request: Request, fqdn: str = "") -> Any:
        if fqdn:  # OpenFlows registers no FQDNs
            return auth_error(404, "NOT_FOUND", "No client has this FQDN.")
        return run(request, lambda conn, caller: {"clients": dev.list_clients(conn, caller)})

    @router.get("/v2/api/clients/{client_id}")
    def get_client(request: Request, client_id: str) -> Any:
        return run(request, lambda conn, caller: {"client": dev.get_client(conn, caller, client_id)})

    @router.put("/v2/api/clients/{client_id}")
    async def update_client(request: Request, client_id: str) -> Any:
        body = await _body(request, "client")
        if isinstance(body, JSONResponse):
            return body
        return await threaded(
            request, lambda conn, caller: {"client": dev.update_client(conn, caller, client_id, body)}
        )

    @router.delete("/v2/api/clients/{client_id}")
    def delete_client(request: Request, client_id: str) -> Any:
        now = context.now()
        basic = basic_credentials(request)
        if basic is not None:  # a client deleting itself

            def itself(conn: Any) -> Any:
                client = clients.authenticate(conn, *basic)
                if client is None:
                    return unauthorized()
                return {"client": dev.delete_client(conn, dev.Caller.client(client), client_id, now=now)}

            result = answer(lambda: context.db.transact(itself))
        else:
            result = run(
                request, lambda conn, caller: {"client": dev.delete_client(conn, caller, client_id, now=now)}
            )
        context.authenticator.invalidate()
        return result

    # --- credentials --------------------------------------------------------------------------------------

    @router.get("/v2/api/clients/{client_id}/credentials")
    def get_credentials(request: Request, client_id: str) -> Any:
        return run(
            request, lambda conn, caller: {"credentials": dev.list_credentials(conn, caller, client_id)}
        )

    @router.post("/v2/api/clients/{client_id}/credentials")
    async def create_credential(request: Request, client_id: str) -> Any:
        body = await _body(request, "credential")
        if isinstance(body, JSONResponse):
            return body
        now = context.now()
        return await threaded(
            request,
            lambda conn, caller: {
                "credential": dev.create_credential(conn, caller, client_id, body, now=now)
            },
        )

    @router.delete("/v2/api/clients/{client_id}/credentials/{credential_id}")
    def delete_credential(request: Request, client_id: str, credential_id: str) -> Any:
        return run(
            request,
            lambda conn, caller: {
                "credential": dev.delete_credential(conn, caller, client_id, credential_id)
            },
        )

    # --- scopes -------------------------------------------------------------------------------------------

    @router.post("/v2/api/clients/{client_id}/scopes")
    async def create_scope(request: Request, client_id: str) -> Any:
        body = await _body(request, "scope")
        if isinstance(body, JSONResponse):
            return body
        now = context.now()

        def work(conn: Any, caller: dev.Caller) -> Any:
            scope = dev.create_scope(conn, caller, client_id, body, now=now)
            return {
                "scope": scope,
                "scopes": [scope],
            }  # the SDK's fixture has the first, real Globus the second

        return await threaded(request, work)

    @router.get("/v2/api/scopes")
    def get_scopes(request: Request, scope_strings: str = "", ids: str = "") -> Any:
        strings = [item.strip() for item in scope_strings.split(",") if item.strip()]
        wanted = [item.strip() for item in ids.split(",") if item.strip()]
        return run(
            request,
            lambda conn, caller: {"scopes": dev.get_scopes(conn, caller, scope_strings=strings, ids=wanted)},
            scope=None,
        )

    @router.get("/v2/api/scopes/{scope_id}")
    def get_scope(request: Request, scope_id: str) -> Any:
        return run(request, lambda conn, caller: {"scope": dev.get_scope(conn, scope_id)}, scope=None)

    @router.put("/v2/api/scopes/{scope_id}")
    async def update_scope(request: Request, scope_id: str) -> Any:
        body = await _body(request, "scope")
        if isinstance(body, JSONResponse):
            return body
        now = context.now()
        return await threaded(
            request, lambda conn, caller: {"scope": dev.update_scope(conn, caller, scope_id, body, now=now)}
        )

    @router.delete("/v2/api/scopes/{scope_id}")
    def delete_scope(request: Request, scope_id: str) -> Any:
        return run(request, lambda conn, caller: {"scope": dev.delete_scope(conn, caller, scope_id)})

    return router
