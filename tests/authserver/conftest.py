"""Fixtures for the Auth server tests (the helpers are in `authkit`): a real server (`build_server`, uvicorn
in a thread, a free port) with an injected clock that starts at the real time, and log capture."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from authkit import AuthServer, free_port

from openflows.server import build_server
from openflows.settings import Settings
from openflows.shared.clock import FakeClock


@pytest.fixture
def auth_server(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[AuthServer]:
    port = free_port()
    clock = FakeClock(dt.datetime.now(dt.UTC))
    server = build_server(settings, port=port, run_executor=False, clock=clock)
    config = uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="auth-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}/"
    for service in ("AUTH", "GROUPS"):
        monkeypatch.setenv(f"GLOBUS_SDK_SERVICE_URL_{service}", base_url)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        yield AuthServer(server, base_url, clock)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        server.db.dispose()


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, DEBUG and up (to search them for secrets)."""
    caplog.set_level(logging.DEBUG)
    return caplog
