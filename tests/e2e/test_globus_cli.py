"""The stock `globus` CLI (globus-cli 3.44.0) against a live OpenFlows server, through the
Globus-Auth-compatible surface: client credentials from `openflows clients create`, and
GLOBUS_SDK_SERVICE_URL_{AUTH,FLOWS,GROUPS} pointed at the server.

globus-cli pins its own globus-sdk, so it lives in its own virtualenv, `.venv-globus-cli` at the repository
root (git-ignored), built on first use and reused afterwards. The test is skipped when that virtualenv cannot
be built (no package index).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdk.support import Server, start_server

REPO_ROOT = Path(__file__).resolve().parents[2]
GLOBUS_CLI_VERSION = "3.44.0"
VENV = REPO_ROOT / ".venv-globus-cli"
OPENFLOWS = Path(sys.executable).parent / "openflows"
WAITING = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}}

pytestmark = pytest.mark.slow


def globus_executable() -> Path:
    """`.venv-globus-cli/bin/globus`, building the virtualenv when it is missing or has another version."""
    globus = VENV / "bin" / "globus"
    marker = VENV / f"globus-cli-{GLOBUS_CLI_VERSION}.ok"
    if globus.exists() and marker.exists():
        return globus
    shutil.rmtree(VENV, ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=120
        )
        subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"globus-cli=={GLOBUS_CLI_VERSION}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        output = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot build {VENV.name}: {output.decode(errors='replace')[-300:]}")
    marker.write_text(GLOBUS_CLI_VERSION + "\n")
    return globus


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-globus-cli-"))
    live = start_server(OPENFLOWS, workdir)
    try:
        yield live
    finally:
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def globus(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`globus(*args)`: run the real CLI as a client of `robot@example.org`; return (stdout, parsed JSON)."""
    executable = globus_executable()
    created = subprocess.run(
        [str(OPENFLOWS), "clients", "create", "--username", "robot@example.org", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    client = json.loads(created.stdout)
    home = tmp_path_factory.mktemp("globus-home")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GLOBUS_CLI_CLIENT_ID": client["client_id"],
        "GLOBUS_CLI_CLIENT_SECRET": client["client_secret"],
        "GLOBUS_SDK_SERVICE_URL_AUTH": server.base_url,
        "GLOBUS_SDK_SERVICE_URL_FLOWS": server.base_url,
        "GLOBUS_SDK_SERVICE_URL_GROUPS": server.base_url,
        "GLOBUS_CLI_INTERACTIVE": "0",
        "GLOBUS_SDK_HTTP_TIMEOUT": "30",
    }

    def run(*args: str, expect_json: bool = True) -> tuple[str, Any]:
        done = subprocess.run(
            [str(executable), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (
            f"globus {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\n"
            f"stderr:\n{done.stderr}"
            f"\nserver log:\n{server.log_tail(30)}"
        )
        return done.stdout, json.loads(done.stdout) if expect_json else None

    run.client = client  # type: ignore[attr-defined]
    return run


def test_globus_flows_commands(globus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    definition = tmp_path / "waiting.json"
    definition.write_text(json.dumps(WAITING))
    owner = globus.client["identity_urn"]

    _, flow = globus("flows", "create", "napper", str(definition), "--subtitle", "via globus", "-F", "json")
    flow_id = flow["id"]
    assert flow["title"] == "napper" and flow["subtitle"] == "via globus"
    assert flow["flow_owner"] == owner
    assert flow["definition"] == WAITING

    _, listed = globus("flows", "list", "-F", "json")
    assert flow_id in [f["id"] for f in listed["flows"]]
    text, _ = globus(
        "flows", "list", expect_json=False
    )  # text mode looks the owner up via /v2/api/identities
    assert flow_id in text and "robot@example.org" in text

    _, shown = globus("flows", "show", flow_id, "-F", "json")
    assert shown["id"] == flow_id and shown["globus_auth_scope"].endswith(
        f"flow_{flow_id.replace('-', '_')}_user"
    )

    _, run = globus("flows", "start", flow_id, "--input", '{"a": 1}', "--label", "from-globus", "-F", "json")
    run_id = run["run_id"]
    assert run["flow_id"] == flow_id and run["label"] == "from-globus" and run["status"] == "ACTIVE"

    _, shown_run = globus("flows", "run", "show", run_id, "-F", "json")
    assert shown_run["run_id"] == run_id and shown_run["run_owner"] == owner

    deadline = time.monotonic() + 30
    while True:
        _, logs = globus("flows", "run", "show-logs", run_id, "-F", "json")
        codes = [entry["code"] for entry in logs["entries"]]
        if "WaitStarted" in codes or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert codes[:2] == ["FlowStarted", "WaitStarted"]

    _, runs = globus("flows", "run", "list", "-F", "json")
    assert run_id in [r["run_id"] for r in runs["runs"]]

    _, canceled = globus("flows", "run", "cancel", run_id, "-F", "json")
    assert canceled["run_id"] == run_id
    _, after = globus("flows", "run", "show", run_id, "-F", "json")
    assert after["status"] in ("FAILED", "ENDED") and after["details"]["code"] == "FlowCanceled"

    _, deleted = globus("flows", "delete", flow_id, "-F", "json")
    assert deleted["id"] == flow_id and deleted["DELETED"] is True
