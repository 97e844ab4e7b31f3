"""The stock `globus` CLI (globus-cli 3.44.0) against a live OpenFlows server, through the
Globus-Auth-compatible surface: client credentials from `openflows clients create`, and
GLOBUS_SDK_SERVICE_URL_{AUTH,FLOWS,GROUPS} pointed at the server.

globus-cli pins its own globus-sdk, so it lives in its own virtualenv, `.venv-globus-cli` at the repository
root (git-ignored), built on first use and reused afterwards (e2e/venvkit.py).
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

from e2e.venvkit import client_venv
from sdk.support import Server, start_server

GLOBUS_CLI_VERSION = "3.44.0"
OPENFLOWS = Path(sys.executable).parent / "openflows"
WAITING = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}}

pytestmark = pytest.mark.slow


def globus_executable() -> Path:
    """`.venv-globus-cli/bin/globus`, building the virtualenv when it is missing or has another version."""
    return client_venv("globus-cli", [f"globus-cli=={GLOBUS_CLI_VERSION}"]) / "bin" / "globus"


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


def test_globus_flows_registered_api_list_and_show(globus, server) -> None:  # type: ignore[no-untyped-def]
    """globus-cli 3.44 `flows registered-api list|show` against registered APIs made through the API."""
    import urllib.request

    tokens = subprocess.run(
        [str(OPENFLOWS), "tokens", "create", "--username", "robot@example.org", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = json.loads(tokens.stdout.splitlines()[-1])["token"]
    target = {
        "type": "openapi",
        "openapi_version": "3.1",
        "destination": {"method": "get", "url": "https://things.example.org/things"},
        "specification": {"responses": {"200": {"description": "ok"}}},
    }
    request = urllib.request.Request(
        server.base_url + "registered_apis",
        data=json.dumps({"name": "list-things", "description": "List things", "target": target}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        created = json.loads(response.read())
    _, listed = globus("flows", "registered-api", "list", "-F", "json")
    assert created["id"] in json.dumps(listed)
    text, _ = globus("flows", "registered-api", "list", expect_json=False)
    assert created["id"] in text and "list-things" in text
    _, shown = globus("flows", "registered-api", "show", created["id"], "-F", "json")
    assert shown["id"] == created["id"] and shown["name"] == "list-things"
    text, _ = globus("flows", "registered-api", "show", created["id"], expect_json=False)
    assert "list-things" in text


def test_globus_flows_web_input_commands(globus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`globus flows web-input list|show|respond` (globus-cli 3.44, globus-sdk 4.9 inside) answer a question
    a run asks the robot, and the run goes on with the chosen option."""
    robot = globus.client["identity_urn"]
    asking = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": {
                    "context": {"title": "Ship it?", "presentation_style": "text", "text": "Release 1.2"},
                    "options": [{"label": "Ship"}, {"label": "Hold", "description": "Wait a day"}],
                    "roles": {"respondent_urns": [robot]},
                },
                "ResultPath": "$.question",
                "Next": "Wait",
            },
            "Wait": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.question.id"},
                "ResultPath": "$.answer",
                "End": True,
            },
        },
    }
    definition = tmp_path / "asking.json"
    definition.write_text(json.dumps(asking))
    _, flow = globus("flows", "create", "asker", str(definition), "-F", "json")
    _, run = globus("flows", "start", flow["id"], "--label", "release", "-F", "json")
    run_id = run["run_id"]

    deadline = time.monotonic() + 30
    while True:
        _, shown = globus("flows", "run", "show", run_id, "-F", "json")
        if shown.get("blocking_web_input_id") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    web_input_id = shown["blocking_web_input_id"]
    assert web_input_id, shown

    _, listed = globus("flows", "web-input", "list", "-F", "json")
    [summary] = listed["web_input_summaries"]
    assert (summary["id"], summary["title"], summary["user_roles"]) == (
        web_input_id,
        "Ship it?",
        ["respondent"],
    )
    assert summary["run"] == {"id": run_id, "label": "release"}
    text, _ = globus("flows", "web-input", "list", expect_json=False)
    assert web_input_id in text and "Ship it?" in text and "asker" in text

    _, doc = globus("flows", "web-input", "show", web_input_id, "-F", "json")
    assert [option["label"] for option in doc["options"]] == ["Ship", "Hold"]
    hold = doc["options"][1]["option_id"]
    text, _ = globus("flows", "web-input", "show", web_input_id, expect_json=False)
    assert "Ship it?" in text and "Release 1.2" in text

    _, answered = globus("flows", "web-input", "respond", web_input_id, hold, "-F", "json")
    assert answered == {"status": "ok"}

    deadline = time.monotonic() + 30
    while True:
        _, shown = globus("flows", "run", "show", run_id, "-F", "json")
        if shown["status"] != "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown["status"] == "SUCCEEDED", shown["details"]
    assert shown["blocking_web_input_id"] is None
    answer = shown["details"]["output"]["answer"]
    assert (answer["value"], answer["option"]["label"], answer["respondent_urn"]) == (hold, "Hold", robot)
    _, closed = globus("flows", "web-input", "list", "--filter-state", "closed", "-F", "json")
    assert [(s["id"], s["status"]) for s in closed["web_input_summaries"]] == [(web_input_id, "closed")]
