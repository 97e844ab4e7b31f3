"""Flows that loop back to an Action state run every visit as its own action (issue 12 item 1), for every kind
of built-in provider: asynchronous (hello_world with a sleep, transfer), synchronous (ls, mkdir), and one that
goes INACTIVE until the run is resumed. Executor on a fake clock, background work inline, both databases."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from providerkit import write_tree

from engine.enginekit import OWNER, drive, get_logs, get_run, insert_run
from openflows.engine.executor import Executor
from openflows.language.model import Cursor
from openflows.providers.base import Provider, ProviderRegistry
from openflows.providers.collections import Collection, load_collection
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store import kinds
from openflows.store.collections import add_collection
from openflows.store.db import Database
from openflows.store.schema import provider_actions
from openflows.store.work import NewWorkItem, enqueue_work_item

HELLO = "https://actions.globus.org/hello_world"
LS = "https://actions.globus.org/transfer/ls"
MKDIR = "https://actions.globus.org/transfer/mkdir"
TRANSFER = "https://actions.globus.org/transfer/transfer"


def loop(work: dict[str, Any], *, times: int = 3, between: dict[str, Any] | None = None) -> dict[str, Any]:
    """`Work` (an Action state) visited `times` times by a counter loop; `between` is an optional state run
    after each visit (a Wait, say)."""
    states: dict[str, Any] = {
        "Init": {"Type": "Pass", "Result": {"n": 0, "results": []}, "ResultPath": "$.loop", "Next": "Work"},
        "Work": {**work, "ResultPath": "$.last", "Next": "Between" if between else "Count"},
        "Count": {
            "Type": "ExpressionEval",
            "Parameters": {"n.=": "loop.n + 1", "results.=": "loop.results + [last.action_id]"},
            "ResultPath": "$.loop",
            "Next": "Again",
        },
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.loop.n", "NumericLessThan": times, "Next": "Work"}],
            "Default": "Done",
        },
        "Done": {"Type": "Pass", "End": True},
    }
    if between:
        states["Between"] = {**between, "Next": "Count"}
    return {"StartAt": "Init", "States": states}


class World:
    def __init__(self, db: Database, executor: Executor, clock: FakeClock, tmp: Path) -> None:
        self.db, self.executor, self.clock, self.tmp = db, executor, clock, tmp

    def collection(self, name: str) -> Collection:
        root = self.tmp / name
        root.mkdir(parents=True, exist_ok=True)
        key = uuid.uuid4()
        self.db.transact(  # owned by the runs' owner: the identity the providers act for
            add_collection,
            collection_id=key,
            name=name,
            root=root.resolve(),
            now=self.clock.now(),
            owner=OWNER,
        )
        return load_collection(self.db, key)

    def start(self, definition: dict[str, Any], body: Any = None) -> uuid.UUID:
        return insert_run(self.db, definition, {} if body is None else body, now=self.clock.now())

    def finish(self, run_id: uuid.UUID) -> dict[str, Any]:
        drive(self.executor, self.clock)
        run = get_run(self.db, run_id)
        assert run["status"] == "SUCCEEDED", run["details"]
        return run

    def actions(self, provider: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(provider_actions.c.id, provider_actions.c.request_id, provider_actions.c.body)
                .where(provider_actions.c.provider == provider)
                .order_by(provider_actions.c.start_time, provider_actions.c.request_id)
            )
            return [dict(row._mapping) for row in rows]

    def resume(self, run_id: uuid.UUID) -> None:
        with self.db.begin() as conn:
            enqueue_work_item(
                conn,
                NewWorkItem(run_id=run_id, kind=kinds.RESUME, due_at=self.clock.now()),
                now=self.clock.now(),
            )


@pytest.fixture
def world(
    db: Database, settings: Settings, providers: dict[str, Provider], clock: FakeClock, tmp_path: Path
) -> World:
    registry = ProviderRegistry(providers.values(), base_urls=["http://openflows.test"])
    return World(db, Executor(db, settings, registry=registry, clock=clock, threads=1), clock, tmp_path)


def started_action_ids(db: Database, run_id: uuid.UUID, state: str = "Work") -> list[str]:
    return [
        entry["details"]["output"]["action_id"]
        for entry in get_logs(db, run_id)
        if entry["code"] == "ActionCompleted" and entry["details"].get("state_name") == state
    ]


def test_async_loop_with_a_changing_body(world: World):
    work = {
        "Type": "Action",
        "ActionUrl": HELLO,
        "Parameters": {"echo_string.=": "'visit ' + str(loop.n)", "sleep_time": 5},
    }
    run = world.finish(world.start(loop(work)))
    output = run["details"]["output"]
    assert output["last"]["details"]["hello"] == "visit 2"
    actions = world.actions("hello_world")
    assert [a["body"]["echo_string"] for a in actions] == ["visit 0", "visit 1", "visit 2"]
    assert len({a["request_id"] for a in actions}) == 3
    assert output["loop"]["results"] == [str(a["id"]) for a in actions]


def test_async_loop_with_the_same_body_starts_three_actions(world: World):
    work = {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"echo_string": "same", "sleep_time": 2}}
    run_id = world.start(loop(work))
    run = world.finish(run_id)
    ids = run["details"]["output"]["loop"]["results"]
    assert len(ids) == len(set(ids)) == 3
    assert len(world.actions("hello_world")) == 3
    assert started_action_ids(world.db, run_id) == ids


def test_sync_loop_ls_wait_ls(world: World):
    collection = world.collection("data")
    write_tree(collection.root, {"dir/a.txt": "a"})
    work = {
        "Type": "Action",
        "ActionUrl": LS,
        "Parameters": {"endpoint_id": str(collection.id), "path": "/dir"},
    }
    run = world.finish(world.start(loop(work, between={"Type": "Wait", "Seconds": 30})))
    assert [e["name"] for e in run["details"]["output"]["last"]["details"]["DATA"]] == ["a.txt"]
    assert len(world.actions("ls")) == 3
    assert len(set(run["details"]["output"]["loop"]["results"])) == 3


def test_a_catch_that_loops_back_to_the_failed_state(world: World):
    """`ls` of a missing directory fails; the Catch makes it and goes back to `ls`, which now works."""
    collection = world.collection("data")
    definition = {
        "StartAt": "List",
        "States": {
            "List": {
                "Type": "Action",
                "ActionUrl": LS,
                "Parameters": {"endpoint_id": str(collection.id), "path": "/later"},
                "ResultPath": "$.listing",
                "Catch": [
                    {"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.error", "Next": "Make"}
                ],
                "End": True,
            },
            "Make": {
                "Type": "Action",
                "ActionUrl": MKDIR,
                "Parameters": {"endpoint_id": str(collection.id), "path": "/later"},
                "ResultPath": "$.made",
                "Next": "List",
            },
        },
    }
    run = world.finish(world.start(definition))
    assert run["details"]["output"]["listing"]["status"] == "SUCCEEDED"
    listed = world.actions("ls")
    assert len(listed) == 2 and listed[0]["request_id"] != listed[1]["request_id"]


def test_transfer_in_a_loop(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"f.txt": "payload"})
    work = {
        "Type": "Action",
        "ActionUrl": TRANSFER,
        "Parameters": {
            "source_endpoint_id": str(src.id),
            "destination_endpoint_id": str(dst.id),
            "transfer_items": [{"source_path": "/f.txt", "destination_path.=": "'/copy-' + str(loop.n)"}],
        },
    }
    world.finish(world.start(loop(work)))
    assert sorted(p.name for p in dst.root.iterdir()) == ["copy-0", "copy-1", "copy-2"]
    assert len(world.actions("transfer")) == 3


def test_inactive_then_resumed_on_every_visit(world: World):
    scope = "urn:globus:auth:scope:groups.api.globus.org:all"
    work = {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"required_dependent_scope": scope}}
    run_id = world.start(loop(work, times=2))
    for _ in range(2):
        drive(world.executor, world.clock)
        assert get_run(world.db, run_id)["status"] == "INACTIVE"
        world.resume(run_id)
    run = world.finish(run_id)
    assert len(set(run["details"]["output"]["loop"]["results"])) == 2
    assert len(world.actions("hello_world")) == 2


def test_a_crash_in_the_second_visit_gives_one_action_per_visit(
    world: World, db: Database, settings: Settings, providers: dict[str, Provider], clock: FakeClock
):
    """Worker 1 starts the second visit's action and dies before committing; worker 2 replays the start after
    the lease expired: the same request id, the same action. Three visits, three actions."""
    registry = ProviderRegistry(providers.values(), base_urls=["http://openflows.test"])
    first = Executor(db, settings, registry=registry, clock=clock, threads=1, owner="worker-1")
    second = Executor(db, settings, registry=registry, clock=clock, threads=1, owner="worker-2")
    work = {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"echo_string": "same"}}
    run_id = world.start(loop(work))
    starts = 0
    while True:  # run worker 1 until the second visit's action is about to start
        items = first.claim()
        assert items, "the run should reach its second action"
        (item,) = items
        if item.kind == kinds.ACTION_START:
            starts += 1
            if starts == 2:
                break
        first.process(item)
    start = item.payload["start"]
    assert start["request_id"].endswith("/Work/2/0")
    run = world.executor._load(item)
    assert run is not None
    doc, created = providers["hello_world"].run(
        {"request_id": start["request_id"], "body": start["body"]}, first._caller(run, "User")
    )
    assert created  # the crash: the action exists, the commit never happened
    clock.advance(settings.lease_seconds + 1)
    drive(second, clock)
    final = get_run(db, run_id)
    assert final["status"] == "SUCCEEDED", final["details"]
    ids = final["details"]["output"]["loop"]["results"]
    assert len(ids) == len(set(ids)) == 3 and ids[1] == doc["action_id"]
    assert len(world.actions("hello_world")) == 3


def test_a_run_in_flight_across_the_upgrade_keeps_its_action(world: World, db: Database):
    """A run stored before visits were counted: its cursor has no counter and its ACTION_START item names the
    action `<run_id>/<state>/<attempt>`. It finishes with that action; its later visits are new actions."""
    work = {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"echo_string": "old"}}
    run_id = world.start(loop(work, times=2))
    world.executor.tick(limit=1)  # the start step: the cursor is at Work with an ACTION_START item
    old_id = f"{run_id}/Work/0"
    from openflows.store.schema import runs, work_items

    with db.begin() as conn:
        run = conn.execute(sa.select(runs.c.cursor).where(runs.c.id == run_id)).one()
        cursor = Cursor.from_dict(run.cursor).as_dict()
        for key in ("visit", "visits"):
            cursor.pop(key)
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(cursor=cursor))
        item = conn.execute(
            sa.select(work_items.c.id, work_items.c.payload).where(work_items.c.run_id == run_id)
        ).one()
        payload = dict(item.payload)
        payload["start"] = {**payload["start"], "request_id": old_id}
        conn.execute(sa.update(work_items).where(work_items.c.id == item.id).values(payload=payload))
    world.finish(run_id)
    assert [a["request_id"] for a in world.actions("hello_world")] == [old_id, f"{run_id}/Work/1/0"]
