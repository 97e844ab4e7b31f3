"""`store.iteration_reads` (SQLite and PostgreSQL): a run's iterations summarised per state (the latest visit,
compared as numbers), paged in index order with a status filter, one item read whole; a 5,000-item map
is read a page at a time."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from openflows.store import children, iteration_reads, runs
from openflows.store.db import Database
from openflows.store.flows import create_flow
from openflows.store.schema import runs as runs_table

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
            body={"items": []},
            details_input={},
            context={"run_id": str(run_id)},
            cursor={},
            now=NOW,
            label="parent",
        )


def _create(db: Database, parent: dict[str, Any], key: children.IterationsKey, n: int, start: int) -> None:
    with db.begin() as conn:
        children.create_children(
            conn,
            parent=parent,
            key=key,
            inputs=[{"n": i} for i in range(n)],
            contexts=[{} for _ in range(n)],
            start=start,
            now=NOW,
        )


def _end(db: Database, key: children.IterationsKey, index: int, status: str, details: Any = None) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.update(runs_table)
            .where(runs_table.c.id == children.child_run_id(key, index))
            .values(status=status, details=details, completion_time=NOW, run_state={"out": index})
        )


def test_the_latest_visit_counts_and_pages_follow_the_index(db: Database, parent: dict[str, Any]) -> None:
    run_id = parent["id"]
    old = children.IterationsKey(run_id, "Fan", "9/0")
    new = children.IterationsKey(run_id, "Fan", "10/0")  # a later visit: "10/0" < "9/0" as text
    other = children.IterationsKey(run_id, "Both", "3/1")
    _create(db, parent, old, 3, 3)
    _create(db, parent, new, 7, 2)
    _create(db, parent, other, 2, 2)
    failure = {"code": "FlowFailed", "details": {"error": "Bad", "cause": "no"}}
    _end(db, new, 0, "SUCCEEDED")
    _end(db, new, 4, "FAILED", failure)
    with db.read() as conn:
        summaries = iteration_reads.summarise_iterations(conn, run_id=run_id)
        assert [(s.state, s.visit, s.counts, s.total) for s in summaries] == [
            ("Both", "3/1", {"ACTIVE": 2}, 2),
            ("Fan", "10/0", {"SUCCEEDED": 1, "ACTIVE": 1, "QUEUED": 4, "FAILED": 1}, 7),
        ]
        latest = iteration_reads.latest_iterations(conn, run_id=run_id, state="Fan")
        assert latest is not None and latest.visit == "10/0"
        assert iteration_reads.latest_iterations(conn, run_id=run_id, state="Nope") is None

        page, after = iteration_reads.list_iterations(conn, key=new, statuses=[], after_index=None, limit=3)
        assert [row["iteration"] for row in page] == [0, 1, 2] and after == 2
        page, after = iteration_reads.list_iterations(conn, key=new, statuses=[], after_index=2, limit=3)
        assert [row["iteration"] for row in page] == [3, 4, 5] and after == 5
        page, after = iteration_reads.list_iterations(conn, key=new, statuses=[], after_index=5, limit=3)
        assert [row["iteration"] for row in page] == [6] and after is None
        page, _ = iteration_reads.list_iterations(
            conn, key=new, statuses=["FAILED", "SUCCEEDED"], after_index=None, limit=10
        )
        assert [(row["iteration"], row["status"]) for row in page] == [(0, "SUCCEEDED"), (4, "FAILED")]

        item = iteration_reads.get_iteration(conn, key=new, index=4)
        assert item is not None
        assert (item["status"], item["input"], item["run_state"], item["details"]) == (
            "FAILED",
            {"n": 4},
            {"out": 4},
            failure,
        )
        assert iteration_reads.get_iteration(conn, key=new, index=7) is None
        assert iteration_reads.get_iteration(conn, key=old, index=2) is not None


def test_a_large_map_is_read_a_page_at_a_time(db: Database, parent: dict[str, Any]) -> None:
    key = children.IterationsKey(parent["id"], "Fan", "1/0")
    _create(db, parent, key, 5000, 100)
    started = time.perf_counter()
    with db.read() as conn:
        summary = iteration_reads.summarise_iterations(conn, run_id=parent["id"])
        page, after = iteration_reads.list_iterations(
            conn, key=key, statuses=["QUEUED"], after_index=4000, limit=50
        )
    took = time.perf_counter() - started
    assert [(s.total, s.counts) for s in summary] == [(5000, {"ACTIVE": 100, "QUEUED": 4900})]
    assert [row["iteration"] for row in page] == list(range(4001, 4051)) and after == 4050
    print(f"5,000 items: summary + one page in {took * 1000:.1f} ms")
    assert took < 5.0
