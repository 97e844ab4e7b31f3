"""`openflows runs show` summarises a run's Map and Parallel states; `openflows runs iterations` lists a
state's items (with a status filter) and shows one (issue 19)."""

from __future__ import annotations

import json

from test_runs_commands import create_flow, wait_for_status

#: items 3 and 8 fail (tolerated); then a Parallel of two branches
MAP_FLOW = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ToleratedFailureCount": 5,
            "ItemProcessor": {
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [
                            {"Variable": "$", "NumericEquals": 3, "Next": "Boom"},
                            {"Variable": "$", "NumericEquals": 8, "Next": "Boom"},
                        ],
                        "Default": "Ok",
                    },
                    "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "item is bad"},
                    "Ok": {"Type": "Pass", "End": True},
                },
            },
            "ResultPath": "$.out",
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "L", "States": {"L": {"Type": "Pass", "End": True}}},
                {"StartAt": "R", "States": {"R": {"Type": "Pass", "End": True}}},
            ],
            "ResultPath": "$.both",
            "End": True,
        },
    },
}


def test_show_summarises_and_iterations_lists_items(run_line) -> None:  # type: ignore[no-untyped-def]
    flow_id = create_flow(run_line, MAP_FLOW)
    body = json.dumps({"items": list(range(12))})
    run_id = run_line(["openflows", "run", "start", flow_id, "--input", body, "-F", "json"]).json()["run_id"]
    assert wait_for_status(run_line, run_id, {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"

    shown = run_line(f"openflows runs show {run_id}").stdout
    assert "Fan (Map):" in shown and "10 succeeded, 2 failed, 0 active of 12" in shown
    assert "Both (Parallel):" in shown and "2 succeeded, 0 failed, 0 active of 2" in shown
    as_json = run_line(f"openflows runs show {run_id} -F json").json()
    assert as_json["run_id"] == run_id and "iterations" not in as_json  # the run document, unchanged

    failed = run_line(f"openflows runs iterations {run_id} Fan --status failed").stdout
    assert failed.splitlines()[0] == "Fan: 10 succeeded, 2 failed, 0 active of 12"
    rows = [line.split() for line in failed.splitlines() if line.strip()[:1].isdigit()]
    assert [(row[0], row[1]) for row in rows] == [("3", "FAILED"), ("8", "FAILED")]
    assert failed.count("item is bad") == 2

    listed = run_line(f"openflows runs iterations {run_id} Fan --limit 5 -F json").json()
    assert [item["index"] for item in listed["items"]] == [0, 1, 2, 3, 4]
    every = run_line(f"openflows runs iterations {run_id} Fan --limit 12 -F json").json()
    assert [item["index"] for item in every["items"]] == list(range(12))
    limited = run_line(f"openflows runs iterations {run_id} Fan --limit 5").stdout
    assert [line.split()[0] for line in limited.splitlines() if line[:1].isdigit()] == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]

    one = run_line(f"openflows runs iterations {run_id} Fan --item 8").stdout
    assert "FAILED" in one and "Bad" in one and "item is bad" in one
    assert run_line(f"openflows runs iterations {run_id} Fan --item 4 -F json").json()["output"] == 4

    missing = run_line(f"openflows runs iterations {run_id} Nope", exit_code=1)
    assert "NOT_FOUND" in missing.stderr
