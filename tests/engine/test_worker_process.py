"""`openflows worker` as a real process: runs flows from the database, serves /metrics when asked, and on
SIGTERM hands its work back and exits 0. `serve` exposes GET /metrics. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
from enginekit import get_run, insert_run

from openflows.settings import Settings
from openflows.shared.clock import SystemClock
from openflows.store import work as store
from openflows.store.db import Database

with warnings.catch_warnings():
    # Starlette 1.x prefers `httpx2` for its TestClient; httpx works the same here.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

_CLI = "from openflows.cli.main import main; main()"
PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "ok", "ResultPath": "$.a", "End": True}}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_worker_runs_flows_serves_metrics_and_stops_on_sigterm(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")},
        "OPENFLOWS_HOME": str(tmp_path / "home"),
        "OPENFLOWS_DATABASE_URL": database_url,
        "OPENFLOWS_METRICS_PORT": str(port),
        "OPENFLOWS_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-c", _CLI, "worker", "--threads", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        run_id = insert_run(db, PASS, {"x": 1}, now=SystemClock().now())
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
        assert get_run(db, run_id)["details"]["output"] == {"x": 1, "a": "ok"}

        def scrape() -> str | None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except httpx.HTTPError:
                return None
            return response.text if response.status_code == 200 else None

        text = wait_for(scrape)
        assert "openflows_runs_started_total 1\n" in text
        assert 'openflows_runs_finished_total{status="SUCCEEDED"} 1\n' in text
        assert 'openflows_work_items{state="due"} 0\n' in text
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    lines = log_path.read_text().splitlines()
    assert any('"action":"stop_executor"' in line for line in lines), lines[-5:]
    with db.read() as conn:
        assert all(item.lease_owner is None for item in store.list_work_items(conn))


def test_serve_exposes_metrics(settings: Settings) -> None:
    from openflows.server import build_server

    server = build_server(settings)
    try:
        with TestClient(server.app) as client:
            response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "# TYPE openflows_state_transitions_total counter" in response.text
        assert "openflows_work_lag_seconds 0\n" in response.text
        assert 'openflows_db_pool_connections{state="size"}' in response.text
    finally:
        server.db.dispose()


def test_serve_without_executor_exposes_database_metrics_only(settings: Settings) -> None:
    from openflows.server import build_server

    server = build_server(settings, run_executor=False)
    try:
        with TestClient(server.app) as client:
            text = client.get("/metrics").text
        assert "openflows_state_transitions_total" not in text
        assert 'openflows_runs{status="ACTIVE"} 0\n' in text
    finally:
        server.db.dispose()
