"""`header_timeout_protocol`: both uvicorn protocol implementations (httptools and h11) answer 408 and close a
connection whose request head is unfinished at the deadline, and leave alone a request whose head arrived in
time, however long the application then takes. A real uvicorn on a free port, in a thread; raw sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from openflows.slow_clients import header_timeout_protocol

DEADLINE = 0.5  # seconds
SLACK = 5.0  # seconds


async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 after twice the header deadline."""
    if scope["type"] != "http":
        return
    await asyncio.sleep(2 * DEADLINE)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=[True, False], ids=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    protocol = header_timeout_protocol(DEADLINE, prefer_httptools=request.param)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(slow_app, http=protocol, lifespan="off", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SLACK
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=SLACK)
        sock.close()


def exchange(port: int, data: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE + SLACK) as sock:
        started = time.monotonic()
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks), time.monotonic() - started


def test_protocol_classes_derive_from_uvicorns() -> None:
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert issubclass(header_timeout_protocol(1, prefer_httptools=True), HttpToolsProtocol)
    assert issubclass(header_timeout_protocol(1, prefer_httptools=False), H11Protocol)
    assert header_timeout_protocol(2.5).header_timeout == 2.5


def test_an_unfinished_head_gets_408_at_the_deadline(port: int) -> None:
    response, elapsed = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
    assert DEADLINE * 0.9 <= elapsed <= DEADLINE + SLACK, f"closed after {elapsed:.2f} s"
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), response
    assert json.loads(body)["error"]["code"] == "REQUEST_TIMEOUT"


def test_a_head_that_arrived_in_time_is_served_however_long_the_app_takes(port: int) -> None:
    response, elapsed = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 "), response
    assert response.endswith(b"ok")
    assert elapsed >= 2 * DEADLINE * 0.9, f"answered after {elapsed:.2f} s"
