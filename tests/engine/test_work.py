"""The work-item operations of `store.work`: claim, leases, reaping, the guarded commit."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from enginekit import get_run

from openflows.shared.clock import FakeClock
from openflows.store import claims as store_claims
from openflows.store import errors, kinds
from openflows.store import work as store
from openflows.store.db import Database


def test_claim_respects_due_time_and_leases(db: Database, start_run: Callable, clock: FakeClock):
    run_id = start_run({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    now = clock.now()
    later = store.NewWorkItem(run_id=run_id, kind=kinds.ACTION_RELEASE, due_at=now + dt.timedelta(seconds=60))
    db.transact(store.enqueue_work_item, later, now=now)
    claimed = db.transact(store_claims.claim_work_items, owner="a", now=now, lease_seconds=10, limit=10)
    assert [item.kind for item in claimed] == [kinds.STEP]
    assert claimed[0].attempts == 1 and claimed[0].lease_until == now + dt.timedelta(seconds=10)
    assert db.transact(store_claims.claim_work_items, owner="b", now=now, lease_seconds=10, limit=10) == []
    with db.read() as conn:
        assert store.next_due_at(conn) == now + dt.timedelta(seconds=60)
    # renewing keeps the lease past its first expiry; the reaper then leaves it alone
    assert (
        db.transact(store.renew_leases, owner="a", item_ids=[claimed[0].id], now=now, lease_seconds=30) == 1
    )
    assert (
        db.transact(store.renew_leases, owner="b", item_ids=[claimed[0].id], now=now, lease_seconds=30) == 0
    )
    assert db.transact(store.reap_expired_leases, now=now + dt.timedelta(seconds=20)) == 0
    assert db.transact(store.reap_expired_leases, now=now + dt.timedelta(seconds=31)) == 1
    again = db.transact(
        store_claims.claim_work_items, owner="b", now=now + dt.timedelta(seconds=31), lease_seconds=10
    )
    assert [item.id for item in again] == [claimed[0].id] and again[0].attempts == 2
    assert not db.transact(store.complete_work_item, item_id=claimed[0].id, owner="a")
    assert db.transact(store.complete_work_item, item_id=claimed[0].id, owner="b")


def test_commit_transition_is_guarded_by_version_and_lease(
    db: Database, start_run: Callable, clock: FakeClock
):
    run_id = start_run({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    now = clock.now()
    (item,) = db.transact(store_claims.claim_work_items, owner="a", now=now, lease_seconds=10)
    with db.read() as conn:
        run = store.load_run_for_step(conn, run_id)
    assert run is not None
    entry = store.LogRow(time=now, code="Test", description="d", details={})
    with pytest.raises(errors.ConcurrentUpdate):  # not our lease
        db.transact(store.commit_transition, run=run, now=now, consumed_item_id=item.id, lease_owner="b")
    version = db.transact(
        store.commit_transition,
        run=run,
        now=now,
        consumed_item_id=item.id,
        lease_owner="a",
        status="ACTIVE",
        log_entries=[entry],
    )
    assert version == 1
    with pytest.raises(errors.ConcurrentUpdate):  # the run moved on since `run` was read
        db.transact(store.commit_transition, run=run, now=now, log_entries=[entry])
    row = get_run(db, run_id)
    assert (row["version"], row["log_seq"]) == (1, 1)


def test_concurrent_claimers_never_share_an_item(db: Database, start_run: Callable, clock: FakeClock):
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    for _ in range(30):
        start_run(definition, {})
    now = clock.now()
    seen: list[list[int]] = [[] for _ in range(4)]

    def claim_all(index: int) -> None:
        while True:
            items = db.transact(
                store_claims.claim_work_items, owner=f"w{index}", now=now, lease_seconds=60, limit=3
            )
            if not items:
                return
            seen[index].extend(item.id for item in items)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ids = [item_id for ids in seen for item_id in ids]
    assert len(ids) == 30 and len(set(ids)) == 30


@pytest.mark.parametrize("kept", [True, False], ids=["follow-up kept", "no follow-up"])
def test_a_follow_up_is_leased_and_not_announced_the_rest_is(
    db: Database, start_run: Callable, clock: FakeClock, kept: bool
) -> None:
    """`commit_plan` with `continue_lease` leases the run's next step that is due now and does not NOTIFY
    other workers of it (they would wake to an empty claim); items it does not keep are announced."""
    import sqlalchemy as sa

    from openflows.engine.steps import Transition, commit_plan

    run_id = start_run({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    now = clock.now()
    (item,) = db.transact(store_claims.claim_work_items, owner="a", now=now, lease_seconds=10)
    with db.read() as conn:
        run = store.load_run_for_step(conn, run_id)
    assert run is not None
    next_step = store.NewWorkItem(run_id=run_id, kind=kinds.ACTION_START, due_at=now, payload={})
    plan = Transition("ACTIVE", None, {"state": "P"}, {}, None, (), (next_step,))
    notified: list[str] = []

    def spy(conn, cursor, statement, parameters, context, many) -> None:  # type: ignore[no-untyped-def]
        if "pg_notify" in statement:
            notified.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        follow_up = db.transact(
            commit_plan,
            run,
            plan,
            now=now,
            item_id=item.id,
            lease_owner="a",
            continue_lease=10 if kept else None,
        )
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)
    with db.read() as conn:
        (stored,) = store.list_work_items(conn, run_id=run_id)
    assert stored.kind == kinds.ACTION_START
    if kept:
        assert follow_up is not None and follow_up.id == stored.id
        assert stored.lease_owner == "a" and stored.attempts == 1
        assert notified == []
    else:
        assert follow_up is None and stored.lease_owner is None
        assert len(notified) == (1 if db.dialect == "postgresql" else 0)
