"""Iterations that wait for their user (store/children.py `sync_ancestors`): an INACTIVE item of a Map or
Parallel makes its parent, and every run above it, INACTIVE with the item's GARE fields and which item it is;
the top run alone notifies its user, once; a resume of the top run resumes every INACTIVE item below it, and
the run finishes with each item's action called once. A cancelled INACTIVE item lets its parent go on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from enginekit import drive, get_logs, get_run, log_codes

from openflows.engine.executor import Executor
from openflows.shared.clock import FakeClock
from openflows.store import children, kinds
from openflows.store import runs as store_runs
from openflows.store.db import Database
from openflows.store.schema import notifications, provider_actions, runs, work_items

HELLO = "https://actions.globus.org/hello_world"
SCOPE = "urn:globus:auth:scope:groups.api.globus.org:all"

#: an item `{"name"}` says hello; one with `"scope"` too needs a consent for it first (INACTIVE until resumed)
HELLO_ITEM: dict[str, Any] = {
    "StartAt": "NeedsConsent",
    "States": {
        "NeedsConsent": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.scope", "IsPresent": True, "Next": "HelloConsent"}],
            "Default": "Hello",
        },
        "HelloConsent": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {"echo_string.$": "$.name", "required_dependent_scope.$": "$.scope"},
            "ResultPath": "$.said",
            "Next": "Keep",
        },
        "Hello": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {"echo_string.$": "$.name"},
            "ResultPath": "$.said",
            "Next": "Keep",
        },
        "Keep": {"Type": "Pass", "Parameters": {"echo.$": "$.said.details.hello"}, "End": True},
    },
}


def map_state(name: str, processor: dict[str, Any], items_path: str = "$.items", **more: Any) -> dict:
    return {"Type": "Map", "ItemsPath": items_path, "ItemProcessor": processor, "ResultPath": "$.out", **more}


def flow(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": name, "States": {name: {**state, "End": True}}}


def child(db: Database, parent: uuid.UUID, index: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(
            sa.select(runs).where(runs.c.parent_run_id == parent, runs.c.iteration == index)
        ).one()
        return dict(row._mapping)


def activity_notices(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(notifications).where(notifications.c.kind == "activity")))


def action_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one())


def resume(db: Database, run_id: uuid.UUID, clock: FakeClock) -> tuple[dict[str, Any], bool]:
    """What `POST /runs/{id}/resume` does in its transaction (after renewing the run's delegation)."""
    return db.transact(store_runs.resume_run, run_id=run_id, now=clock.now())


def test_an_inactive_item_makes_the_run_inactive_until_a_resume(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    items = [{"name": "a"}, {"name": "b", "scope": SCOPE}, {"name": "c"}]
    run_id = start_run(flow("Fan", map_state("Fan", HELLO_ITEM)), {"items": items})
    drive(executor, clock)

    waiting = child(db, run_id, 1)
    assert waiting["status"] == "INACTIVE"
    assert [child(db, run_id, i)["status"] for i in (0, 2)] == ["SUCCEEDED", "SUCCEEDED"]  # the others end
    run = get_run(db, run_id)
    assert run["status"] == "INACTIVE"
    item = waiting["details"]
    assert item["code"] == "ConsentRequired" and item["required_scope"] == SCOPE
    assert run["details"] == {
        "code": "ConsentRequired",
        "description": f"Item 1 of state Fan is inactive: {item['description']}",
        "state_name": "Fan",
        "required_scope": SCOPE,
        "authorization_parameters": item["authorization_parameters"],
        "iteration": {"state": "Fan", "index": 1},
    }
    assert run["details"]["authorization_parameters"]["required_scopes"] == [SCOPE]
    assert log_codes(db, run_id)[-1] == "FlowInactive"
    assert get_logs(db, run_id)[-1]["details"] == {"details": run["details"]}
    [notice] = activity_notices(db)  # the top run's, once; the item tells no one
    assert notice.run_id == run_id and notice.payload["status"] == "INACTIVE"
    assert notice.payload["required_scope"] == SCOPE and notice.payload["state_name"] == "Fan"
    assert action_count(db) == 3

    resumed, changed = resume(db, run_id, clock)
    assert changed and resumed["status"] == "ACTIVE"
    assert resumed["details"] == {"code": "FlowResumed", "description": "The Flow run was resumed"}
    assert child(db, run_id, 1)["status"] == "ACTIVE"
    with db.read() as conn:
        pending = list(conn.execute(sa.select(work_items.c.run_id, work_items.c.kind)))
    assert (waiting["id"], kinds.RESUME) in [tuple(row) for row in pending]
    assert not [row for row in pending if row.run_id == run_id]  # the run still waits for its items
    assert log_codes(db, run_id)[-1] == "FlowResumed"

    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["out"] == [{"echo": "a"}, {"echo": "b"}, {"echo": "c"}]
    assert action_count(db) == 3  # one action per item: the waiting one was resumed, not started again
    assert len(activity_notices(db)) == 1


def test_two_waiting_items_notify_once_and_one_resume_resumes_both(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    items = [{"name": "a"}, {"name": "b", "scope": SCOPE}, {"name": "c", "scope": SCOPE}]
    run_id = start_run(flow("Fan", map_state("Fan", HELLO_ITEM)), {"items": items})
    drive(executor, clock)
    assert [child(db, run_id, i)["status"] for i in range(3)] == ["SUCCEEDED", "INACTIVE", "INACTIVE"]
    run = get_run(db, run_id)
    assert run["status"] == "INACTIVE" and run["details"]["iteration"] == {"state": "Fan", "index": 1}
    assert log_codes(db, run_id).count("FlowInactive") == 1
    assert len(activity_notices(db)) == 1

    resume(db, run_id, clock)
    assert [child(db, run_id, i)["status"] for i in range(3)] == ["SUCCEEDED", "ACTIVE", "ACTIVE"]
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["out"] == [{"echo": "a"}, {"echo": "b"}, {"echo": "c"}]
    assert action_count(db) == 3


def test_an_item_inside_an_item_makes_every_run_above_it_inactive(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    """Map > Parallel > (Pass | Map > hello): the innermost item waits, so do its branch, its item and the
    top run; the top's `iteration` names the whole path."""
    inner = {
        "StartAt": "Inner",
        "States": {"Inner": {**map_state("Inner", HELLO_ITEM, "$.names"), "End": True}},
    }
    parallel = {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "Same", "States": {"Same": {"Type": "Pass", "Result": "same", "End": True}}},
            inner,
        ],
        "ResultPath": "$.both",
    }
    outer = {
        "StartAt": "Par",
        "States": {
            "Par": {**parallel, "Next": "Pick"},
            "Pick": {"Type": "Pass", "InputPath": "$.both", "End": True},
        },
    }
    body = {
        "items": [
            {"names": [{"name": "a"}]},
            {"names": [{"name": "b"}, {"name": "c", "scope": SCOPE}]},
        ]
    }
    run_id = start_run(flow("Outer", map_state("Outer", outer)), body)
    drive(executor, clock)

    item = child(db, run_id, 1)
    branch = child(db, item["id"], 1)
    leaf = child(db, branch["id"], 1)
    assert child(db, run_id, 0)["status"] == "SUCCEEDED"
    assert [leaf["status"], branch["status"], item["status"]] == ["INACTIVE"] * 3
    assert child(db, branch["id"], 0)["status"] == "SUCCEEDED"
    run = get_run(db, run_id)
    assert run["status"] == "INACTIVE"
    gare = leaf["details"]
    assert run["details"]["iteration"] == {
        "state": "Outer",
        "index": 1,
        "iteration": {"state": "Par", "index": 1, "iteration": {"state": "Inner", "index": 1}},
    }
    assert run["details"]["description"] == (
        "Item 1 of state Outer is inactive: Branch 1 of state Par is inactive: "
        f"Item 1 of state Inner is inactive: {gare['description']}"
    )
    for key in ("code", "required_scope", "authorization_parameters"):
        assert run["details"][key] == gare[key]
    assert branch["details"]["iteration"] == {"state": "Inner", "index": 1}
    [notice] = activity_notices(db)
    assert notice.run_id == run_id

    resume(db, run_id, clock)
    assert [child(db, run_id, 1)["status"], child(db, item["id"], 1)["status"]] == ["ACTIVE", "ACTIVE"]
    assert child(db, branch["id"], 1)["status"] == "ACTIVE"
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    outputs = [[same, branch["out"]] for same, branch in run["run_state"]["out"]]
    assert outputs == [["same", [{"echo": "a"}]], ["same", [{"echo": "b"}, {"echo": "c"}]]]
    assert action_count(db) == 3
    assert len(activity_notices(db)) == 1


def test_a_failed_sibling_stops_the_waiting_item_and_fails_the_run(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    processor = {
        "StartAt": "Which",
        "States": {
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "IsPresent": True, "Next": "Later"}],
                "Default": "Hello",
            },
            "Later": {"Type": "Wait", "Seconds": 30, "Next": "Boom"},
            "Boom": {"Type": "Fail", "Error": "Broken", "Cause": "item 0 broke"},
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": {"required_dependent_scope": SCOPE},
                "End": True,
            },
        },
    }
    run_id = start_run(flow("Fan", map_state("Fan", processor)), {"items": [{"fail": True}, {}]})
    executor.run_until_idle()
    assert get_run(db, run_id)["status"] == "INACTIVE"
    drive(executor, clock)  # item 0 fails 30 s later: the waiting item is cancelled, the run fails
    run = get_run(db, run_id)
    assert run["status"] == "FAILED", run["details"]
    assert run["details"]["details"]["error"] == "Broken"
    assert child(db, run_id, 1)["status"] == "FAILED"
    with db.read() as conn:
        assert children.inactive_children(conn, run_id) == []


