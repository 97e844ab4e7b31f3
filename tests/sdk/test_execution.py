"""Runs execute end to end in the real server (flows-language.md §3, §7-§9; issue 3 "The executor")."""

from __future__ import annotations

import typing as t

from .support import (
    MSG_SCHEMA,
    OPEN_SCHEMA,
    Identity,
    assert_same_shape,
    fixture_response_json,
    hello_definition,
    unique,
    wait_for_run,
)

ACTION_STATUS_KEYS = {
    "action_id",
    "status",
    "display_status",
    "details",
    "start_time",
    "completion_time",
    "creator_id",
    "label",
    "manage_by",
    "monitor_by",
    "release_after",
    "state_name",
}


def run_to_end(
    user: Identity, definition: dict[str, t.Any], body: dict[str, t.Any], schema=OPEN_SCHEMA
) -> dict:
    flow_id = user.flows.create_flow(unique("exec"), definition, schema)["id"]
    run_id = user.specific(flow_id).run_flow(body)["run_id"]
    return wait_for_run(user.flows, run_id)


def log_entries(user: Identity, run_id: str) -> list[dict[str, t.Any]]:
    return list(user.flows.paginated.get_run_logs(run_id, limit=100).items())


def test_hello_world_flow_succeeds_with_the_action_result(alice: Identity) -> None:
    run = run_to_end(alice, hello_definition(), {"msg": "hi"}, MSG_SCHEMA)
    assert run["status"] == "SUCCEEDED", run
    details = run["details"]
    assert details["code"] == "FlowSucceeded"
    assert isinstance(details["description"], str)
    output = details["output"]
    assert output["msg"] == "hi"
    action = output["hello"]
    assert set(action) >= ACTION_STATUS_KEYS, sorted(action)
    assert action["status"] == "SUCCEEDED"
    assert action["details"] == {"Hello": "World", "hello": "hi"}
    assert action["state_name"] == "Hello"
    assert action["creator_id"] == alice.urn
    entries = log_entries(alice, run["run_id"])
    codes = [entry["code"] for entry in entries]
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded", codes
    assert "ActionStarted" in codes and "ActionCompleted" in codes, codes
    completed = next(entry for entry in entries if entry["code"] == "ActionCompleted")
    assert completed["details"]["state_name"] == "Hello"
    assert completed["details"]["state_type"] == "Action"
    assert completed["details"]["output"]["details"] == {"Hello": "World", "hello": "hi"}
    started = next(entry for entry in entries if entry["code"] == "ActionStarted")
    assert started["details"]["input"] == {"echo_string": "hi"}
    assert entries[-1]["details"]["output"] == output


def test_hello_world_log_entries_match_sdk_fixture_shape(alice: Identity) -> None:
    reference = fixture_response_json("flows.get_run_logs")["entries"]
    run = run_to_end(alice, hello_definition(), {"msg": "shape"}, MSG_SCHEMA)
    entries = {entry["code"]: entry for entry in log_entries(alice, run["run_id"])}
    for expected in reference:
        ours = entries.get(expected["code"])
        assert ours is not None, f"no {expected['code']} entry; codes {sorted(entries)}"
        assert_same_shape(ours, expected, f"{expected['code']} entry")
        assert_same_shape(ours["details"], expected["details"], f"{expected['code']} details")


def test_hello_world_with_sleep_time_stays_active_then_succeeds(alice: Identity) -> None:
    definition = hello_definition({"echo_string": "slept", "sleep_time": 1})
    flow_id = alice.flows.create_flow(unique("sleepy"), definition, OPEN_SCHEMA)["id"]
    run_id = alice.specific(flow_id).run_flow({})["run_id"]
    assert alice.flows.get_run(run_id)["status"] == "ACTIVE"
    run = wait_for_run(alice.flows, run_id, timeout=30)
    assert run["status"] == "SUCCEEDED", run
    assert run["details"]["output"]["hello"]["details"]["hello"] == "slept"


