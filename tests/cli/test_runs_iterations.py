"""`openflows runs show` summarises a run's Map and Parallel states; `openflows runs iterations` lists a
state's items (with a status filter) and shows one (issue 19)."""

from __future__ import annotations

import json

from test_runs_commands import create_flow, wait_for_status

from iterationkit import WAITING_ON_CONSENT

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


#: a Map whose items each map their `xs` (a value 2 fails, tolerated), then run a Parallel of two branches
NESTED_FLOW = {
    "StartAt": "Outer",
    "States": {
        "Outer": {
            "Type": "Map",
            "ItemsPath": "$.groups",
            "ItemProcessor": {
                "StartAt": "Inner",
                "States": {
                    "Inner": {
                        "Type": "Map",
                        "ItemsPath": "$.xs",
                        "ToleratedFailureCount": 5,
                        "ItemProcessor": {
                            "StartAt": "Check",
                            "States": {
                                "Check": {
                                    "Type": "Choice",
                                    "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Boom"}],
                                    "Default": "Ok",
                                },
                                "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "two is bad"},
                                "Ok": {"Type": "Pass", "End": True},
                            },
                        },
                        "ResultPath": "$.inner",
                        "Next": "Pair",
                    },
                    "Pair": {
                        "Type": "Parallel",
                        "Branches": [
                            {"StartAt": "L", "States": {"L": {"Type": "Pass", "Result": "l", "End": True}}},
                            {"StartAt": "R", "States": {"R": {"Type": "Pass", "Result": "r", "End": True}}},
                        ],
                        "ResultPath": "$.pair",
                        "End": True,
                    },
                },
            },
            "End": True,
        }
    },
}


def test_iterations_within_a_map_item(run_line) -> None:  # type: ignore[no-untyped-def]
    """`--within 'Outer[1]'` (repeatable) reads the Map and Parallel states inside item 1 of Outer."""
    flow_id = create_flow(run_line, NESTED_FLOW)
    body = json.dumps({"groups": [{"xs": [1, 2, 3]}, {"xs": [4, 2, 2, 5]}]})
    run_id = run_line(["openflows", "run", "start", flow_id, "--input", body, "-F", "json"]).json()["run_id"]
    assert wait_for_status(run_line, run_id, {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"

    top = run_line(f"openflows runs iterations {run_id}").stdout
    assert "Outer (Map):" in top and "2 succeeded, 0 failed, 0 active of 2" in top
    nested = run_line(["openflows", "runs", "iterations", run_id, "--within", "Outer[1]"]).stdout
    assert "Inner (Map):" in nested and "2 succeeded, 2 failed, 0 active of 4" in nested
    assert "Pair (Parallel):" in nested and "2 succeeded, 0 failed, 0 active of 2" in nested
    as_json = run_line(f"openflows runs iterations {run_id} --within Outer[0] -F json").json()
    assert as_json["within"] == ["Outer[0]"]
    assert [(s["state"], s["total"]) for s in as_json["states"]] == [("Inner", 3), ("Pair", 2)]

    failed = run_line(f"openflows runs iterations {run_id} Inner --within 'Outer[1]' --status failed").stdout
    assert failed.splitlines()[0] == "Inner: 2 succeeded, 2 failed, 0 active of 4"
    rows = [line.split() for line in failed.splitlines() if line.strip()[:1].isdigit()]
    assert [(row[0], row[1]) for row in rows] == [("1", "FAILED"), ("2", "FAILED")]
    # pages follow their markers with the same path
    paged = run_line(f"openflows runs iterations {run_id} Inner --within Outer[1] --limit 3 -F json").json()
    assert [item["index"] for item in paged["items"]] == [0, 1, 2]
    every = run_line(f"openflows runs iterations {run_id} Inner --within Outer[1] -F json").json()
    assert [item["index"] for item in every["items"]] == [0, 1, 2, 3]

    one = run_line(f"openflows runs iterations {run_id} Inner --within Outer[1] --item 3 -F json").json()
    assert (one["input"], one["output"], one["within"]) == (5, 5, ["Outer[1]"])
    branch = run_line(f"openflows runs iterations {run_id} Pair --within Outer[0] --item 1").stdout
    assert "SUCCEEDED" in branch and '"r"' in branch

    leaves = run_line(
        f"openflows runs iterations {run_id} --within Outer[0] --within Pair[0]"
    ).stdout  # a branch without Map or Parallel
    assert "No Map or Parallel state has items inside Outer[0] > Pair[0]." in leaves

    missing = run_line(f"openflows runs iterations {run_id} --within Outer[5]", exit_code=1)
    assert "NOT_FOUND" in missing.stderr and "no item 5" in missing.stderr
    malformed = run_line(f"openflows runs iterations {run_id} --within Outer", exit_code=1)
    assert "UNPROCESSABLE_ENTITY" in malformed.stderr and "STATE[INDEX]" in malformed.stderr
    not_a_map = run_line(
        f"openflows runs iterations {run_id} --within Outer[0] --within Check[0]", exit_code=1
    )
    assert "is not a Map or Parallel state" in not_a_map.stderr
    run_line(f"openflows runs iterations {run_id} --item 0", exit_code=2)  # --item needs a STATE

    # more than a page (100) of nested items: the next pages are asked for with the same path
    body = json.dumps({"groups": [{"xs": [0]}, {"xs": [1] * 105}]})
    run_id = run_line(["openflows", "run", "start", flow_id, "--input", body, "-F", "json"]).json()["run_id"]
    assert wait_for_status(run_line, run_id, {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"
    many = run_line(f"openflows runs iterations {run_id} Inner --within Outer[1] --limit 105 -F json").json()
    assert [item["index"] for item in many["items"]] == list(range(105))


def test_an_inactive_item_shows_why_it_waits(run_line) -> None:  # type: ignore[no-untyped-def]
    flow_id = create_flow(run_line, WAITING_ON_CONSENT)
    body = json.dumps({"items": [{}, {"scope": "urn:example:scope:needed"}]})
    run_id = run_line(["openflows", "run", "start", flow_id, "--input", body, "-F", "json"]).json()["run_id"]
    assert wait_for_status(run_line, run_id, {"INACTIVE"})["status"] == "INACTIVE"

    items = run_line(f"openflows runs iterations {run_id} Fan -F json").json()["items"]
    assert [(item["index"], item["status"]) for item in items] == [(0, "SUCCEEDED"), (1, "INACTIVE")]
    reason = items[1]["reason"]
    assert reason and items[0].get("reason") is None
    table = run_line(f"openflows runs iterations {run_id} Fan").stdout
    row = next(line for line in table.splitlines() if line.strip().startswith("1 "))
    assert "INACTIVE" in row and reason.split()[0] in row  # the Cause column says why it waits
    one = run_line(f"openflows runs iterations {run_id} Fan --item 1").stdout
    cause = next(line for line in one.splitlines() if line.startswith("Cause:"))
    assert reason.split()[0] in cause
