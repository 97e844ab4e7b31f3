"""Composition helpers: every built-in is created, and a finished background action wakes its run."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from engine.enginekit import insert_run
from openflows.providers.base import Provider
from openflows.providers.builtin import make_poll_waker, run_id_of
from openflows.shared.clock import FakeClock
from openflows.store import kinds
from openflows.store.db import Database
from openflows.store.schema import work_items
from openflows.store.work import NewWorkItem, enqueue_work_item


def test_every_builtin_is_created(providers: dict[str, Provider]):
    assert set(providers) == {
        "hello_world",
        "transfer",
        "delete",
        "ls",
        "mkdir",
        "stat",
        "expression_eval",
        "compute",
        "notification",
        "search_ingest",
        "search_delete",
        "manage_permission",
        "weboption",
    }


def test_run_id_of_request_ids():
    run_id = uuid.uuid4()
    assert run_id_of(f"{run_id}/Transfer/0") == run_id
    assert run_id_of("not-a-run/x") is None


def test_a_finished_action_makes_the_poll_due_now(db: Database, clock: FakeClock):
    run_id = insert_run(
        db, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {}, now=clock.now()
    )
    later = clock.now() + dt.timedelta(seconds=30)
    with db.begin() as conn:
        conn.execute(sa.delete(work_items))
        enqueue_work_item(
            conn, NewWorkItem(run_id=run_id, kind=kinds.ACTION_POLL, due_at=later), now=clock.now()
        )
    woken = []
    waker = make_poll_waker(db, clock, lambda: woken.append(True))
    waker("transfer", str(uuid.uuid4()), f"{run_id}/Transfer/0")
    with db.read() as conn:
        assert conn.execute(sa.select(work_items.c.due_at)).scalar_one() == clock.now()
    assert woken == [True]
    waker("transfer", str(uuid.uuid4()), "someone-else/x/0")  # not a run of ours: nothing happens
    assert woken == [True]
