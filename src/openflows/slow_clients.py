"""A deadline for the request line and headers of every HTTP request `openflows serve` reads.

uvicorn closes a keep-alive connection that stays idle between requests (`timeout_keep_alive`), but it sets no
bound on a request that has started: a client that connects and sends nothing, or half a request line, or
headers one byte at a time, holds its connection open for as long as it likes (issue 12: 1,200 such
connections were held for 90 s and more). `header_timeout_protocol` returns uvicorn's HTTP protocol class
(httptools when installed, else h11, as uvicorn's `http="auto"` picks) with one more timer: armed when the
connection opens and when the first byte of a later request arrives, cancelled when the headers are complete.
When it fires the server answers 408 with a Flows error document and closes the connection. The request body
has its own deadline, in `api/deadline.py` (`BodyDeadline`), so it also applies in tests without uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

#: default bound on receiving a request line and headers
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds


def timeout_response(detail: str) -> bytes:
    """A complete HTTP/1.1 408 response with a Flows error document, closing the connection."""
    body = json.dumps(
        {"error": {"code": "REQUEST_TIMEOUT", "detail": detail}, "debug_id": str(uuid.uuid4())},
        separators=(",", ":"),
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeaderDeadline:
    """The timer shared by both protocol classes (mixed in before uvicorn's class)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline_passed)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self.transport is None or self.transport.is_closing():
            return
        detail = f"The request line and headers were not received within {self.header_timeout:g} seconds"
        self.transport.write(timeout_response(detail))
        self.transport.close()


def _httptools_protocol() -> type[Any] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed
        return None

    class HeaderDeadlineHttpToolsProtocol(_HeaderDeadline, HttpToolsProtocol):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:  # the first byte of a request
            super().on_message_begin()
            self._arm_header_deadline()

        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

    return HeaderDeadlineHttpToolsProtocol


def _h11_protocol() -> type[Any]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineH11Protocol(_HeaderDeadline, H11Protocol):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:  # waiting for (the rest of) a request line and headers
                self._arm_header_deadline()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm_header_deadline()

    return HeaderDeadlineH11Protocol


def header_timeout_protocol(seconds: float, *, prefer_httptools: bool = True) -> type[Any]:
    """uvicorn's HTTP protocol class with a `seconds` deadline on each request's line and headers."""
    base = (_httptools_protocol() if prefer_httptools else None) or _h11_protocol()
    return type(base.__name__, (base,), {"header_timeout": float(seconds), "__module__": __name__})
