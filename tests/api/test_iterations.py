"""A run's iterations through the API (issue 19, api/iterations.py): counts by status per Map or Parallel
state, a page of items with a status filter and markers, one item with its input, output and error, and its
run log; the run's roles and the `run_status` scope decide who reads them, with Flows error documents."""

from __future__ import annotations

from typing import Any

import pytest

from openflows.auth import scopes
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import SystemClock
from openflows.store.db import Database

from .conftest import MakeUser, User

#: items whose value is 3 or 8 fail with `Bad`; the Map tolerates it; then a Parallel with two branches
FLOW: dict[str, Any] = {
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
                            {"Variable": "$.v", "NumericEquals": 3, "Next": "Boom"},
                            {"Variable": "$.v", "NumericEquals": 8, "Next": "Boom"},
                        ],
                        "Default": "Ok",
                    },
                    "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "item is bad"},
                    "Ok": {"Type": "Pass", "Parameters": {"doubled.$": "$.v"}, "End": True},
                },
            },
            "ItemSelector": {"v.$": "$._context.map_item.value", "_private_note": "hidden"},
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

WAITING: dict[str, Any] = {
    "StartAt": "Slow",
    "States": {
        "Slow": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "StartAt": "W",
                "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}},
            },
            "End": True,
        }
    },
}


@pytest.fixture
def executor(db: Database, settings: Settings) -> Executor:
    return Executor(db, settings, registry=ProviderRegistry([]), clock=SystemClock(), threads=1)


