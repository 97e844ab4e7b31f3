"""Scale-out behaviour of the executor and its store operations: batched claims with one lease per run,
handing work back, LISTEN/NOTIFY wake-ups, graceful stop, side-task supervision, metrics, JSON logs and
retention. Time-based behaviour uses the fake clock; real threads are waited for with bounded waits."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from enginekit import drive, get_run, insert_run

from openflows.engine.executor import Executor
from openflows.engine.logging import JsonFormatter, configure_logging
from openflows.engine.notify import WorkListener
from openflows.engine.retention import (
    purge_deleted_registered_apis,
    purge_expired_runs,
    purge_released_actions,
    retention_cutoff,
)
from openflows.providers.base import ProviderRegistry
from openflows.providers.hello_world import HelloWorldProvider
from openflows.settings import Settings
from openflows.shared.clock import FakeClock, SystemClock
from openflows.shared.metrics import Counter, Histogram, render
from openflows.store import claims as store_claims
from openflows.store import kinds
from openflows.store import registered_apis as store_apis
from openflows.store import work as store
from openflows.store.db import Database
from openflows.store.gauges import database_gauges
from openflows.store.schema import (
    provider_actions,
    registered_api_roles,
    registered_apis,
    run_logs,
    run_roles,
    runs,
    work_items,
)

PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "End": True}}}
WAIT = {
    "StartAt": "W",
    "States": {
        "W": {"Type": "Wait", "Seconds": 60, "Next": "A"},
        "A": {"Type": "Pass", "End": True},
    },
}


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def add_item(db: Database, run_id: uuid.UUID, now: dt.datetime, kind: str = kinds.ACTION_RELEASE) -> int:
    item = store.NewWorkItem(run_id=run_id, kind=kind, due_at=now, payload={})
    return db.transact(store.enqueue_work_item, item, now=now)


# --- claims ---------------------------------------------------------------------------------------------


def test_a_batch_claim_leases_at_most_one_item_per_run(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    first, second = insert_run(db, PASS, {}, now=now), insert_run(db, PASS, {}, now=now)
    extra = add_item(db, first, now)  # a second due item of the first run
    items = db.transact(store_claims.claim_work_items, owner="w1", now=now, lease_seconds=30, limit=10)
    assert sorted(item.run_id for item in items) == sorted([first, second])
    with db.read() as conn:
        (pending,) = [item for item in store.list_work_items(conn) if item.id == extra]
    assert pending.lease_owner is None and pending.attempts == 0
    # while the run has a leased item, no other worker gets its other item
    assert db.transact(store_claims.claim_work_items, owner="w2", now=now, lease_seconds=30, limit=10) == []
    first_item = next(item for item in items if item.run_id == first)
    assert db.transact(store.release_leases, owner="w1", item_ids=[first_item.id]) == 1
    (again,) = db.transact(store_claims.claim_work_items, owner="w2", now=now, lease_seconds=30, limit=10)
    assert again.run_id == first


def test_release_leases_hands_back_everything_an_owner_holds(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    run_ids = [insert_run(db, PASS, {}, now=now) for _ in range(3)]
    claimed = db.transact(store_claims.claim_work_items, owner="w1", now=now, lease_seconds=30, limit=10)
    assert len(claimed) == 3 and {item.attempts for item in claimed} == {1}
    assert db.transact(store.release_leases, owner="someone-else") == 0
    assert db.transact(store.release_leases, owner="w1") == 3
    with db.read() as conn:
        items = store.list_work_items(conn)
    assert sorted(item.run_id for item in items) == sorted(run_ids)
    assert all(item.lease_owner is None and item.attempts == 0 for item in items)


def test_two_workers_claiming_at_once_never_share_a_run(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    run_ids = [insert_run(db, PASS, {}, now=now) for _ in range(20)]
    for run_id in run_ids:
        add_item(db, run_id, now)
    claimed: dict[str, list[store.WorkItem]] = {"a": [], "b": []}

    def claim(owner: str) -> None:
        while True:
            items = db.transact(
                store_claims.claim_work_items, owner=owner, now=now, lease_seconds=30, limit=3
            )
            if not items:
                return
            claimed[owner].extend(items)

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    runs_a = {item.run_id for item in claimed["a"]}
    runs_b = {item.run_id for item in claimed["b"]}
    assert runs_a | runs_b == set(run_ids)
    assert not runs_a & runs_b
    assert len(claimed["a"]) + len(claimed["b"]) == 20  # one item per run; the other stays pending


def test_the_backlog_counts_due_leased_and_scheduled_work(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    run_ids = [insert_run(db, PASS, {}, now=now - dt.timedelta(seconds=5)) for _ in range(3)]
    db.transact(
        store.enqueue_work_item,
        store.NewWorkItem(run_id=run_ids[0], kind=kinds.ACTION_RELEASE, due_at=now + dt.timedelta(hours=1)),
        now=now,
    )
    db.transact(store_claims.claim_work_items, owner="w1", now=now, lease_seconds=30, limit=1)
    with db.read() as conn:
        backlog = store.measure_backlog(conn, now=now)
    assert (backlog.due, backlog.leased, backlog.scheduled) == (2, 1, 1)
    assert backlog.oldest_due_at == now - dt.timedelta(seconds=5)


# --- metrics --------------------------------------------------------------------------------------------


def test_metrics_count_runs_transitions_and_steps(
    db: Database, executor: Executor, clock: FakeClock, start_run: Callable[..., uuid.UUID]
) -> None:
    for _ in range(2):
        start_run(WAIT)
    drive(executor, clock)
    m = executor.metrics
    assert m.runs_started.value() == 2
    assert m.runs_finished.value(status="SUCCEEDED") == 2
    assert m.transitions.value() >= 4
    assert m.step_seconds.count(kind=kinds.STEP) == 4  # start + timer, for each run
    text = render(m, database_gauges(db, now=clock.now()))
    assert "openflows_runs_started_total 2\n" in text
    assert 'openflows_runs_finished_total{status="SUCCEEDED"} 2\n' in text
    assert 'openflows_step_duration_seconds_count{kind="step"} 4\n' in text
    assert 'openflows_runs{status="SUCCEEDED"} 2\n' in text
    assert 'openflows_work_items{state="due"} 0\n' in text
    assert "openflows_work_lag_seconds 0\n" in text
    assert 'openflows_db_pool_connections{state="checked_out"}' in text
    assert "# TYPE openflows_step_duration_seconds histogram" in text


def test_action_polls_are_counted_by_provider_and_result(
    executor: Executor, clock: FakeClock, start_run: Callable[..., uuid.UUID]
) -> None:
    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"sleep_time": 5},
                "End": True,
            }
        },
    }
    start_run(definition)
    drive(executor, clock)
    polls = executor.metrics.action_polls
    assert polls.value(provider="actions.globus.org/hello_world", result="SUCCEEDED") == 1


def test_the_exposition_format() -> None:
    counter = Counter("x_total", "An x.", ("kind",))
    counter.inc(kind='a"b')
    histogram = Histogram("y_seconds", "A y.", buckets=(0.1, 1.0))
    histogram.observe(0.5)
    histogram.observe(2)
    text = render(None, [counter, histogram])
    assert text.splitlines() == [
        "# HELP x_total An x.",
        "# TYPE x_total counter",
        'x_total{kind="a\\"b"} 1',
        "# HELP y_seconds A y.",
        "# TYPE y_seconds histogram",
        'y_seconds_bucket{le="0.1"} 0',
        'y_seconds_bucket{le="1"} 1',
        'y_seconds_bucket{le="+Inf"} 2',
        "y_seconds_sum 2.5",
        "y_seconds_count 2",
    ]


# --- logs -----------------------------------------------------------------------------------------------


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    """Put the loggers `configure_logging` changes back as they were (other tests capture log records)."""
    names = ("openflows", "uvicorn", "uvicorn.error")
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in names}
    propagate = {name: logging.getLogger(name).propagate for name in names}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate[name]


def test_json_logs_carry_the_structured_fields(restore_loggers: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("openflows.engine.test").info(
        "run %s stepped", "r1", extra={"action": "commit_step", "run_id": "r1", "attempt": 2}
    )
    doc = json.loads(stream.getvalue().strip())
    assert doc["message"] == "run r1 stepped"
    assert doc["level"] == "INFO" and doc["logger"] == "openflows.engine.test"
    assert (doc["action"], doc["run_id"], doc["attempt"]) == ("commit_step", "r1", 2)
    assert doc["time"].endswith("+00:00")


def test_json_logs_include_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("openflows", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    doc = json.loads(JsonFormatter().format(record))
    assert "RuntimeError: boom" in doc["exception"]


def test_the_log_format_setting() -> None:
    assert Settings.from_env({"OPENFLOWS_LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({}).retention_days == 90
    with pytest.raises(ValueError, match="text or json"):
        Settings.from_env({"OPENFLOWS_LOG_FORMAT": "xml"})


# --- retention ------------------------------------------------------------------------------------------


def test_retention_purges_runs_ended_before_the_period_in_batches(
    db: Database, executor: Executor, clock: FakeClock, start_run: Callable[..., uuid.UUID]
) -> None:
    old = [start_run(PASS) for _ in range(5)]
    drive(executor, clock)
    clock.advance(60 * 86400)
    unfinished = start_run(WAIT)
    recent = start_run(PASS)
    executor.run_until_idle()
    clock.advance(31 * 86400)  # the old runs ended 91 days ago, the recent one 31 days ago
    assert retention_cutoff(clock.now(), 0) is None
    assert purge_expired_runs(db, now=clock.now(), retention_days=0) == 0
    assert purge_expired_runs(db, now=clock.now(), retention_days=90, batch=2) == 5
    with db.read() as conn:
        left = set(conn.execute(sa.select(runs.c.id)).scalars())
        assert left == {unfinished, recent}
        for table in (run_logs, run_roles, work_items):
            assert not conn.execute(sa.select(table).where(table.c.run_id.in_(old))).first()
    assert get_run(db, recent)["status"] == "SUCCEEDED"
    assert executor.purge() == 0
    clock.advance(60 * 86400)
    assert executor.purge() == 1  # the recent run; the unfinished one is kept however old
    assert executor.metrics.runs_purged.value() == 1


def test_retention_purges_provider_actions_released_before_the_period(
    db: Database, executor: Executor, clock: FakeClock, start_run: Callable[..., uuid.UUID]
) -> None:
    hello = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {"echo_string": "hi"},
                "End": True,
            }
        },
    }
    old = start_run(hello)
    drive(executor, clock)  # the run ends and releases its action
    clock.advance(60 * 86400)
    recent = start_run(hello)
    drive(executor, clock)
    clock.advance(31 * 86400)  # released 91 and 31 days ago
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 2
        assert (
            conn.execute(sa.select(provider_actions.c.released_at.is_(None))).scalars().all() == [False] * 2
        )
    assert purge_released_actions(db, now=clock.now(), retention_days=0) == 0
    assert purge_released_actions(db, now=clock.now(), retention_days=90, batch=1) == 1
    executor.purge()  # the hourly purge does both
    with db.read() as conn:
        left = conn.execute(sa.select(provider_actions.c.request_id)).scalars().all()
    assert [request_id.split("/")[0] for request_id in left] == [str(recent)], left
    assert str(old) not in " ".join(left)


def _registered_api(db: Database, clock: FakeClock, name: str) -> uuid.UUID:
    api_id = uuid.uuid4()
    db.transact(
        store_apis.create_registered_api,
        api_id=api_id,
        created_by="urn:globus:auth:identity:00000000-0000-4000-8000-000000000001",
        name=name,
        description="",
        target={"type": "openapi"},
        data_templates={},
        state_input_schema={},
        scopes=[],
        owners=["urn:globus:auth:identity:00000000-0000-4000-8000-000000000001"],
        viewers=["urn:globus:groups:id:00000000-0000-4000-8000-000000000002"],
        now=clock.now(),
    )
    return api_id


def test_retention_purges_registered_apis_past_their_deletion_time(
    db: Database, executor: Executor, clock: FakeClock
) -> None:
    """Issue 15: a registered API marked for deletion is kept for its grace period (owners still see it),
    then the hourly purge removes it and its role rows; live ones and ones still in grace stay."""
    grace = dt.timedelta(days=7)
    early, late, live = (_registered_api(db, clock, name) for name in ("early", "late", "live"))
    db.transact(store_apis.mark_deleted, api_id=early, now=clock.now(), grace=grace)
    clock.advance(3 * 86400)
    db.transact(store_apis.mark_deleted, api_id=late, now=clock.now(), grace=grace)
    clock.advance(4 * 86400 - 1)  # one second before early's time
    assert purge_deleted_registered_apis(db, now=clock.now()) == 0
    clock.advance(1)
    executor.purge()  # the hourly purge: early's time has come, late has 3 days left
    with db.read() as conn:
        left = set(conn.execute(sa.select(registered_apis.c.id)).scalars())
        role_rows = set(conn.execute(sa.select(registered_api_roles.c.registered_api_id)).scalars())
    assert left == {late, live} and role_rows == {late, live}
    clock.advance(3 * 86400)
    assert purge_deleted_registered_apis(db, now=clock.now(), batch=1) == 1
    with db.read() as conn:
        assert set(conn.execute(sa.select(registered_apis.c.id)).scalars()) == {live}


# --- threads: stop, supervision, wake-ups ---------------------------------------------------------------


def threaded_executor(db: Database, settings: Settings, **overrides: Any) -> Executor:
    clock = SystemClock()
    registry = ProviderRegistry([HelloWorldProvider(db, clock=clock)])
    return Executor(db, settings.replace(**overrides), registry=registry, clock=clock)


def test_stop_hands_back_queued_and_unfinished_items(db: Database, settings: Settings) -> None:
    executor = threaded_executor(db, settings, worker_threads=1, lease_seconds=30)
    gate = threading.Event()
    entered = threading.Event()
    original = executor._do_step

    def slow_step(item: store.WorkItem) -> None:
        entered.set()
        gate.wait(10)
        original(item)

    executor._do_step = slow_step  # type: ignore[method-assign]
    now = SystemClock().now()
    run_ids = [insert_run(db, PASS, {}, now=now) for _ in range(3)]
    executor.start()
    assert entered.wait(10)
    threading.Timer(0.3, gate.set).start()
    executor.stop(timeout=10)
    with db.read() as conn:
        items = store.list_work_items(conn)
    assert all(item.lease_owner is None for item in items)
    finished = [run_id for run_id in run_ids if get_run(db, run_id)["status"] == "SUCCEEDED"]
    assert len(finished) + len(items) == 3 and len(finished) >= 1  # the one in progress finished


def test_stop_past_its_timeout_releases_the_lease_of_a_hung_step(db: Database, settings: Settings) -> None:
    executor = threaded_executor(db, settings, worker_threads=1, lease_seconds=30)
    gate = threading.Event()
    entered = threading.Event()

    def hung_step(item: store.WorkItem) -> None:
        entered.set()
        gate.wait(10)

    executor._do_step = hung_step  # type: ignore[method-assign]
    run_id = insert_run(db, PASS, {}, now=SystemClock().now())
    executor.start()
    try:
        assert entered.wait(10)
        executor.stop(timeout=0.2)
        with db.read() as conn:
            (item,) = store.list_work_items(conn, run_id=run_id)
        assert item.lease_owner is None and item.attempts == 0
    finally:
        gate.set()


def test_a_dead_side_task_stops_the_executor(db: Database, settings: Settings) -> None:
    executor = threaded_executor(db, settings, worker_threads=1, lease_seconds=0.3)

    def broken() -> None:
        raise RuntimeError("heartbeat bug")

    executor._heartbeat_loop = broken  # type: ignore[method-assign]
    executor.start()
    try:
        assert executor.wait(10)
        assert executor.failed_task == "heartbeat"
        assert not executor.running
    finally:
        executor.stop()


def test_the_heartbeat_renews_leases_of_items_in_progress(db: Database, settings: Settings) -> None:
    executor = threaded_executor(db, settings, worker_threads=1, lease_seconds=0.6)
    gate = threading.Event()
    entered = threading.Event()
    original = executor._do_step

    def slow_step(item: store.WorkItem) -> None:
        entered.set()
        gate.wait(10)
        original(item)

    executor._do_step = slow_step  # type: ignore[method-assign]
    run_id = insert_run(db, PASS, {}, now=SystemClock().now())
    executor.start()
    try:
        assert entered.wait(10)
        with db.read() as conn:
            (first,) = store.list_work_items(conn, run_id=run_id)

        def renewed() -> bool:
            with db.read() as conn:
                items = store.list_work_items(conn, run_id=run_id)
            return bool(items) and items[0].lease_until > first.lease_until

        wait_for(renewed, timeout=10)
        gate.set()
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED")
        assert executor.metrics.leases_reaped.value() == 0
    finally:
        gate.set()
        executor.stop()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_notify_is_sent_when_an_enqueueing_transaction_commits(
    db: Database, clock: FakeClock, postgres_url: str | None
) -> None:
    if postgres_url is None:
        pytest.skip("needs PostgreSQL (OPENFLOWS_TEST_POSTGRES_URL)")
    woken = threading.Event()
    listener = WorkListener(db, woken.set)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(listener.listening.is_set, timeout=10)
        woken.clear()  # the wake-up every (re)connection gives
        now = clock.now()
        with db.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert not woken.wait(0.3)  # a transaction that enqueues nothing notifies nothing
        run_id = insert_run(db, PASS, {}, now=now)  # the API's run creation path
        assert woken.wait(10)
        woken.clear()
        db.transact(
            store.enqueue_work_item, store.NewWorkItem(run_id=run_id, kind=kinds.STEP, due_at=now), now=now
        )
        assert woken.wait(10)
        woken.clear()
        later = store.NewWorkItem(run_id=run_id, kind=kinds.STEP, due_at=now + dt.timedelta(hours=1))
        db.transact(store.enqueue_work_item, later, now=now)
        assert not woken.wait(0.3)  # work due later is found by the due-time wait, not announced
        assert listener.received >= 2
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_worker_is_woken_by_another_process_enqueueing(
    db: Database, settings: Settings, postgres_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No in-process wake(), a long polling fallback: only the NOTIFY can start the run quickly."""
    if postgres_url is None:
        pytest.skip("needs PostgreSQL (OPENFLOWS_TEST_POSTGRES_URL)")
    from openflows.engine import worker_loops

    monkeypatch.setattr(worker_loops, "POLL_FALLBACK_SECONDS", 30.0)
    executor = threaded_executor(db, settings, worker_threads=2, lease_seconds=30)
    executor.start()
    try:
        assert wait_for(executor.listener.listening.is_set, timeout=10)  # type: ignore[union-attr]
        time.sleep(0.2)  # let the claim loop go idle (its wait is now 30 s)
        other = Database(db.url)  # "another process": its own engine, nobody calls executor.wake()
        try:
            started = time.monotonic()
            run_id = insert_run(other, PASS, {}, now=SystemClock().now())
            wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED", timeout=10)
            assert time.monotonic() - started < 5
        finally:
            other.dispose()
        assert executor.metrics.wakeups.value(source="notify") >= 2
    finally:
        executor.stop()


