"""`store.runs.list_runs` picks its plan by how many runs the caller can see; every plan must return the same
pages. The plans are forced by moving ROLE_DRIVEN_MAX, on the same data, and compared with the answer
computed by hand from the rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from openflows.store import runs
from openflows.store.db import Database
from openflows.store.flows import create_flow
from openflows.store.keyset import build_order

ALICE = f"urn:globus:auth:identity:{uuid.uuid4()}"
BOB = f"urn:globus:auth:identity:{uuid.uuid4()}"
GROUP = f"urn:globus:groups:id:{uuid.uuid4()}"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFINITION = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def _flow(conn: Any, owner: str, title: str, **roles: Any) -> dict[str, Any]:
    return create_flow(
        conn,
        flow_id=uuid.uuid4(),
        flow_owner=owner,
        title=title,
        definition=DEFINITION,
        input_schema={},
        now=NOW,
        **roles,
    )


def _run(conn: Any, flow: dict[str, Any], owner: str, minute: int, label: str, **roles: Any) -> uuid.UUID:
    run_id = uuid.uuid4()
    runs.create_run(
        conn,
        run_id=run_id,
        flow=flow,
        run_owner=owner,
        body={},
        details_input={},
        context={},
        cursor={},
        now=NOW + dt.timedelta(minutes=minute),
        label=label,
        **roles,
    )
    return run_id


@pytest.fixture
def stored(db: Database) -> dict[str, set[uuid.UUID]]:
    """Alice owns 12 runs; Bob owns 20, of which Alice monitors 2 (one through her group) and 5 are of a
    flow Alice administers; 8 more of Bob's she cannot see. Start times interleave."""
    with db.begin() as conn:
        mine = _flow(conn, ALICE, "alice flow")
        bobs = _flow(conn, BOB, "bob flow")
        shared = _flow(conn, BOB, "shared flow", flow_administrators=[ALICE])
        visible: set[uuid.UUID] = set()
        hidden: set[uuid.UUID] = set()
        minute = 0
        for i in range(12):
            visible.add(_run(conn, mine, ALICE, minute := minute + 3, f"alice {i}"))
        for i in range(2):
            monitors = [ALICE] if i == 0 else [GROUP]
            visible.add(_run(conn, bobs, BOB, 1 + 7 * i, f"monitored {i}", run_monitors=monitors))
        for i in range(5):
            visible.add(_run(conn, shared, BOB, 2 + 5 * i, f"shared {i}"))
        for i in range(13):
            hidden.add(_run(conn, bobs, BOB, 40 + i, f"hidden {i}"))
    return {"visible": visible, "hidden": hidden}


def _pages(db: Database, per_page: int, **filters: Any) -> list[list[str]]:
    order = build_order(runs.SORT_FIELDS, [["start_time", True]])
    pages, after = [], None
    while True:
        with db.read() as conn:
            rows, after = runs.list_runs(
                conn, urns=[ALICE, GROUP], order=order, after_key=after, limit=per_page, **filters
            )
        pages.append([row["label"] for row in rows])
        if after is None:
            return pages


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"label": "alice 1"},
        {"statuses": ["ACTIVE"]},
        {"filter_roles": ["run_owner"]},
        {"flow_title": "ed"},
    ],
    ids=["all", "label", "status", "owner-only", "flow-title"],
)
def test_every_plan_gives_the_same_pages(
    db: Database, stored: dict[str, set[uuid.UUID]], monkeypatch: pytest.MonkeyPatch, filters: dict[str, Any]
) -> None:
    answers = {}
    # (ROLE_DRIVEN_MAX, INDEX_UNION_MAX_FLOWS): Alice sees 19 runs, 2 through run roles other than owner,
    # the rest as owner and through the roles of 2 flows (hers and the one she administers)
    plans = {
        "role rows": (5000, 20),
        "index union": (3, 20),
        "walk, many flows": (3, 1),
        "walk, many run roles": (1, 20),
    }
    for name, (role_driven_max, max_flows) in plans.items():
        monkeypatch.setattr(runs, "ROLE_DRIVEN_MAX", role_driven_max)
        monkeypatch.setattr(runs, "INDEX_UNION_MAX_FLOWS", max_flows)
        answers[name] = _pages(db, 5, **filters)
    first = answers["role rows"]
    assert all(pages == first for pages in answers.values()), answers
    flat = [label for page in first for label in page]
    assert not any(label.startswith("hidden") for label in flat)
    if not filters:
        assert len(flat) == len(stored["visible"]) == 19
        assert [len(page) for page in first] == [5, 5, 5, 4]
    if filters.get("label"):
        assert sorted(flat) == ["alice 1", "alice 10", "alice 11"]
    if filters.get("flow_title"):  # "shared flow" only ("alice flow" and "bob flow" have no "ed")
        assert sorted(flat) == [f"shared {i}" for i in range(5)]
    if filters.get("filter_roles"):
        assert len(flat) == 12 and all(label.startswith("alice") for label in flat)


def test_the_index_union_reads_each_source_on_its_index(
    db: Database, stored: dict[str, set[uuid.UUID]], monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    import sqlalchemy as sa

    monkeypatch.setattr(runs, "ROLE_DRIVEN_MAX", 3)
    order = build_order(runs.SORT_FIELDS, [["start_time", True]])
    with db.read() as conn:
        captured: list[tuple[str, Any]] = []

        def capture(*args: Any) -> None:
            captured.append((args[2], args[3]))

        sa.event.listen(conn, "before_cursor_execute", capture)
        runs.list_runs(conn, urns=[ALICE, GROUP], order=order, limit=5)
        sa.event.remove(conn, "before_cursor_execute", capture)
        statement, parameters = captured[-1]
        plan = "\n".join(
            str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        )
    assert "ix_runs_run_owner_start_time_id" in plan, plan
    assert "ix_runs_flow_id_start_time_id" in plan, plan
    assert "SCAN runs" not in plan, plan
