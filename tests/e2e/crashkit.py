"""Helpers of the crash tests: a real `openflows serve` subprocess that can be killed with SIGKILL and
restarted on the same database, tokens from the real CLI, and a tiny external action provider that can hold a
`/run` answer until the server has been killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

#: longest wait for a server to answer /healthz (a loaded CI machine starts slowly)
READY_TIMEOUT = 60.0  # seconds
_CLI = "from openflows.cli.main import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "") -> Any:
    """Call `predicate` until it returns something truthy (returned) or `timeout` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


class ServerProcess:
    """`openflows serve` in a subprocess, with its own home and database."""

    def __init__(self, home: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")},
            "OPENFLOWS_HOME": str(home),
            "OPENFLOWS_DATABASE_URL": f"sqlite:///{home / 'openflows.db'}",
            # short leases: after a SIGKILL the dead server's leases expire quickly
            "OPENFLOWS_LEASE_SECONDS": "2",
            "OPENFLOWS_POLL_MAX_SECONDS": "2",
            "OPENFLOWS_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def database_url(self) -> str:
        return self.env["OPENFLOWS_DATABASE_URL"]

    def cli(self, *args: str) -> str:
        """Run `openflows ARGS...` with this server's environment; return stdout."""
        done = subprocess.run(
            [sys.executable, "-c", _CLI, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise AssertionError(f"openflows {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def create_token(self, username: str) -> dict[str, Any]:
        return json.loads(
            self.cli("tokens", "create", "--username", username, "--json").strip().splitlines()[-1]
        )

    def start(self) -> None:
        self.starts += 1
        log = open(self.home / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._ready, timeout=READY_TIMEOUT, interval=0.1, what=f"the server on {self.url}")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}: {self.output()}")
        try:
            return httpx.get(f"{self.url}healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup at all."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def admin_tokens(self) -> list[str]:
        """The admin token each start printed (the line after "Admin token ...")."""
        tokens = []
        for path in sorted(self.home.glob("server-*.log")):
            lines = path.read_text(errors="replace").splitlines()
            for i, line in enumerate(lines[:-1]):
                if line.startswith("Admin token"):
                    tokens.append(lines[i + 1].strip())
                    break
        return tokens

    def output(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:] for path in sorted(self.home.glob("server-*.log"))
        )


class ExternalProvider:
    """A minimal Action Provider over HTTP, run in the test process. It de-duplicates `/run` on `request_id`
    (as the interface requires), counts `/run` calls per request_id, and can hold its answers to `/run`
    (`hold_runs`) so that a test can kill the engine between the provider starting an action and the engine
    committing it."""

    def __init__(self, *, active_seconds: float = 0.0) -> None:
        self.active_seconds = active_seconds
        self.actions: dict[str, dict[str, Any]] = {}  # action_id -> status document
        self.by_request: dict[str, str] = {}  # request_id -> action_id
        self.run_calls: dict[str, int] = {}
        self.started_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.hold.set()  # set = answer at once; clear = hold /run answers until set
        self.run_received = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, doc: Any) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the engine may have been killed while waiting
                    self.wfile.write(data)

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[2] == "status":
                    doc = provider.status(parts[1])
                    self._send(200, doc) if doc else self._send(
                        404, {"code": "ActionNotFound", "description": "x"}
                    )
                else:
                    self._send(200, {"types": ["Action"], "api_version": "1.0", "globus_auth_scope": "x"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                parts = self.path.strip("/").split("/")
                if parts[-1] == "run":
                    doc, created = provider.run(body)
                    provider.run_received.set()
                    provider.hold.wait(timeout=60)
                    self._send(202 if created else 200, doc)
                elif len(parts) == 3 and parts[2] in ("release", "cancel"):
                    doc = provider.status(parts[1])
                    self._send(200, doc) if doc else self._send(
                        404, {"code": "ActionNotFound", "description": "x"}
                    )
                else:
                    self._send(404, {"code": "NotFound", "description": self.path})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ap"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def run(self, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        request_id = request["request_id"]
        with self.lock:
            self.run_calls[request_id] = self.run_calls.get(request_id, 0) + 1
            existing = self.by_request.get(request_id)
            if existing is not None:
                return self._current(existing), False
            action_id = str(uuid.uuid4())
            self.by_request[request_id] = action_id
            self.started_at[action_id] = time.monotonic()
            self.actions[action_id] = {
                "action_id": action_id,
                "status": "ACTIVE",
                "creator_id": "urn:globus:auth:identity:00000000-0000-4000-8000-000000000000",
                "details": {"echo": request["body"]},
            }
            return self._current(action_id), True

    def status(self, action_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self._current(action_id) if action_id in self.actions else None

    def _current(self, action_id: str) -> dict[str, Any]:
        doc = dict(self.actions[action_id])
        if time.monotonic() - self.started_at[action_id] >= self.active_seconds:
            doc["status"] = "SUCCEEDED"
        return doc

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
