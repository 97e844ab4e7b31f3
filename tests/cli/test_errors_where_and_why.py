"""Issue 18, "Errors that say where and why" and the `runs show` / cancelled / size items, through the CLI
against a live server: each problem with its place (cause before consequence), the field of bad input, a
failed action's reason in the provider's own words, near-miss action URLs, what a run's status means."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

TYPO = {
    "StartAt": "Copy",
    "States": {"Copy": {"Type": "Pass", "Next": "Chekc"}, "Check": {"Type": "Pass", "End": True}},
}
COLLECTION = "6b1f0d2e-3c4a-4b5d-8e6f-7a8b9c0d1e2f"


def wait_for(run_line, run_id: str, statuses: set[str]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        document = run_line(f"openflows runs show {run_id} -F json").json()
        if document["status"] in statuses:
            return document
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {statuses}")


def create(run_line, definition: dict[str, Any], *extra: str) -> str:  # type: ignore[no-untyped-def]
    return run_line(["openflows", "flows", "create", json.dumps(definition), *extra, "-F", "json"]).json()[
        "id"
    ]


def test_create_prints_each_problem_with_its_place_cause_first(run_line, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(TYPO, indent=2))
    result = run_line(f"openflows flows create {path}", exit_code=1)
    assert result.stderr.splitlines() == [
        "Error: UNPROCESSABLE_ENTITY (HTTP 422): 2 problems:",
        f"  {path}:6:7: $.definition.States.Copy.Next: 'Next' names a state 'Chekc' that does not exist; "
        "did you mean 'Check'?",
        f"  {path}:8:5: $.definition.States.Check: State 'Check' is not reachable from StartAt "
        "(probably because States.Copy.Next names 'Chekc' instead of 'Check')",
    ]


def test_inline_definitions_get_the_json_path_only(run_line) -> None:  # type: ignore[no-untyped-def]
    result = run_line(["openflows", "flows", "create", json.dumps(TYPO)], exit_code=1)
    lines = result.stderr.splitlines()
    assert lines[1].startswith("  $.definition.States.Copy.Next: 'Next' names a state 'Chekc'")
    assert lines[2].startswith("  $.definition.States.Check: State 'Check' is not reachable")


def test_input_that_fails_the_schema_names_the_field(run_line, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    flow_id = create(
        run_line,
        TYPO | {"States": {"Check": {"Type": "Pass", "End": True}}, "StartAt": "Check"},
        "--input-schema",
        json.dumps(schema),
    )
    inline = run_line(["openflows", "run", "start", flow_id, "--input", '{"n": "three"}'], exit_code=1)
    assert (
        inline.stderr.strip() == "Error: FLOW_INPUT_ERROR (HTTP 400): $.n: 'three' is not of type 'integer'"
    )
    path = tmp_path / "input.yaml"
    path.write_text("label: x\nn: three\n")
    from_file = run_line(f"openflows run start {flow_id} --input {path} --dry-run", exit_code=1)
    assert from_file.stderr.strip() == (
        f"Error: FLOW_INPUT_ERROR (HTTP 400): {path}:2:1: $.n: 'three' is not of type 'integer'"
    )


def test_create_warns_about_a_near_miss_of_a_hosted_provider(run_line, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "helo.json"
    path.write_text(
        json.dumps(
            {
                "StartAt": "Hello",
                "States": {
                    "Hello": {
                        "Type": "Action",
                        "ActionUrl": "https://actions.globus.org/helo_world",
                        "End": True,
                    }
                },
            },
            indent=2,
        )
    )
    result = run_line(f"openflows flows create {path} -F json")
    assert result.stderr.splitlines() == [
        f"Warning: {path}:6:7: $.definition.States.Hello.ActionUrl: 'https://actions.globus.org/helo_world' "
        "is not a Globus-hosted action provider; did you mean 'https://actions.globus.org/hello_world'?"
    ]
    run_line(f"openflows flows delete {result.json()['id']}")


@pytest.fixture
def collection(live_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    """A local collection on the live server's database (the `collections` commands work on it directly)."""
    from typer.testing import CliRunner

    from openflows.cli.main import app

    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", live_server.env["OPENFLOWS_DATABASE_URL"])
    (tmp_path / "data").mkdir()
    added = CliRunner().invoke(
        app, ["collections", "add", "--id", COLLECTION, "--name", "Lab", str(tmp_path / "data")]
    )
    assert added.exit_code == 0, added.output
    return COLLECTION


