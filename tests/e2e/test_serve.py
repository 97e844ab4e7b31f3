"""`openflows serve` composition: the admin token survives restarts, the banner, URLs, the assembled app."""

from __future__ import annotations

import ast
import os
import socket
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

from openflows.auth.tokens import Authenticator
from openflows.server import (
    ADMIN_TOKEN_FILE,
    banner,
    build_server,
    cli_hint,
    ensure_admin_token,
    freeze_startup_heap,
    local_base_urls,
    public_url_for,
)
from openflows.settings import Settings
from openflows.store.db import Database

with warnings.catch_warnings():  # starlette deprecates httpx in favour of httpx2, which is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_admin_token_is_created_once_and_remembered(db: Database, tmp_path: Path):
    home = tmp_path / "home"
    authenticator = Authenticator(db)
    token, urn = ensure_admin_token(db, authenticator, home)
    path = home / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    assert ensure_admin_token(db, authenticator, home) == (token, urn)
    principal = authenticator.authenticate(token)
    assert principal is not None and principal.identity_urn == urn
    # a revoked (or foreign) remembered token is replaced
    authenticator.revoke_token(token)
    new_token, new_urn = ensure_admin_token(db, authenticator, home)
    assert new_token != token and new_urn == urn


def test_banner_has_a_five_line_python_snippet():
    text = banner("http://127.0.0.1:8765/", "of_abc", "urn:globus:auth:identity:x")
    assert "http://127.0.0.1:8765/" in text and "of_abc" in text
    snippet = text.split("Try it with globus-sdk:\n", 1)[1].strip().splitlines()
    assert len(snippet) == 5
    assert snippet[0] == "import globus_sdk"
    ast.parse("\n".join(snippet))
    assert 'FlowsClient(base_url="http://127.0.0.1:8765/"' in snippet[2]


def test_urls():
    settings = Settings(home=Path("/nonexistent"))
    assert public_url_for(settings, "0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert public_url_for(settings.replace(public_url="https://flows.example.org"), "x", 1) == (
        "https://flows.example.org/"
    )
    urls = local_base_urls("127.0.0.1", 8765, "https://flows.example.org/")
    assert urls[0] == "https://flows.example.org"
    assert "http://localhost:8765" in urls


def test_build_server_serves_the_api_and_the_providers(settings: Settings):
    server = build_server(settings, port=9999, run_executor=False)
    try:
        token, _ = ensure_admin_token(server.db, server.authenticator, settings.home)
        with TestClient(server.app) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/actions/hello_world").json()["title"] == "Hello World"
            response = client.post(
                "/actions/hello_world/run",
                json={"request_id": "1", "body": {"echo_string": "x"}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 202 and response.json()["status"] == "SUCCEEDED"
        assert server.registry.resolve("http://127.0.0.1:9999/actions/hello_world") is not None
        assert server.registry.resolve("https://actions.globus.org/hello_world") is not None
        off = build_server(settings.replace(emulate_globus_providers=False), port=9999, run_executor=False)
        assert off.registry.resolve("https://actions.globus.org/hello_world") is None
        off.db.dispose()
    finally:
        server.db.dispose()


def test_freeze_startup_heap_hides_what_exists_from_the_collector() -> None:
    import gc

    class Marker:
        pass

    kept = [Marker() for _ in range(100)]
    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen >= 100  # the objects alive at the call, at least
        assert gc.isenabled()  # later objects are still collected
        assert not any(obj is kept for obj in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()


def test_a_taken_port_is_one_line_and_exit_status_1_before_anything_starts(tmp_path: Path) -> None:
    """Issue 18: `serve` on a taken port printed the banner and the token, started the executor, wrote the
    profile, then died with Errno 98. Now it binds first."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")}
        env.update(
            OPENFLOWS_HOME=str(tmp_path / "home"),
            OPENFLOWS_DATABASE_URL=f"sqlite:///{tmp_path / 'openflows.db'}",
        )
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "openflows"), "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert done.stdout == ""  # no banner, no token
    assert done.stderr.splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use (another OpenFlows?); stop it, or choose another "
        f"port: openflows serve --port {port + 1} (make serve PORT={port + 1})"
    ]
    assert not (tmp_path / "openflows.db").exists()  # nothing was touched
    assert not (tmp_path / "home").exists()  # no profile, no admin token
    assert elapsed < 10, elapsed


def test_the_banner_says_how_to_reach_the_cli(tmp_path: Path) -> None:
    """`make serve` runs .venv/bin/openflows, not on PATH in a second terminal: the banner says so."""
    scripts = tmp_path / "venv" / "bin"
    scripts.mkdir(parents=True)
    (scripts / "activate").write_text("")
    python = str(scripts / "python")
    assert cli_hint(python, which=lambda _: None)[1:] == [
        f"  source {scripts / 'activate'}",
        "  openflows flows list",
    ]
    on_path = cli_hint(python, which=lambda _: str(scripts / "openflows"))
    assert on_path == [
        'The CLI uses this server (profile "local"). In another terminal:',
        "  openflows flows list",
    ]
    (scripts / "activate").unlink()
    assert cli_hint(python, which=lambda _: "/usr/bin/openflows")[1] == f'  export PATH="{scripts}:$PATH"'
    text = banner("http://127.0.0.1:8765/", "of_abc", "urn:x", cli=on_path)
    assert text.splitlines()[4:6] == on_path
