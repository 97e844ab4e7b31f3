"""Redrive in the engine (issue 19): where a failed run starts again (`engine.redrive.redrive_point`, pure),
and the executor running a redriven run: a new visit of the failed state (a new request id), decided by the
stored cursor so a replayed step after a crash sends the same one; the Retry counts start again; the states
before are not run again. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from enginekit import BASE_URL, drive, get_logs, get_run

from openflows.engine.executor import Executor
from openflows.engine.redrive import (
    NotRedrivable,
    prepare_redrive,
    redrive_point,
    redriven_cursor,
    write_redrive,
)
from openflows.language.model import ActionRef, Cursor, Enter
from openflows.language.states import parse_definition
from openflows.providers.base import Caller, Provider, ProviderRegistry
from openflows.shared.clock import FakeClock
from openflows.store import claims as store_claims
from openflows.store import kinds
from openflows.store import runs as store_runs
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.schema import provider_actions, runs, work_items

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class Flaky(Provider):
    """Fails (`/run` answers FAILED) the first `failures` actions, then succeeds; records request ids."""

    name = "flaky"

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures
        self.requests: list[str] = []

    def introspect(self) -> dict[str, Any]:
        return {}

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        self.requests.append(request["request_id"])
        failed = len(self.requests) <= self.failures
        status = "FAILED" if failed else "SUCCEEDED"
        return {"action_id": uuid.uuid4().hex, "status": status, "details": {"got": request["body"]}}, True

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        raise AssertionError("actions end at once")

    resume = status

    def release(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return {"action_id": action_id, "status": "SUCCEEDED", "details": {}}

    cancel = release

    def log(self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False) -> dict:
        return {"entries": []}


def flow(**call: Any) -> dict[str, Any]:
    return {
        "StartAt": "Count",
        "States": {
            "Count": {"Type": "Pass", "Result": 1, "ResultPath": "$.count", "Next": "Call"},
            "Call": {
                "Type": "Action",
                "ActionUrl": f"{BASE_URL}/actions/flaky",
                "Parameters": {"count.$": "$.count"},
                "ResultPath": "$.result",
                "End": True,
                **call,
            },
        },
    }


def redrive(db: Database, run_id: uuid.UUID, now: dt.datetime) -> Any:
    """What the API does once it has checked the caller: decide, then write."""

    def write(conn: Any) -> Any:
        run = store_runs.get_run(conn, run_id=run_id)
        raw = store_work.get_flow_version_definition(conn, run["flow_id"], run["flow_version"])
        point = prepare_redrive(
            conn, run, parse_definition(raw), now=now, retention_days=90, max_duration_days=365
        )
        write_redrive(conn, run, point, now=now)
        return point

    return db.transact(write)


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def executor(make_executor: Callable[..., Executor], flaky: Flaky) -> Executor:
    executor = make_executor()
    executor.actions.registry = ProviderRegistry([flaky], base_urls=[BASE_URL])
    return executor


def test_a_redriven_action_state_is_a_new_visit_with_retry_counts_reset(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock, flaky: Flaky
) -> None:
    flaky.failures = 3  # the first try and its Retry fail, then the redriven visit's first try too
    retry = [{"ErrorEquals": ["ActionFailedException"], "MaxAttempts": 1, "IntervalSeconds": 1}]
    run_id = start_run(flow(Retry=retry), {"x": 1})
    drive(executor, clock)
    failed = get_run(db, run_id)
    assert failed["status"] == "FAILED" and failed["cursor"]["state"] == "Call"
    assert failed["cursor"]["attempt"] == 1 and failed["cursor"]["visits"] == 1
    assert flaky.requests == [f"{run_id}/Call/1/0", f"{run_id}/Call/1/1"]

    point = redrive(db, run_id, clock.now())
    assert point.state == "Call" and point.count == 1
    redriven = get_run(db, run_id)
    assert redriven["status"] == "ACTIVE" and redriven["completion_time"] is None
    assert Cursor.from_dict(redriven["cursor"]) == Cursor("Call", visits=1)
    assert redriven["run_state"] == {"x": 1, "count": 1}  # Call's input, as it was
    drive(executor, clock)
    # the redriven visit (2) fails once and its Retry (attempt 1) succeeds: the Retry counts started again
    assert flaky.requests[2:] == [f"{run_id}/Call/2/0", f"{run_id}/Call/2/1"]
    assert executor.metrics.runs_redriven.value() == 1 and executor.metrics.runs_started.value() == 1
    done = get_run(db, run_id)
    assert done["status"] == "SUCCEEDED", done["details"]
    assert done["details"]["output"]["result"]["details"]["got"] == {"count": 1}
    codes = [entry["code"] for entry in get_logs(db, run_id)]
    assert codes.count("PassStarted") == 1
    after = codes[codes.index("FlowRedriven") :]
    assert after == [
        "FlowRedriven",
        "ActionStarted",
        "ActionFailed",
        "ActionRetrying",
        "ActionStarted",
        "ActionCompleted",
        "FlowSucceeded",
    ]


def test_a_replayed_redrive_step_sends_the_same_request(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock, flaky: Flaky
) -> None:
    """The step after a redrive decides the action's request id from the stored cursor: a worker that dies
    before committing that step and a worker that takes it over decide the same one."""
    run_id = start_run(flow(), {})
    drive(executor, clock)
    redrive(db, run_id, clock.now())
    with db.read() as conn:
        run = store_work.load_run_for_step(conn, run_id)
    first = executor._step(run, Enter())  # the step a first worker decided, then died before committing
    again = executor._step(run, Enter())  # the same step, replayed by another worker
    assert first.outcome == again.outcome
    assert first.outcome.request_id == f"{run_id}/Call/2/0"
    drive(executor, clock)
    assert flaky.requests == [f"{run_id}/Call/1/0", f"{run_id}/Call/2/0"]
    assert get_run(db, run_id)["status"] == "SUCCEEDED"


def test_the_redrive_item_and_log(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    run_id = start_run(flow(), {})
    drive(executor, clock)
    version = get_run(db, run_id)["version"]
    redrive(db, run_id, clock.now())
    with db.read() as conn:
        rows = conn.execute(
            sa.select(work_items.c.kind, work_items.c.payload, work_items.c.due_at).where(
                work_items.c.run_id == run_id, work_items.c.kind == kinds.STEP
            )
        ).all()
    assert [(kind, payload) for kind, payload, _ in rows] == [
        (kinds.STEP, {"event": "redrive", "redrive": 1, "run_version": version + 1})
    ]
    assert rows[0][2] == clock.now()
    entry = get_logs(db, run_id)[-1]
    assert entry["code"] == "FlowRedriven"
    assert entry["details"] == {
        "redrive_count": 1,
        "state_name": "Call",
        "previous_error": "ActionFailedException",
    }
    assert entry["description"] == "The Flow Instance was redriven from state Call"


# --- where a failed run starts again (pure) -----------------------------------------------------------------

DEFINITION = parse_definition(
    {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Action", "ActionUrl": "https://example.org/ap", "Parameters": {}, "Next": "F"},
            "F": {"Type": "Fail", "Error": "Chosen"},
        },
    }
)


def failed_run(**changes: Any) -> dict[str, Any]:
    run = {
        "id": uuid.uuid4(),
        "status": "FAILED",
        "details": {"code": "FlowFailed", "details": {"error": "ActionFailedException", "state_name": "A"}},
        "cursor": Cursor("A", attempt=2, retries=(2,), visit=3, visits=3).as_dict(),
        "start_time": NOW - dt.timedelta(days=1),
        "completion_time": NOW - dt.timedelta(hours=1),
    }
    run.update(changes)
    return run


def point(run: dict[str, Any], **kwargs: Any) -> Any:
    options = {"previous_redrives": 0, "now": NOW, "retention_days": 90, "max_duration_days": 365, **kwargs}
    return redrive_point(run, DEFINITION, **options)


def test_the_point_is_the_failed_state_with_a_fresh_cursor() -> None:
    found = point(failed_run(), previous_redrives=2)
    assert found.state == "A" and found.count == 3
    assert found.cursor == {
        "state": "A",
        "attempt": 0,
        "retries": (),
        "action": None,
        "visit": None,
        "visits": 3,
        "web_input": None,
    }
    assert found.details["details"] == {"redrive_count": 3, "state_name": "A"}
    assert found.entry.details["previous_error"] == "ActionFailedException"
    assert found.entry.time == NOW.isoformat()


def test_an_engine_failure_with_an_action_in_flight_is_redriven_without_it() -> None:
    ref = ActionRef("https://example.org/ap", "a1", "r/A/3/0", NOW.isoformat(), NOW.isoformat())
    cursor = Cursor("A", visit=3, visits=3, action=ref)
    assert redriven_cursor(cursor) == Cursor("A", visits=3)
    assert point(failed_run(cursor=cursor.as_dict())).cursor["action"] is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"status": "ACTIVE"}, "has status 'ACTIVE'"),
        ({"status": "SUCCEEDED"}, "has status 'SUCCEEDED'"),
        ({"status": "ENDED"}, "has status 'ENDED'"),
        ({"details": {"code": "FlowCanceled"}}, "was canceled"),
        ({"cursor": Cursor("F", visits=3).as_dict()}, "failed at its Fail state 'F'"),
        ({"cursor": Cursor(None).as_dict()}, "did not fail at a state"),
        ({"cursor": Cursor("Gone").as_dict()}, "did not fail at a state"),
        ({"completion_time": NOW - dt.timedelta(days=91)}, "retention period"),
        ({"start_time": NOW - dt.timedelta(days=366)}, "maximum run duration"),
    ],
)
def test_runs_that_cannot_be_redriven(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(NotRedrivable) as caught:
        point(failed_run(**changes))
    assert says in str(caught.value)


def test_retention_off_keeps_old_runs_redrivable() -> None:
    old = failed_run(completion_time=NOW - dt.timedelta(days=1000), start_time=NOW - dt.timedelta(days=1001))
    assert point(old, retention_days=0, max_duration_days=5000).state == "A"


def test_a_pending_give_back_of_tokens_is_dropped_one_in_progress_refuses(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    """The tokens a failed run still holds are kept by its redrive: the REVOKE_TOKENS item that would give
    them back is deleted in the redrive's transaction, unless a worker holds it right now (then the redrive
    is refused, and may be tried again)."""
    run_id = start_run(flow(), {})
    drive(executor, clock)
    now = clock.now()

    def enqueue(conn: Any) -> None:
        store_work.enqueue_work_item(
            conn, store_work.NewWorkItem(run_id=run_id, kind=kinds.REVOKE_TOKENS, due_at=now), now=now
        )

    def revocations() -> int:
        with db.read() as conn:
            query = sa.select(sa.func.count()).where(
                work_items.c.run_id == run_id, work_items.c.kind == kinds.REVOKE_TOKENS
            )
            return int(conn.execute(query).scalar_one())

    db.transact(enqueue)
    db.transact(lambda conn: store_runs.drop_pending_revocation(conn, run_id=run_id, now=now))
    assert revocations() == 0

    db.transact(enqueue)
    [item] = db.transact(
        lambda conn: store_claims.claim_work_items(conn, owner="w1", now=now, lease_seconds=30)
    )
    assert item.kind == kinds.REVOKE_TOKENS
    with pytest.raises(store_runs.RevocationInProgress):
        db.transact(lambda conn: store_runs.drop_pending_revocation(conn, run_id=run_id, now=now))
    assert revocations() == 1
    # once its lease has run out (its worker died), it is dropped
    later = now + dt.timedelta(seconds=31)
    db.transact(lambda conn: store_runs.drop_pending_revocation(conn, run_id=run_id, now=later))
    assert revocations() == 0


def test_a_map_item_cancelled_with_its_action_in_flight_is_redriven_with_a_new_action(
    db: Database,
    make_executor: Callable[..., Executor],
    start_run: Callable,
    clock: FakeClock,
    flaky: Flaky,
    hello: Any,
) -> None:
    """Item 0 fails (flaky), the Map fails at once and cancels item 1, whose hello_world action was still
    ACTIVE; a redrive runs item 0 again at its failed state and item 1 at the state it was cancelled in, with
    a new action (a new visit of the item: a new request id); both results are gathered in order."""
    executor = make_executor()
    executor.actions.registry = ProviderRegistry([flaky, hello], base_urls=[BASE_URL])
    processor = {
        "StartAt": "Which",
        "States": {
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.slow", "BooleanEquals": True, "Next": "Slow"}],
                "Default": "Fast",
            },
            "Fast": {
                "Type": "Action",
                "ActionUrl": f"{BASE_URL}/actions/flaky",
                "Parameters": {"n.$": "$.n"},
                "ResultPath": "$.r",
                "End": True,
            },
            "Slow": {
                "Type": "Action",
                "ActionUrl": f"{BASE_URL}/actions/hello_world",
                "Parameters": {"echo_string": "slow", "sleep_time": 30},
                "ResultPath": "$.r",
                "End": True,
            },
        },
    }
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": processor,
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }
    run_id = start_run(definition, {"items": [{"n": 0, "slow": False}, {"n": 1, "slow": True}]})
    drive(executor, clock, max_seconds=5)
    failed = get_run(db, run_id)
    assert failed["status"] == "FAILED", failed["details"]
    with db.read() as conn:
        rows = conn.execute(
            sa.select(runs).where(runs.c.parent_run_id == run_id).order_by(runs.c.iteration)
        ).all()
    assert [(row.status, row.details["code"], row.cursor["state"]) for row in rows] == [
        ("FAILED", "FlowFailed", "Fast"),
        ("FAILED", "FlowCanceled", "Slow"),
    ]
    slow_request = rows[1].cursor["action"]["request_id"]
    assert slow_request == f"{rows[1].id}/Slow/1/0"

    point = redrive(db, run_id, clock.now())
    assert point.state == "Fan" and point.iterations is not None and point.iterations.count() == 2
    drive(executor, clock)
    done = get_run(db, run_id)
    assert done["status"] == "SUCCEEDED", done["details"]
    assert flaky.requests == [f"{rows[0].id}/Fast/1/0", f"{rows[0].id}/Fast/2/0"]
    with db.read() as conn:
        hello_requests = sorted(
            conn.execute(
                sa.select(provider_actions.c.request_id).where(provider_actions.c.provider == "hello_world")
            ).scalars()
        )
    assert hello_requests == [slow_request, f"{rows[1].id}/Slow/2/0"]
    out = done["run_state"]["out"]
    assert [item["n"] for item in out] == [0, 1]  # in item order
    assert out[0]["r"]["details"]["got"] == {"n": 0} and out[1]["r"]["details"]["hello"] == "slow"
    assert executor.metrics.runs_redriven.value() == 1 and executor.metrics.runs_started.value() == 1
