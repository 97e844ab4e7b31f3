"""Nested iterations through the API (api/iterations.py, `within=STATE[INDEX]`): the Map and Parallel states
inside an item of a Map are read through the run, one `within` step per level (counts, a page of items, one
item, its log), with 422 for a path that is malformed, too deep or names a state that is not a Map or
Parallel of its sub-machine, 404 for an item that does not exist, the run's own roles, and markers bound to
the path."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from iterationkit import NESTED
from openflows.api.errors import Unprocessable
from openflows.api.iterations import MAX_WITHIN, WITHIN_PATTERN, Level, parse_within
from openflows.auth import scopes
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import SystemClock
from openflows.store.children import IterationsKey, child_run_id
from openflows.store.db import Database

from .conftest import MakeUser, User

GROUPS = {"groups": [{"xs": [1, 2, 3]}, {"xs": [4, 2]}, {"xs": []}]}

#: a Map whose items wait (their inner Map's items wait an hour): a nested item with stored log rows
WAITING: dict[str, Any] = {
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
                        "MaxConcurrency": 1,
                        "ItemProcessor": {
                            "StartAt": "W",
                            "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}},
                        },
                        "End": True,
                    }
                },
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


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


def _within(*steps: str, **params: Any) -> list[tuple[str, Any]]:
    return [*(("within", step) for step in steps), *params.items()]


def test_a_map_and_a_parallel_inside_map_items(alice: User, executor: Executor) -> None:
    run_id = _finished_run(alice, executor, NESTED, GROUPS)
    assert _ok(alice.get(f"/runs/{run_id}"))["status"] == "SUCCEEDED"
    base = f"/runs/{run_id}/iterations"

    top = _ok(alice.get(base))
    assert [(s["state"], s["total"], s["counts"]) for s in top["states"]] == [("Outer", 3, {"SUCCEEDED": 3})]
    assert "within" not in top  # the run's own states: the document as it was

    first = _ok(alice.get(base, params=_within("Outer[0]")))
    assert first["run_id"] == run_id and first["within"] == ["Outer[0]"]
    assert [(s["state"], s["type"], s["total"], s["counts"]) for s in first["states"]] == [
        ("Inner", "Map", 3, {"FAILED": 1, "SUCCEEDED": 2}),
        ("Pair", "Parallel", 2, {"SUCCEEDED": 2}),
    ]
    second = _ok(alice.get(base, params=_within("Outer[1]")))
    assert [(s["state"], s["counts"]) for s in second["states"]] == [
        ("Inner", {"FAILED": 1, "SUCCEEDED": 1}),
        ("Pair", {"SUCCEEDED": 2}),
    ]
    empty = _ok(alice.get(base, params=_within("Outer[2]")))  # no xs: Inner made no items
    assert [s["state"] for s in empty["states"]] == ["Pair"]

    # two levels down: the Map in the first branch of the Parallel in item 0
    deep = _ok(alice.get(base, params=_within("Outer[0]", "Pair[0]")))
    assert deep["within"] == ["Outer[0]", "Pair[0]"]
    assert [(s["state"], s["type"], s["total"]) for s in deep["states"]] == [("Deep", "Map", 3)]
    assert _ok(alice.get(base, params=_within("Outer[2]", "Pair[0]")))["states"] == []
    assert _ok(alice.get(base, params=_within("Outer[0]", "Pair[1]")))["states"] == []

    # a page of the nested Map's items
    page = _ok(alice.get(f"{base}/items", params=_within("Outer[1]", state="Inner")))
    assert page["within"] == ["Outer[1]"] and page["type"] == "Map" and page["total"] == 2
    assert [(i["index"], i["status"], i["error"], i["cause"]) for i in page["items"]] == [
        (0, "SUCCEEDED", None, None),
        (1, "FAILED", "Bad", "two is bad"),
    ]
    failed = _ok(alice.get(f"{base}/items", params=_within("Outer[0]", state="Inner", status="failed")))
    assert [i["index"] for i in failed["items"]] == [1]
    branches = _ok(alice.get(f"{base}/items", params=_within("Outer[0]", state="Pair")))
    assert [(i["index"], i["status"]) for i in branches["items"]] == [(0, "SUCCEEDED"), (1, "SUCCEEDED")]
    leaves = _ok(alice.get(f"{base}/items", params=_within("Outer[1]", "Pair[0]", state="Deep")))
    assert [i["index"] for i in leaves["items"]] == [0, 1]

    # one item: the inner item of another outer item has its own input and output
    item = _ok(alice.get(f"{base}/items/0", params=_within("Outer[1]", state="Inner")))
    assert (item["state"], item["index"], item["status"]) == ("Inner", 0, "SUCCEEDED")
    assert item["within"] == ["Outer[1]"]
    assert item["input"] == {"v": 4}  # the private key is redacted
    assert item["output"] == {"doubled": 4}
    other = _ok(alice.get(f"{base}/items/0", params=_within("Outer[0]", state="Inner")))
    assert other["input"] == {"v": 1} and other["output"] == {"doubled": 1}
    bad = _ok(alice.get(f"{base}/items/1", params=_within("Outer[1]", state="Inner")))
    assert (bad["status"], bad["error"], bad["cause"]) == ("FAILED", "Bad", "two is bad")
    branch = _ok(alice.get(f"{base}/items/1", params=_within("Outer[0]", state="Pair")))
    assert branch["status"] == "SUCCEEDED" and branch["output"] == "r"
    leaf = _ok(alice.get(f"{base}/items/2", params=_within("Outer[0]", "Pair[0]", state="Deep")))
    assert leaf["input"] == 3 and leaf["output"] == 3

    # their logs
    log = _ok(alice.get(f"{base}/items/1/log", params=_within("Outer[1]", state="Inner")))
    assert [entry["code"] for entry in log["entries"]] == [
        "FlowStarted",
        "ChoiceStarted",
        "ChoiceCompleted",
        "FailStarted",
        "FlowFailed",
    ]
    assert log["entries"][0]["details"] == {"input": {"v": 2}}
    branch_log = _ok(alice.get(f"{base}/items/1/log", params=_within("Outer[0]", state="Pair")))
    assert [entry["code"] for entry in branch_log["entries"]] == [
        "FlowStarted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]
    leaf_log = _ok(alice.get(f"{base}/items/0/log", params=_within("Outer[1]", "Pair[0]", state="Deep")))
    assert leaf_log["entries"][0]["details"] == {"input": 4}

    # the run's own states are not the item's: Inner is not a state of the run
    assert _error(alice.get(f"{base}/items", params={"state": "Inner"}), 404)["code"] == "NOT_FOUND"


def test_markers_are_bound_to_their_path(alice: User, executor: Executor) -> None:
    run_id = _finished_run(alice, executor, NESTED, GROUPS)
    base = f"/runs/{run_id}/iterations"
    seen: list[int] = []
    page = _ok(alice.get(f"{base}/items", params=_within("Outer[0]", state="Inner", limit=1)))
    first_marker = page["marker"]
    while True:
        seen.extend(item["index"] for item in page["items"])
        if not page["has_next_page"]:
            break
        page = _ok(
            alice.get(f"{base}/items", params=_within("Outer[0]", state="Inner", marker=page["marker"]))
        )
    assert seen == [0, 1, 2]

    for other in (_within("Outer[1]"), _within(), _within("Outer[0]", "Pair[0]")):
        response = alice.get(f"{base}/items", params=[*other, ("state", "Inner"), ("marker", first_marker)])
        error = _error(response, 400)
        assert error["code"] == "BAD_REQUEST" and "within" in error["detail"], error
    # and a marker of the run's own items does not serve a nested path
    top = _ok(alice.get(f"{base}/items", params={"state": "Outer", "limit": 1}))
    response = alice.get(f"{base}/items", params=_within("Outer[0]", state="Outer", marker=top["marker"]))
    assert "within" in _error(response, 400)["detail"]

    log_path = f"{base}/items/0/log"
    log = _ok(alice.get(log_path, params=_within("Outer[0]", state="Inner", limit=2)))
    assert log["has_next_page"] is True
    codes = [entry["code"] for entry in log["entries"]]
    while log["has_next_page"]:
        log = _ok(alice.get(log_path, params=_within("Outer[0]", state="Inner", marker=log["marker"])))
        codes.extend(entry["code"] for entry in log["entries"])
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded"
    log = _ok(alice.get(log_path, params=_within("Outer[0]", state="Inner", limit=2)))
    moved = alice.get(log_path, params=_within("Outer[1]", state="Inner", marker=log["marker"]))
    assert "within" in _error(moved, 400)["detail"]


def test_within_errors(alice: User, executor: Executor) -> None:
    run_id = _finished_run(alice, executor, NESTED, GROUPS)
    base = f"/runs/{run_id}/iterations"
    routes = [(base, {}), (f"{base}/items", {"state": "Inner"}), (f"{base}/items/0", {"state": "Inner"})]
    routes.append((f"{base}/items/0/log", {"state": "Inner"}))

    for path, params in routes:
        # an item that does not exist, at the first level and further down
        missing = _error(alice.get(path, params=_within("Outer[7]", **params)), 404)
        assert missing["code"] == "NOT_FOUND" and "no item 7" in missing["detail"], missing
        huge = _error(alice.get(path, params=_within("Outer[9999999999]", **params)), 404)
        assert "no item 9999999999" in huge["detail"], huge  # no database integer holds it: no such item
        deeper = _error(alice.get(path, params=_within("Outer[0]", "Pair[5]", **params)), 404)
        assert "no item 5" in deeper["detail"] and "Outer[0]" in deeper["detail"], deeper

        # not a Map or Parallel of the sub-machine that step is in
        for steps, at in (
            (("Nope[0]",), 0),
            (("Inner[0]",), 0),  # a Map, but of the item's sub-machine, not of the run's
            (("Outer[0]", "Check[0]"), 1),  # a Choice of a deeper sub-machine
            (("Outer[0]", "Inner[0]", "Ok[0]"), 2),  # a Pass
        ):
            error = _error(alice.get(path, params=_within(*steps, **params)), 422)
            assert error["code"] == "UNPROCESSABLE_ENTITY"
            assert error["detail"][0]["loc"] == ["query", "within", at], error
            assert "is not a Map or Parallel state" in error["detail"][0]["msg"], error

        # malformed values
        for value in (
            "Outer",
            "Outer[]",
            "Outer[-1]",
            "Outer[x]",
            "[3]",
            "",
            "Outer[12345678901]",
            "x" * 1010 + "[0]",  # longer than a state name and an index
            "Outer[3] ",
        ):
            error = _error(alice.get(path, params=_within("Outer[0]", value, **params)), 422)
            assert error["detail"][0]["loc"] == ["query", "within", 1], (value, error)
            assert "is not STATE[INDEX]" in error["detail"][0]["msg"], (value, error)

        # too deep
        error = _error(alice.get(path, params=_within(*["Outer[0]"] * (MAX_WITHIN + 1), **params)), 422)
        assert error["detail"][0]["loc"] == ["query", "within"], error
        assert f"at most {MAX_WITHIN} levels" in error["detail"][0]["msg"], error

    # ten levels are allowed (the path is then resolved: here the second level does not exist)
    error = _error(alice.get(base, params=_within(*["Outer[0]"] * MAX_WITHIN)), 422)
    assert error["detail"][0]["loc"] == ["query", "within", 1]


def test_who_may_read_nested_iterations(
    alice: User, bob: User, make_user: MakeUser, executor: Executor
) -> None:
    run_id = _finished_run(alice, executor, NESTED, GROUPS)
    base = f"/runs/{run_id}/iterations"
    requests = [
        (base, _within("Outer[0]")),
        (f"{base}/items", _within("Outer[0]", state="Inner")),
        (f"{base}/items/0", _within("Outer[0]", state="Inner")),
        (f"{base}/items/0/log", _within("Outer[0]", state="Inner")),
        # a path that would be refused (422) or missing (404) says nothing to someone who cannot see the run
        (base, _within("Nope[0]")),
        (base, _within("Outer[9]")),
    ]
    for path, params in requests:
        assert _error(bob.get(path, params=params), 404)["code"] == "NOT_FOUND", (path, params)
    assert alice.put(f"/runs/{run_id}", json={"run_monitors": [bob.urn]}).status_code == 200
    for path, params in requests[:4]:
        assert bob.get(path, params=params).status_code == 200, (path, params)

    no_scope = make_user("carol", scopes=[scopes.RUN_MANAGE])
    assert alice.put(f"/runs/{run_id}", json={"run_monitors": [bob.urn, no_scope.urn]}).status_code == 200
    assert _error(no_scope.get(base, params=_within("Outer[0]")), 403)["code"] == "MISSING_SCOPE"

    # an item's own id is not a run, with or without a path
    child = child_run_id(IterationsKey(uuid.UUID(run_id), "Outer", "1/0"), 0)
    assert _ok(alice.get(base, params=_within("Outer[0]")))["states"]  # that item exists, through the run
    for steps in ((), ("Inner[0]",)):
        for path, params in (
            (f"/runs/{child}/iterations", _within(*steps)),
            (f"/runs/{child}/iterations/items", _within(*steps, state="Inner")),
            (f"/runs/{child}/iterations/items/0", _within(*steps, state="Inner")),
            (f"/runs/{child}/iterations/items/0/log", _within(*steps, state="Inner")),
        ):
            assert _error(alice.get(path, params=params), 404)["code"] == "NOT_FOUND", (path, params)


def test_a_running_nested_item_with_a_stored_log(alice: User, executor: Executor) -> None:
    run_id = _finished_run(alice, executor, WAITING, {"groups": [{"xs": ["a", "b"]}]})
    base = f"/runs/{run_id}/iterations"
    nested = _ok(alice.get(base, params=_within("Outer[0]")))["states"]
    assert [(s["state"], s["counts"]) for s in nested] == [("Inner", {"ACTIVE": 1, "QUEUED": 1})]
    page = _ok(alice.get(f"{base}/items", params=_within("Outer[0]", state="Inner", status="queued")))
    assert [(i["index"], i["start_time"]) for i in page["items"]] == [(1, None)]
    item = _ok(alice.get(f"{base}/items/0", params=_within("Outer[0]", state="Inner")))
    assert (item["status"], item["input"]) == ("ACTIVE", "a")
    log = _ok(alice.get(f"{base}/items/0/log", params=_within("Outer[0]", state="Inner")))
    codes = [entry["code"] for entry in log["entries"]]
    assert codes[0] == "FlowStarted" and "WaitStarted" in codes, codes


def test_parse_within() -> None:
    assert parse_within([]) == ()
    assert parse_within(["Outer[3]", "In ner[0]"]) == (Level("Outer", 3), Level("In ner", 0))
    # a state's name may hold brackets: the index is the last bracketed number
    assert parse_within(["A[1][2]", "x]y[07]"]) == (Level("A[1]", 2), Level("x]y", 7))
    assert parse_within(["[[0]", "a\nb[3]"]) == (Level("[", 0), Level("a\nb", 3))
    assert str(Level("A[1]", 2)) == "A[1][2]"
    assert parse_within(["A[9999999999]"]) == (Level("A", 9999999999),)  # no such item: a 404 later
    assert parse_within(["A" * 256 + "[9999999999]"])[0].index == 9999999999  # the longest value
    for bad in (["A"], ["A[1]x"], ["A[1.5]"], ["A[12345678901]"], ["[0]"], ["A" * 257 + "[9999999999]"]):
        with pytest.raises(Unprocessable):
            parse_within(bad)
    with pytest.raises(Unprocessable):
        parse_within(["A[0]"] * (MAX_WITHIN + 1))


def test_the_parameter_is_documented(client: Any) -> None:
    document = client.get("/openapi.json").json()
    for path in (
        "/runs/{run_id}/iterations",
        "/runs/{run_id}/iterations/items",
        "/runs/{run_id}/iterations/items/{index}",
        "/runs/{run_id}/iterations/items/{index}/log",
    ):
        (parameter,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "within"]
        assert parameter["in"] == "query" and not parameter.get("required")
        schema = parameter["schema"]
        assert schema["type"] == "array" and schema["maxItems"] == MAX_WITHIN, schema
        assert schema["items"]["pattern"] == WITHIN_PATTERN, schema
        assert (schema["items"]["minLength"], schema["items"]["maxLength"]) == (4, 268), schema
        assert "STATE[INDEX]" in parameter["description"]
