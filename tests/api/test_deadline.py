"""`BodyDeadline` bounds the time a request body may take (issue 12 §6): an unfinished body gets a 408
REQUEST_TIMEOUT with `Connection: close` once the deadline has passed, a body that arrives in time reaches the
application whole, and what the application receives after the body (a streaming response waiting for the
disconnect) is not bounded. Driven as ASGI around `RequestLimits`, as `create_app` stacks them, with a short
deadline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from typing import Any

from openflows.api.deadline import BodyDeadline
from openflows.api.limits import RequestLimits

TIMEOUT = 0.2  # seconds
SLACK = 5.0  # seconds


def http_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/flows", "headers": headers, "query_string": b""}


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": message["body"]})


def stack(app: Any, *, max_bytes: int = 1000) -> BodyDeadline:
    return BodyDeadline(RequestLimits(app, max_bytes=max_bytes), seconds=TIMEOUT)


def run(limits: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[list, float]:
    """Feed `messages`, then stall forever (a client that stopped sending); what was sent, and when."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> float:
        started = time.monotonic()
        await asyncio.wait_for(limits(scope, receive, send), timeout=SLACK)
        return time.monotonic() - started

    # a loop of its own in a thread of its own: a session's Playwright (tests/ui) keeps an event loop
    # running in the main thread of the same pytest process
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return sent, pool.submit(asyncio.run, main()).result()


def response_of(sent: list[dict[str, Any]]) -> tuple[int, dict[bytes, bytes], bytes]:
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def test_an_unfinished_body_gets_408_and_close() -> None:
    limits = stack(echo_app)
    scope = http_scope([(b"content-type", b"application/json"), (b"content-length", b"100")])
    sent, elapsed = run(limits, scope, [{"type": "http.request", "body": b'{"a"', "more_body": True}])
    status, headers, body = response_of(sent)
    assert status == 408, sent
    assert headers[b"connection"] == b"close"
    assert json.loads(body)["error"]["code"] == "REQUEST_TIMEOUT"
    assert TIMEOUT * 0.9 <= elapsed <= TIMEOUT + SLACK, f"answered after {elapsed:.2f} s"


def test_an_oversized_body_whose_rest_never_comes_is_closed_in_time() -> None:
    sent, elapsed = run(
        stack(echo_app, max_bytes=10),
        http_scope([]),
        [{"type": "http.request", "body": b"x" * 20, "more_body": True}],
    )
    status, headers, _ = response_of(sent)
    assert (status, headers[b"connection"]) == (408, b"close"), sent
    assert elapsed <= TIMEOUT + SLACK, f"answered after {elapsed:.2f} s"


async def streaming_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the body, starts a response, then waits for the client to go away (as a live stream does)."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        message = await asyncio.wait_for(receive(), timeout=4 * TIMEOUT)
        tail = message["type"].encode()
    except TimeoutError:  # the client stayed: the stream would go on
        tail = b"still streaming"
    await send({"type": "http.response.body", "body": tail})


def test_what_comes_after_the_body_is_not_bounded() -> None:
    sent, elapsed = run(stack(streaming_app), http_scope([]), [{"type": "http.request", "body": b""}])
    assert response_of(sent) == (200, {}, b"still streaming"), sent  # receive() did not raise BodyTimedOut
    assert elapsed >= 4 * TIMEOUT * 0.9, f"the stream ended after {elapsed:.2f} s"


def test_a_body_in_time_reaches_the_app_whole() -> None:
    limits = stack(echo_app)
    chunks = [
        {"type": "http.request", "body": b'{"a": ', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]
    sent, _ = run(limits, http_scope([(b"content-type", b"application/json")]), chunks)
    assert response_of(sent) == (200, {}, b'{"a": 1}')
