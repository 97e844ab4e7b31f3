"""The executor on a real database with a fake clock: no-I/O chains, Waits, actions, INACTIVE and resume,
errors, timeouts, cancel, leases and replays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from enginekit import drive, get_logs, get_run, log_codes

from openflows.engine.executor import Executor
from openflows.shared.clock import FakeClock
from openflows.store import kinds
from openflows.store import runs as store_runs
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.schema import provider_actions
from openflows.store.work import NewWorkItem, enqueue_work_item, list_work_items

HELLO = "https://actions.globus.org/hello_world"


def hello_flow(parameters: dict, **extra: object) -> dict:
    return {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": parameters,
                "ResultPath": "$.hello",
                "End": True,
                **extra,
            }
        },
    }


def test_pass_chain_commits_in_one_step(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"y.$": "$.a.x"}, "ResultPath": "$.b", "Next": "C"},
            "C": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {"input": 1})
    assert executor.run_until_idle() == 1  # one work item, one commit, three states
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["details"] == {
        "code": "FlowSucceeded",
        "description": "The Flow run reached a successful completion state",
        "output": {"input": 1, "a": {"x": 1}, "b": {"y": 1}},
    }
    assert run["completion_time"] == clock.now()
    assert run["version"] == 1
    codes = log_codes(db, run_id)
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded"
    assert codes.count("PassStarted") == 3
    assert run["log_seq"] == len(codes)
    with db.read() as conn:
        assert list_work_items(conn) == []


def test_choice_loop_counts_to_ten(db: Database, executor: Executor, start_run: Callable):
    definition = {
        "StartAt": "Test",
        "States": {
            "Test": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.counter", "NumericLessThan": 10, "Next": "Increment"},
                ],
                "Default": "Done",
            },
            "Increment": {
                "Type": "ExpressionEval",
                "Parameters": {"value.=": "counter + 1"},
                "ResultPath": "$.next",
                "Next": "Copy",
            },
            "Copy": {"Type": "Pass", "InputPath": "$.next.value", "ResultPath": "$.counter", "Next": "Test"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {"counter": 0})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["counter"] == 10


def test_wait_fires_only_when_the_clock_reaches_it(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    definition = {
        "StartAt": "Sleep",
        "States": {
            "Sleep": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
            "Done": {"Type": "Pass", "Result": "woke", "ResultPath": "$.r", "End": True},
        },
    }
    run_id = start_run(definition, {})
    started = clock.now()
    executor.run_until_idle()
    assert get_run(db, run_id)["status"] == "ACTIVE"
    assert executor.next_due_at() == started + dt.timedelta(seconds=600)
    clock.advance(599)
    assert executor.run_until_idle() == 0
    clock.advance(1)
    assert executor.run_until_idle() == 1
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["details"]["output"] == {"r": "woke"}
    assert run["completion_time"] == started + dt.timedelta(seconds=600)
    assert "WaitCompleted" in log_codes(db, run_id)


def test_fail_state_fails_the_run_with_flowfailed_details(
    db: Database, executor: Executor, start_run: Callable
):
    definition = {
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "Error": "MyError", "Cause": "it broke"}},
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "FAILED"
    assert run["details"]["code"] == "FlowFailed"
    assert run["details"]["details"] == {"error": "MyError", "cause": "it broke", "state_name": "Boom"}
    assert run["completion_time"] is not None
    assert log_codes(db, run_id)[-1] == "FlowFailed"


def test_hello_world_immediate(db: Database, executor: Executor, start_run: Callable):
    run_id = start_run(hello_flow({"echo_string.$": "$.msg"}), {"msg": "hi there"})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    result = run["details"]["output"]["hello"]
    assert result["status"] == "SUCCEEDED"
    assert result["details"] == {"Hello": "World", "hello": "hi there"}
    assert result["state_name"] == "Hello"
    codes = log_codes(db, run_id)
    assert codes == ["FlowStarted", "ActionStarted", "ActionCompleted", "FlowSucceeded"]
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
    assert action.request_id == f"{run_id}/Hello/1/0"
    assert action.released_at is not None  # released after the result was stored


def test_a_finished_builtin_action_is_released_in_the_commit_that_saw_it_end(
    db: Database, executor: Executor, start_run: Callable, monkeypatch: pytest.MonkeyPatch
):
    """hello_world keeps its actions in the executor's database: its action is released in the step's commit
    (no release item); a provider that cannot (`release_in` answers None) or refuses gets the release item."""
    from openflows.providers.base import ActionConflict
    from openflows.providers.hello_world import HelloWorldProvider

    processed: list[str] = []
    real_process = executor.process

    def recording(item: store_work.WorkItem) -> None:
        processed.append(item.kind)
        real_process(item)

    monkeypatch.setattr(executor, "process", recording)
    first = start_run(hello_flow({"echo_string": "one"}), {})
    drive(executor, executor.clock)  # type: ignore[arg-type]
    assert get_run(db, first)["status"] == "SUCCEEDED"
    assert kinds.ACTION_RELEASE not in processed

    for answer in ("none", "refuse"):

        def release_in(
            self: Any, conn: Any, action_id: str, caller: Any, now: Any, answer: str = answer
        ) -> Any:
            if answer == "refuse":
                raise ActionConflict("not now")
            return None

        monkeypatch.setattr(HelloWorldProvider, "release_in", release_in)
        processed.clear()
        run_id = start_run(hello_flow({"echo_string": answer}), {})
        drive(executor, executor.clock)  # type: ignore[arg-type]
        assert get_run(db, run_id)["status"] == "SUCCEEDED"
        assert processed.count(kinds.ACTION_RELEASE) == 1
    with db.read() as conn:
        released = conn.execute(sa.select(provider_actions.c.released_at)).scalars().all()
    assert len(released) == 3 and all(when is not None for when in released)


def test_hello_world_sleep_is_noticed_at_its_due_time(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    run_id = start_run(hello_flow({"echo_string": "zzz", "sleep_time": 5}), {})
    started = clock.now()
    executor.run_until_idle()
    assert get_run(db, run_id)["status"] == "ACTIVE"
    # the provider's hint schedules the one poll needed exactly when the sleep ends
    polls = []
    for _ in range(10):
        due = executor.next_due_at()
        if due is None:
            break
        clock.set(max(due, clock.now()))
        polls.append((clock.now() - started).total_seconds())
        executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": "zzz"}
    assert polls[0] == 5.0
    assert run["completion_time"] == started + dt.timedelta(seconds=5)


def test_poll_backoff_doubles_and_is_capped(
    db: Database, make_executor: Callable, start_run: Callable, clock: FakeClock
):
    executor = make_executor(poll_initial_seconds=1.0, poll_max_seconds=4.0)
    # an action that stays ACTIVE for an hour; the hint is removed by asking the provider without it
    executor.registry.get("hello_world").next_change_at = lambda action_id: None  # type: ignore[method-assign]
    run_id = start_run(hello_flow({"sleep_time": 20}, WaitTime=3600), {})
    started = clock.now()
    executor.run_until_idle()
    times = []
    while get_run(db, run_id)["status"] == "ACTIVE" and len(times) < 20:
        clock.set(executor.next_due_at())
        times.append((clock.now() - started).total_seconds())
        executor.run_until_idle()
    assert times == [1.0, 3.0, 7.0, 11.0, 15.0, 19.0, 23.0]
    assert get_run(db, run_id)["status"] == "SUCCEEDED"


def test_required_dependent_scope_makes_the_run_inactive_until_resumed(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    scope = "urn:globus:auth:scope:groups.api.globus.org:all"
    run_id = start_run(hello_flow({"required_dependent_scope": scope, "echo_string": "ok"}), {})
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "INACTIVE"
    details = run["details"]
    assert details["code"] == "ConsentRequired"
    assert details["required_scope"] == scope
    assert details["authorization_parameters"]["required_scopes"] == [scope]
    assert isinstance(details["description"], str) and details["description"]
    assert log_codes(db, run_id)[-1] == "FlowInactive"
    with db.read() as conn:
        assert list_work_items(conn) == []  # nothing polls an INACTIVE run
    # the API resumes the run: it enqueues a RESUME item
    with db.begin() as conn:
        enqueue_work_item(
            conn, NewWorkItem(run_id=run_id, kind=kinds.RESUME, due_at=clock.now()), now=clock.now()
        )
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": "ok"}


def test_action_unable_to_run_is_caught(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    definition = hello_flow(
        {"sleep_time": "not a number"},
        Catch=[{"ErrorEquals": ["ActionUnableToRun"], "ResultPath": "$.error", "Next": "Recover"}],
    )
    definition["States"]["Hello"].pop("End")
    definition["States"]["Hello"]["Next"] = "Done"
    definition["States"]["Recover"] = {
        "Type": "Pass",
        "Result": "recovered",
        "ResultPath": "$.r",
        "End": True,
    }
    definition["States"]["Done"] = {"Type": "Pass", "End": True}
    run_id = start_run(definition, {})
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    output = run["details"]["output"]
    assert output["r"] == "recovered"
    assert output["error"]["code"] == "BadActionRequest"  # the provider's error body is the caught value
    assert "sleep_time" in output["error"]["description"]


def test_action_unable_to_run_uncaught_fails_the_run(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    run_id = start_run(hello_flow({"echo_string": 42}), {})
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "FAILED"
    assert run["details"]["details"]["error"] == "ActionUnableToRun"
    assert run["details"]["details"]["state_name"] == "Hello"


def test_wait_time_exceeded_times_out_and_cancels_the_action(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    run_id = start_run(hello_flow({"sleep_time": 3600}, WaitTime=10), {})
    started = clock.now()
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "FAILED"
    assert run["details"]["details"]["error"] == "ActionTimeout"
    assert run["completion_time"] == started + dt.timedelta(seconds=10)
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
    assert action.status == "FAILED"  # canceled (best effort) after the timeout
    assert action.details["code"] == "ActionCanceled"


def cancel_run_like_the_api(db: Database, run_id, now: dt.datetime) -> None:
    """What the API's cancel does (FAILED/FlowCanceled, pending items dropped, ACTION_CANCEL enqueued)."""
    with db.begin() as conn:
        store_runs.cancel_run(conn, run_id=run_id, now=now)


