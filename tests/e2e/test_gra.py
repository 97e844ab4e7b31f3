"""The unchanged `gra` command (globus-registered-api 1.0.1) against a live OpenFlows server (issue 15).

globus-registered-api 1.0.1 needs globus-sdk >=4,<4.6, so it lives in its own virtualenv, `.venv-gra` at the
repository root (git-ignored), built on first use and reused afterwards (e2e/venvkit.py). Here gra signs in
as a confidential client (GLOBUS_REGISTERED_API_CLIENT_ID and _SECRET, from `openflows clients create`)
through OpenFlows' Globus-Auth-compatible surface, with GLOBUS_SDK_SERVICE_URL_{AUTH,FLOWS,GROUPS,SEARCH}
pointed at the server; tests/ui/test_gra_signin.py signs a person in with gra's own native client.

What it shows: `gra api create|list|show|update|delete`; `gra build` + `gra publish` register "list my flows"
from OpenFlows' own /openapi.json (the package's tutorial, with the repository configuration `gra init` and
`gra manage` would write); and the tutorial's flow runs on OpenFlows and returns the caller's flows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import globus_sdk
import pytest

from e2e.venvkit import client_venv
from sdk.support import VIEW_FLOWS, Server, flows_client, raw_request, start_server, wait_for_run

GRA_VERSION = "1.0.1"
OPENFLOWS = Path(sys.executable).parent / "openflows"
SUBSCRIPTION = "4fa609fc-14f6-4c62-acfd-680873d3b6fe"

pytestmark = pytest.mark.slow


def gra_executable() -> Path:
    """`.venv-gra/bin/gra`, building the virtualenv when it is missing or has another version."""
    return client_venv("gra", [f"globus-registered-api=={GRA_VERSION}"]) / "bin" / "gra"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-gra-"))
    live = start_server(OPENFLOWS, workdir)
    try:
        yield live
    finally:
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def gra(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`gra(*args, cwd=...)`: run the real gra as a client of `robot@example.org`; return stdout."""
    executable = gra_executable()
    created = subprocess.run(
        [str(OPENFLOWS), "clients", "create", "--username", "robot@example.org", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    client = json.loads(created.stdout)
    home = tmp_path_factory.mktemp("gra-home")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GLOBUS_REGISTERED_API_CLIENT_ID": client["client_id"],
        "GLOBUS_REGISTERED_API_CLIENT_SECRET": client["client_secret"],
        "GLOBUS_SDK_SERVICE_URL_AUTH": server.base_url,
        "GLOBUS_SDK_SERVICE_URL_FLOWS": server.base_url,
        "GLOBUS_SDK_SERVICE_URL_GROUPS": server.base_url,
        "GLOBUS_SDK_SERVICE_URL_SEARCH": server.base_url,
        "GLOBUS_SDK_HTTP_TIMEOUT": "30",
    }

    def run(*args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            [str(executable), *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (
            f"gra {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            f"\nserver log:\n{server.log_tail(30)}"
        )
        return done.stdout

    run.client = client  # type: ignore[attr-defined]
    return run


def test_gra_api_commands(gra, server: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    owner = gra.client["identity_urn"]
    target = {
        "type": "openapi",
        "openapi_version": "3.1",
        "destination": {"method": "get", "url": f"{server.base_url.rstrip('/')}/flows/{{flow_id}}"},
        "specification": {
            "parameters": [{"name": "flow_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "security": [{"GlobusAuth": [VIEW_FLOWS]}],
        },
    }
    path = tmp_path / "target.json"
    path.write_text(json.dumps(target))
    created = json.loads(
        gra("api", "create", "get-flow", "--target", str(path), "--description", "Get a flow",
            "--subscription-id", SUBSCRIPTION, "--format", "json")
    )  # fmt: skip
    api_id = created["id"]
    assert created["name"] == "get-flow" and created["roles"]["owners"] == [owner]
    assert created["state_input_schema"]["properties"]["path"]["required"] == ["flow_id"]
    assert created["subscription_id"] == SUBSCRIPTION

    listed = json.loads(gra("api", "list", "--format", "json"))
    assert api_id in [item["id"] for item in listed]
    text = gra("api", "list")
    assert f"{api_id} | get-flow" in text

    shown = gra("api", "show", api_id)
    assert f"ID:             {api_id}" in shown and f"Owners:         {owner}" in shown

    viewer = f"urn:globus:auth:identity:{uuid.uuid4()}"
    updated = json.loads(
        gra("api", "update", api_id, "--name", "get-one-flow", "--viewer", viewer, "--format", "json")
    )
    assert updated["name"] == "get-one-flow" and updated["roles"]["viewers"] == [viewer]
    assert updated["edited_timestamp"] is not None

    deleted = gra("api", "delete", api_id)
    assert "Status: DELETE_PENDING" in deleted and "permanently deleted on" in deleted
    assert api_id not in [item["id"] for item in json.loads(gra("api", "list", "--format", "json"))]


def test_gra_build_publish_and_the_tutorial_flow(gra, server: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "list-flows-demo"
    (repo / ".globus_registered_api").mkdir(parents=True)
    owner_id = gra.client["identity_urn"].rsplit(":", 1)[1]
    config = {
        "document_version": "1.0",
        "targets": {
            "list-flows": {
                "path": "/flows",
                "method": "GET",
                "description": "Retrieve all Flows",
                "stages": "*",  # no scope: gra reads it from the operation's `security` in /openapi.json
            }
        },
        "stages": {
            "production": {
                "base_url": server.base_url.rstrip("/"),
                "specification": f"{server.base_url}openapi.json",
                "subscription_id": SUBSCRIPTION,
                "globus_environment": "production",
                "registered_apis": {},
                "roles": [{"type": "identity", "id": owner_id, "access_level": "owner"}],
            }
        },
    }
    (repo / ".globus_registered_api" / "config.json").write_text(json.dumps(config))
    started = time.monotonic()
    built = gra("build", cwd=repo)
    assert "Successfully computed manifest artifact" in built
    published = gra("publish", "--yes", cwd=repo)
    elapsed = time.monotonic() - started
    assert "Created with ID:" in published, published
    api_id = published.split("Created with ID:")[1].split()[0]
    saved = json.loads((repo / ".globus_registered_api" / "config.json").read_text())
    assert saved["stages"]["production"]["registered_apis"]["list-flows"]["registered_api_id"] == api_id
    assert elapsed < 60, elapsed

    # the tutorial's flow, created and run as the same identity with the globus-sdk
    robot = server.create_identity("robot@example.org")
    assert robot.urn == gra.client["identity_urn"]
    registered = raw_request(server.base_url, "GET", f"/registered_apis/{api_id}", token=robot.token)
    assert registered.status == 200, registered.body
    security = registered.json()["target"]["specification"]["security"]
    assert security[0] == {"GlobusAuth": [VIEW_FLOWS]}, security  # inferred: least privilege first
    flows = flows_client(server.base_url, robot.token)
    definition = {
        "StartAt": "DemoRegisteredApi",
        "States": {
            "DemoRegisteredApi": {
                "Type": "Action",
                "Handler": {"Type": "RegisteredAPI", "Id": api_id},
                "Parameters": {},
                "ResultPath": "$.MyFlows",
                "End": True,
            }
        },
    }
    flow = flows.create_flow("Demo: List my flows", definition, {})
    run = robot.specific(flow["id"]).run_flow({"_tokens": {"User": robot.token}})
    done = wait_for_run(flows, run["run_id"])
    assert done["status"] == "SUCCEEDED", done["details"]
    listed = done["details"]["output"]["MyFlows"]["body"]["flows"]
    assert flow["id"] in [item["id"] for item in listed]
    assert all(item["flow_owner"] == robot.urn for item in listed)
    other = server.create_identity("someone-else@example.org")
    with pytest.raises(globus_sdk.FlowsAPIError) as refused:
        flows_client(server.base_url, other.token).create_flow("not allowed", definition, {})
    assert refused.value.http_status == 422
