"""`BodyDeadline`: a request body must arrive within a bounded time of its headers (issue 12 §6).

A client that declares a body and sends it slowly, or never, would otherwise hold its connection and the
request's task for as long as it likes. This pure ASGI middleware bounds every `receive()` of the request body
by one deadline, `seconds` after the application was called (when the headers were complete); once the body is
complete (or the client disconnected), later `receive()` calls, such as a streaming response waiting for the
disconnect, are not bounded. When the deadline passes before the response started, the answer is 408
REQUEST_TIMEOUT with `Connection: close`. The bound is a total, so trickling a byte at a time does not extend
it. It sits outside `RequestLimits`, which reads the whole body before any handler runs. The request line and
headers have their own deadline, in the HTTP server (`openflows.slow_clients`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .errors import RequestTimeout, error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: default bound on receiving a whole request body
DEFAULT_BODY_TIMEOUT = 30.0  # seconds


class BodyTimedOut(Exception):
    """Raised out of `receive()` when the body deadline has passed."""


class BodyDeadline:
    """ASGI middleware bounding the time a request body may take to arrive."""

    def __init__(self, app: ASGIApp, *, seconds: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_done = False
        response_started = False

        async def bounded_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTimedOut:
            if response_started:  # too late for a 408: the server closes the connection
                raise
            response = error_response(
                RequestTimeout(f"The request body was not received within {self.seconds:g} seconds")
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