def test_cancel_during_action(db: Database, executor: Executor, start_run: Callable, clock: FakeClock):
    run_id = start_run(hello_flow({"sleep_time": 60}), {})
    executor.run_until_idle()
    assert get_run(db, run_id)["status"] == "ACTIVE"
    cancel_run_like_the_api(db, run_id, clock.now())
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "FAILED" and run["details"]["code"] == "FlowCanceled"
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
        assert list_work_items(conn) == []
    assert action.status == "FAILED" and action.details["code"] == "ActionCanceled"


def test_cancel_while_the_action_is_being_started_cancels_the_new_action(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    run_id = start_run(hello_flow({"sleep_time": 60}), {})
    # first item: the STEP that decides to start the action
    assert executor.tick(limit=1) == 1
    (item,) = executor.claim()
    assert item.kind == kinds.ACTION_START
    # the user cancels while the provider is starting the action (between the read and the commit)
    hello = executor.registry.get("hello_world")
    real_run = hello.run

    def run_then_cancel(request, caller):
        answer = real_run(request, caller)
        cancel_run_like_the_api(db, run_id, clock.now())
        return answer

    hello.run = run_then_cancel  # type: ignore[method-assign]
    # as a provider started outside the step's transaction (an HTTP one): hello_world's own start is made in
    # that transaction (`run_in`), where a cancel cannot come in between (see the tests below)
    hello.run_in = lambda *args: None  # type: ignore[method-assign]
    executor.process(item)
    drive(executor, clock)
    with db.read() as conn:
        action = conn.execute(sa.select(provider_actions)).one()
        assert list_work_items(conn) == []
    assert action.status == "FAILED" and action.details["code"] == "ActionCanceled"
    run = get_run(db, run_id)
    assert run["details"]["code"] == "FlowCanceled"


def refuse(name: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{name} called outside the step's transaction")

    return refused


def test_a_built_in_provider_is_called_in_the_transaction_of_its_step(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    """hello_world keeps its actions in the executor's database: its start and its status are read and
    written in the transactions that commit the steps taking their answers, never outside."""
    hello = executor.registry.get("hello_world")
    hello.run = refuse("run")  # type: ignore[method-assign]
    hello.status = refuse("status")  # type: ignore[method-assign]
    transactions = []
    real_transact = db.transact

    def counting(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        transactions.append(getattr(fn, "__qualname__", repr(fn)))
        return real_transact(fn, *args, **kwargs)

    db.transact = counting  # type: ignore[method-assign]
    run_id = start_run(hello_flow({"sleep_time": 5}), {})
    assert executor.tick(limit=1) == 1  # the STEP: the action-start item is next
    transactions.clear()
    assert executor.tick(limit=1) == 1  # the start: the action is stored with the step, ACTIVE
    steps = [name for name in transactions if "claim" not in name and "reap" not in name]
    assert steps == ["StepCommits._commit_call.<locals>.commit"]
    with db.read() as conn:
        (action,) = conn.execute(sa.select(provider_actions)).all()
        (poll,) = list_work_items(conn)
    assert action.status == "ACTIVE" and poll.kind == kinds.ACTION_POLL
    assert poll.due_at == clock.now() + dt.timedelta(seconds=5)  # hello_world's hint: when it wakes
    clock.advance(5)
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": "hello world"}
    with db.read() as conn:
        (action,) = conn.execute(sa.select(provider_actions)).all()
        assert list_work_items(conn) == []
    assert action.status == "SUCCEEDED" and action.released_at is not None  # released in the same commit


def test_a_discarded_step_discards_the_action_started_in_its_transaction(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    """The run changes under the step (its version moves) after hello_world stored the action in the step's
    transaction: the commit fails, and the action goes with it; the item is retried and starts it once."""
    hello = executor.registry.get("hello_world")
    real_run_in = hello.run_in
    calls = []

    def run_in_then_change_the_run(conn: Any, request: Any, caller: Any, now: Any) -> Any:
        answer = real_run_in(conn, request, caller, now)
        calls.append(answer[0]["action_id"])
        if len(calls) == 1:  # as another writer would, committed before this step's version check
            conn.execute(sa.text("UPDATE runs SET version = version + 1"))
        return answer

    hello.run_in = run_in_then_change_the_run  # type: ignore[method-assign]
    hello.run = refuse("run")  # type: ignore[method-assign]
    run_id = start_run(hello_flow({}), {})
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert len(calls) == 2 and calls[0] != calls[1]  # the first action was rolled back with its step
    with db.read() as conn:
        (action,) = conn.execute(sa.select(provider_actions)).all()
    assert str(action.id) == calls[1] == run["details"]["output"]["hello"]["action_id"]


def test_a_refusal_in_the_steps_transaction_is_reported_by_the_call_outside(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    """hello_world refuses the body: nothing is written in the step's transaction, the start is made again
    outside it, as for any provider, and its refusal fails the state with ActionUnableToRun."""
    hello = executor.registry.get("hello_world")
    outside = []
    real_run = hello.run

    def run(request: Any, caller: Any) -> Any:
        outside.append(request["request_id"])
        return real_run(request, caller)

    hello.run = run  # type: ignore[method-assign]
    run_id = start_run(hello_flow({"sleep_time": -1}), {})
    drive(executor, clock)
    run_doc = get_run(db, run_id)
    assert run_doc["status"] == "FAILED"
    assert "ActionUnableToRun" in str(run_doc["details"]), run_doc["details"]
    assert len(outside) == 1
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 0


def test_an_action_whose_step_starts_a_map_is_started_outside_the_transaction(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    """A step that would start iterations plans them outside any transaction: the start in the step's
    transaction is rolled back and made again outside, once, with the same request_id (one action)."""
    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": {},
                "ResultPath": "$.hello",
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "ResultPath": "$.out",
                "End": True,
            },
        },
    }
    hello = executor.registry.get("hello_world")
    outside = []
    real_run = hello.run

    def run(request: Any, caller: Any) -> Any:
        outside.append(request["request_id"])
        return real_run(request, caller)

    hello.run = run  # type: ignore[method-assign]
    run_id = start_run(definition, {"items": [1, 2, 3]})
    drive(executor, clock)
    run_doc = get_run(db, run_id)
    assert run_doc["status"] == "SUCCEEDED", run_doc["details"]
    assert run_doc["details"]["output"]["out"] == [1, 2, 3]
    assert len(outside) == 1
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 1


def test_replayed_start_after_a_crash_starts_the_action_once(
    db: Database, make_executor: Callable, start_run: Callable, clock: FakeClock
):
    """A worker calls /run and dies before committing; after its lease expires another worker replays the
    start with the same request_id and gets the same action."""
    first = make_executor(owner="worker-1", lease_seconds=30)
    second = make_executor(owner="worker-2", lease_seconds=30)
    run_id = start_run(hello_flow({"sleep_time": 5}), {})
    first.tick(limit=1)
    (item,) = first.claim()
    assert item.kind == kinds.ACTION_START
    start = item.payload["start"]
    # the crash: /run was called, the commit never happened
    doc, created = first.registry.get("hello_world").run(
        {"request_id": start["request_id"], "body": start["body"]},
        first._caller(get_run_for(db, run_id), "User"),
    )
    assert created
    assert second.tick() == 0  # leased to worker-1
    clock.advance(31)
    drive(second, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["hello"]["action_id"] == doc["action_id"]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 1


def get_run_for(db: Database, run_id):
    from openflows.store.work import load_run_for_step

    with db.read() as conn:
        return load_run_for_step(conn, run_id)


def test_lease_expiry_lets_another_worker_finish(
    db: Database, make_executor: Callable, start_run: Callable, clock: FakeClock
):
    first = make_executor(owner="worker-1", lease_seconds=10)
    second = make_executor(owner="worker-2", lease_seconds=10)
    run_id = start_run({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {"k": "v"})
    (item,) = first.claim()  # worker-1 claims and dies
    assert second.run_until_idle() == 0
    clock.advance(11)
    assert second.reap() == 1
    assert second.run_until_idle() == 1
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    # the dead worker's late commit (if it ever came back) is refused
    first.process(item)
    run = get_run(db, run_id)
    assert run["version"] == 1
    assert log_codes(db, run_id).count("FlowSucceeded") == 1


def test_overdue_runs_end(db: Database, make_executor: Callable, start_run: Callable, clock: FakeClock):
    executor = make_executor(run_max_duration_days=1)
    run_id = start_run({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**7, "End": True}}}, {})
    executor.run_until_idle()
    clock.advance(23 * 3600)
    assert executor.end_overdue_runs() == 0
    clock.advance(2 * 3600)
    assert executor.end_overdue_runs() == 1
    run = get_run(db, run_id)
    assert run["status"] == "ENDED"
    assert run["details"]["code"] == "FlowTimeout"
    assert get_logs(db, run_id)[-1]["code"] == "FlowTimeout"
    with db.read() as conn:
        assert list_work_items(conn) == []


def test_unreachable_provider_retries_then_raises_action_unable_to_run(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Action",
                "ActionUrl": "http://127.0.0.1:9/nothing-listens-here",
                "Parameters": {},
                "ResultPath": "$.r",
                "Catch": [{"ErrorEquals": ["ActionUnableToRun"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {})
    started = clock.now()
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    error = run["details"]["output"]["error"]
    assert "ActionProviderUnreachable" in str(error)
    # 5 tries with back-offs of 1, 2, 4 and 8 s before giving up
    assert run["completion_time"] == started + dt.timedelta(seconds=15)


def test_resumed_run_details_and_log(db: Database, executor: Executor, start_run: Callable, clock: FakeClock):
    run_id = start_run(hello_flow({"required_dependent_scope": "s", "sleep_time": 2}), {})
    drive(executor, clock)
    with db.begin() as conn:
        store_runs.resume_run(conn, run_id=run_id, now=clock.now())
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "ACTIVE"
    assert run["details"]["code"] == "FlowResumed"
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    codes = log_codes(db, run_id)
    assert codes.index("FlowInactive") < codes.index("FlowResumed") < codes.index("ActionCompleted")
