"""Page cost does not grow with the table: the default list queries walk the index that matches ORDER BY
(SQLite's plan has no temporary sort) and probe role rows by primary key."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from openflows.store import flows, runs
from openflows.store.db import Database
from openflows.store.keyset import build_order

URNS = [f"urn:globus:auth:identity:{uuid.uuid4()}"]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def plan_of(db: Database, call: Callable[[Any], Any]) -> str:
    with db.read() as conn:
        captured: list[tuple[str, Any]] = []

        def capture(
            conn_: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
        ) -> None:
            captured.append((statement, parameters))

        sa.event.listen(conn, "before_cursor_execute", capture)
        call(conn)
        sa.event.remove(conn, "before_cursor_execute", capture)
        statement, parameters = captured[-1]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture
def sqlite_db(db: Database) -> Database:
    if db.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    return db


@pytest.fixture
def many_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan as for a caller who can see more runs than the role-driven plan takes."""
    monkeypatch.setattr(runs, "ROLE_DRIVEN_MAX", -1)


@pytest.mark.parametrize("after", [None, [NOW, uuid.uuid4()]])
def test_list_runs_walks_the_start_time_index(
    sqlite_db: Database, many_visible: None, after: list[Any] | None
) -> None:
    order = build_order(runs.SORT_FIELDS, [["start_time", True]])
    plan = plan_of(
        sqlite_db, lambda conn: runs.list_runs(conn, urns=URNS, order=order, after_key=after, limit=20)
    )
    assert "ix_runs_start_time_id" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_list_runs_of_one_flow_walks_the_flow_index(sqlite_db: Database, many_visible: None) -> None:
    order = build_order(runs.SORT_FIELDS, [["start_time", False]])
    plan = plan_of(
        sqlite_db,
        lambda conn: runs.list_runs(conn, urns=URNS, flow_ids=[uuid.uuid4()], order=order, limit=20),
    )
    assert "ix_runs_flow_id_start_time_id" in plan and "TEMP B-TREE" not in plan, plan


def test_list_runs_of_a_caller_who_sees_few_runs_starts_from_their_role_rows(sqlite_db: Database) -> None:
    """A caller who can see few runs (at most ROLE_DRIVEN_MAX) is served from the role rows' indexes, so their
    page costs the same however many runs other people have; the sort covers only their own runs."""
    order = build_order(runs.SORT_FIELDS, [["start_time", True]])
    with sqlite_db.read() as conn:
        # the plan of the run query itself, as the role filter would build it for a caller with some runs
        stmt = (
            runs._select_runs()
            .where(runs.runs.c.id.in_(runs.visible_run_ids(URNS, ())))
            .order_by(*runs.order_by(order))
            .limit(21)
        )
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled)))
    assert "ix_run_roles_principal_role" in plan, plan
    assert "ix_runs_flow_id_start_time_id" in plan, plan
    assert "SCAN runs" not in plan, plan


def test_list_runs_of_a_caller_who_sees_nothing_reads_no_run(db: Database) -> None:
    order = build_order(runs.SORT_FIELDS, [["start_time", True]])
    with db.read() as conn:
        assert runs.list_runs(conn, urns=URNS, order=order, limit=20) == ([], None)


@pytest.mark.parametrize("field", ["updated_at", "created_at", "title"])
def test_list_flows_walks_the_matching_index(sqlite_db: Database, field: str) -> None:
    order = build_order(flows.SORT_FIELDS, [[field, True]])
    plan = plan_of(sqlite_db, lambda conn: flows.list_flows(conn, urns=URNS, order=order, limit=20))
    assert f"ix_flows_{field}_id" in plan and "TEMP B-TREE" not in plan, plan