def _finished_run(user: User, executor: Executor, definition: dict[str, Any], body: dict[str, Any]) -> str:
    flow = user.create_flow(definition=definition)
    run = user.run_flow(flow["id"], body)
    executor.run_until_idle()
    return run["run_id"]


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def test_counts_pages_items_and_logs(alice: User, executor: Executor) -> None:
    run_id = _finished_run(alice, executor, FLOW, {"items": list(range(12))})
    assert _ok(alice.get(f"/runs/{run_id}"))["status"] == "SUCCEEDED"

    summary = _ok(alice.get(f"/runs/{run_id}/iterations"))
    assert summary == {
        "run_id": run_id,
        "states": [
            {
                "state": "Fan",
                "type": "Map",
                "visit": "1/0",
                "total": 12,
                "counts": {"FAILED": 2, "SUCCEEDED": 10},
            },
            {"state": "Both", "type": "Parallel", "visit": "2/0", "total": 2, "counts": {"SUCCEEDED": 2}},
        ],
    }

    # pages of 5 in index order, following markers
    seen: list[int] = []
    page = _ok(alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Fan", "limit": 5}))
    assert page["counts"] == {"FAILED": 2, "SUCCEEDED": 10} and page["total"] == 12
    while True:
        seen.extend(item["index"] for item in page["items"])
        if not page["has_next_page"]:
            assert "marker" not in page
            break
        page = _ok(
            alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Fan", "marker": page["marker"]})
        )
    assert seen == list(range(12))

    failed = _ok(alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Fan", "status": "failed"}))
    assert [(i["index"], i["status"], i["error"], i["cause"]) for i in failed["items"]] == [
        (3, "FAILED", "Bad", "item is bad"),
        (8, "FAILED", "Bad", "item is bad"),
    ]
    assert failed["items"][0]["start_time"] and failed["items"][0]["completion_time"]
    assert failed["has_next_page"] is False

    item = _ok(alice.get(f"/runs/{run_id}/iterations/items/4", params={"state": "Fan"}))
    assert item["index"] == 4 and item["status"] == "SUCCEEDED" and item["state"] == "Fan"
    assert item["input"] == {"v": 4}  # the private key is redacted
    assert item["output"] == {"doubled": 4}
    assert item["error"] is None

    bad = _ok(alice.get(f"/runs/{run_id}/iterations/items/8", params={"state": "Fan"}))
    assert (bad["status"], bad["error"], bad["cause"]) == ("FAILED", "Bad", "item is bad")

    # iterations that needed no I/O ran inside the parent's step: their log is that step's, rebuilt
    log = _ok(alice.get(f"/runs/{run_id}/iterations/items/8/log", params={"state": "Fan"}))
    assert [entry["code"] for entry in log["entries"]] == [
        "FlowStarted",
        "ChoiceStarted",
        "ChoiceCompleted",
        "FailStarted",
        "FlowFailed",
    ]
    assert log["entries"][0]["details"] == {"input": {"v": 8}}  # the private key is redacted here too
    assert log["entries"][-1]["details"] == {"error": "Bad", "cause": "item is bad", "state_name": "Boom"}
    assert {entry["time"] for entry in log["entries"]} == {bad["start_time"]}
    assert log["has_next_page"] is False

    branch = _ok(alice.get(f"/runs/{run_id}/iterations/items/1", params={"state": "Both"}))
    assert branch["status"] == "SUCCEEDED"


def test_the_log_of_an_inline_item_is_rebuilt_and_paged(alice: User, executor: Executor) -> None:
    """An item whose sub-machine needs no I/O ran in its parent's step and stored no log rows: its log is
    that step taken again (engine/inline_logs.py), numbered before any stored entry, paged like any log."""
    run_id = _finished_run(alice, executor, FLOW, {"items": list(range(5))})
    item = _ok(alice.get(f"/runs/{run_id}/iterations/items/4", params={"state": "Fan"}))
    whole = _ok(alice.get(f"/runs/{run_id}/iterations/items/4/log", params={"state": "Fan"}))
    codes = [
        "FlowStarted",
        "ChoiceStarted",
        "ChoiceCompleted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]
    assert [entry["code"] for entry in whole["entries"]] == codes
    assert whole["entries"][-1]["details"]["output"] == {"doubled": 4} == item["output"]
    assert {entry["time"] for entry in whole["entries"]} == {item["start_time"]}
    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"state": "Fan", "limit": 4}
    while True:
        page = _ok(alice.get(f"/runs/{run_id}/iterations/items/4/log", params=params))
        assert len(page["entries"]) <= 4
        paged.extend(page["entries"])
        if not page["has_next_page"]:
            break
        params = {"state": "Fan", "marker": page["marker"]}
    assert paged == whole["entries"]
    exact = _ok(alice.get(f"/runs/{run_id}/iterations/items/4/log", params={"state": "Fan", "limit": 6}))
    assert exact["entries"] == whole["entries"] and exact["has_next_page"] is False
    branch = _ok(alice.get(f"/runs/{run_id}/iterations/items/0/log", params={"state": "Both"}))
    assert [entry["code"] for entry in branch["entries"]] == [
        "FlowStarted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]


def test_queued_and_active_items_while_a_map_runs(alice: User, executor: Executor) -> None:
    run_id = _finished_run(alice, executor, WAITING, {"items": ["a", "b", "c", "d", "e"]})
    summary = _ok(alice.get(f"/runs/{run_id}/iterations"))["states"]
    assert [(s["state"], s["total"]) for s in summary] == [("Slow", 5)]
    counts = summary[0]["counts"]
    assert counts.get("QUEUED") == 3 and sum(counts.values()) == 5
    page = _ok(alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Slow", "status": "QUEUED"}))
    assert [(i["index"], i["start_time"]) for i in page["items"]] == [(2, None), (3, None), (4, None)]

    item = _ok(alice.get(f"/runs/{run_id}/iterations/items/1", params={"state": "Slow"}))
    assert (item["status"], item["input"], item["start_time"] is not None) == ("ACTIVE", "b", True)
    log = _ok(alice.get(f"/runs/{run_id}/iterations/items/1/log", params={"state": "Slow", "limit": 1}))
    codes = [entry["code"] for entry in log["entries"]]
    assert log["has_next_page"] is True
    while log["has_next_page"]:
        log = _ok(
            alice.get(
                f"/runs/{run_id}/iterations/items/1/log", params={"state": "Slow", "marker": log["marker"]}
            )
        )
        codes.extend(entry["code"] for entry in log["entries"])
    assert codes[0] == "FlowStarted" and "WaitStarted" in codes, codes
    # a marker is bound to its item
    first = _ok(alice.get(f"/runs/{run_id}/iterations/items/1/log", params={"state": "Slow", "limit": 1}))
    other = alice.get(
        f"/runs/{run_id}/iterations/items/0/log", params={"state": "Slow", "marker": first["marker"]}
    )
    assert other.status_code == 400


def test_who_may_read_iterations_and_error_documents(
    alice: User, bob: User, make_user: MakeUser, executor: Executor
) -> None:
    run_id = _finished_run(alice, executor, FLOW, {"items": [1, 2]})
    paths = [
        f"/runs/{run_id}/iterations",
        f"/runs/{run_id}/iterations/items?state=Fan",
        f"/runs/{run_id}/iterations/items/0?state=Fan",
        f"/runs/{run_id}/iterations/items/0/log?state=Fan",
    ]
    for path in paths:
        response = bob.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert alice.put(f"/runs/{run_id}", json={"run_monitors": [bob.urn]}).status_code == 200
    for path in paths:
        assert bob.get(path).status_code == 200, path

    no_scope = make_user("carol", scopes=[scopes.RUN_MANAGE])
    assert alice.put(f"/runs/{run_id}", json={"run_monitors": [bob.urn, no_scope.urn]}).status_code == 200
    response = no_scope.get(paths[0])
    assert response.status_code == 403 and response.json()["error"]["code"] == "MISSING_SCOPE"

    unknown_state = alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Nope"})
    assert unknown_state.status_code == 404 and unknown_state.json()["error"]["code"] == "NOT_FOUND"
    unknown_item = alice.get(f"/runs/{run_id}/iterations/items/7", params={"state": "Fan"})
    assert unknown_item.status_code == 404
    bad_status = alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Fan", "status": "done"})
    assert bad_status.status_code == 422
    bad_marker = alice.get(f"/runs/{run_id}/iterations/items", params={"state": "Fan", "marker": "abc"})
    assert bad_marker.status_code == 400 and bad_marker.json()["error"]["code"] == "BAD_REQUEST"
    missing_state = alice.get(f"/runs/{run_id}/iterations/items")
    assert missing_state.status_code == 422