def test_cancelling_a_waiting_run_cancels_its_items(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    items = [{"name": "a", "scope": SCOPE}]
    run_id = start_run(flow("Fan", map_state("Fan", HELLO_ITEM)), {"items": items})
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "INACTIVE"
    db.transact(store_runs.cancel_run, run_id=run_id, now=clock.now())
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "FAILED"
    assert get_run(db, run_id)["details"]["code"] == "FlowCanceled"
    assert child(db, run_id, 0)["status"] == "FAILED"


def test_the_item_and_the_runs_above_it_change_in_one_transaction(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock, monkeypatch: Any
) -> None:
    """A step whose transaction dies while it brings the parent in line leaves no half: the item is not
    INACTIVE either, and the step taken again makes both INACTIVE. (The item's own action-start step: not
    started in the Map's transaction, as a built-in action otherwise is.)"""
    monkeypatch.setattr(executor, "_inline_start", lambda child: None)
    items = [{"name": "a", "scope": SCOPE}]
    run_id = start_run(flow("Fan", map_state("Fan", HELLO_ITEM)), {"items": items})
    real = children.sync_ancestors
    calls: list[uuid.UUID] = []

    def dies_once(conn: Any, parent_run_id: uuid.UUID, *, now: Any) -> int:
        calls.append(parent_run_id)
        if len(calls) == 1:
            raise RuntimeError("the worker died here")
        return real(conn, parent_run_id, now=now)

    monkeypatch.setattr(children, "sync_ancestors", dies_once)
    executor.run_until_idle()
    assert calls == [run_id]
    assert child(db, run_id, 0)["status"] == "ACTIVE"  # rolled back with the parent's change
    assert get_run(db, run_id)["status"] == "ACTIVE"
    drive(executor, clock)
    assert len(calls) == 2
    assert child(db, run_id, 0)["status"] == "INACTIVE"
    assert get_run(db, run_id)["status"] == "INACTIVE"
    assert len(activity_notices(db)) == 1
