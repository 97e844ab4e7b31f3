"""`openflows run start` and `openflows runs ...` against a live server."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from clikit import HELLO

WAITING = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}}
FAILING = {
    "StartAt": "Boom",
    "States": {"Boom": {"Type": "Fail", "Error": "Kaboom", "Cause": "the test wanted it"}},
}


def create_flow(run_line, definition: dict) -> str:  # type: ignore[no-untyped-def]
    return run_line(["openflows", "flows", "create", json.dumps(definition), "-F", "json"]).json()["id"]


def wait_for_status(run_line, run_id: str, statuses: set[str]) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = run_line(f"openflows runs show {run_id} -F json").json()
        if doc["status"] in statuses:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {statuses}")


@pytest.fixture
def hello_flow(run_line) -> str:  # type: ignore[no-untyped-def]
    return create_flow(run_line, HELLO)


def test_start_watch_succeeds_with_exit_status_0(run_line, hello_flow: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    input_file = tmp_path / "input.yaml"
    input_file.write_text("name: Ada\n")
    result = run_line(f"openflows run start {hello_flow} --input {input_file} --label watched --watch")
    assert "▶ Hi (Pass) started" in result.stdout
    assert "✓ Hi finished in" in result.stdout
    assert "SUCCEEDED" in result.stdout
    assert '"greeting": "hello"' in result.stdout


def test_start_watch_failure_exits_1_with_error_and_cause(run_line) -> None:  # type: ignore[no-untyped-def]
    flow_id = create_flow(run_line, FAILING)
    result = run_line(f"openflows run start {flow_id} --watch", exit_code=1)
    assert "Error: Kaboom" in result.stdout
    assert "Cause: the test wanted it" in result.stdout
    assert "FAILED" in result.stdout


def test_watch_json_prints_the_final_run_document(run_line, hello_flow: str) -> None:  # type: ignore[no-untyped-def]
    started = run_line(f"openflows run start {hello_flow} --tag t1 --tag t2 -F json").json()
    assert started["tags"] == ["t1", "t2"]
    result = run_line(f"openflows runs watch {started['run_id']} --interval 0.1 -F json")
    document = json.loads(result.stdout)
    assert document["run_id"] == started["run_id"]
    assert document["status"] == "SUCCEEDED"


def test_run_lifecycle(run_line, hello_flow: str) -> None:  # type: ignore[no-untyped-def]
    started = run_line(
        [
            "openflows",
            "run",
            "start",
            hello_flow,
            "--input",
            '{"a": 1}',
            "--label",
            "life",
            "--tag",
            "x",
            "--notify-on",
            "succeeded",
            "-F",
            "json",
        ]
    ).json()
    run_id = started["run_id"]
    assert started["label"] == "life"
    assert started["activity_notification_policy"] == {"status": ["SUCCEEDED"]}
    final = wait_for_status(run_line, run_id, {"SUCCEEDED"})
    assert final["flow_id"] == hello_flow

    shown = run_line(f"openflows runs show {run_id} --include-flow-description")
    assert "Run ID:" in shown.stdout and "SUCCEEDED" in shown.stdout
    described = run_line(f"openflows runs show {run_id} --include-flow-description -F json").json()
    assert described["flow_description"]["id"] == hello_flow

    listed = run_line(f"openflows runs list --filter-flow-id {hello_flow} -F json").json()
    assert run_id in [r["run_id"] for r in listed["runs"]]
    table = run_line(
        f"openflows runs list --filter-flow-id {hello_flow} --filter-status SUCCEEDED --filter-label life"
    )
    assert run_id in table.stdout and "Status" in table.stdout.splitlines()[0]
    none = run_line(
        f"openflows runs list --filter-flow-id {hello_flow} --filter-status FAILED -F json"
    ).json()
    assert none["runs"] == []

    logs = run_line(f"openflows runs logs {run_id} -F json").json()
    codes = [e["code"] for e in logs["entries"]]
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded"
    reversed_codes = [
        e["code"] for e in run_line(f"openflows runs logs {run_id} --reverse -F json").json()["entries"]
    ]
    assert reversed_codes == list(reversed(codes))
    assert len(run_line(f"openflows runs logs {run_id} --limit 2 -F json").json()["entries"]) == 2
    table = run_line(f"openflows runs logs {run_id} --details")
    assert "FlowSucceeded" in table.stdout and "greeting" in table.stdout

    definition = run_line(f"openflows runs definition {run_id}").json()
    assert definition["definition"] == HELLO

    updated = run_line(f"openflows runs update {run_id} --label relabelled --tag a --tag b -F json").json()
    assert updated["label"] == "relabelled" and updated["tags"] == ["a", "b"]
    cleared = run_line(["openflows", "runs", "update", run_id, "--tag", "", "-F", "json"]).json()
    assert cleared["tags"] == [] and cleared["label"] == "relabelled"

    deleted = run_line(f"openflows runs delete {run_id}")
    assert f"Deleted run {run_id}." in deleted.stdout
    gone = run_line(f"openflows runs show {run_id}", exit_code=1)
    assert gone.stderr.startswith("Error: NOT_FOUND (HTTP 404)")


def test_cancel_resume_and_delete_conflict(run_line) -> None:  # type: ignore[no-untyped-def]
    flow_id = create_flow(run_line, WAITING)
    run_id = run_line(f"openflows run start {flow_id} -F json").json()["run_id"]
    conflict = run_line(f"openflows runs delete {run_id}", exit_code=1)
    assert conflict.stderr.startswith("Error: STATE_CONFLICT (HTTP 409)")
    resumed = run_line(f"openflows runs resume {run_id} -F json").json()  # ACTIVE: unchanged
    assert resumed["status"] == "ACTIVE"
    canceled = run_line(f"openflows runs cancel {run_id}")
    assert "Status:" in canceled.stdout
    final = wait_for_status(run_line, run_id, {"FAILED", "ENDED"})
    assert final["details"]["code"] == "FlowCanceled"
    ended = run_line(f"openflows runs resume {run_id}", exit_code=1)
    assert "STATE_CONFLICT" in ended.stderr
    watched = run_line(f"openflows runs watch {run_id}", exit_code=1)
    assert "Cancelled." in watched.stdout


def test_start_with_bad_input_file(run_line, hello_flow: str) -> None:  # type: ignore[no-untyped-def]
    result = run_line(f"openflows run start {hello_flow} --input /no/such/file.json", exit_code=1)
    assert result.stderr.startswith("Error: input: no such file")


def test_dry_run_starts_nothing(run_line, hello_flow: str) -> None:  # type: ignore[no-untyped-def]
    before = run_line(f"openflows runs list --filter-flow-id {hello_flow} -F json").json()["runs"]
    checked = run_line(f"openflows run start {hello_flow} --dry-run --label check")
    assert checked.stdout.startswith("The run would start: validation successful")
    assert run_line(f"openflows runs list --filter-flow-id {hello_flow} -F json").json()["runs"] == before


def test_redrive_after_the_missing_directory_arrives(  # type: ignore[no-untyped-def]
    run_line, live_server, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", live_server.env["OPENFLOWS_DATABASE_URL"])
    root = tmp_path / "data"
    root.mkdir()
    key = str(uuid.uuid4())
    run_line(f"openflows collections add --id {key} --name data {root}")
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": "/incoming", "ResultPath": "$.path", "Next": "List"},
            "List": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/ls",
                "Parameters": {"endpoint_id": key, "path.$": "$.path"},
                "ResultPath": "$.listed",
                "End": True,
            },
        },
    }
    flow_id = create_flow(run_line, definition)
    started = run_line(f"openflows run start {flow_id} -F json").json()
    run_id = started["run_id"]
    failed = wait_for_status(run_line, run_id, {"FAILED", "SUCCEEDED"})
    assert failed["status"] == "FAILED" and failed["details"]["details"]["state_name"] == "List"

    (root / "incoming").mkdir()
    (root / "incoming" / "a.txt").write_text("x")
    shown = run_line(f"openflows runs redrive {run_id}")
    assert "Status:" in shown.stdout and "ACTIVE" in shown.stdout
    assert "Redriven:" in shown.stdout and "from state List (redrive 1)" in shown.stdout
    watched = run_line(f"openflows runs watch {run_id}")
    assert "Run redriven from state List (redrive 1)" in watched.stdout
    assert "SUCCEEDED" in watched.stdout
    done = run_line(f"openflows runs show {run_id} -F json").json()
    assert [item["name"] for item in done["details"]["output"]["listed"]["details"]["DATA"]] == ["a.txt"]
    codes = [e["code"] for e in run_line(f"openflows runs logs {run_id} -F json").json()["entries"]]
    assert codes.count("PassStarted") == 1  # Prepare ran once
    assert codes.count("ActionStarted") == 2 and codes[-1] == "FlowSucceeded"
    assert codes.index("FlowRedriven") == codes.index("FlowFailed") + 1

    again = run_line(f"openflows runs redrive {run_id}", exit_code=1)
    assert again.stderr.startswith("Error: STATE_CONFLICT (HTTP 409)")
    assert "SUCCEEDED" in again.stderr
