"""Crash tests: a real `openflows serve` is killed with SIGKILL at awkward moments and restarted on the same
database; every run must still finish with the right output, and every action must have been started once.

Driven with the real globus-sdk (`FlowsClient`, `SpecificFlowClient`). These use short real waits (a real
server), every loop is bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import globus_sdk
import pytest
import sqlalchemy as sa
from crashkit import ExternalProvider, ServerProcess, wait_until

from openflows.store.db import Database
from openflows.store.schema import provider_actions

pytestmark = pytest.mark.slow

#: how long runs get to finish after a restart
FINISH_TIMEOUT = 60.0  # seconds


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    home = tmp_path / "home"
    home.mkdir()
    process = ServerProcess(home)
    try:
        yield process
    finally:
        process.kill()


def clients(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> tuple[globus_sdk.FlowsClient, str]:
    token = server.create_token("alice")["token"]
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_FLOWS", server.url)
    authorizer = globus_sdk.AccessTokenAuthorizer(token)
    return globus_sdk.FlowsClient(base_url=server.url, authorizer=authorizer), token


def start_runs(flows: globus_sdk.FlowsClient, token: str, definition: dict, bodies: list[dict]) -> list[str]:
    flow = flows.create_flow(title="crash test", definition=definition, input_schema={})
    specific = globus_sdk.SpecificFlowClient(flow["id"], authorizer=globus_sdk.AccessTokenAuthorizer(token))
    return [specific.run_flow(body, label=f"run {i}")["run_id"] for i, body in enumerate(bodies)]


def log_codes(flows: globus_sdk.FlowsClient, run_id: str) -> list[str]:
    return [entry["code"] for entry in flows.get_run_logs(run_id, limit=100)["entries"]]


def wait_finished(flows: globus_sdk.FlowsClient, run_ids: list[str]) -> dict[str, dict]:
    def finished() -> dict[str, dict] | None:
        docs = {run_id: flows.get_run(run_id).data for run_id in run_ids}
        if all(doc["status"] in ("SUCCEEDED", "FAILED", "ENDED") for doc in docs.values()):
            return docs
        return None

    return wait_until(finished, timeout=FINISH_TIMEOUT, interval=0.25, what="every run to finish")


def count_actions(database_url: str) -> tuple[int, int]:
    """(rows, distinct request ids) of the built-in providers' actions."""
    db = Database(database_url)
    try:
        with db.read() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one()
            distinct = conn.execute(
                sa.select(sa.func.count(sa.distinct(provider_actions.c.request_id)))
            ).scalar_one()
        return int(rows), int(distinct)
    finally:
        db.dispose()


def test_kill_while_runs_wait(server: ServerProcess, monkeypatch: pytest.MonkeyPatch):
    server.start()
    flows, token = clients(server, monkeypatch)
    definition = {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Result": "b", "ResultPath": "$.before", "Next": "Sleep"},
            "Sleep": {"Type": "Wait", "Seconds": 3, "Next": "After"},
            "After": {"Type": "Pass", "Result": "a", "ResultPath": "$.after", "End": True},
        },
    }
    run_ids = start_runs(flows, token, definition, [{"i": i} for i in range(4)])
    wait_until(
        lambda: all("WaitStarted" in log_codes(flows, run_id) for run_id in run_ids),
        timeout=30,
        what="every run to sit in its Wait state",
    )
    server.kill()
    server.start()
    docs = wait_finished(flows, run_ids)
    for i, run_id in enumerate(run_ids):
        doc = docs[run_id]
        assert doc["status"] == "SUCCEEDED", (doc, server.output())
        assert doc["details"]["output"] == {"i": i, "before": "b", "after": "a"}
        codes = log_codes(flows, run_id)
        assert codes.count("FlowStarted") == 1 and codes.count("WaitCompleted") == 1
        assert codes[-1] == "FlowSucceeded"
    first, second = server.admin_tokens()
    assert first == second and first.startswith("of_")  # the printed admin token survives restarts


