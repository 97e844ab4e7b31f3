"""The executor's threads: wake-ups, several workers on one database, stop. Real time, bounded waits (the
behaviour under test is concurrency, not timing)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from enginekit import get_run, insert_run, log_codes

from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.providers.hello_world import HelloWorldProvider
from openflows.settings import Settings
from openflows.shared.clock import SystemClock
from openflows.store.db import Database
from openflows.store.schema import provider_actions, work_items
from openflows.store.work import list_work_items

PASS_CHAIN = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Pass", "Result": 2, "ResultPath": "$.b", "End": True},
    },
}


@pytest.fixture
def threaded(db: Database, settings: Settings) -> Iterator[Executor]:
    clock = SystemClock()
    registry = ProviderRegistry([HelloWorldProvider(db, clock=clock)])
    executor = Executor(
        db, settings.replace(worker_threads=4, lease_seconds=5), registry=registry, clock=clock
    )
    executor.start()
    try:
        yield executor
    finally:
        executor.stop()


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_many_runs_on_four_threads_each_finish_once(db: Database, threaded: Executor):
    now = SystemClock().now()
    run_ids = [insert_run(db, PASS_CHAIN, {"i": i}, now=now) for i in range(20)]
    threaded.wake()
    wait_for(lambda: all(get_run(db, run_id)["status"] == "SUCCEEDED" for run_id in run_ids))
    for i, run_id in enumerate(run_ids):
        assert get_run(db, run_id)["details"]["output"] == {"i": i, "a": 1, "b": 2}
        assert log_codes(db, run_id).count("FlowSucceeded") == 1


def test_an_action_completion_is_noticed_at_its_due_time(db: Database, threaded: Executor):
    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"sleep_time": 0.3},
                "ResultPath": "$.r",
                "End": True,
            }
        },
    }
    run_id = insert_run(db, definition, {}, now=SystemClock().now())
    threaded.wake()
    wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
    run = get_run(db, run_id)
    # noticed right after the 0.3 s sleep, not at the 10 s poll interval
    assert (run["completion_time"] - run["start_time"]).total_seconds() < 5


def test_an_idle_executor_claims_only_when_asked_or_due(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim is a write transaction: after a run enters a long Wait the claim loop neither claims again
    because a worker became free nor because a commit enqueued work due later; it sleeps until asked
    (`wake()`), the due time, or the polling fallback (set long here)."""
    import openflows.engine.worker_loops as worker_loops

    monkeypatch.setattr(worker_loops, "POLL_FALLBACK_SECONDS", 30.0)
    clock = SystemClock()
    executor = Executor(db, settings.replace(worker_threads=2), registry=ProviderRegistry([]), clock=clock)
    claims: list[int] = []
    original = executor.claim

    def counted(*, limit: int = 1) -> list:
        items = original(limit=limit)
        claims.append(len(items))
        return items

    executor.claim = counted  # type: ignore[method-assign]
    waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    executor.start()
    try:
        time.sleep(0.2)  # the start-up claim (nothing due)
        run_id = insert_run(db, waiting, {}, now=clock.now())  # on PostgreSQL this also NOTIFYs
        executor.wake()
        wait_for(lambda: "WaitStarted" in log_codes(db, run_id))
        time.sleep(0.2)  # let a notification of the start arrive and its claim end
        assert sum(claims) == 1, claims
        claims.clear()
        time.sleep(0.5)
        assert claims == [], claims  # nothing more: the worker is free, the timer is an hour away
        executor.wake()
        wait_for(lambda: len(claims) == 1)
        assert claims == [0]
        assert get_run(db, run_id)["status"] == "ACTIVE"
    finally:
        executor.stop()


def test_a_step_due_at_once_goes_on_in_the_same_executor_without_a_claim(
    db: Database, settings: Settings
) -> None:
    """A run's next step that is due at once (here: starting the action the first step decided on) is leased
    in the commit's transaction and queued locally, and so is the release of the action once the run has
    ended: of the run's three work items (start, action start, release) only the first is claimed."""
    clock = SystemClock()
    executor = Executor(
        db,
        settings.replace(worker_threads=2),
        registry=ProviderRegistry([HelloWorldProvider(db, clock=clock)]),
        clock=clock,
    )
    claimed: list[str] = []
    original = executor.claim

    def counted(*, limit: int = 1) -> list:
        items = original(limit=limit)
        claimed.extend(item.kind for item in items)
        return items

    executor.claim = counted  # type: ignore[method-assign]
    hello = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"echo_string": "hi"},
                "ResultPath": "$.hello",
                "End": True,
            }
        },
    }
    executor.start()
    try:
        run_id = insert_run(db, hello, {}, now=clock.now())
        executor.wake()
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
        wait_for(lambda: count_items(db) == 0)  # the release is done too
    finally:
        executor.stop()
    assert get_run(db, run_id)["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": "hi"}
    assert claimed == ["step"], claimed  # action_start and action_release were never claimed
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
    assert action.released_at is not None
    assert log_codes(db, run_id).count("ActionStarted") == 1


def count_items(db: Database) -> int:
    with db.read() as conn:
        return len(list_work_items(conn))


def hello_sleeping(seconds: float) -> dict:
    return {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"sleep_time": seconds},
                "ResultPath": "$.hello",
                "End": True,
            }
        },
    }


def counting_claims(executor: Executor) -> list[str]:
    claimed: list[str] = []
    original = executor.claim

    def counted(*, limit: int = 1) -> list:
        items = original(limit=limit)
        claimed.extend(item.kind for item in items)
        return items

    executor.claim = counted  # type: ignore[method-assign]
    return claimed


