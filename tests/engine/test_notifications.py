"""Activity notifications (real database, executor on a fake clock, the outbox and a real local SMTP server):
a run that enters a status its `activity_notification_policy` lists tells its owner once, and no one else; a
refusing SMTP server delays a message (retried with back-off) without losing it or holding up the run."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from enginekit import BASE_URL, drive, get_run, insert_run

from mailkit import SmtpSink
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.providers.config import ProviderSettings
from openflows.providers.mail import Mailer
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store import kinds
from openflows.store import notifications as store_notifications
from openflows.store import runs as store_runs
from openflows.store.db import Database
from openflows.store.identities import ensure_identity
from openflows.store.work import list_work_items

HELLO = f"{BASE_URL}/actions/hello_world"
SCOPE = "urn:globus:auth:scope:groups.api.globus.org:all"

FLOWS: dict[str, dict[str, Any]] = {
    "SUCCEEDED": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
    "FAILED": {
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "Error": "DiskFull", "Cause": "no space left on /archive"}},
    },
    "INACTIVE": {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": {"required_dependent_scope": SCOPE},
                "End": True,
            }
        },
    },
}
POLICIES: dict[str, dict[str, Any] | None] = {
    "default": None,
    "empty-object": {},
    "none": {"status": []},
    "succeeded": {"status": ["SUCCEEDED"]},
    "failed-inactive": {"status": ["FAILED", "INACTIVE"]},
    "all": {"status": ["INACTIVE", "SUCCEEDED", "FAILED"]},
}
#: what each policy asks to hear about
WANTED = {
    "default": {"INACTIVE"},
    "empty-object": {"INACTIVE"},
    "none": set(),
    "succeeded": {"SUCCEEDED"},
    "failed-inactive": {"FAILED", "INACTIVE"},
    "all": {"INACTIVE", "SUCCEEDED", "FAILED"},
}


@pytest.fixture
def alice(db: Database, clock: FakeClock) -> str:
    identity = db.transact(
        lambda conn: ensure_identity(conn, "alice", email="alice@example.org", name="Alice", now=clock.now())
    )
    return f"urn:globus:auth:identity:{identity.id}"


def outbox(settings: Settings) -> list[email.message.EmailMessage]:
    files = sorted((settings.home / "outbox").glob("*.eml"))
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]  # type: ignore[misc]


def start(
    db: Database, clock: FakeClock, outcome: str, owner: str, policy: dict[str, Any] | None
) -> uuid.UUID:
    return insert_run(
        db,
        FLOWS[outcome],
        {},
        now=clock.now(),
        owner=owner,
        label="nightly",
        activity_notification_policy=policy,
    )


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("outcome", sorted(FLOWS))
def test_a_status_change_tells_the_owner_exactly_when_the_policy_lists_it(
    db: Database,
    executor: Executor,
    clock: FakeClock,
    settings: Settings,
    alice: str,
    outcome: str,
    policy: str,
) -> None:
    run_id = start(db, clock, outcome, alice, POLICIES[policy])
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == outcome
    messages = outbox(settings)
    if outcome not in WANTED[policy]:
        assert messages == []
        return
    [message] = messages
    assert message["To"] == "Alice <alice@example.org>"
    assert message["X-OpenFlows-Recipient"] == alice
    assert message["X-OpenFlows-Run"] == str(run_id)
    assert message["X-OpenFlows-Kind"] == "activity"
    words = {"SUCCEEDED": "succeeded", "FAILED": "failed", "INACTIVE": "is waiting for you (INACTIVE)"}
    assert message["Subject"] == f'[OpenFlows] Run "nightly" of flow test flow {words[outcome]}'
    body = message.get_content()
    assert f"{executor.public_url.rstrip('/')}/ui#/runs/{run_id}" in body
    if outcome == "FAILED":
        assert "Error at state Boom: DiskFull" in body and "no space left on /archive" in body
    if outcome == "INACTIVE":
        assert SCOPE in body and "state Hello" in body


def test_each_status_change_is_told_once(
    db: Database, executor: Executor, clock: FakeClock, settings: Settings, alice: str
) -> None:
    """INACTIVE, resumed, then SUCCEEDED: two messages; driving again sends nothing more."""
    run_id = start(db, clock, "INACTIVE", alice, {"status": ["INACTIVE", "SUCCEEDED"]})
    drive(executor, clock)
    assert len(outbox(settings)) == 1
    db.transact(lambda conn: store_runs.resume_run(conn, run_id=run_id, now=clock.now()))
    drive(executor, clock)
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    subjects = sorted(m["Subject"] for m in outbox(settings))
    assert [s.rsplit(" ", 1)[-1] for s in subjects] == ["(INACTIVE)", "succeeded"]
    with db.read() as conn:
        rows = store_notifications.list_notifications(conn, run_id=run_id)
        assert [(r["kind"], r["status"], r["recipient_urn"]) for r in rows] == [
            ("activity", "sent", alice)
        ] * 2
        assert list_work_items(conn, run_id=run_id) == []


def test_update_run_changes_the_policy_of_a_running_run(
    db: Database, executor: Executor, clock: FakeClock, settings: Settings, alice: str
) -> None:
    definition = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 60, "End": True}}}
    run_id = insert_run(db, definition, {}, now=clock.now(), owner=alice)
    drive(executor, clock, max_seconds=0)
    db.transact(
        lambda conn: store_runs.update_run(
            conn,
            run_id=run_id,
            changes={"activity_notification_policy": {"status": ["SUCCEEDED"]}},
            now=clock.now(),
        )
    )
    drive(executor, clock)
    [message] = outbox(settings)
    assert message["Subject"].endswith("succeeded")


def test_canceling_tells_the_owner_when_failed_is_listed(
    db: Database, executor: Executor, clock: FakeClock, settings: Settings, alice: str
) -> None:
    definition = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 60, "End": True}}}
    run_id = insert_run(
        db, definition, {}, now=clock.now(), owner=alice, activity_notification_policy={"status": ["FAILED"]}
    )
    drive(executor, clock, max_seconds=0)
    db.transact(lambda conn: store_runs.cancel_run(conn, run_id=run_id, now=clock.now()))
    drive(executor, clock)
    [message] = outbox(settings)
    assert message["Subject"].endswith("failed")
    assert "FlowCanceled" in message.get_content()


def smtp_executor(
    db: Database, settings: Settings, registry: ProviderRegistry, clock: FakeClock, port: int
) -> Executor:
    mailer = Mailer(
        ProviderSettings(
            outbox_dir=settings.home / "outbox",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            notification_sender="flows@example.org",
        ),
        clock=clock,
    )
    return Executor(
        db,
        settings,
        registry=registry,
        clock=clock,
        threads=1,
        mailer=mailer,
        public_url="https://f.example/",
    )


def notification_rows(db: Database, run_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.read() as conn:
        return store_notifications.list_notifications(conn, run_id=run_id)


def test_a_refusing_smtp_server_delays_a_message_without_losing_it_or_the_run(
    db: Database, settings: Settings, registry: ProviderRegistry, clock: FakeClock, alice: str
) -> None:
    with SmtpSink() as sink:
        executor = smtp_executor(db, settings, registry, clock, sink.port)
        sink.refuse(3)
        run_id = start(db, clock, "SUCCEEDED", alice, {"status": ["SUCCEEDED"]})
        executor.run_until_idle()
        # the run is over at once; the message was tried once and waits for its retry
        assert get_run(db, run_id)["status"] == "SUCCEEDED"
        assert (sink.attempts, sink.received()) == (1, [])
        [row] = notification_rows(db, run_id)
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert "451" in row["last_error"]
        started = clock.now()
        drive(executor, clock)
        assert sink.attempts == 4
        [message] = sink.received()
        assert message["To"] == "Alice <alice@example.org>"
        assert message["From"] == "flows@example.org"
        assert f"https://f.example/ui#/runs/{run_id}" in message.get_content()
        # back-off 1 s, 2 s, 4 s between the tries
        assert clock.now() - started == dt.timedelta(seconds=1 + 2 + 4)
        [row] = notification_rows(db, run_id)
        assert (row["status"], row["attempts"], row["delivery"]) == ("sent", 4, "smtp:127.0.0.1")
        drive(executor, clock)
        assert len(sink.received()) == 1


def test_an_unreachable_smtp_server_is_waited_for(
    db: Database, settings: Settings, registry: ProviderRegistry, clock: FakeClock, alice: str
) -> None:
    sink = SmtpSink()  # not started yet: connections are refused
    executor = smtp_executor(db, settings, registry, clock, sink.port)
    run_id = start(db, clock, "FAILED", alice, {"status": ["FAILED"]})
    for _ in range(4):
        drive(executor, clock, max_jumps=1)
        clock.advance(10)
    [row] = notification_rows(db, run_id)
    assert row["status"] == "pending" and row["attempts"] >= 3
    with sink:
        drive(executor, clock)
        [message] = sink.received()
    assert message["Subject"].endswith("failed")
    assert notification_rows(db, run_id)[0]["status"] == "sent"


def test_a_permanent_refusal_is_given_up(
    db: Database, settings: Settings, registry: ProviderRegistry, clock: FakeClock, alice: str
) -> None:
    with SmtpSink() as sink:
        sink.refuse_code = "554 5.7.1 Rejected"
        sink.refuse(1)
        executor = smtp_executor(db, settings, registry, clock, sink.port)
        run_id = start(db, clock, "SUCCEEDED", alice, {"status": ["SUCCEEDED"]})
        drive(executor, clock)
        [row] = notification_rows(db, run_id)
        assert (row["status"], row["attempts"]) == ("failed", 1)
        assert "554" in row["last_error"]
        assert sink.attempts == 1
        with db.read() as conn:
            assert [i.kind for i in list_work_items(conn, run_id=run_id)] == []


def test_no_item_of_a_notification_is_left_behind(
    db: Database, executor: Executor, clock: FakeClock, alice: str, make_executor: Callable[..., Executor]
) -> None:
    run_id = start(db, clock, "SUCCEEDED", alice, {"status": ["SUCCEEDED"]})
    drive(executor, clock)
    with db.read() as conn:
        assert [i.kind for i in list_work_items(conn) if i.kind == kinds.NOTIFY] == []
    assert notification_rows(db, run_id)[0]["status"] == "sent"


class CountingMailer(Mailer):
    """The outbox, counting every delivery by notification (a duplicate send would show as a 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()

    def deliver(self, message: Any, *, name: str | None = None) -> str:
        with self.lock:
            self.sent[message["X-OpenFlows-Notification"]] = (
                self.sent.get(message["X-OpenFlows-Notification"], 0) + 1
            )
        return super().deliver(message, name=name)


def test_several_workers_send_each_notification_once(
    db: Database, settings: Settings, registry: ProviderRegistry, clock: FakeClock, alice: str
) -> None:
    mailer = CountingMailer(ProviderSettings(outbox_dir=settings.home / "outbox"), clock=clock)
    run_ids = [start(db, clock, "SUCCEEDED", alice, {"status": ["SUCCEEDED"]}) for _ in range(12)]
    workers = [
        Executor(db, settings, registry=registry, clock=clock, threads=2, owner=f"worker-{i}", mailer=mailer)
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
        worker.wake()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = [row for run_id in run_ids for row in notification_rows(db, run_id)]
            if len(rows) == 12 and all(row["status"] == "sent" for row in rows):
                break
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.stop()
    assert [row["status"] for row in rows] == ["sent"] * 12
    assert sorted(mailer.sent.values()) == [1] * 12
    assert len(list((settings.home / "outbox").glob("*.eml"))) == 12
