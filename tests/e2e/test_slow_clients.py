"""Slow clients against a real `openflows serve` (issue 12 §6): a connection that never finishes its request
line, its headers or its declared body gets a 408 and is closed once the configured deadline has passed, and
many such connections do not keep a normal request from being served.

The server runs with 1.5 s deadlines (OPENFLOWS_HEADER_TIMEOUT_SECONDS, OPENFLOWS_BODY_TIMEOUT_SECONDS) so the
tests wait about that long; each assertion reports the time measured.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from crashkit import ServerProcess

#: the deadlines the server under test runs with
DEADLINE = 1.5  # seconds
#: how late after the deadline a close may come on a loaded machine
SLACK = 5.0  # seconds
#: slow connections held open at once in the crowd test
CROWD = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home: Path = tmp_path_factory.mktemp("slow-clients")
    process = ServerProcess(
        home,
        extra_env={
            "OPENFLOWS_HEADER_TIMEOUT_SECONDS": str(DEADLINE),
            "OPENFLOWS_BODY_TIMEOUT_SECONDS": str(DEADLINE),
        },
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE + SLACK)


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection (or the socket's timeout passes), and when
    that was."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), time.monotonic()


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length (the connection stays open)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def assert_timed_out(response: bytes, elapsed: float, what: str) -> dict:
    assert DEADLINE * 0.9 <= elapsed <= DEADLINE + SLACK, f"{what}: closed after {elapsed:.2f} s"
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), f"{what}: {response[:200]!r} after {elapsed:.2f} s"
    assert b"connection: close" in head.lower(), head
    doc = json.loads(body)
    assert doc["error"]["code"] == "REQUEST_TIMEOUT", doc
    assert set(doc) == {"error", "debug_id"}, doc
    return doc


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"GET /heal",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sl",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    ],
    ids=["nothing", "half-request-line", "half-a-header", "headers-not-ended"],
)
def test_an_unfinished_request_head_is_answered_408_and_closed(server: ServerProcess, sent: bytes) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        response, closed = read_until_closed(sock)
    doc = assert_timed_out(response, closed - started, f"after sending {sent!r}")
    assert "request line and headers" in doc["error"]["detail"]


def test_a_trickled_head_is_bounded_in_total_not_per_byte(server: ServerProcess) -> None:
    """A byte every 0.2 s keeps the connection busy, but the deadline counts from its start."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    with connect(server) as sock:
        started = time.monotonic()
        for byte in head:
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable or time.monotonic() - started > DEADLINE + SLACK:  # answered, closed, or too late
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        response, closed = read_until_closed(sock)
    assert_timed_out(response, closed - started, "a trickled head")


def test_an_unfinished_body_is_answered_408_and_closed(server: ServerProcess) -> None:
    token = server.create_token("slow-body")["token"]
    head = (
        "POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with connect(server) as sock:
        sock.sendall(head + b'{"title": "half')
        started = time.monotonic()
        response, closed = read_until_closed(sock)
    doc = assert_timed_out(response, closed - started, "half a declared body")
    assert "request body" in doc["error"]["detail"]


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_request(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b'{"status":"ok"}'), first[:200]
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 1")
        response, closed = read_until_closed(sock)
    assert_timed_out(response, closed - started, "half of a second request")


def test_a_crowd_of_slow_clients_does_not_stop_a_normal_request(server: ServerProcess) -> None:
    crowd = []
    try:
        for index in range(CROWD):
            sock = connect(server)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-" + str(index).encode())
            crowd.append(sock)
        started = time.monotonic()
        response = httpx.get(f"{server.url}healthz", timeout=DEADLINE + SLACK)
        served = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert served < DEADLINE, f"/healthz took {served:.2f} s with {CROWD} slow clients connected"
        deadline = started + DEADLINE + SLACK
        for sock in crowd:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            response_bytes, _ = read_until_closed(sock)
            assert response_bytes.startswith(b"HTTP/1.1 408 "), response_bytes[:100]
        elapsed = time.monotonic() - started
        assert elapsed <= DEADLINE + SLACK, f"{CROWD} slow clients were closed after {elapsed:.2f} s"
    finally:
        for sock in crowd:
            sock.close()
