"""Map and Parallel in the durable engine (engine/fanout.py): iterations as child runs, MaxConcurrency,
results in item order, one action per item, failures and Catch, and a crash (a lost lease) mid-map."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from enginekit import drive, get_logs, get_run, log_codes

from openflows.engine.executor import Executor
from openflows.engine.inline_logs import inline_log
from openflows.shared.clock import FakeClock
from openflows.store import children, retention
from openflows.store import runs as store_runs
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.schema import provider_actions, runs

HELLO = "https://actions.globus.org/hello_world"


def map_flow(processor: dict[str, Any], **fields: Any) -> dict[str, Any]:
    fan = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": processor,
        "ResultPath": "$.out",
        "End": True,
    }
    return {"StartAt": "Fan", "States": {"Fan": {**fan, **fields}}}


HELLO_ITEM = {
    "StartAt": "Hello",
    "States": {
        "Hello": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {"echo_string.$": "$.name"},
            "ResultPath": "$.said",
            "Next": "Keep",
        },
        "Keep": {
            "Type": "Pass",
            "Parameters": {"name.$": "$.name", "echo.$": "$.said.details.hello"},
            "End": True,
        },
    },
}


def child_rows(db: Database, parent: uuid.UUID) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(runs).where(runs.c.parent_run_id == parent).order_by(runs.c.iteration))
        return [dict(row._mapping) for row in rows]


def test_a_pure_map_gathers_results_in_item_order(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    processor = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Parameters": {"v.$": "$", "i.$": "$._context.map_item.index"}, "End": True}
        },
    }
    run_id = start_run(map_flow(processor, MaxConcurrency=3), {"items": list(range(10))})
    processed = drive(executor, executor.clock)  # type: ignore[arg-type]
    # the iterations need no I/O: they end in the parent's step, which stores them and gathers them at once
    assert processed == 1
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["out"] == [{"v": i, "i": i} for i in range(10)]
    assert log_codes(db, run_id) == ["FlowStarted", "MapStarted", "MapCompleted", "FlowSucceeded"]
    rows = child_rows(db, run_id)
    assert [row["status"] for row in rows] == ["SUCCEEDED"] * 10
    assert [row["iteration"] for row in rows] == list(range(10))
    assert {row["parent_visit"] for row in rows} == {"1/0"}


def test_each_item_calls_its_action_once_with_its_own_request_id(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    names = [f"n{i}" for i in range(12)]
    run_id = start_run(
        map_flow(HELLO_ITEM, MaxConcurrency=4, ItemSelector={"name.$": "$._context.map_item.value"}),
        {"items": names},
    )
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["out"] == [{"name": n, "echo": n} for n in names]
    with db.read() as conn:
        request_ids = sorted(row.request_id for row in conn.execute(sa.select(provider_actions.c.request_id)))
    key = children.IterationsKey(run_id, "Fan", "1/0")
    assert request_ids == sorted(f"{children.child_run_id(key, i)}/Hello/1/0" for i in range(12))


def test_max_concurrency_bounds_the_children_running_at_once(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    processor = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}}
    run_id = start_run(map_flow(processor, MaxConcurrency=2), {"items": [1, 2, 3, 4, 5]})
    executor.run_until_idle()
    key = children.IterationsKey(run_id, "Fan", "1/0")
    with db.read() as conn:
        assert children.count_children(conn, key) == {"ACTIVE": 2, "QUEUED": 3}
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert get_run(db, run_id)["run_state"]["out"] == [1, 2, 3, 4, 5]


def test_a_failed_item_fails_the_map_and_the_others_are_stopped(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    processor = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Bad"}],
                "Default": "W",
            },
            "Bad": {"Type": "Fail", "Error": "Zero", "Cause": "item zero"},
            "W": {"Type": "Wait", "Seconds": 60, "End": True},
        },
    }
    run_id = start_run(map_flow(processor, MaxConcurrency=2), {"items": [0, 1, 2, 3]})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "FAILED"
    assert run["details"]["details"]["error"] == "Zero"
    rows = child_rows(db, run_id)
    # item 0 failed in the step that created the children (it needs no I/O); 1 and 2 ran (MaxConcurrency 2)
    # and were cancelled; 3 never started
    assert [(row["status"], (row["details"] or {}).get("code")) for row in rows] == [
        ("FAILED", "FlowFailed"),
        ("FAILED", "FlowCanceled"),
        ("FAILED", "FlowCanceled"),
        ("ENDED", "FlowStarting"),
    ]


def test_catch_around_a_parallel(db: Database, executor: Executor, start_run: Callable) -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
                    {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Broke", "Cause": "b"}}},
                ],
                "Catch": [{"ErrorEquals": ["Broke"], "ResultPath": "$.error", "Next": "After"}],
                "Next": "After",
            },
            "After": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {"x": 1})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"] == {"x": 1, "error": {"Error": "Broke", "Cause": "b"}}


def test_a_lost_worker_mid_map_loses_nothing(
    db: Database, make_executor: Callable[..., Executor], start_run: Callable
) -> None:
    names = [f"n{i}" for i in range(20)]
    first = make_executor(owner="first")
    run_id = start_run(
        map_flow(HELLO_ITEM, MaxConcurrency=5, ItemSelector={"name.$": "$._context.map_item.value"}),
        {"items": names},
    )
    # the first worker claims a few items and "dies" holding their leases
    held = first.claim(limit=3)
    assert held
    for _ in range(4):
        first.tick(limit=2)
    second = make_executor(owner="second")
    second.clock.advance(3600)  # type: ignore[attr-defined]
    drive(second, second.clock)  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["out"] == [{"name": n, "echo": n} for n in names]
    with db.read() as conn:
        request_ids = [row.request_id for row in conn.execute(sa.select(provider_actions.c.request_id))]
    assert len(request_ids) == len(set(request_ids)) == 20


def test_cancelling_the_run_cancels_its_iterations(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    processor = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    run_id = start_run(map_flow(processor, MaxConcurrency=2), {"items": [1, 2, 3]})
    executor.run_until_idle()
    with db.begin() as conn:
        store_runs.cancel_run(conn, run_id=run_id, now=executor.clock.now())
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert get_run(db, run_id)["details"]["code"] == "FlowCanceled"
    rows = child_rows(db, run_id)
    assert [(row["status"], row["details"]["code"]) for row in rows] == [("FAILED", "FlowCanceled")] * 3


class RecordingDelegations:
    """Delegations that hand out a token for any run and record which run they were asked for."""

    def __init__(self) -> None:
        self.asked: list[uuid.UUID] = []
        self.released: list[uuid.UUID] = []

    def token_for(self, run_id: uuid.UUID, flow_id: uuid.UUID, scope: str, *, verify: bool = True) -> str:
        self.asked.append(run_id)
        return "a-token"

    def flow_token(self, flow_id: uuid.UUID, scope: str) -> None:
        return None

    def release(self, run_id: uuid.UUID) -> None:
        self.released.append(run_id)

    def release_ended(self, *args: Any, **kwargs: Any) -> int:
        return 0


def test_actions_inside_iterations_use_the_tokens_of_the_run_the_user_started(
    db: Database, make_executor: Callable[..., Executor], start_run: Callable
) -> None:
    executor = make_executor()
    delegations = RecordingDelegations()
    executor.delegations = delegations  # type: ignore[assignment]
    run_id = start_run(
        map_flow(HELLO_ITEM, ItemSelector={"name.$": "$._context.map_item.value"}), {"items": ["a", "b"]}
    )
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert delegations.asked and set(delegations.asked) == {run_id}
    with db.read() as conn:
        revokes = conn.execute(sa.text("SELECT run_id FROM work_items WHERE kind = 'revoke_tokens'")).all()
    assert {row[0] for row in revokes} <= {run_id}  # the children hold nothing to give back


def test_a_claim_batch_checks_the_runs_consent_once_per_scope(
    db: Database, make_executor: Callable[..., Executor], start_run: Callable
) -> None:
    """The items of one claim batch are processed together, as one consent check followed by their calls
    would be: a Map's items (all acting with their top run's delegation) share the check; the next batch
    checks again, so a consent withdrawn meanwhile is seen there."""
    executor = make_executor()
    delegations = RecordingDelegations()
    executor.delegations = delegations  # type: ignore[assignment]
    # as for a provider called outside the engine's transactions (hello_world's are started in them)
    executor._inline_target = lambda *args: None  # type: ignore[method-assign]
    executor._inline_start = lambda child: None  # type: ignore[method-assign]
    selector = {"name.$": "$._context.map_item.value"}
    run_id = start_run(map_flow(HELLO_ITEM, ItemSelector=selector), {"items": [f"n{i}" for i in range(6)]})
    for item in executor.claim(limit=10):  # the Map starts its 6 iterations at their first step
        executor.process(item)
    assert delegations.asked == []
    first = executor.claim(limit=4)
    assert [item.kind for item in first] == ["action_start"] * 4
    for item in first:
        executor.process(item)
    assert delegations.asked == [run_id]  # one check for the 4 starts
    second = executor.claim(limit=10)
    assert [item.kind for item in second].count("action_start") == 2  # and the parent's `children` item
    for item in second:
        executor.process(item)
    assert delegations.asked == [run_id, run_id]


def test_an_iteration_ending_while_its_parent_looks_at_its_iterations_still_wakes_it(
    db: Database, make_executor: Callable[..., Executor], start_run: Callable, monkeypatch: Any
) -> None:
    """A `children` item drops the parent's other pending ones its read of the iterations saw. An iteration
    that ends after that read enqueues an item of its own, which stays: the parent gathers. (When an ending
    iteration made a pending item due again instead of enqueuing one, the handler dropped that item and the
    parent waited forever, all its iterations ended.)"""
    executor = make_executor()
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}}
    run_id = start_run(map_flow(wait), {"items": [1, 2, 3]})
    executor.run_until_idle()  # three iterations waiting
    executor.clock.advance(10)  # type: ignore[attr-defined]
    steps = executor.claim(limit=10)
    assert [item.kind for item in steps] == ["step"] * 3
    executor.process(steps[0])  # the first iteration ends: a `children` item for the parent
    (handled,) = executor.claim(limit=10)
    assert handled.kind == "children" and handled.run_id == run_id
    executor.process(steps[1])  # the second ends while that item is leased: another item
    pending = children.pending_children_items

    def third_ends_after_the_read(conn: Any, parent: uuid.UUID, *, besides: int) -> list[int]:
        seen = pending(conn, parent, besides=besides)  # in the handler's snapshot: the second one's item
        executor.process(steps[2])  # the third ends after the handler's read
        return seen

    monkeypatch.setattr(children, "pending_children_items", third_ends_after_the_read)
    executor.process(handled)
    monkeypatch.setattr(children, "pending_children_items", pending)
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED" and run["run_state"]["out"] == [1, 2, 3]


def test_max_concurrency_0_is_capped_by_the_server_setting(
    db: Database, make_executor: Callable[..., Executor], start_run: Callable
) -> None:
    executor = make_executor(map_max_concurrency=3)
    processor = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}}
    unlimited = start_run(map_flow(processor), {"items": list(range(7))})
    above = start_run(map_flow(processor, MaxConcurrency=50), {"items": list(range(7))})
    below = start_run(map_flow(processor, MaxConcurrency=2), {"items": list(range(7))})
    executor.run_until_idle()
    with db.read() as conn:
        counts = [
            children.count_children(conn, children.IterationsKey(r, "Fan", "1/0"))
            for r in (unlimited, above, below)
        ]
    assert counts == [{"ACTIVE": 3, "QUEUED": 4}, {"ACTIVE": 3, "QUEUED": 4}, {"ACTIVE": 2, "QUEUED": 5}]
    # as iterations end, queued ones start: never more than the setting at once
    executor.clock.advance(10)  # type: ignore[attr-defined]
    executor.run_until_idle()
    with db.read() as conn:
        assert children.count_children(conn, children.IterationsKey(unlimited, "Fan", "1/0")) == {
            "SUCCEEDED": 3,
            "ACTIVE": 3,
            "QUEUED": 1,
        }
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert get_run(db, unlimited)["run_state"]["out"] == list(range(7))


def test_iterations_are_not_counted_as_runs_and_go_with_their_run(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    inner = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    nested = {
        "StartAt": "In",
        "States": {"In": {"Type": "Map", "ItemsPath": "$", "ItemProcessor": inner, "End": True}},
    }
    kept = start_run(map_flow(nested), {"items": [[1, 2], [3]]})
    released = start_run(map_flow(inner), {"items": [1, 2, 3]})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert get_run(db, kept)["run_state"]["out"] == [[1, 2], [3]]
    with db.read() as conn:
        assert store_work.count_runs_by_status(conn) == {"SUCCEEDED": 2}
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one() == 2 + 2 + 3 + 3
    assert executor.metrics.runs_started.value() == 2
    assert executor.metrics.runs_finished.value(status="SUCCEEDED") == 2
    with db.begin() as conn:
        store_runs.release_run(conn, run_id=released)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one() == 1 + 2 + 3
    later = executor.clock.now() + dt.timedelta(days=1)
    with db.begin() as conn:
        assert retention.purge_finished_runs(conn, completed_before=later) == 1
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one() == 0


PURE_ITEM = {
    "StartAt": "P",
    "States": {
        "P": {"Type": "Pass", "Parameters": {"v.$": "$", "i.$": "$._context.map_item.index"}, "End": True}
    },
}


def test_pure_maps_one_after_another_are_gathered_in_one_step(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    definition = {
        "StartAt": "First",
        "States": {
            "First": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": PURE_ITEM,
                "ResultPath": "$.first",
                "Next": "Second",
            },
            "Second": {
                "Type": "Map",
                "ItemsPath": "$.first",
                "ItemProcessor": {"StartAt": "Q", "States": {"Q": {**PURE_ITEM["States"]["P"]}}},
                "ResultPath": "$.second",
                "End": True,
            },
        },
    }
    run_id = start_run(definition, {"items": [10, 11, 12]})
    assert drive(executor, executor.clock) == 1  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["second"] == [{"v": {"v": 10 + i, "i": i}, "i": i} for i in range(3)]
    assert log_codes(db, run_id) == [
        "FlowStarted",
        "MapStarted",
        "MapCompleted",
        "MapStarted",
        "MapCompleted",
        "FlowSucceeded",
    ]
    rows = child_rows(db, run_id)
    assert sorted((row["parent_state"], row["iteration"], row["status"]) for row in rows) == [
        (state, i, "SUCCEEDED") for state in ("First", "Second") for i in range(3)
    ]
    with db.read() as conn:  # gathered in the step: no children item was ever left behind
        assert conn.execute(sa.select(sa.func.count()).select_from(store_work.work_items)).scalar() == 0


def test_a_step_that_died_after_storing_its_inline_iterations_gathers_them_on_replay(
    db: Database, executor: Executor, start_run: Callable, monkeypatch: Any
) -> None:
    """The iterations are stored ended in their own transaction before the parent steps on: a parent whose
    commit then fails (a crash, a lost lease) replays its step, finds them stored, and gathers the stored rows
    (each iteration stored once, results in order)."""
    import openflows.engine.commits as executor_module

    real = executor_module.commit_plan
    failures = []

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise RuntimeError("the worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(executor_module, "commit_plan", fail_once)
    run_id = start_run(map_flow(PURE_ITEM), {"items": list(range(5))})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert failures == [1]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["out"] == [{"v": i, "i": i} for i in range(5)]
    rows = child_rows(db, run_id)
    assert [(row["iteration"], row["status"]) for row in rows] == [(i, "SUCCEEDED") for i in range(5)]
    assert log_codes(db, run_id) == ["FlowStarted", "MapStarted", "MapCompleted", "FlowSucceeded"]


class TickingClock(FakeClock):
    """A clock one second later at every reading: each step, transaction and decision has its own time."""

    def now(self) -> dt.datetime:
        return self.advance(1.0)


def test_inline_iterations_start_when_they_ran_and_their_log_replays_exactly(
    db: Database, executor: Executor, start_run: Callable, monkeypatch: Any
) -> None:
    """A gathered iteration's start time is the time its first step ran at, so a read of its log replays
    that step at that very time (engine/inline_logs.py); the parent steps on after they were stored."""
    executor.clock = TickingClock(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC))
    ran_at: list[dt.datetime] = []
    real = executor._run_inline

    def recording(*args: Any, now: dt.datetime, **kwargs: Any) -> Any:
        ran_at.append(now)
        return real(*args, now=now, **kwargs)

    monkeypatch.setattr(executor, "_run_inline", recording)
    run_id = start_run(map_flow(PURE_ITEM), {"items": [5, 6]})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    entries = {entry["code"]: entry["time"] for entry in get_logs(db, run_id)}
    rows = child_rows(db, run_id)
    assert len(ran_at) == 1
    assert {row["start_time"] for row in rows} == {ran_at[0]}
    assert entries["MapCompleted"] > ran_at[0]
    with db.read() as conn:
        for row in rows:
            replayed = inline_log(conn, row["id"], limits=executor.limits)
            assert [entry.code for entry in replayed] == [
                "FlowStarted",
                "PassStarted",
                "PassCompleted",
                "FlowSucceeded",
            ]
            assert {dt.datetime.fromisoformat(entry.time) for entry in replayed} == {ran_at[0]}
            assert replayed[-1].details["output"] == row["run_state"]


def test_a_children_item_starts_its_iterations_actions_in_its_own_transaction(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    """hello_world keeps its actions in the engine's database: the iterations a `children` item starts have
    their action started, and its answer taken, in that item's transaction (no action-start item each),
    and so do the first MaxConcurrency, in the transaction of the Map's own step."""
    names = [f"n{i}" for i in range(7)]
    hello = executor.registry.get("hello_world")
    outside = []
    real_run = hello.run

    def run(request: Any, caller: Any) -> Any:
        outside.append(request["request_id"])
        return real_run(request, caller)

    hello.run = run  # type: ignore[method-assign]
    run_id = start_run(
        map_flow(HELLO_ITEM, MaxConcurrency=2, ItemSelector={"name.$": "$._context.map_item.value"}),
        {"items": names},
    )
    processed = []
    real_process = executor.process

    def process(item: Any) -> None:
        processed.append(item.kind)
        real_process(item)

    executor.process = process  # type: ignore[method-assign]
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run_doc = get_run(db, run_id)
    assert run_doc["status"] == "SUCCEEDED", run_doc["details"]
    assert run_doc["run_state"]["out"] == [{"name": n, "echo": n} for n in names]
    assert processed.count("action_start") == 0
    assert outside == []  # and every start was made in a transaction of the engine's
    with db.read() as conn:
        actions = conn.execute(sa.select(provider_actions)).all()
        assert store_work.list_work_items(conn) == []
    assert len(actions) == 7 and all(action.released_at is not None for action in actions)
    key = children.IterationsKey(run_id, "Fan", "1/0")
    logs = [log_codes(db, children.child_run_id(key, index)) for index in range(7)]
    # the same log as an iteration that starts its action with an item of its own
    assert (
        logs
        == [
            [
                "FlowStarted",
                "ActionStarted",
                "ActionCompleted",
                "PassStarted",
                "PassCompleted",
                "FlowSucceeded",
            ]
        ]
        * 7
    )
    first, last = (get_logs(db, children.child_run_id(key, index)) for index in (0, 6))
    assert [sorted(entry["details"]) for entry in first] == [sorted(entry["details"]) for entry in last]


def test_an_action_refused_in_a_children_items_transaction_is_started_with_its_own_item(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    """One iteration's body is refused by the provider: the `children` item's transaction is rolled back and
    started again without starting actions in it; that iteration fails with ActionUnableToRun (its own
    action-start item), the others succeed, each action once."""
    processor = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": {"sleep_time.$": "$.sleep"},
                "ResultPath": "$.said",
                "End": True,
            }
        },
    }
    items = [{"sleep": 0}, {"sleep": 0}, {"sleep": -1}, {"sleep": 0}]
    definition = map_flow(processor, MaxConcurrency=2, ToleratedFailureCount=1)
    run_id = start_run(definition, {"items": items})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run_doc = get_run(db, run_id)
    assert run_doc["status"] == "SUCCEEDED", run_doc["details"]
    rows = child_rows(db, run_id)
    assert [row["status"] for row in rows] == ["SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert "ActionUnableToRun" in str(rows[2]["details"])
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 3
