"""Request body caps and the storable-text rule, enforced before any handler parses JSON (DESIGN invariant 5).

`RequestLimits` is a pure ASGI middleware: it rejects a declared `Content-Length` above the cap at once, reads
chunked bodies only up to the cap (413 beyond it), and refuses JSON nested deeper than `max_depth` (a
`json.loads` of deeply nested input would otherwise hit Python's recursion limit). It also refuses a path,
query string, JSON body or form body holding a NUL character or an unpaired surrogate, naming the field
(`api/text.py`), so that no such string reaches a handler or the database. The body it read is replayed to the
application unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import Response

from . import text
from .errors import APIError, BadRequest, PayloadTooLarge, error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: an oversized body is read and dropped up to this many times the cap (at least DRAIN_MINIMUM bytes) before
#: the 413 is sent; beyond that the connection is closed
DRAIN_FACTOR = 8
DRAIN_MINIMUM = 16 * 1024 * 1024  # bytes
#: default deepest nesting of arrays/objects accepted in a JSON body
DEFAULT_MAX_DEPTH = 128


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests arrays/objects deeper than `limit` (iterative; no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without Content-Type as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class RequestLimits:
    """ASGI middleware capping body size and JSON nesting depth."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self._reject(scope, receive, send, BadRequest("Invalid Content-Length header"))
                return
            if length > self.max_bytes:
                await self._drain(receive)
                await self._reject(scope, receive, send, self._too_large())
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        disconnected: Message | None = None
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive)
                await self._reject(scope, receive, send, self._too_large())
                return
            chunks.append(body)
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        content_type = headers.get(b"content-type")
        refused = self._check(scope, raw, content_type.decode("latin-1") if content_type else None)
        if refused is not None:
            refused.headers["Connection"] = "close"
            await refused(scope, receive, send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                if disconnected is not None:
                    return disconnected
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive) -> None:
        """Read and drop the rest of an oversized body (up to a bound), so the client, which usually sends the
        whole body before reading, gets the 413 instead of a reset connection."""
        drained = 0
        limit = max(DRAIN_FACTOR * self.max_bytes, DRAIN_MINIMUM)
        while drained <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is larger than the limit of {self.max_bytes} bytes")

    def _check(self, scope: Scope, raw: bytes, content_type: str | None) -> Response | None:
        """The refusal of a request by its path, query string and body, or None to let it through."""
        path = scope.get("path", "")
        bad = text.path_problem(path)
        if bad is not None:
            return text.refusal(path, "path", bad)
        bad = text.query_problem(scope.get("query_string", b""))
        if bad is not None:
            return text.refusal(path, "query", bad)
        if not raw.strip():
            return None
        if _is_json(content_type):
            return self._check_json(raw, path)
        if _is_form(content_type):
            bad = text.form_problem(raw)
            return text.refusal(path, "body", bad) if bad is not None else None
        return None

    def _check_json(self, raw: bytes, path: str) -> Response | None:
        """Nesting, NaN/Infinity and unstorable text; malformed JSON is left to the route (a 422 with the
        position)."""
        try:
            value = json.loads(raw, parse_constant=_refuse_constant)
        except RecursionError:
            return error_response(BadRequest(f"JSON body nests deeper than {self.max_depth} levels"))
        except _NotJSONNumber as exc:
            return error_response(BadRequest(f"{exc} is not a JSON number (JSON has no NaN or Infinity)"))
        except ValueError:
            return None
        if json_depth_exceeds(value, self.max_depth):
            return error_response(BadRequest(f"JSON body nests deeper than {self.max_depth} levels"))
        if text.may_hold_unstorable(raw):
            bad = text.json_problem(value)
            if bad is not None:
                return text.refusal(path, "body", bad)
        return None

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, exc: APIError) -> None:
        response = error_response(exc)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _is_form(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


class _NotJSONNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    """`json.loads` accepts NaN, Infinity and -Infinity; a Flows document cannot hold them (they could be
    neither stored faithfully nor sent back), so a body with one is refused."""
    raise _NotJSONNumber(name)