def test_kill_while_builtin_actions_are_in_flight(server: ServerProcess, monkeypatch: pytest.MonkeyPatch):
    server.start()
    flows, token = clients(server, monkeypatch)
    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"echo_string.$": "$.text", "sleep_time": 3},
                "ResultPath": "$.hello",
                "End": True,
            }
        },
    }
    bodies = [{"text": f"hello {i}"} for i in range(4)]
    run_ids = start_runs(flows, token, definition, bodies)
    # kill as soon as the first action exists: some runs have just started theirs, others are still starting
    wait_until(
        lambda: count_actions(server.database_url)[0] >= 1, timeout=30, interval=0.02, what="an action"
    )
    server.kill()
    server.start()
    docs = wait_finished(flows, run_ids)
    for run_id, body in zip(run_ids, bodies, strict=True):
        doc = docs[run_id]
        assert doc["status"] == "SUCCEEDED", (doc, server.output())
        assert doc["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": body["text"]}
        assert doc["details"]["output"]["hello"]["status"] == "SUCCEEDED"
    assert count_actions(server.database_url) == (4, 4)  # one action per run: started once each


def test_kill_between_action_start_and_commit(server: ServerProcess, monkeypatch: pytest.MonkeyPatch):
    provider = ExternalProvider(active_seconds=1.0)
    try:
        server.start()
        flows, token = clients(server, monkeypatch)
        definition = {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Action",
                    "ActionUrl": provider.url,
                    "Parameters": {"n.$": "$.n"},
                    "ResultPath": "$.result",
                    "End": True,
                }
            },
        }
        provider.hold.clear()  # the provider starts the action but does not answer yet
        (run_id,) = start_runs(flows, token, definition, [{"n": 7}])
        assert provider.run_received.wait(30), server.output()
        server.kill()  # the action exists; the engine never learnt of it
        provider.hold.set()
        server.start()
        docs = wait_finished(flows, [run_id])
    finally:
        provider.close()
    doc = docs[run_id]
    assert doc["status"] == "SUCCEEDED", (doc, server.output())
    request_id = f"{run_id}/Call/1/0"  # the first visit of Call, first try
    assert provider.run_calls[request_id] == 2  # the start was replayed after the restart...
    assert list(provider.by_request) == [request_id]  # ...and returned the same, single action
    result = doc["details"]["output"]["result"]
    assert result["action_id"] == provider.by_request[request_id]
    assert result["status"] == "SUCCEEDED" and result["details"] == {"echo": {"n": 7}}


class FailsFirst(ExternalProvider):
    """An ExternalProvider whose first action FAILS (the provider was down); later ones succeed."""

    def _current(self, action_id: str) -> dict:
        doc = super()._current(action_id)
        if action_id == next(iter(self.actions)):
            doc["status"] = "FAILED"
        return doc


def test_kill_after_a_redrive_between_action_start_and_commit(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
):
    """Issue 19: a redrive is accepted, its new action is started at the provider, and the server is killed
    before it committed that; after the restart the run finishes with one new action (the replayed start
    used the same request id), and the state before the failed one never ran again."""
    provider = FailsFirst()
    try:
        server.start()
        flows, token = clients(server, monkeypatch)
        definition = {
            "StartAt": "Before",
            "States": {
                "Before": {"Type": "Pass", "Result": 1, "ResultPath": "$.before", "Next": "Call"},
                "Call": {
                    "Type": "Action",
                    "ActionUrl": provider.url,
                    "Parameters": {"n.$": "$.n"},
                    "ResultPath": "$.result",
                    "End": True,
                },
            },
        }
        (run_id,) = start_runs(flows, token, definition, [{"n": 7}])
        assert wait_finished(flows, [run_id])[run_id]["status"] == "FAILED"
        provider.run_received.clear()
        provider.hold.clear()  # the provider starts the redriven action but does not answer yet
        redriven = flows.post(f"/runs/{run_id}/redrive")
        assert redriven["status"] == "ACTIVE"
        assert provider.run_received.wait(30), server.output()
        server.kill()
        provider.hold.set()
        server.start()
        docs = wait_finished(flows, [run_id])
    finally:
        provider.close()
    doc = docs[run_id]
    assert doc["status"] == "SUCCEEDED", (doc, server.output())
    first, again = f"{run_id}/Call/1/0", f"{run_id}/Call/2/0"  # the redrive is a new visit of Call
    assert list(provider.by_request) == [first, again]
    assert provider.run_calls == {first: 1, again: 2}  # the redriven start was replayed, same action
    assert doc["details"]["output"]["result"]["action_id"] == provider.by_request[again]
    codes = log_codes(flows, run_id)
    assert codes.count("PassStarted") == 1 and codes.count("FlowRedriven") == 1
    assert codes[-1] == "FlowSucceeded"
