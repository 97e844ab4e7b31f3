"""`store.children`: the iterations of a Map or Parallel state as child runs (SQLite and PostgreSQL):
deterministic ids, idempotent creation, MaxConcurrency through QUEUED rows, outputs gathered in index order,
failures named for a redrive, and child runs hidden from run listings."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from openflows.store import children, kinds, runs
from openflows.store.db import Database
from openflows.store.flows import create_flow
from openflows.store.keyset import build_order
from openflows.store.schema import runs as runs_table
from openflows.store.work import list_work_items

ALICE = f"urn:globus:auth:identity:{uuid.uuid4()}"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFINITION = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    },
}


@pytest.fixture
def parent(db: Database) -> dict[str, Any]:
    with db.begin() as conn:
        flow = create_flow(
            conn,
            flow_id=uuid.uuid4(),
            flow_owner=ALICE,
            title="map",
            definition=DEFINITION,
            input_schema={},
            now=NOW,
        )
        run_id = uuid.uuid4()
        return runs.create_run(
            conn,
            run_id=run_id,
            flow=flow,
            run_owner=ALICE,
            body={"items": [1, 2, 3, 4, 5]},
            details_input={},
            context={"run_id": str(run_id)},
            cursor={},
            now=NOW,
            label="parent",
        )


def _create(db: Database, parent: dict[str, Any], key: children.IterationsKey, n: int, start: int) -> int:
    with db.begin() as conn:
        return children.create_children(
            conn,
            parent=parent,
            key=key,
            inputs=[{"n": i} for i in range(n)],
            contexts=[{"run_id": str(parent["id"]), "map_item": {"index": i, "value": i}} for i in range(n)],
            start=start,
            now=NOW,
        )


def _finish(db: Database, run_id: uuid.UUID, status: str, *, output: Any = None, error: str = "") -> None:
    details = (
        {"code": "FlowSucceeded", "details": {"output": output}}
        if status == "SUCCEEDED"
        else {"code": "FlowFailed", "details": {"error": error, "cause": f"{error}!", "state_name": "P"}}
    )
    with db.begin() as conn:
        conn.execute(
            sa.update(runs_table)
            .where(runs_table.c.id == run_id)
            .values(status=status, run_state=output, details=details, completion_time=NOW)
        )


def test_children_are_created_once_with_deterministic_ids_and_a_start_item_each(
    db: Database, parent: dict[str, Any]
) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    assert _create(db, parent, key, 5, start=2) == 2
    assert _create(db, parent, key, 5, start=2) == 0  # a replayed parent step creates nothing
    with db.read() as conn:
        assert children.count_children(conn, key) == {"ACTIVE": 2, "QUEUED": 3}
        first = runs.get_run(conn, run_id=children.child_run_id(key, 0))
        items = list_work_items(conn, run_id=children.child_run_id(key, 1))
        queued_items = list_work_items(conn, run_id=children.child_run_id(key, 2))
        assert children.parent_of(conn, children.child_run_id(key, 4)) == key
        assert children.parent_of(conn, parent["id"]) is None
    assert first is not None
    assert (first["parent_run_id"], first["parent_state"], first["parent_visit"], first["iteration"]) == (
        parent["id"],
        "Fan",
        "1/0",
        0,
    )
    assert first["input"] == first["run_state"] == {"n": 0}
    assert first["context"]["map_item"] == {"index": 0, "value": 0}
    assert first["flow_version"] == parent["flow_version"] and first["run_owner"] == ALICE
    assert [(item.kind, item.payload) for item in items] == [(kinds.STEP, {"event": "start"})]
    assert queued_items == []
    other_visit = children.IterationsKey(parent["id"], "Fan", "2/0")
    assert children.child_run_id(other_visit, 0) != children.child_run_id(key, 0)


def test_queued_children_start_in_index_order_as_others_finish(db: Database, parent: dict[str, Any]) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 5, start=2)
    _finish(db, children.child_run_id(key, 0), "SUCCEEDED", output="zero")
    later = NOW + dt.timedelta(minutes=5)
    with db.begin() as conn:
        assert children.start_queued(conn, key, limit=1, now=later) == [2]
        assert children.start_queued(conn, key, limit=0, now=later) == []
        started = conn.execute(
            sa.select(runs_table.c.iteration, runs_table.c.start_time).where(
                runs_table.c.parent_run_id == parent["id"], runs_table.c.iteration.in_((1, 2, 3))
            )
        )
        # an iteration's start time is when it left the queue, not when it was created
        assert {i: t.replace(tzinfo=dt.UTC) for i, t in started} == {1: NOW, 2: later, 3: NOW}
    with db.begin() as conn:
        assert children.start_queued(conn, key, limit=5, now=NOW) == [3, 4]
        assert children.count_children(conn, key) == {"ACTIVE": 4, "SUCCEEDED": 1}
        assert len(list_work_items(conn, run_id=children.child_run_id(key, 4))) == 1


def test_ends_are_gathered_in_index_order_and_failures_are_named(
    db: Database, parent: dict[str, Any]
) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 4, start=4)
    _finish(db, children.child_run_id(key, 2), "SUCCEEDED", output={"two": 2})
    _finish(db, children.child_run_id(key, 0), "SUCCEEDED", output=[0])
    _finish(db, children.child_run_id(key, 3), "FAILED", error="Boom")
    with db.read() as conn:
        ends = children.iteration_ends(conn, key)
        assert children.running_children(conn, key) == [children.child_run_id(key, 1)]
        assert children.failed_iterations(conn, key) == [3]
    assert [(end.index, end.status, end.output, end.error, end.cause) for end in ends] == [
        (0, "SUCCEEDED", [0], None, None),
        (1, "ACTIVE", None, None, None),
        (2, "SUCCEEDED", {"two": 2}, None, None),
        (3, "FAILED", None, "Boom", "Boom!"),
    ]


def test_queued_children_end_when_the_state_fails_early(db: Database, parent: dict[str, Any]) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 5, start=1)
    with db.begin() as conn:
        assert children.end_queued(conn, key, now=NOW) == 4
        assert children.count_children(conn, key) == {"ACTIVE": 1, "ENDED": 4}
        assert children.start_queued(conn, key, limit=5, now=NOW) == []


def test_child_runs_are_not_listed(db: Database, parent: dict[str, Any]) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 3, start=3)
    order = build_order(runs.SORT_FIELDS, [["start_time", True]])
    with db.read() as conn:
        page, _ = runs.list_runs(conn, urns=[ALICE], order=order, limit=20)
        stored = conn.execute(sa.select(sa.func.count()).select_from(runs_table)).scalar_one()
    assert [row["id"] for row in page] == [parent["id"]]
    assert stored == 4


GARE = {
    "code": "ConsentRequired",
    "description": "consent needed",
    "state_name": "P",
    "authorization_parameters": {"required_scopes": ["urn:example:scope"]},
}


def _set_status(conn: sa.Connection, run_id: uuid.UUID, status: str, details: Any) -> None:
    conn.execute(
        sa.update(runs_table)
        .where(runs_table.c.id == run_id)
        .values(status=status, details=details, version=runs_table.c.version + 1)
    )


def _parent_row(db: Database, parent: dict[str, Any]) -> Any:
    with db.read() as conn:
        return conn.execute(sa.select(runs_table).where(runs_table.c.id == parent["id"])).one()


def test_the_parent_waits_while_an_item_is_inactive_showing_the_lowest(
    db: Database, parent: dict[str, Any]
) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 3, start=3)
    ids = [children.child_run_id(key, i) for i in range(3)]

    def change(index: int, status: str, details: Any = GARE) -> int:
        with db.begin() as conn:
            _set_status(conn, ids[index], status, details)
            return children.sync_ancestors(conn, parent["id"], now=NOW)

    assert change(2, "INACTIVE") == 1
    row = _parent_row(db, parent)
    assert row.status == "INACTIVE" and row.details["iteration"] == {"state": "Fan", "index": 2}
    assert row.details["description"] == "Item 2 of state Fan is inactive: consent needed"
    assert row.details["authorization_parameters"] == GARE["authorization_parameters"]
    assert row.details["state_name"] == "Fan"
    assert change(1, "INACTIVE") == 1  # a lower index is shown instead
    assert _parent_row(db, parent).details["iteration"]["index"] == 1
    version = _parent_row(db, parent).version
    assert change(2, "INACTIVE", {**GARE, "description": "still"}) == 0  # not the one shown: nothing changes
    assert _parent_row(db, parent).version == version
    assert change(1, "SUCCEEDED", {"code": "FlowSucceeded"}) == 1
    assert _parent_row(db, parent).details["iteration"]["index"] == 2
    assert change(2, "FAILED", {"code": "FlowCanceled"}) == 1
    row = _parent_row(db, parent)
    assert row.status == "ACTIVE" and row.details == children.RESUMED_DETAILS
    assert change(0, "SUCCEEDED", {"code": "FlowSucceeded"}) == 0  # nothing waited: left alone
    with db.read() as conn:
        notices = conn.execute(sa.text("SELECT run_id, payload FROM notifications")).all()
        logs = conn.execute(sa.text("SELECT code FROM run_logs")).scalars().all()
    assert len(notices) == 1 and uuid.UUID(str(notices[0].run_id)) == parent["id"]  # entering INACTIVE once
    assert logs == ["FlowInactive"]


def test_a_parent_inactive_for_its_own_reason_or_ended_is_left_alone(
    db: Database, parent: dict[str, Any]
) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 1, start=1)
    with db.begin() as conn:
        _set_status(conn, parent["id"], "INACTIVE", GARE)
        _set_status(conn, children.child_run_id(key, 0), "INACTIVE", GARE)
        assert children.sync_ancestors(conn, parent["id"], now=NOW) == 0
        _set_status(conn, children.child_run_id(key, 0), "FAILED", {})
        assert children.sync_ancestors(conn, parent["id"], now=NOW) == 0
        _set_status(conn, parent["id"], "FAILED", {"code": "FlowCanceled"})
        _set_status(conn, children.child_run_id(key, 0), "INACTIVE", GARE)
        assert children.sync_ancestors(conn, parent["id"], now=NOW) == 0
    assert _parent_row(db, parent).details == {"code": "FlowCanceled"}


def test_two_items_changing_at_once_leave_the_parent_right(db: Database, parent: dict[str, Any]) -> None:
    """PostgreSQL, READ COMMITTED: item 0 leaves INACTIVE while item 1 enters it, in two transactions that
    both changed their item before either looks at the parent. The parent's row lock orders them: the second
    sees the first's change, and neither fails."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 2, start=2)
    ids = [children.child_run_id(key, i) for i in range(2)]
    with db.begin() as conn:
        _set_status(conn, ids[0], "INACTIVE", GARE)
        children.sync_ancestors(conn, parent["id"], now=NOW)
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def change(run_id: uuid.UUID, status: str) -> None:
        try:
            with db.begin() as conn:
                _set_status(conn, run_id, status, GARE if status == "INACTIVE" else {"code": "FlowResumed"})
                barrier.wait(timeout=10)
                children.sync_ancestors(conn, parent["id"], now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=change, args=(ids[0], "ACTIVE")),
        threading.Thread(target=change, args=(ids[1], "INACTIVE")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    row = _parent_row(db, parent)
    assert row.status == "INACTIVE" and row.details["iteration"] == {"state": "Fan", "index": 1}
