"""Redrive inside a Map or Parallel (issue 19): `POST /runs/{run_id}/redrive` of a run that failed at a Map
or Parallel state runs again only the iterations that failed, each from the state it failed at (the states
it had done are not run again), keeps the results of those that succeeded, and gathers all in index order.
The provider's calls show it: "a map with 3 failed items of 50 reruns exactly those 3". On SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import SystemClock
from openflows.store import runs as store_runs
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.schema import runs

from .conftest import User
from .test_redrive import BASE_URL, Recorder

URL = f"{BASE_URL}/actions/recorder"
FAILING = (7, 23, 41)


def action(_state: str, nxt: str | None, result_path: str, /, **params: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Action",
        "ActionUrl": URL,
        "Parameters": params,
        "ResultPath": result_path,
    }
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


def map_flow(**fields: Any) -> dict[str, Any]:
    """Each item: `Prep` (always succeeds), then `Call` (fails on its first call for the items that say so),
    then a Pass keeping the item's name and what `Call` saw."""
    processor = {
        "StartAt": "Prep",
        "States": {
            "Prep": action("Prep", "Call", "$.prep", **{"name.$": "$.prep"}),
            "Call": action("Call", "Keep", "$.call", **{"name.$": "$.name", "fail_first.$": "$.fail_first"}),
            "Keep": {
                "Type": "Pass",
                "Parameters": {"name.$": "$.name", "got.$": "$.call.details.name"},
                "End": True,
            },
        },
    }
    fan = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": processor,
        "ResultPath": "$.out",
        "End": True,
    }
    return {"StartAt": "Fan", "States": {"Fan": {**fan, **fields}}}


def items(count: int, failing: tuple[int, ...]) -> dict[str, Any]:
    return {
        "items": [
            {"name": f"item-{i}", "prep": f"prep-item-{i}", "fail_first": int(i in failing)}
            for i in range(count)
        ]
    }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(db: Database, settings: Settings, recorder: Recorder) -> Executor:
    registry = ProviderRegistry([recorder], base_urls=[BASE_URL])
    return Executor(db, settings, registry=registry, clock=SystemClock(), threads=1)


def _failed(alice: User, executor: Executor, definition: dict[str, Any], body: Any) -> str:
    flow = alice.create_flow(definition=definition)
    run_id = alice.run_flow(flow["id"], body)["run_id"]
    executor.run_until_idle()
    run = alice.get(f"/runs/{run_id}").json()
    assert run["status"] == "FAILED", run
    return run_id


def _children(db: Database, run_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        parent = uuid.UUID(run_id)
        rows = conn.execute(sa.select(runs).where(runs.c.parent_run_id == parent).order_by(runs.c.iteration))
        return [dict(row._mapping) for row in rows]


def test_a_map_with_3_failed_items_of_50_reruns_exactly_those_3(
    alice: User, executor: Executor, recorder: Recorder, db: Database
) -> None:
    metrics = executor.metrics
    run_id = _failed(alice, executor, map_flow(), items(50, FAILING))
    calls = Counter(recorder.names())
    assert calls == Counter(
        {**{f"prep-item-{i}": 1 for i in range(50)}, **{f"item-{i}": 1 for i in range(50)}}
    )
    statuses = [row["status"] for row in _children(db, run_id)]
    assert [i for i, status in enumerate(statuses) if status != "SUCCEEDED"] == list(FAILING)
    failed_requests = {name: rid for name, rid in recorder.calls if name in {f"item-{i}" for i in FAILING}}

    response = alice.post(f"/runs/{run_id}/redrive")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ACTIVE"
    assert response.json()["details"]["details"] == {"redrive_count": 1, "state_name": "Fan"}
    before = len(recorder.calls)
    executor.run_until_idle()
    done = alice.get(f"/runs/{run_id}").json()
    assert done["status"] == "SUCCEEDED", done

    # exactly the 3 failed items' failed state ran again: one new action each, with a new request id; no
    # Prep again, nothing of the 47 others
    again = recorder.calls[before:]
    assert sorted(name for name, _ in again) == sorted(f"item-{i}" for i in FAILING)
    for name, request_id in again:
        assert request_id != failed_requests[name]
    # every result in item order
    out = done["details"]["output"]["out"]
    assert out == [{"name": f"item-{i}", "got": f"item-{i}"} for i in range(50)]
    # the run log: failed, redriven (3 iterations again), succeeded
    entries = alice.get(f"/runs/{run_id}/log", params={"limit": 100}).json()["entries"]
    redriven = [entry for entry in entries if entry["code"] == "FlowRedriven"]
    assert [entry["details"] for entry in redriven] == [
        {"redrive_count": 1, "state_name": "Fan", "previous_error": "ActionFailedException", "iterations": 3}
    ]
    assert [entry["code"] for entry in entries][-3:] == ["FlowRedriven", "MapCompleted", "FlowSucceeded"]
    # each redriven item's own log says it was redriven at its failed state; the others' logs are unchanged
    rows = _children(db, run_id)
    assert all(row["status"] == "SUCCEEDED" for row in rows)
    with db.read() as conn:
        codes = {
            row["iteration"]: [
                entry["code"]
                for entry in store_runs.get_run_logs(
                    conn, run_id=row["id"], after_seq=None, reverse=False, limit=100
                )[0]
            ]
            for row in rows
        }
    for i in range(50):
        assert ("FlowRedriven" in codes[i]) == (i in FAILING), (i, codes[i])
    # the metrics count the run once (its iterations are not runs), redriven once
    assert metrics.runs_started.value() == 1
    assert metrics.runs_redriven.value() == 1
    with db.read() as conn:
        assert store_work.count_runs_by_status(conn) == {"SUCCEEDED": 1}


def test_a_parallel_reruns_only_its_failed_branch_from_its_failed_state(
    alice: User, executor: Executor, recorder: Recorder
) -> None:
    branch = lambda *states: {  # noqa: E731
        "StartAt": states[0][0],
        "States": {
            name: action(name, states[i + 1][0] if i + 1 < len(states) else None, f"$.{name}", **params)
            for i, (name, params) in enumerate(states)
        },
    }
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    branch(("A", {"name": "A"})),
                    branch(("B1", {"name": "B1"}), ("B2", {"name": "B2", "fail_first": 1})),
                    branch(("C", {"name": "C"})),
                ],
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }
    run_id = _failed(alice, executor, definition, {"x": 1})
    assert sorted(recorder.names()) == ["A", "B1", "B2", "C"]
    assert alice.post(f"/runs/{run_id}/redrive").status_code == 200
    executor.run_until_idle()
    done = alice.get(f"/runs/{run_id}").json()
    assert done["status"] == "SUCCEEDED", done
    assert sorted(recorder.names()) == ["A", "B1", "B2", "B2", "C"]  # B2 alone ran again
    out = done["details"]["output"]["out"]
    assert [sorted(branch_out) for branch_out in out] == [["A", "x"], ["B1", "B2", "x"], ["C", "x"]]
    assert [out[0]["A"]["details"]["name"], out[1]["B1"]["details"]["name"]] == ["A", "B1"]
    assert out[1]["B2"]["details"]["name"] == "B2" and out[2]["C"]["details"]["name"] == "C"