def test_a_failed_transfer_leads_with_the_providers_description(run_line, collection: str) -> None:  # type: ignore[no-untyped-def]
    transfer = {
        "StartAt": "Copy",
        "States": {
            "Copy": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/transfer",
                "Parameters": {
                    "source_endpoint": collection,
                    "destination_endpoint": collection,
                    "DATA": [{"source_path": "/missing/", "destination_path": "/out/", "recursive": True}],
                },
                "ResultPath": "$.t",
                "End": True,
            }
        },
    }
    flow_id = create(run_line, transfer)
    watched = run_line(f"openflows run start {flow_id} --watch", exit_code=1)
    lines = watched.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Error:"))
    reason = f"'/missing/' does not exist on collection {collection} (FILE_NOT_FOUND)"
    assert lines[start] == "Error: ActionFailedException (state Copy)"
    assert lines[start + 1] == f"Cause: {reason}"
    assert lines[start + 2].startswith("The whole cause: openflows runs show ")
    assert len(lines) == start + 3  # not the ~40 lines of the action status document
    run_id = lines[0].split()[1]
    shown = run_line(f"openflows runs show {run_id}").stdout
    assert "Error:" in shown and "ActionFailedException (state Copy)" in shown
    assert "Cause:" in shown and reason in shown
    debug = run_line(f"openflows runs watch {run_id} --debug", exit_code=1).stdout
    assert '"nice_status": "FILE_NOT_FOUND"' in debug


def test_runs_show_says_what_the_status_means(run_line) -> None:  # type: ignore[no-untyped-def]
    pass_flow = {
        "StartAt": "Hi",
        "States": {"Hi": {"Type": "Pass", "Result": {"greeting": "hello"}, "End": True}},
    }
    flow_id = create(run_line, pass_flow, "--description", "Says hello, politely.")
    run_id = run_line(f"openflows run start {flow_id} -F json").json()["run_id"]
    wait_for(run_line, run_id, {"SUCCEEDED"})
    shown = run_line(f"openflows runs show {run_id}").stdout
    assert "Output:" in shown and '"greeting": "hello"' in shown
    assert "Flow description" not in shown
    described = run_line(f"openflows runs show {run_id} --include-flow-description").stdout
    assert "Flow description:" in described and "Says hello, politely." in described

    consent = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"required_dependent_scope": "https://auth.globus.org/scopes/abc/xyz"},
                "End": True,
            }
        },
    }
    waiting_id = run_line(f"openflows run start {create(run_line, consent)} -F json").json()["run_id"]
    wait_for(run_line, waiting_id, {"INACTIVE"})
    inactive = run_line(f"openflows runs show {waiting_id}").stdout
    assert "Required scope:" in inactive and "https://auth.globus.org/scopes/abc/xyz" in inactive
    assert "Waiting:" in inactive and "ConsentRequired" in inactive
    assert f"openflows runs resume {waiting_id}" in inactive


def test_cancelled_runs_read_cancelled_and_the_api_is_unchanged(run_line) -> None:  # type: ignore[no-untyped-def]
    nap = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}}
    flow_id = create(run_line, nap)
    run_id = run_line(f"openflows run start {flow_id} -F json").json()["run_id"]
    run_line(f"openflows runs cancel {run_id}")
    document = wait_for(run_line, run_id, {"FAILED"})
    assert document["details"]["code"] == "FlowCanceled"  # the API document stays the hosted service's
    listed = run_line(f"openflows runs list --filter-flow-id {flow_id}").stdout
    row = next(line for line in listed.splitlines() if run_id in line)
    assert "CANCELLED" in row and "FAILED" not in row
    shown = run_line(f"openflows runs show {run_id}").stdout
    assert "CANCELLED" in shown and "FAILED" not in shown


def test_watch_shows_each_retry_of_an_unreachable_provider(run_line, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 18: the run hung ~15 s with nothing shown, then failed; now each retry is a line."""
    url = "http://127.0.0.1:9/nothing-listens-here"
    path = tmp_path / "unreachable.json"
    path.write_text(
        json.dumps({"StartAt": "Call", "States": {"Call": {"Type": "Action", "ActionUrl": url, "End": True}}})
    )
    result = run_line(f"openflows dev run {path} --interval 0.2", exit_code=1)
    retries = [line for line in result.stdout.splitlines() if line.startswith("↻ Call: ")]
    assert [line.rsplit("(", 1)[1] for line in retries] == [f"attempt {n} of 5)" for n in (2, 3, 4, 5)]
    assert all(f"The action provider at {url} could not be reached: " in line for line in retries)
    assert "Error: ActionUnableToRun (state Call)" in result.stdout
    assert f"Cause: The action provider at {url} could not be reached: " in result.stdout


def test_json_paths_of_locations_and_back() -> None:
    from openflows.cli.errors import json_path, parse_json_path

    loc = ["definition", "States", "a b", "Choices", 0, "Next"]
    assert json_path(loc) == "$.definition.States['a b'].Choices[0].Next"
    assert parse_json_path(json_path(loc)) == tuple(loc)
    assert json_path(["$.n"]) == "$.n"  # FLOW_INPUT_ERROR's loc is already a path
    assert parse_json_path(json_path(["it's"])) == ("it's",)
    assert parse_json_path("not a path") is None
