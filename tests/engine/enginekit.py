"""Helpers of the engine tests: start a run the way the API does, drive an executor on a fake clock, read
a run and its log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from openflows.engine.executor import Executor
from openflows.language.model import Cursor
from openflows.shared.clock import FakeClock
from openflows.store.db import Database
from openflows.store.flows import create_flow
from openflows.store.runs import create_run
from openflows.store.schema import run_logs, runs

OWNER = "urn:globus:auth:identity:11111111-1111-4111-8111-111111111111"
BASE_URL = "http://openflows.test"


def insert_run(
    db: Database,
    definition: dict[str, Any],
    body: Any,
    *,
    now: dt.datetime,
    owner: str = OWNER,
    label: str | None = "test run",
    run_managers: tuple[str, ...] = (),
    run_monitors: tuple[str, ...] = (),
    activity_notification_policy: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Create a flow with `definition` and start a run of it with the API's store operation (a run row plus a
    STEP work item {"event": "start"})."""
    flow_id, run_id = uuid.uuid4(), uuid.uuid4()
    with db.begin() as conn:
        flow = create_flow(
            conn,
            flow_id=flow_id,
            flow_owner=owner,
            title="test flow",
            definition=definition,
            input_schema={},
            now=now,
        )
        create_run(
            conn,
            run_id=run_id,
            flow=flow,
            run_owner=owner,
            body=body,
            details_input=body,
            context={"flow_id": str(flow_id), "run_id": str(run_id), "username": "tester", "user_id": owner},
            cursor=Cursor(None).as_dict(),
            now=now,
            label=label,
            run_managers=run_managers,
            run_monitors=run_monitors,
            activity_notification_policy=activity_notification_policy,
        )
    return run_id


def drive(
    executor: Executor, clock: FakeClock, *, max_seconds: float = 7 * 24 * 3600, max_jumps: int = 1000
) -> int:
    """Process everything due, advancing the fake clock to each next due time, until no work is left (or the
    limits are hit). Returns the number of items processed."""
    start = clock.now()
    total = 0
    for _ in range(max_jumps):
        total += executor.run_until_idle()
        due = executor.next_due_at()
        if due is None or (due - start).total_seconds() > max_seconds:
            break
        if due > clock.now():
            clock.set(due)
    return total


def get_run(db: Database, run_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()._mapping)


def get_logs(db: Database, run_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(run_logs).where(run_logs.c.run_id == run_id).order_by(run_logs.c.seq))
        return [dict(row._mapping) for row in rows]


def log_codes(db: Database, run_id: uuid.UUID) -> list[str]:
    return [entry["code"] for entry in get_logs(db, run_id)]