def test_pass_choice_wait_flow_produces_the_right_output(alice: Identity) -> None:
    definition = {
        "StartAt": "Seed",
        "States": {
            "Seed": {
                "Type": "Pass",
                "Result": {"n": 7, "tag": "seed"},
                "ResultPath": "$.seed",
                "Next": "Pick",
            },
            "Pick": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.seed.n", "NumericGreaterThan": 10, "Next": "Big"},
                    {"Variable": "$.seed.n", "NumericGreaterThan": 5, "Next": "Medium"},
                ],
                "Default": "Small",
            },
            "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "Next": "Pause"},
            "Medium": {
                "Type": "Pass",
                "Parameters": {"size": "medium", "from.$": "$.seed.tag", "input.$": "$.x"},
                "ResultPath": "$.picked",
                "Next": "Pause",
            },
            "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Finish"},
            "Finish": {"Type": "Pass", "End": True},
        },
    }
    run = run_to_end(alice, definition, {"x": [1, 2]})
    assert run["status"] == "SUCCEEDED", run
    assert run["details"]["output"] == {
        "x": [1, 2],
        "seed": {"n": 7, "tag": "seed"},
        "picked": {"size": "medium", "from": "seed", "input": [1, 2]},
    }
    codes = [entry["code"] for entry in log_entries(alice, run["run_id"])]
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded", codes
    started_states = [
        entry["details"]["state_name"]
        for entry in log_entries(alice, run["run_id"])
        if entry["code"].endswith("Started") and entry["code"] != "FlowStarted"
    ]
    assert started_states == ["Seed", "Pick", "Medium", "Pause", "Finish"], started_states


def test_wait_with_a_past_timestamp_continues(alice: Identity) -> None:
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "TimestampPath": "$.when", "End": True}},
    }
    run = run_to_end(alice, definition, {"when": "2000-01-01T00:00:00Z"})
    assert run["status"] == "SUCCEEDED", run
    assert run["details"]["output"] == {"when": "2000-01-01T00:00:00Z"}


def test_fail_state_fails_the_run_with_flow_failed_details(alice: Identity) -> None:
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Pass", "Next": "Boom"},
            "Boom": {"Type": "Fail", "Error": "BadInput", "Cause": "the input was bad"},
        },
    }
    run = run_to_end(alice, definition, {"v": 1})
    assert run["status"] == "FAILED", run
    details = run["details"]
    assert details["code"] == "FlowFailed", details
    assert isinstance(details["description"], str)
    assert details["details"] == {"error": "BadInput", "cause": "the input was bad", "state_name": "Boom"}, (
        details
    )
    assert run.get("completion_time"), run
    entries = log_entries(alice, run["run_id"])
    assert entries[0]["code"] == "FlowStarted"
    assert entries[-1]["code"] == "FlowFailed", [e["code"] for e in entries]


def test_runtime_error_fails_the_run(alice: Identity) -> None:
    definition = {
        "StartAt": "Read",
        "States": {"Read": {"Type": "Pass", "Parameters": {"v.$": "$.missing.path"}, "End": True}},
    }
    run = run_to_end(alice, definition, {})
    assert run["status"] == "FAILED", run
    assert run["details"]["code"] == "FlowFailed"
    assert run["details"]["details"]["error"] == "States.Runtime", run["details"]
    assert run["details"]["details"]["state_name"] == "Read"


def test_caught_action_failure_continues(alice: Identity) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"echo_string.$": "$.missing"},
                "ResultPath": "$.r",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recovered"}],
                "Next": "Recovered",
            },
            "Recovered": {"Type": "Pass", "End": True},
        },
    }
    run = run_to_end(alice, definition, {})
    assert run["status"] == "SUCCEEDED", run
    assert "error" in run["details"]["output"], run["details"]


def test_private_parameters_are_redacted(alice: Identity) -> None:
    """DESIGN invariant 6: `_private*` keys are redacted in run documents and logs."""
    definition = {
        "StartAt": "Keep",
        "States": {"Keep": {"Type": "Pass", "End": True}},
    }
    run = run_to_end(alice, definition, {"_private_password": "hunter2", "public": 1})
    text = repr(run) + repr(log_entries(alice, run["run_id"]))
    assert "hunter2" not in text, text[:1000]
    assert run["details"]["output"]["public"] == 1
