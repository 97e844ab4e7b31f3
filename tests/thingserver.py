"""A small HTTP API on a free loopback port for the registered API tests: path, query, header and body
parameters; 2xx, 4xx, 5xx, slow, huge, non-JSON and redirecting answers. It records every request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: how long /slow waits before answering
SLOW_SECONDS = 3.0
#: size of the /huge answer
HUGE_BYTES = 3 * 1024 * 1024


class ThingServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def calls(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


def _handler(owner: ThingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(
            self, status: int, body: Any, content_type: str = "application/json", **headers: str
        ) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> tuple[str, dict[str, list[str]], Any]:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            entry = {
                "method": self.command,
                "path": parts.path,
                "query": parse_qs(parts.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
            with owner.lock:
                owner.requests.append(entry)
            return parts.path, entry["query"], body

        def do_GET(self) -> None:  # noqa: N802
            path, query, _ = self._record()
            if path == "/slow":
                time.sleep(SLOW_SECONDS)
                self._answer(200, {"slow": True})
            elif path == "/huge":
                self._answer(200, b"x" * HUGE_BYTES, "text/plain")
            elif path == "/text":
                self._answer(200, b"plain words", "text/plain; charset=utf-8")
            elif path == "/redirect":
                self._answer(302, b"", "text/plain", Location=f"{owner.base_url}/things/elsewhere")
            elif path.startswith("/things/"):
                thing = path.removeprefix("/things/")
                if thing == "missing":
                    self._answer(404, {"detail": "no such thing"})
                elif thing == "boom":
                    self._answer(503, {"detail": "down"}, Retry_After="1")
                else:
                    self._answer(
                        200,
                        {
                            "id": thing,
                            "verbose": query.get("verbose"),
                            "tags": query.get("tag"),
                            "trace": self.headers.get("X-Trace"),
                            "authorized": self.headers.get("Authorization") is not None,
                        },
                        ETag='"v1"',
                    )
            else:
                self._answer(404, {"detail": "unknown path"})

        def do_POST(self) -> None:  # noqa: N802
            path, _, body = self._record()
            if path == "/things":
                if isinstance(body, dict) and body.get("name") == "fail":
                    self._answer(500, {"detail": "could not make it"})
                else:
                    self._answer(201, {"made": body}, Location=f"{owner.base_url}/things/new")
            else:
                self._answer(404, {"detail": "unknown path"})

    return Handler


@contextmanager
def thing_server() -> Iterator[ThingServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    owner = ThingServer(server)
    server.RequestHandlerClass = _handler(owner)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="thing-server", daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def openapi_document(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the thing server."""
    ok = {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "things", "version": "1"},
        "servers": [{"url": base_url}],
        "paths": {
            "/things/{thing_id}": {
                "parameters": [
                    {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "parameters": [
                        {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                        {
                            "name": "tag",
                            "in": "query",
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                    ],
                    "responses": ok,
                    "security": [{"GlobusAuth": ["https://auth.globus.org/scopes/things/read"]}],
                },
            },
            "/things": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewThing"}}
                        },
                    },
                    "responses": {"201": {"description": "made"}},
                }
            },
            "/slow": {"get": {"responses": ok}},
            "/huge": {"get": {"responses": ok}},
            "/text": {"get": {"responses": ok}},
            "/redirect": {"get": {"responses": ok}},
        },
        "components": {
            "schemas": {
                "NewThing": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                }
            }
        },
    }