def test_work_from_another_process_is_found_by_polling_without_a_wake_up(
    db: Database, settings: Settings
) -> None:
    """On SQLite there is no NOTIFY, and on PostgreSQL a notification may be lost: the claim loop polls."""
    executor = threaded_executor(db, settings, worker_threads=1, lease_seconds=30)
    if executor.listener is not None:
        executor.listener = None  # as if every notification were lost
    executor.start()
    try:
        time.sleep(0.1)  # let the claim loop go idle
        other = Database(db.url)  # "another process": nobody calls executor.wake()
        try:
            run_id = insert_run(other, PASS, {}, now=SystemClock().now())
        finally:
            other.dispose()
        wait_for(lambda: get_run(db, run_id)["status"] == "SUCCEEDED", timeout=10)
        assert executor.metrics.wakeups.value(source="notify") == 0
    finally:
        executor.stop()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_the_listener_reconnects_after_losing_its_connection(db: Database, postgres_url: str | None) -> None:
    if postgres_url is None:
        pytest.skip("needs PostgreSQL (OPENFLOWS_TEST_POSTGRES_URL)")
    woken = threading.Event()
    listener = WorkListener(db, woken.set)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(listener.listening.is_set, timeout=10)
        with db.begin() as conn:  # cut the listener off, as a database restart or a network failure would
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query = 'LISTEN openflows_work'"
                )
            )
        wait_for(lambda: listener.connections == 2 and listener.listening.is_set(), timeout=20)
        woken.clear()
        insert_run(db, PASS, {}, now=SystemClock().now())
        assert woken.wait(10)
    finally:
        stop.set()
        thread.join(10)
