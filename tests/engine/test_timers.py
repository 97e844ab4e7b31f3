"""Timers fired by the executor on a real database with a fake clock (no sleeping): schedules ending by count
and by time, once timers, the missed-occurrence policy, pause and resume, timers that cannot start becoming
inactive, replays after a lost lease, and transfer timers syncing two local collections."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from openflows.engine import timers
from openflows.engine.executor import Executor
from openflows.engine.schedules import parse_schedule
from openflows.providers.base import ProviderRegistry
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.config import ProviderSettings
from openflows.providers.runner import ActionRunner
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store import flows as store_flows
from openflows.store import timers as store_timers
from openflows.store.collections import add_collection, insert_rule, revoke_rules
from openflows.store.db import Database
from openflows.store.identities import add_group_member, ensure_group, ensure_identity
from openflows.store.schema import provider_actions, runs, timer_runs, work_items

DEFINITION = {"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}}
SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


@pytest.fixture
def owner(db: Database, clock: FakeClock) -> str:
    identity = db.transact(lambda conn: ensure_identity(conn, "ada@example.org", now=clock.now()))
    return f"urn:globus:auth:identity:{identity.id}"


@pytest.fixture
def flow_id(db: Database, clock: FakeClock, owner: str) -> uuid.UUID:
    flow_id = uuid.uuid4()
    db.transact(
        lambda conn: store_flows.create_flow(
            conn,
            flow_id=flow_id,
            flow_owner=owner,
            title="nightly",
            definition=DEFINITION,
            input_schema=SCHEMA,
            now=clock.now(),
        )
    )
    return flow_id


MakeTimer = Callable[..., store_timers.Timer]


@pytest.fixture
def make_timer(db: Database, clock: FakeClock, owner: str, flow_id: uuid.UUID) -> MakeTimer:
    def make(
        schedule: dict[str, Any], *, body: dict[str, Any] | None = None, **kwargs: Any
    ) -> store_timers.Timer:
        parsed = parse_schedule(schedule, now=clock.now(), min_interval_seconds=1)
        values = {
            "timer_id": uuid.uuid4(),
            "owner": owner,
            "name": "test timer",
            "timer_type": "flow",
            "flow_id": flow_id,
            "body": body if body is not None else {"body": {"n": 1}, "label": "tick", "tags": ["timer"]},
            "schedule": parsed,
            **kwargs,
        }
        return db.transact(lambda conn: timers.create_timer(conn, now=clock.now(), **values))

    return make


def timer_state(db: Database, timer_id: uuid.UUID) -> store_timers.Timer:
    with db.read() as conn:
        timer = store_timers.get_timer(conn, timer_id)
    assert timer is not None
    return timer


def results(db: Database, timer_id: uuid.UUID) -> list[store_timers.TimerRun]:
    with db.read() as conn:
        return store_timers.list_results(conn, timer_id)


def timer_items(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(work_items).where(work_items.c.timer_id.is_not(None))))


def all_runs(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(runs).order_by(runs.c.start_time)))


def test_recurring_timer_ends_after_its_count(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer, owner: str, flow_id: uuid.UUID
):
    t0 = clock.now()
    timer = make_timer(
        {"type": "recurring", "interval_seconds": 60, "end": {"condition": "iterations", "count": 3}}
    )
    assert (timer.status, timer.next_run, timer.next_occurrence) == ("new", t0, 0)
    for k in range(3):
        executor.run_until_idle()
        assert len(all_runs(db)) == k + 1
        clock.advance(30)
        executor.run_until_idle()  # nothing is due half-way
        assert len(all_runs(db)) == k + 1
        clock.advance(30)
    executor.run_until_idle()
    clock.advance(600)
    executor.run_until_idle()
    started = all_runs(db)
    assert [r.id for r in started] == [timers.run_id_for(timer.id, k) for k in range(3)]
    assert [r.start_time for r in started] == [t0 + dt.timedelta(seconds=60 * k) for k in range(3)]
    assert {(r.run_owner, r.label, tuple(r.tags), r.status, r.flow_id) for r in started} == {
        (owner, "tick", ("timer",), "SUCCEEDED", flow_id)
    }
    assert all(r.input == {"n": 1} and r.context["username"] == "ada@example.org" for r in started)
    done = timer_state(db, timer.id)
    assert (done.status, done.number_of_runs, done.number_of_errors, done.next_run) == ("ended", 3, 0, None)
    assert done.last_ran_at == t0 + dt.timedelta(seconds=120)
    assert [(r.occurrence, r.status, r.missed) for r in results(db, timer.id)] == [
        (0, "started", 0),
        (1, "started", 0),
        (2, "started", 0),
    ]
    assert timer_items(db) == []


def test_recurring_timer_ends_at_its_time(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer
):
    t0 = clock.now()
    end = (t0 + dt.timedelta(seconds=150)).isoformat()
    timer = make_timer(
        {"type": "recurring", "interval_seconds": 60, "end": {"condition": "time", "datetime": end}}
    )
    for _ in range(6):
        executor.run_until_idle()
        clock.advance(60)
    assert [r.start_time for r in all_runs(db)] == [t0 + dt.timedelta(seconds=s) for s in (0, 60, 120)]
    assert timer_state(db, timer.id).status == "ended"
    assert timer_items(db) == []


def test_once_timer_fires_at_its_time_only(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer
):
    when = clock.now() + dt.timedelta(hours=1)
    timer = make_timer({"type": "once", "datetime": when.isoformat()})
    clock.advance(3599)
    executor.run_until_idle()
    assert all_runs(db) == []
    assert executor.next_due_at() == when  # the executor's own wake-up
    clock.advance(1)
    executor.run_until_idle()
    clock.advance(86400)
    executor.run_until_idle()
    [run] = all_runs(db)
    assert run.start_time == when
    state = timer_state(db, timer.id)
    assert (state.status, state.number_of_runs) == ("ended", 1)


def test_occurrences_missed_while_no_worker_ran_fire_once(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer
):
    t0 = clock.now()
    timer = make_timer(
        {"type": "recurring", "interval_seconds": 60, "end": {"condition": "iterations", "count": 3}}
    )
    executor.run_until_idle()  # occurrence 0
    clock.advance(10 * 60 + 5)  # every worker down for ten minutes
    executor.run_until_idle()
    executor.run_until_idle()
    assert [r.start_time for r in all_runs(db)] == [t0, t0 + dt.timedelta(seconds=605)]
    [first, late] = results(db, timer.id)
    assert (late.occurrence, late.due_at, late.missed) == (10, t0 + dt.timedelta(seconds=600), 9)
    state = timer_state(db, timer.id)
    # the skipped occurrences do not count towards the end: one more run is left, on the grid
    assert (state.number_of_runs, state.number_of_missed, state.next_occurrence) == (2, 9, 11)
    assert state.next_run == t0 + dt.timedelta(seconds=660)
    clock.advance(55)
    executor.run_until_idle()
    assert len(all_runs(db)) == 3 and timer_state(db, timer.id).status == "ended"


def test_a_start_in_the_past_fires_the_latest_occurrence_at_once(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer
):
    t0 = clock.now()
    start = (t0 - dt.timedelta(seconds=150)).isoformat()
    timer = make_timer({"type": "recurring", "interval_seconds": 60, "start": start})
    assert (timer.next_occurrence, timer.next_run) == (2, t0 - dt.timedelta(seconds=30))
    executor.run_until_idle()
    assert len(all_runs(db)) == 1
    assert timer_state(db, timer.id).next_run == t0 + dt.timedelta(seconds=30)
    assert results(db, timer.id)[0].missed == 0


def test_pause_and_resume(db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer):
    t0 = clock.now()
    timer = make_timer({"type": "recurring", "interval_seconds": 60})
    executor.run_until_idle()
    paused = db.transact(lambda conn: timers.pause_timer(conn, timer_state(db, timer.id), now=clock.now()))
    assert (paused.status, paused.inactive_reason, paused.next_run) == (
        "inactive",
        {"cause": "user", "detail": None},
        None,
    )
    assert timer_items(db) == []
    clock.advance(300)
    executor.run_until_idle()
    assert len(all_runs(db)) == 1
    clock.advance(10)  # t0 + 310
    resumed = db.transact(lambda conn: timers.resume_timer(conn, timer_state(db, timer.id), now=clock.now()))
    assert (resumed.status, resumed.inactive_reason) == ("loaded", None)
    assert resumed.next_run == t0 + dt.timedelta(seconds=360)  # the next occurrence: no catch-up on resume
    executor.run_until_idle()
    assert len(all_runs(db)) == 1
    clock.advance(50)
    executor.run_until_idle()
    assert len(all_runs(db)) == 2
    assert [r.occurrence for r in results(db, timer.id)] == [0, 6]
    assert timer_state(db, timer.id).number_of_missed == 0  # paused occurrences are not "missed"


def _break(db: Database, how: str, flow_id: uuid.UUID, clock: FakeClock) -> None:
    with db.begin() as conn:
        if how == "deleted":
            store_flows.delete_flow(conn, flow_id=flow_id, now=clock.now())
        elif how == "input":
            store_flows.update_flow(
                conn,
                flow_id=flow_id,
                changes={"input_schema": {**SCHEMA, "required": ["n", "m"]}},
                now=clock.now(),
            )
        else:  # the owner no longer holds a role that lets them start it
            other = ensure_identity(conn, "bob@example.org", now=clock.now())
            store_flows.update_flow(
                conn,
                flow_id=flow_id,
                changes={"flow_owner": f"urn:globus:auth:identity:{other.id}", "flow_viewers": ["public"]},
                now=clock.now(),
            )


@pytest.mark.parametrize(
    ("how", "code"), [("deleted", "FLOW_NOT_FOUND"), ("input", "FLOW_INPUT_ERROR"), ("role", "FORBIDDEN")]
)
def test_a_timer_whose_run_cannot_start_becomes_inactive(
    db: Database,
    executor: Executor,
    clock: FakeClock,
    make_timer: MakeTimer,
    flow_id: uuid.UUID,
    how: str,
    code: str,
):
    timer = make_timer({"type": "recurring", "interval_seconds": 60})
    executor.run_until_idle()
    _break(db, how, flow_id, clock)
    clock.advance(60)
    executor.run_until_idle()
    for _ in range(5):  # it does not retry
        clock.advance(60)
        executor.run_until_idle()
    assert len(all_runs(db)) == 1
    state = timer_state(db, timer.id)
    assert state.status == "inactive" and state.inactive_reason is not None
    assert state.inactive_reason["cause"] == "error"
    assert state.inactive_reason["detail"]["code"] == code
    assert (state.number_of_runs, state.number_of_errors, state.next_run) == (1, 1, None)
    last = results(db, timer.id)[-1]
    assert (last.occurrence, last.status, last.run_id, last.error["code"]) == (1, "error", None, code)
    assert timer_items(db) == []


def test_owner_started_through_a_group_role(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer, flow_id: uuid.UUID, owner: str
):
    with db.begin() as conn:
        group = ensure_group(conn, "lab", now=clock.now())
        add_group_member(conn, group_id=group.id, identity_id=uuid.UUID(owner.rsplit(":", 1)[1]))
        other = ensure_identity(conn, "bob@example.org", now=clock.now())
        store_flows.update_flow(
            conn,
            flow_id=flow_id,
            changes={
                "flow_owner": f"urn:globus:auth:identity:{other.id}",
                "flow_starters": [f"urn:globus:groups:id:{group.id}"],
            },
            now=clock.now(),
        )
    make_timer({"type": "once"})
    executor.run_until_idle()
    [run] = all_runs(db)
    assert run.run_owner == owner


def test_a_lost_lease_neither_loses_nor_doubles_an_occurrence(
    db: Database, make_executor: Callable[..., Executor], clock: FakeClock, make_timer: MakeTimer
):
    first = make_executor(owner="first", lease_seconds=10)
    second = make_executor(owner="second", lease_seconds=10)
    timer = make_timer({"type": "recurring", "interval_seconds": 60})
    [item] = first.claim(limit=5)  # the first worker takes the item, then dies before firing
    assert item.timer_id == timer.id
    assert second.tick() == 0  # leased: nobody else fires it
    clock.advance(11)
    assert second.tick() == 2  # the lease expired: the second worker fires occurrence 0 (and steps its run)
    first.process(item)  # the first worker wakes up and fires with its stale lease: discarded
    assert [r.id for r in all_runs(db)] == [timers.run_id_for(timer.id, 0)]
    assert [r.occurrence for r in results(db, timer.id)] == [0]
    [left] = timer_items(db)
    assert (left.lease_owner, left.due_at) == (None, timer.next_run + dt.timedelta(seconds=60))


def test_a_change_while_firing_wins_over_the_firing(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer
):
    timer = make_timer({"type": "recurring", "interval_seconds": 60})
    [item] = executor.claim(limit=5)
    db.transact(lambda conn: timers.pause_timer(conn, timer_state(db, timer.id), now=clock.now()))
    executor.process(item)
    assert all_runs(db) == [] and results(db, timer.id) == [] and timer_items(db) == []
    assert timer_state(db, timer.id).status == "inactive"


def test_a_firing_rolled_back_leaves_nothing_and_fires_again(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer, monkeypatch: pytest.MonkeyPatch
):
    """A crash between the run's insert and the commit (here: an error in the result's insert) leaves no run:
    the occurrence fires again, once, when the item is retried."""
    timer = make_timer({"type": "once"})
    real = store_timers.commit_fire
    calls = {"n": 0}

    def crash_once(conn: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("killed while firing")
        return real(conn, **kwargs)

    monkeypatch.setattr(store_timers, "commit_fire", crash_once)
    executor.run_until_idle()
    assert all_runs(db) == []  # rolled back with the failed commit
    [item] = timer_items(db)
    assert item.due_at == clock.now() + dt.timedelta(seconds=1)  # retried after a back-off
    clock.advance(1)
    executor.run_until_idle()
    assert [r.id for r in all_runs(db)] == [timers.run_id_for(timer.id, 0)]
    assert timer_state(db, timer.id).status == "ended"


def test_deleting_a_timer_drops_its_item_and_results(
    db: Database, executor: Executor, clock: FakeClock, make_timer: MakeTimer
):
    timer = make_timer({"type": "recurring", "interval_seconds": 60})
    executor.run_until_idle()
    assert db.transact(lambda conn: store_timers.delete_timer(conn, timer.id))
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(timer_runs)).scalar_one() == 0
    assert timer_items(db) == []
    assert len(all_runs(db)) == 1  # the runs it started stay


# --- transfer timers ----------------------------------------------------------------------------------------


@pytest.fixture
def transfer_executor(
    db: Database, settings: Settings, clock: FakeClock, tmp_path: Path, owner: str
) -> tuple[Executor, dict[str, Any]]:
    runner = ActionRunner(db, clock=clock, inline=True)
    providers = create_builtin_providers(db, ProviderSettings.from_env(tmp_path), runner=runner, clock=clock)
    registry = ProviderRegistry(providers, base_urls=["http://openflows.test"])
    executor = Executor(db, settings, registry=registry, clock=clock, threads=1)
    roots = {}
    for name in ("src", "dst"):
        root = tmp_path / name
        root.mkdir()
        collection_id = uuid.uuid4()
        db.transact(
            add_collection,
            collection_id=collection_id,
            name=name,
            root=root.resolve(),
            now=clock.now(),
            owner=owner,  # the timer's owner, whom its transfers act for
        )
        roots[name] = (collection_id, root)
    return executor, roots


def test_transfer_timer_syncs_new_files_on_each_firing(
    db: Database, clock: FakeClock, owner: str, transfer_executor: tuple[Executor, dict[str, Any]]
):
    executor, roots = transfer_executor
    (src_id, src), (dst_id, dst) = roots["src"], roots["dst"]
    (src / "one.txt").write_text("1")
    body = {
        "DATA_TYPE": "transfer",
        "source_endpoint": str(src_id),
        "destination_endpoint": str(dst_id),
        "DATA": [
            {
                "DATA_TYPE": "transfer_item",
                "source_path": "/",
                "destination_path": "/mirror/",
                "recursive": True,
            }
        ],
        "sync_level": 1,
        "label": "sync",
    }
    timer = db.transact(
        lambda conn: timers.create_timer(
            conn,
            timer_id=uuid.uuid4(),
            owner=owner,
            name="sync",
            timer_type="transfer",
            flow_id=None,
            body=body,
            schedule=parse_schedule(
                {"type": "recurring", "interval_seconds": 60}, now=clock.now(), min_interval_seconds=1
            ),
            now=clock.now(),
        )
    )
    executor.run_until_idle()
    assert (dst / "mirror" / "one.txt").read_text() == "1"
    (src / "two.txt").write_text("2")
    clock.advance(60)
    executor.run_until_idle()
    assert sorted(p.name for p in (dst / "mirror").iterdir()) == ["one.txt", "two.txt"]
    with db.read() as conn:
        tasks = list(conn.execute(sa.select(provider_actions).order_by(provider_actions.c.start_time)))
    assert [t.request_id for t in tasks] == [f"timer/{timer.id}/0", f"timer/{timer.id}/1"]
    assert [t.creator_id for t in tasks] == [owner, owner]
    assert [t.status for t in tasks] == ["SUCCEEDED", "SUCCEEDED"]
    # the second firing copied only the new file (sync level 1: same size is skipped)
    assert (tasks[1].details["files_transferred"], tasks[1].details["files_skipped"]) == (1, 1)
    assert [r.action_id for r in results(db, timer.id)] == [t.id for t in tasks]
    with db.read() as conn:
        recent = store_timers.recent_results(conn, [timer.id])[timer.id]
    assert [r.current_status for r in recent] == ["SUCCEEDED", "SUCCEEDED"]


def test_transfer_timer_with_a_removed_collection_becomes_inactive(
    db: Database, clock: FakeClock, owner: str, transfer_executor: tuple[Executor, dict[str, Any]]
):
    executor, roots = transfer_executor
    body = {
        "source_endpoint": str(uuid.uuid4()),
        "destination_endpoint": str(roots["dst"][0]),
        "DATA": [{"source_path": "/", "destination_path": "/", "recursive": True}],
    }
    timer = db.transact(
        lambda conn: timers.create_timer(
            conn,
            timer_id=uuid.uuid4(),
            owner=owner,
            name="broken",
            timer_type="transfer",
            flow_id=None,
            body=body,
            schedule=parse_schedule({"type": "once"}, now=clock.now(), min_interval_seconds=1),
            now=clock.now(),
        )
    )
    executor.run_until_idle()
    state = timer_state(db, timer.id)
    assert state.status == "inactive"
    assert state.inactive_reason["detail"]["code"] == "UnknownCollection"
    assert results(db, timer.id)[0].status == "error"


def test_transfer_timer_acts_as_its_owner_with_their_groups(
    db: Database, settings: Settings, clock: FakeClock, owner: str, tmp_path: Path
):
    """Collection permissions are checked against the timer's owner as they are now: a rule for a group the
    owner belongs to lets the timer's transfers through; once the rule is revoked, the next firing cannot
    start and the timer becomes inactive."""
    runner = ActionRunner(db, clock=clock, inline=True)
    providers = create_builtin_providers(db, ProviderSettings.from_env(tmp_path), runner=runner, clock=clock)
    executor = Executor(
        db,
        settings,
        registry=ProviderRegistry(providers, base_urls=["http://openflows.test"]),
        clock=clock,
        threads=1,
    )
    keeper = db.transact(lambda conn: ensure_identity(conn, "keeper@example.org", now=clock.now()))
    lab = db.transact(lambda conn: ensure_group(conn, "lab", now=clock.now()))
    owner_id = uuid.UUID(owner.rsplit(":", 1)[1])
    db.transact(lambda conn: add_group_member(conn, group_id=lab.id, identity_id=owner_id))
    lab_urn = f"urn:globus:groups:id:{lab.id}"
    ids = {}
    for name, permissions in (("src", "r"), ("dst", "rw")):
        (tmp_path / name).mkdir()
        ids[name] = uuid.uuid4()
        db.transact(
            add_collection,
            collection_id=ids[name],
            name=name,
            root=(tmp_path / name).resolve(),
            now=clock.now(),
            owner=f"urn:globus:auth:identity:{keeper.id}",  # not the timer's owner
        )
        db.transact(
            lambda conn, name=name, permissions=permissions: insert_rule(
                conn, ids[name], principal=lab_urn, path=(), permissions=permissions, now=clock.now()
            )
        )
    (tmp_path / "src" / "data.txt").write_text("d")
    body = {
        "source_endpoint": str(ids["src"]),
        "destination_endpoint": str(ids["dst"]),
        "DATA": [{"source_path": "/", "destination_path": "/copy/", "recursive": True}],
    }
    timer = db.transact(
        lambda conn: timers.create_timer(
            conn,
            timer_id=uuid.uuid4(),
            owner=owner,
            name="group sync",
            timer_type="transfer",
            flow_id=None,
            body=body,
            schedule=parse_schedule(
                {"type": "recurring", "interval_seconds": 60}, now=clock.now(), min_interval_seconds=1
            ),
            now=clock.now(),
        )
    )
    executor.run_until_idle()
    assert (tmp_path / "dst" / "copy" / "data.txt").read_text() == "d"
    with db.read() as conn:
        [task] = list(conn.execute(sa.select(provider_actions)))
    assert (task.creator_id, task.status) == (owner, "SUCCEEDED")

    db.transact(lambda conn: revoke_rules(conn, ids["dst"], lab_urn))
    clock.advance(60)
    executor.run_until_idle()
    state = timer_state(db, timer.id)
    assert (state.status, state.inactive_reason["cause"]) == ("inactive", "error")
    assert state.inactive_reason["detail"]["code"] == "PermissionDenied"
    assert [r.status for r in results(db, timer.id)] == ["started", "error"]