def test_an_action_poll_due_when_a_built_in_action_ends_is_held_not_claimed(
    db: Database, settings: Settings
) -> None:
    """hello_world says when its sleeping action ends: the executor that started it keeps the poll (leased
    until then plus the lease period) and takes it at that time, without a claim."""
    clock = SystemClock()
    executor = Executor(
        db,
        settings.replace(worker_threads=2),
        registry=ProviderRegistry([HelloWorldProvider(db, clock=clock)]),
        clock=clock,
    )
    claimed = counting_claims(executor)
    executor.start()
    try:
        run_id = insert_run(db, hello_sleeping(0.5), {}, now=clock.now())
        executor.wake()
        wait_for(lambda: [item.kind for item in items(db)] == ["action_poll"])
        (poll,) = items(db)
        assert poll.lease_owner == executor.owner
        assert poll.lease_until > poll.due_at  # leased past its due time: no other worker takes it
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
    finally:
        executor.stop()
    run = get_run(db, run_id)
    assert claimed == ["step"], claimed
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
    assert run["completion_time"] >= action.completion_time  # polled once it had ended, not before
    assert (run["completion_time"] - action.completion_time).total_seconds() < 2
    assert log_codes(db, run_id).count("ActionCompleted") == 1


def test_a_held_poll_is_handed_back_on_stop_and_another_executor_takes_it(
    db: Database, settings: Settings
) -> None:
    clock = SystemClock()
    registry = ProviderRegistry([HelloWorldProvider(db, clock=clock)])
    first = Executor(db, settings.replace(worker_threads=2), registry=registry, clock=clock, owner="first")
    first.start()
    try:
        run_id = insert_run(db, hello_sleeping(8), {}, now=clock.now())  # within the executor's horizon
        first.wake()
        wait_for(lambda: [(item.kind, item.lease_owner) for item in items(db)] == [("action_poll", "first")])
    finally:
        first.stop()
    (poll,) = items(db)
    assert poll.kind == "action_poll" and poll.lease_owner is None  # handed back, due in 8 s
    now = clock.now()
    with db.begin() as conn:  # the action ends now: a claim finds its poll due
        conn.execute(sa.update(provider_actions).values(due_at=now))
        conn.execute(sa.update(work_items).values(due_at=now))
    second = Executor(db, settings.replace(worker_threads=2), registry=registry, clock=clock, owner="second")
    second.start()
    try:
        second.wake()
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
    finally:
        second.stop()
    assert log_codes(db, run_id).count("ActionCompleted") == 1


def items(db: Database) -> list:
    with db.read() as conn:
        return list_work_items(conn)


def test_a_map_of_built_in_actions_claims_none_of_its_items_actions(db: Database, settings: Settings) -> None:
    """A Map whose items call hello_world: the Map's step and its `children` items start the iterations'
    actions in their own transactions and hold the polls hello_world dates, so of the run's work items only
    the run's first step and the `children` items are claimed: no action start, no poll."""
    clock = SystemClock()
    executor = Executor(
        db,
        settings.replace(worker_threads=2),
        registry=ProviderRegistry([HelloWorldProvider(db, clock=clock)]),
        clock=clock,
    )
    claimed = counting_claims(executor)
    processor = hello_sleeping(0.3)
    processor["States"]["Hello"]["Parameters"]["echo_string.$"] = "$.name"
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.names",
                "ItemSelector": {"name.$": "$._context.map_item.value"},
                "ItemProcessor": processor,
                "MaxConcurrency": 3,
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }
    names = [f"n{i}" for i in range(7)]
    executor.start()
    try:
        run_id = insert_run(db, definition, {"names": names}, now=clock.now())
        executor.wake()
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
    finally:
        executor.stop()
    run = get_run(db, run_id)
    assert [entry["hello"]["details"]["hello"] for entry in run["details"]["output"]["out"]] == names
    assert set(claimed) <= {"step", "children"} and claimed.count("step") == 1, claimed
    with db.read() as conn:
        actions = conn.execute(sa.select(provider_actions)).all()
    assert len(actions) == 7 and all(action.released_at is not None for action in actions)


def test_a_run_cancelled_while_its_poll_is_held_ends_cancelled_and_so_does_its_action(
    db: Database, settings: Settings
) -> None:
    """The cancel drops the held poll's row; at its due time the executor finds the run changed (its step
    is discarded) and the run stays FAILED/FlowCanceled, its action cancelled."""
    from openflows.store import runs as store_runs

    clock = SystemClock()
    executor = Executor(
        db,
        settings.replace(worker_threads=2),
        registry=ProviderRegistry([HelloWorldProvider(db, clock=clock)]),
        clock=clock,
    )
    executor.start()
    try:
        run_id = insert_run(db, hello_sleeping(1.0), {}, now=clock.now())
        executor.wake()
        wait_for(lambda: [item.kind for item in items(db)] == ["action_poll"])
        with db.begin() as conn:
            store_runs.cancel_run(conn, run_id=run_id, now=clock.now())
        executor.wake()
        wait_for(lambda: items(db) == [])
        time.sleep(1.5)  # past the held poll's due time: it is taken and dropped
        assert items(db) == []
    finally:
        executor.stop()
    run = get_run(db, run_id)
    assert run["status"] == "FAILED" and run["details"]["code"] == "FlowCanceled"
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
    assert action.status == "FAILED" and action.details["code"] == "ActionCanceled"
    assert "ActionCompleted" not in log_codes(db, run_id)
