"""The built-in providers in a real `openflows serve`, driven with the real globus-sdk: collections added with
the CLI, the SDK's two-hop transfer example moving 1,000 files across three collections (background threads,
the run woken when each transfer ends), and a transfer that survives a SIGKILL of the server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import globus_sdk
import pytest
import sqlalchemy as sa
from crashkit import ServerProcess, wait_until

from corpus import CORPUS_DIR
from openflows.store.db import Database
from openflows.store.schema import provider_actions

pytestmark = pytest.mark.slow

FINISH_TIMEOUT = 90.0  # seconds


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    home = tmp_path / "home"
    home.mkdir()
    process = ServerProcess(home, extra_env={"OPENFLOWS_TRANSFER_THREADS": "2"})
    try:
        yield process
    finally:
        process.kill()


def add_collection(server: ServerProcess, root: Path, name: str) -> str:
    """A collection owned by alice, who runs the flows (`start_run`)."""
    root.mkdir(parents=True, exist_ok=True)
    collection_id = str(uuid.uuid4())
    server.cli("collections", "add", "--id", collection_id, "--name", name, "--owner", "alice", str(root))
    return collection_id


def write_files(root: Path, count: int, *, size: int = 1) -> dict[str, bytes]:
    files = {}
    for i in range(count):
        rel = f"d{i % 10}/f{i:05}.txt"
        data = (f"file {i}\n" * size).encode()
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[rel] = data
    return files


def read_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def start_run(server: ServerProcess, definition: dict, body: dict) -> tuple[globus_sdk.FlowsClient, str]:
    token = server.create_token("alice")["token"]
    authorizer = globus_sdk.AccessTokenAuthorizer(token)
    flows = globus_sdk.FlowsClient(base_url=server.url, authorizer=authorizer)
    flow = flows.create_flow(title="providers", definition=definition, input_schema={})
    specific = globus_sdk.SpecificFlowClient(flow["id"], authorizer=authorizer)
    specific.base_url = server.url  # type: ignore[misc]
    return flows, specific.run_flow(body, label="providers e2e")["run_id"]


def wait_finished(flows: globus_sdk.FlowsClient, run_id: str) -> dict:
    def finished() -> dict | None:
        doc = flows.get_run(run_id).data
        return doc if doc["status"] in ("SUCCEEDED", "FAILED", "ENDED") else None

    return wait_until(finished, timeout=FINISH_TIMEOUT, interval=0.2, what="the run to finish")


def test_two_hop_transfer_through_the_sdk(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_FLOWS", server.url)
    campus = add_collection(server, tmp_path / "campus", "campus")
    dmz = add_collection(server, tmp_path / "dmz", "dmz")
    repo = add_collection(server, tmp_path / "repo", "repo")
    source = write_files(tmp_path / "campus" / "dataset", 1000)
    server.start()
    definition = json.loads((CORPUS_DIR / "sdk-two-hop-transfer.json").read_text())
    flows, run_id = start_run(
        server,
        definition,
        {
            "source_endpoint_id": campus,
            "source_path": "/~/dataset",
            "staging_endpoint_id": dmz,
            "staging_path": "/~/staging",
            "destination_endpoint_id": repo,
            "destination_path": "/~/published",
        },
    )
    run = wait_finished(flows, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    output = run["details"]["output"]
    assert output["Transfer1Result"]["details"]["files_transferred"] == 1000
    assert output["Transfer2Result"]["details"]["nice_status"] is None
    assert read_files(tmp_path / "dmz" / "staging") == source
    assert read_files(tmp_path / "repo" / "published") == source


def test_a_transfer_resumes_after_the_server_is_killed(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_FLOWS", server.url)
    src = add_collection(server, tmp_path / "src", "src")
    dst = add_collection(server, tmp_path / "dst", "dst")
    source = write_files(tmp_path / "src" / "data", 3000, size=200)
    server.start()
    definition = {
        "StartAt": "Copy",
        "States": {
            "Copy": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/transfer/",
                "Parameters": {
                    "source_endpoint": src,
                    "destination_endpoint": dst,
                    "DATA": [{"source_path": "/data", "destination_path": "/copy", "recursive": True}],
                },
                "ResultPath": "$.copy",
                "End": True,
            }
        },
    }
    flows, run_id = start_run(server, definition, {})

    def active_transfer() -> bool:
        db = Database(server.database_url)
        try:
            with db.read() as conn:
                status = conn.execute(
                    sa.select(provider_actions.c.status).where(provider_actions.c.provider == "transfer")
                ).scalar_one_or_none()
            return status is not None
        finally:
            db.dispose()

    wait_until(active_transfer, timeout=30, interval=0.01, what="the transfer to start")
    server.kill()
    server.start()
    run = wait_finished(flows, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert read_files(tmp_path / "dst" / "copy") == source  # byte-identical, no leftover .part files
