"""Claims racing on PostgreSQL: many workers claiming at once never lease two items of one run (the claim's
"no leased item of this run" test runs on a snapshot taken before it waits for no lock; it is checked again
under the run rows' locks). Before the fix, about one round in six leased a run twice. On SQLite claims are
serialised by the write lock; the test runs there too."""

from __future__ import annotations

import threading
import uuid

from enginekit import insert_run

from openflows.shared.clock import FakeClock
from openflows.store import claims as store_claims
from openflows.store import kinds
from openflows.store import work as store
from openflows.store.db import Database
from openflows.store.schema import work_items

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
RUNS = 60
WORKERS = 4
ROUNDS = 6


def claim_all(db: Database, now: object, owners: list[str]) -> dict[str, list[store.WorkItem]]:
    """Each owner claims (2 items per transaction) in its own thread, all starting together, until a claim
    finds nothing."""
    claimed: dict[str, list[store.WorkItem]] = {owner: [] for owner in owners}
    barrier = threading.Barrier(len(owners))
    errors: list[BaseException] = []

    def claim(owner: str) -> None:
        try:
            barrier.wait(10)
            while items := db.transact(
                store_claims.claim_work_items, owner=owner, now=now, lease_seconds=30, limit=2
            ):
                claimed[owner].extend(items)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return claimed


def test_racing_claims_never_lease_two_items_of_one_run(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    for _ in range(ROUNDS):
        run_ids = [insert_run(db, PASS, {}, now=now) for _ in range(RUNS)]
        for run_id in run_ids:  # two more due items per run (insert_run queued the first)
            for _ in range(2):
                item = store.NewWorkItem(run_id=run_id, kind=kinds.STEP, due_at=now)
                db.transact(store.enqueue_work_item, item, now=now)
        claimed = claim_all(db, now, [f"w{i}" for i in range(WORKERS)])
        owners: dict[uuid.UUID, list[str]] = {}
        for owner, items in claimed.items():
            for claimed_item in items:
                owners.setdefault(claimed_item.run_id, []).append(owner)
        shared = {run_id: who for run_id, who in owners.items() if len(who) > 1}
        assert not shared, f"{len(shared)} runs leased twice: {list(shared.values())[:5]}"
        assert set(owners) == set(run_ids)  # every run was claimed (one item each; the others wait)
        with db.begin() as conn:  # the next round starts with no lease
            conn.execute(work_items.delete())
