"""`DocumentRoute`: the route class of the Flows API routers. A plain-function endpoint that returns a JSON
document (a dict or a list) gets it encoded in its worker thread, into a finished `JSONResponse`.

FastAPI would otherwise walk the document with `jsonable_encoder` and encode it on the event loop, which
every other request waits for: for a run document that was a large part of a `get_run` (issue 7's
profile). The bytes are the ones FastAPI sends (Starlette's `JSONResponse` rendering); values JSON does not
know (datetimes, UUIDs, which the documents should not contain) are encoded as `jsonable_encoder` would.
The route's `status_code` is kept. Coroutine endpoints, endpoints that take a `Response` parameter (to set
headers) and anything that is not a dict or a list are left to FastAPI.
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
from starlette.responses import JSONResponse, Response


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


class DocumentRoute(APIRoute):
    """An `APIRoute` whose plain-function endpoint encodes its JSON document in the worker thread."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and not _takes_response(endpoint):
            endpoint = encode_in_thread(endpoint, kwargs.get("status_code") or 200)
        super().__init__(path, endpoint, **kwargs)
