"""The built-in providers as real Action Provider HTTP APIs (spec/flows-language.md §11), at
`/actions/<name>`.

Routes per provider: `GET /` (introspection, public), `POST /run`, `GET /{id}/status`, `POST /{id}/cancel`,
`POST /{id}/release`, `POST /{id}/resume`, `GET /{id}/log`, and the new-style aliases `POST /actions`,
`GET /actions/{id}`, `POST /actions/{id}/cancel`, `DELETE /actions/{id}`, `POST /actions/{id}/resume`,
`GET /actions/{id}/log`. Every route but introspection needs `Authorization: Bearer <token>` (an OpenFlows
token) holding the provider's scope, as on the hosted providers: the scope its introspection document
advertises as `globus_auth_scope`, or one of its legacy scopes (`Provider.accepted_scopes`; a token made
without `--scope` holds every scope). No token, or an unknown one: 401 `UnauthorizedRequest`; a token without
the scope: 403 `ForbiddenRequest`. Errors use the provider error body `{"code", "description"}`.

The engine does not come through here: it calls built-in providers in-process, with the same token check
(`base.caller_for_principal`) applied to the token of the run's user it would have sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ..auth.principal import Principal
from ..language.storable import find_unstorable
from .base import (
    BadActionRequest,
    Caller,
    Provider,
    ProviderError,
    ProviderRegistry,
    caller_for_principal,
)

#: largest accepted action request body
MAX_REQUEST_BYTES = 1024 * 1024  # bytes

Authenticate = Callable[[str | None], Principal | None]


class ProviderErrorBody(BaseModel):
    """The Action Provider error body."""

    code: str
    description: str


def _documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a provider route can answer with."""
    reasons = {
        400: "Bad request",
        401: "No valid bearer token",
        403: "The token lacks the provider's scope, or the caller may not manage this action",
        404: "No such provider or action",
        409: "The action is in the wrong state (or the request_id was used with another body)",
        500: "Provider error",
    }
    return {code: {"model": ProviderErrorBody, "description": reasons[code]} for code in codes}


#: every route but introspection answers with these
_ACTION_ERRORS = _documented(400, 401, 403, 404, 409, 500)


def _error(exc: ProviderError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code)


def _not_found(name: str) -> JSONResponse:
    return JSONResponse(
        {"code": "NotFound", "description": f"no action provider named {name!r}"}, status_code=404
    )


def create_provider_router(registry: ProviderRegistry, authenticate: Authenticate) -> APIRouter:
    """An APIRouter serving every provider of `registry` under `/actions/<name>`.

    `authenticate` maps an `Authorization` header value to a `Principal` (e.g. `Authenticator.authenticate`).
    """
    router = APIRouter(tags=["action providers"])

    def provider_for(name: str) -> Provider:
        provider = registry.get(name)
        if provider is None:
            raise _NoProvider(name)
        return provider

    def caller_for(request: Request, provider: Provider) -> Caller:
        return caller_for_principal(authenticate(request.headers.get("authorization")), provider)

    def handle(fn: Callable[[], tuple[Any, int]]) -> JSONResponse:
        try:
            content, status = fn()
        except _NoProvider as exc:
            return _not_found(exc.args[0])
        except ProviderError as exc:
            return _error(exc)
        return JSONResponse(content, status_code=status)

    @router.get("/actions/{name}", summary="Introspect an action provider", responses=_documented(404))
    @router.get("/actions/{name}/", include_in_schema=False)
    def introspect(name: str) -> JSONResponse:
        return handle(lambda: (provider_for(name).introspect(), 200))

    async def read_request(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > MAX_REQUEST_BYTES:
            raise BadActionRequest(f"the request body is larger than {MAX_REQUEST_BYTES} bytes")
        try:
            value = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise BadActionRequest("the request body is not valid JSON") from None
        # JSON bodies were checked by the API's middleware already; this covers other content types
        bad = find_unstorable(value)
        if bad is not None:
            raise BadActionRequest(f"request body field {bad.json_path}: {bad.message()}")
        return value

    async def start(name: str, request: Request) -> JSONResponse:
        try:
            provider = provider_for(name)
            caller = await run_in_threadpool(caller_for, request, provider)  # a database read
            body = await read_request(request)
        except _NoProvider as exc:
            return _not_found(exc.args[0])
        except ProviderError as exc:
            return _error(exc)

        def call() -> tuple[Any, int]:
            doc, created = provider.run(body, caller)
            return doc, 202 if created else 200

        # the provider does blocking database work: run it off the event loop
        return await run_in_threadpool(handle, call)

    started = {202: {"description": "A new action was started"}, **_ACTION_ERRORS}
    router.add_api_route(
        "/actions/{name}/run", start, methods=["POST"], summary="Start an action", responses=started
    )
    router.add_api_route(
        "/actions/{name}/actions",
        start,
        methods=["POST"],
        summary="Start an action (new style)",
        responses=started,
    )

    def operation(op: str) -> Callable[..., JSONResponse]:
        def endpoint(name: str, action_id: str, request: Request) -> JSONResponse:
            def call() -> tuple[Any, int]:
                provider = provider_for(name)
                caller = caller_for(request, provider)
                return getattr(provider, op)(action_id, caller), 200

            return handle(call)

        endpoint.__name__ = f"{op}_action"
        return endpoint

    def log_endpoint(name: str, action_id: str, request: Request) -> JSONResponse:
        def call() -> tuple[Any, int]:
            provider = provider_for(name)
            caller = caller_for(request, provider)
            params = request.query_params
            try:
                limit = int(params.get("limit") or params.get("per_page") or 10)
            except ValueError:
                raise BadActionRequest("limit must be an integer") from None
            reverse = (params.get("reverse_order") or "false").strip().lower() in ("1", "true", "yes")
            return provider.log(action_id, caller, limit=limit, reverse_order=reverse), 200

        return handle(call)

    for prefix in ("/actions/{name}/actions/{action_id}", "/actions/{name}/{action_id}"):
        new_style = "/actions/{name}/actions/" in prefix
        if new_style:
            router.add_api_route(
                prefix,
                operation("status"),
                methods=["GET"],
                summary="Action status (new style)",
                responses=_ACTION_ERRORS,
            )
            router.add_api_route(
                prefix,
                operation("release"),
                methods=["DELETE"],
                summary="Release (new style)",
                responses=_ACTION_ERRORS,
            )
        else:
            router.add_api_route(
                f"{prefix}/status",
                operation("status"),
                methods=["GET"],
                summary="Action status",
                responses=_ACTION_ERRORS,
            )
            router.add_api_route(
                f"{prefix}/release",
                operation("release"),
                methods=["POST"],
                summary="Release an action",
                responses=_ACTION_ERRORS,
            )
        router.add_api_route(
            f"{prefix}/cancel",
            operation("cancel"),
            methods=["POST"],
            summary="Cancel an action",
            responses=_ACTION_ERRORS,
        )
        router.add_api_route(
            f"{prefix}/resume",
            operation("resume"),
            methods=["POST"],
            summary="Resume an action",
            responses=_ACTION_ERRORS,
        )
        router.add_api_route(
            f"{prefix}/log", log_endpoint, methods=["GET"], summary="Action log", responses=_ACTION_ERRORS
        )
    return router


class _NoProvider(Exception):
    """No provider by that name."""
