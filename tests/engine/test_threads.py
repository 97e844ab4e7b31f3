"""The executor's threads: wake-ups, several workers on one database, stop. Real time, bounded waits (the
behaviour under test is concurrency, not timing)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from enginekit import get_run, insert_run, log_codes

from openflows.engine.clock import SystemClock
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.providers.hello_world import HelloWorldProvider
from openflows.settings import Settings
from openflows.store.db import Database

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