def test_items_stopped_when_the_map_failed_run_on_a_redrive(
    alice: User, executor: Executor, recorder: Recorder, db: Database
) -> None:
    # MaxConcurrency 2: items 0 and 1 run, 1 fails, the map fails at once and 2..5 never start (ENDED)
    run_id = _failed(alice, executor, map_flow(MaxConcurrency=2), items(6, (1,)))
    assert [row["status"] for row in _children(db, run_id)] == ["SUCCEEDED", "FAILED"] + ["ENDED"] * 4
    assert sorted(recorder.names()) == ["item-0", "item-1", "prep-item-0", "prep-item-1"]
    assert alice.post(f"/runs/{run_id}/redrive").status_code == 200
    # the redrive itself starts nothing: the map starts them in its turn (MaxConcurrency)
    assert [row["status"] for row in _children(db, run_id)] == ["SUCCEEDED"] + ["QUEUED"] * 5
    executor.run_until_idle()
    done = alice.get(f"/runs/{run_id}").json()
    assert done["status"] == "SUCCEEDED", done
    # item 0 not again; item 1 from its failed state (no Prep again); 2..5 from their start, once
    calls = Counter(recorder.names())
    assert calls == Counter(
        {"prep-item-0": 1, "item-0": 1, "prep-item-1": 1, "item-1": 2}
        | {f"prep-item-{i}": 1 for i in range(2, 6)}
        | {f"item-{i}": 1 for i in range(2, 6)}
    )
    assert done["details"]["output"]["out"] == [{"name": f"item-{i}", "got": f"item-{i}"} for i in range(6)]


def test_a_map_whose_item_chose_to_fail_is_not_redriven(
    alice: User, executor: Executor, recorder: Recorder, db: Database
) -> None:
    processor = {
        "StartAt": "Call",
        "States": {
            "Call": action("Call", "Check", "$.call", **{"name.$": "$.name"}),
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "No"}],
                "Default": "Yes",
            },
            "No": {"Type": "Fail", "Error": "Bad", "Cause": "a bad item"},
            "Yes": {"Type": "Pass", "End": True},
        },
    }
    definition = {
        "StartAt": "Fan",
        "States": {"Fan": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, "End": True}},
    }
    body = {"items": [{"name": "a", "bad": False}, {"name": "b", "bad": True}]}
    run_id = _failed(alice, executor, definition, body)
    response = alice.post(f"/runs/{run_id}/redrive")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "STATE_CONFLICT"
    assert "Iteration 1 of state Fan failed at its state 'No'" in response.json()["error"]["detail"]
    assert alice.get(f"/runs/{run_id}").json()["status"] == "FAILED"
    assert [row["status"] for row in _children(db, run_id)] == ["SUCCEEDED", "FAILED"]
    assert recorder.names() == ["a", "b"]


def test_a_map_inside_a_map_reruns_only_the_failed_inner_item(
    alice: User, executor: Executor, recorder: Recorder, db: Database
) -> None:
    inner = {
        "StartAt": "Call",
        "States": {
            "Call": action("Call", None, "$.call", **{"name.$": "$.name", "fail_first.$": "$.fail_first"})
        },
    }
    definition = {
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
                            "ItemsPath": "$.items",
                            "ItemProcessor": inner,
                            "End": True,
                        }
                    },
                },
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }
    groups = [
        {"items": [{"name": f"g{g}-{i}", "fail_first": int((g, i) == (1, 2))} for i in range(3)]}
        for g in range(2)
    ]
    run_id = _failed(alice, executor, definition, {"groups": groups})
    assert len(recorder.calls) == 6
    assert [row["status"] for row in _children(db, run_id)] == ["SUCCEEDED", "FAILED"]
    assert alice.post(f"/runs/{run_id}/redrive").status_code == 200
    executor.run_until_idle()
    done = alice.get(f"/runs/{run_id}").json()
    assert done["status"] == "SUCCEEDED", done
    assert [name for name, _ in recorder.calls[6:]] == ["g1-2"]
    out = done["details"]["output"]["out"]
    assert [[item["call"]["details"]["name"] for item in group] for group in out] == [
        ["g0-0", "g0-1", "g0-2"],
        ["g1-0", "g1-1", "g1-2"],
    ]
