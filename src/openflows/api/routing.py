"""`DocumentRoute`: the route class of the Flows API routers, and the methods a path allows (`Allow` on 405).

A plain-function endpoint that returns a JSON document (a dict or a list) gets it encoded in its worker
thread, into a finished `JSONResponse`.

FastAPI would otherwise walk the document with `jsonable_encoder` and encode it on the event loop, which
every other request waits for: for a run document that was a large part of a `get_run` (issue 7's
profile). The bytes are the ones FastAPI sends (Starlette's `JSONResponse` rendering); values JSON does not
know (datetimes, UUIDs, which the documents should not contain) are encoded as `jsonable_encoder` would.
The route's `status_code` is kept. Coroutine endpoints, endpoints that take a `Response` parameter (to set
headers) and anything that is not a dict or a list are left to FastAPI.

Routing: a path parameter typed `uuid.UUID` (`/flows/{flow_id}`) would otherwise match any segment, so
`PUT /flows/validate` ran `update_flow` and answered 422 ("flow_id is not a UUID") instead of 405 from
`/flows/validate`. A `DocumentRoute` whose UUID parameter does not parse steps aside when another route
serves that path with well-typed parameters; when none does, it still handles the request, so a malformed id
keeps its 422 (docs/compat.md). `allowed_methods` answers which methods a path allows, for the `Allow` header
of every 405 (Starlette lists only the methods of the one route it happened to match first).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import Scope

#: scope key set on the copies of a request's scope that `allowed_methods` and `DocumentRoute` route on their
#: own: True asks every `DocumentRoute` to match only when its UUID path parameters parse
WELL_TYPED_ONLY = "openflows.well_typed_only"
#: the methods `allowed_methods` tries (OPTIONS, TRACE and CONNECT are served by no route)
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_UUID = TypeAdapter(uuid.UUID)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class EncodedJSONResponse(JSONResponse):
    """Starlette's JSON rendering, with the `_default` fallback for datetimes and UUIDs."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"), default=_default
        ).encode("utf-8")


def _takes_response(endpoint: Callable[..., Any]) -> bool:
    for parameter in inspect.signature(endpoint).parameters.values():
        annotation = parameter.annotation
        if annotation is Response or annotation == "Response" or parameter.name == "response":
            return True
    return False


def encode_in_thread(endpoint: Callable[..., Any], status_code: int) -> Callable[..., Any]:
    """`endpoint`, returning its dict or list result as a rendered response with `status_code`."""

    @functools.wraps(endpoint)
    def encoded(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        if isinstance(result, dict | list):
            return EncodedJSONResponse(result, status_code=status_code)
        return result

    return encoded


def _parses_as_uuid(value: Any) -> bool:
    try:
        _UUID.validate_python(value)
    except ValidationError:
        return False
    return True


def _probe_scope(scope: Scope, method: str, *, well_typed_only: bool) -> dict[str, Any]:
    """A copy of `scope` for routing `method` on the same path, apart from the request's own routing state."""
    probe = dict(scope)
    probe["method"] = method
    probe["path_params"] = {}
    probe[WELL_TYPED_ONLY] = well_typed_only
    if isinstance(scope.get("fastapi"), dict):
        probe["fastapi"] = dict(scope["fastapi"])  # FastAPI keeps its routing state there
    return probe


def _routed(scope: Scope, method: str, *, well_typed_only: bool) -> Match:
    """The best match any route of the application gives `method` on the path of `scope`."""
    app = scope.get("app")
    router = getattr(app, "router", None)
    best = Match.NONE
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(_probe_scope(scope, method, well_typed_only=well_typed_only))
        if match is Match.FULL:
            return match
        if match is Match.PARTIAL:
            best = match
    return best


def allowed_methods(scope: Scope) -> list[str]:
    """The methods the path of `scope` allows: those a route serves with well-typed path parameters, else (a
    malformed id, like `/flows/not-a-uuid`) those the routes matching the path's shape serve."""
    for well_typed_only in (True, False):
        methods = [
            m for m in PROBED_METHODS if _routed(scope, m, well_typed_only=well_typed_only) is Match.FULL
        ]
        if methods:
            return methods
    return []


class DocumentRoute(APIRoute):
    """An `APIRoute` whose plain-function endpoint encodes its JSON document in the worker thread, and which
    yields its path to a sibling route when its UUID path parameters do not parse (see the module doc)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and not _takes_response(endpoint):
            endpoint = encode_in_thread(endpoint, kwargs.get("status_code") or 200)
        super().__init__(path, endpoint, **kwargs)
        #: path parameters typed uuid.UUID
        self.uuid_params = tuple(
            field.name for field in self.dependant.path_params if field.field_info.annotation is uuid.UUID
        )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.NONE or not self.uuid_params:
            return match, child_scope
        params = child_scope.get("path_params", {})
        if all(_parses_as_uuid(params.get(name)) for name in self.uuid_params):
            return match, child_scope
        if scope.get(WELL_TYPED_ONLY, False):
            return Match.NONE, {}
        if (
            scope["type"] == "http"
            and _routed(scope, scope["method"], well_typed_only=True) is not Match.NONE
        ):
            return Match.NONE, {}  # e.g. /flows/validate: that route answers (405 for PUT)
        return match, child_scope
