"""`APProcess`: the external Action Provider of tests/providers/external_ap.py in its own process, on a free
port, restartable on the same port and state file. Used by the external-provider tests and by the API tests
that need a provider outside the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SCRIPT = Path(__file__).with_name("external_ap.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class APProcess:
    """external_ap.py in a subprocess; restartable on the same port and state file."""

    def __init__(
        self,
        tmp: Path,
        *,
        synchronous: bool = False,
        scope: str | None = None,
        auth_url: str | None = None,
        client: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.state = tmp / f"ap-{self.port}.json"
        self.url = f"http://127.0.0.1:{self.port}"
        self.synchronous = synchronous
        #: the scope it advertises; `auth_url` + `client` (id, secret): it introspects the tokens it gets
        self.scope = scope
        self.auth_url = auth_url
        self.client = client
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, str(SCRIPT), "--port", str(self.port), "--state", str(self.state)]
        if self.synchronous:
            args.append("--synchronous")
        if self.scope:
            args += ["--scope", self.scope]
        if self.auth_url:
            args += ["--auth-url", self.auth_url]
        env = dict(os.environ)
        if self.client is not None:
            env["AP_CLIENT_ID"], env["AP_CLIENT_SECRET"] = self.client
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_stats", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the external provider did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_stats", timeout=5).json()
