"""Web inputs in the engine (real database, executor on a fake clock): a CreateWebInput state opens a web
input in the step's transaction, an AwaitWebInput state waits for its answer (made due at once by the answer),
WaitTime ends the wait with a catchable WebInputTimeout, ended and canceled runs close their web inputs, and
each respondent is told once."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from enginekit import drive, get_run, log_codes

from openflows.engine.executor import Executor
from openflows.language.webinputs import option_id
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store import kinds
from openflows.store import notifications as store_notifications
from openflows.store import runs as store_runs
from openflows.store import web_inputs as store_web_inputs
from openflows.store.claims import claim_work_items
from openflows.store.db import Database
from openflows.store.identities import add_group_member, ensure_group, ensure_identity
from openflows.store.schema import web_inputs
from openflows.store.work import list_work_items, release_leases

Identity = Callable[..., str]


@pytest.fixture
def person(db: Database, clock: FakeClock) -> Identity:
    """`person("bob")` -> the identity URN of a new identity bob@example.org."""

    def make(username: str, *, email_address: str | None = None, groups: tuple[str, ...] = ()) -> str:
        def create(conn: Any) -> str:
            identity = ensure_identity(conn, username, email=email_address, now=clock.now())
            for name in groups:
                group = ensure_group(conn, name, now=clock.now())
                add_group_member(conn, group_id=group.id, identity_id=identity.id)
            return f"urn:globus:auth:identity:{identity.id}"

        return db.transact(create)

    return make


def group_urn(db: Database, name: str, clock: FakeClock) -> str:
    group = db.transact(lambda conn: ensure_group(conn, name, now=clock.now()))
    return f"urn:globus:groups:id:{group.id}"


def ask(respondents: list[str], viewers: list[str] | None = None, **await_fields: Any) -> dict[str, Any]:
    """A flow that asks `respondents` to approve and waits for the answer at $.answer."""
    return {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": {
                    "context": {
                        "title": "Approve the transfer?",
                        "presentation_style": "text",
                        "text.$": "$.why",
                    },
                    "options": [{"label": "Approve"}, {"label": "Reject", "description": "Stop here"}],
                    "roles": {"respondent_urns": respondents, "viewer_urns": viewers or []},
                },
                "ResultPath": "$.web_input",
                "Next": "Wait",
            },
            "Wait": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.web_input.id"},
                "ResultPath": "$.answer",
                **await_fields,
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }


def web_input_rows(db: Database, run_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(web_inputs).where(web_inputs.c.run_id == run_id))
        return [dict(row._mapping) for row in rows]


def answer(db: Database, web_input_id: Any, index: int, respondent: str, clock: FakeClock) -> dict[str, Any]:
    key = uuid.UUID(str(web_input_id))
    return db.transact(
        lambda conn: store_web_inputs.respond(
            conn,
            web_input_id=key,
            value=option_id(str(key), index),
            respondent_urn=respondent,
            now=clock.now(),
        )
    )


def outbox(settings: Settings) -> list[email.message.EmailMessage]:
    files = sorted((settings.home / "outbox").glob("*.eml"))
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]  # type: ignore[misc]


def test_a_run_waits_for_the_answer_and_continues_with_it(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    bob = person("bob", email_address="bob@example.org")
    run_id = start_run(ask([bob]), {"why": "nightly archive"})
    drive(executor, clock, max_seconds=0)

    run = get_run(db, run_id)
    assert run["status"] == "ACTIVE"
    [row] = web_input_rows(db, run_id)
    assert run["cursor"]["web_input"] == {"id": str(row["id"]), "deadline": None}
    assert (row["status"], row["title"], row["state_name"], row["respondent_urns"]) == (
        "open",
        "Approve the transfer?",
        "Ask",
        [bob],
    )
    assert row["document"]["context"]["text"] == "nightly archive"
    assert run["run_state"]["web_input"]["id"] == str(row["id"])
    # the run sleeps: its item is due in a day (the safety net), not now
    [item] = [i for i in list_work_items_of(db, run_id) if i.kind == kinds.WEB_INPUT]
    assert item.due_at == clock.now() + dt.timedelta(days=1)

    clock.advance(30)
    answer(db, row["id"], 1, bob, clock)
    [item] = [i for i in list_work_items_of(db, run_id) if i.kind == kinds.WEB_INPUT]
    assert item.due_at == clock.now()  # the answer made it due
    drive(executor, clock, max_seconds=0)

    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["run_state"]["answer"] == {
        "web_input_id": str(row["id"]),
        "value": option_id(str(row["id"]), 1),
        "option": {"option_id": option_id(str(row["id"]), 1), "label": "Reject", "description": "Stop here"},
        "respondent_urn": bob,
        "response_timestamp": clock.now().isoformat(),
    }
    assert log_codes(db, run_id) == [
        "FlowStarted",
        "CreateWebInputStarted",
        "CreateWebInputCompleted",
        "AwaitWebInputStarted",
        "AwaitWebInputCompleted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]
    [row] = web_input_rows(db, run_id)
    assert (row["status"], row["close_reason"]) == ("closed", "answered")


def list_work_items_of(db: Database, run_id: uuid.UUID) -> list[Any]:
    with db.read() as conn:
        return list_work_items(conn, run_id=run_id)


def test_an_answer_given_before_the_await_is_taken_at_once(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    bob = person("bob")
    definition = ask([bob])
    definition["States"]["Ask"]["Next"] = "Nap"
    definition["States"]["Nap"] = {"Type": "Wait", "Seconds": 3600, "Next": "Wait"}
    run_id = start_run(definition, {"why": "x"})
    drive(executor, clock, max_seconds=0)
    [row] = web_input_rows(db, run_id)
    answer(db, row["id"], 0, bob, clock)
    clock.advance(3600)
    drive(executor, clock, max_seconds=0)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["run_state"]["answer"]["option"]["label"] == "Approve"


def test_wait_time_fails_the_await_with_a_catchable_error_and_closes_the_web_input(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    bob = person("bob")
    definition = ask(
        [bob],
        WaitTime=600,
        Catch=[{"ErrorEquals": ["WebInputTimeout"], "ResultPath": "$.late", "Next": "Late"}],
    )
    definition["States"]["Late"] = {"Type": "Pass", "End": True}
    run_id = start_run(definition, {"why": "x"})
    drive(executor, clock, max_seconds=0)
    started = clock.now()
    clock.advance(599)
    drive(executor, clock, max_seconds=0)
    assert get_run(db, run_id)["status"] == "ACTIVE"
    drive(executor, clock)  # to the deadline
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert clock.now() - started == dt.timedelta(seconds=600)
    assert run["run_state"]["late"]["Error"] == "WebInputTimeout"
    assert "ExceptionCaught" in log_codes(db, run_id)
    [row] = web_input_rows(db, run_id)
    assert (row["status"], row["close_reason"], row["response"]) == ("closed", "timeout", None)
    with pytest.raises(store_web_inputs.WebInputClosed):
        answer(db, row["id"], 0, bob, clock)


def test_an_uncaught_timeout_fails_the_run(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    run_id = start_run(ask([person("bob")], WaitTime=5), {"why": "x"})
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "FAILED"
    assert run["details"]["details"]["error"] == "WebInputTimeout"
    assert run["details"]["details"]["state_name"] == "Wait"


def test_a_run_may_open_several_web_inputs_and_await_them_later(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    bob, carol = person("bob"), person("carol")
    context = {"title": "Which?", "presentation_style": "table", "rows": [{"field": "size", "value": 3}]}
    options = [{"label": "A"}, {"label": "B"}]
    definition = {
        "StartAt": "AskBob",
        "States": {
            "AskBob": {
                "Type": "CreateWebInput",
                "Parameters": {"context": context, "options": options, "roles": {"respondent_urns": [bob]}},
                "ResultPath": "$.bob",
                "Next": "AskCarol",
            },
            "AskCarol": {
                "Type": "CreateWebInput",
                "Parameters": {"context": context, "options": options, "roles": {"respondent_urns": [carol]}},
                "ResultPath": "$.carol",
                "Next": "AwaitCarol",
            },
            "AwaitCarol": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.carol.id"},
                "ResultPath": "$.carol_says",
                "Next": "AwaitBob",
            },
            "AwaitBob": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.bob.id"},
                "ResultPath": "$.bob_says",
                "End": True,
            },
        },
    }
    run_id = start_run(definition, {})
    drive(executor, clock, max_seconds=0)
    state = get_run(db, run_id)["run_state"]
    assert state["bob"]["id"] != state["carol"]["id"]
    assert state["bob"]["context"]["rows"] == [{"field": "size", "value": "3"}]
    answer(db, state["bob"]["id"], 1, bob, clock)
    drive(executor, clock, max_seconds=0)
    assert get_run(db, run_id)["cursor"]["web_input"]["id"] == state["carol"]["id"]
    answer(db, state["carol"]["id"], 0, carol, clock)
    drive(executor, clock, max_seconds=0)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert (
        run["run_state"]["bob_says"]["option"]["label"],
        run["run_state"]["carol_says"]["option"]["label"],
    ) == (
        "B",
        "A",
    )


def test_canceling_a_run_closes_its_open_web_inputs(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    bob = person("bob", email_address="bob@example.org")
    run_id = start_run(ask([bob]), {"why": "x"})
    drive(executor, clock, max_seconds=0)
    db.transact(lambda conn: store_runs.cancel_run(conn, run_id=run_id, now=clock.now()))
    [row] = web_input_rows(db, run_id)
    assert (row["status"], row["close_reason"]) == ("closed", "run_ended")
    assert get_run(db, run_id)["cursor"]["web_input"]["id"] == str(row["id"])  # kept, but the run ended


def test_an_ending_run_closes_the_web_inputs_nobody_awaited(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    definition = ask([person("bob")])
    definition["States"]["Ask"]["Next"] = "Done"
    del definition["States"]["Wait"]
    run_id = start_run(definition, {"why": "x"})
    drive(executor, clock, max_seconds=0)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    [row] = web_input_rows(db, run_id)
    assert (row["status"], row["close_reason"]) == ("closed", "run_ended")


@pytest.mark.parametrize(
    ("parameters", "cause"),
    [
        ({"context": {"title": "t", "presentation_style": "text"}, "options": [{"label": "a"}]}, "roles"),
        (
            {
                "context": {"title": "t", "presentation_style": "text"},
                "options": [{"label": "a"}],
                "roles": {"respondent_urns": []},
            },
            "at least one",
        ),
        (
            {
                "context": {"title": "t", "presentation_style": "slides"},
                "options": [{"label": "a"}],
                "roles": {
                    "respondent_urns": ["urn:globus:auth:identity:00000000-0000-4000-8000-000000000001"]
                },
            },
            "presentation_style",
        ),
        (
            {
                "context": {"title": "t", "presentation_style": "text"},
                "options": [],
                "roles": {
                    "respondent_urns": ["urn:globus:auth:identity:00000000-0000-4000-8000-000000000001"]
                },
            },
            "options",
        ),
    ],
)
def test_a_bad_web_input_fails_the_state_catchably(
    db: Database,
    executor: Executor,
    start_run: Callable[..., uuid.UUID],
    clock: FakeClock,
    parameters: dict[str, Any],
    cause: str,
) -> None:
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": parameters,
                "Catch": [{"ErrorEquals": ["States.Runtime"], "ResultPath": "$.error", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {})
    drive(executor, clock, max_seconds=0)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert cause in run["run_state"]["error"]["Cause"]
    assert web_input_rows(db, run_id) == []


def test_awaiting_a_web_input_of_another_run_fails_with_web_input_not_found(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    bob = person("bob")
    first = start_run(ask([bob]), {"why": "x"})
    drive(executor, clock, max_seconds=0)
    [other] = web_input_rows(db, first)
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "AwaitWebInput", "Parameters": {"WebInputId": str(other["id"])}, "End": True}
        },
    }
    second = start_run(definition, {})
    drive(executor, clock, max_seconds=0)
    run = get_run(db, second)
    assert run["status"] == "FAILED"
    assert run["details"]["details"]["error"] == "WebInputNotFound"


def test_each_respondent_is_told_once_with_a_link(
    db: Database,
    executor: Executor,
    start_run: Callable[..., uuid.UUID],
    clock: FakeClock,
    person: Identity,
    settings: Settings,
) -> None:
    bob = person("bob", email_address="bob@example.org")
    person("dora", email_address="dora@example.org", groups=("reviewers",))
    person("erin", groups=("reviewers",))  # no email address: the outbox keeps it, addressed to nobody
    reviewers = group_urn(db, "reviewers", clock)
    stranger = "urn:globus:auth:identity:00000000-0000-4000-8000-0000000000ff"  # unknown here: skipped
    viewer = person("vic", email_address="vic@example.org")
    run_id = start_run(ask([bob, reviewers, stranger], viewers=[viewer]), {"why": "the nightly archive"})
    drive(executor, clock, max_seconds=0)
    [row] = web_input_rows(db, run_id)
    messages = outbox(settings)
    assert sorted(m["To"] for m in messages) == [
        "bob <bob@example.org>",
        "dora <dora@example.org>",
        "undisclosed-recipients:;",
    ]
    link = f"{executor.public_url.rstrip('/')}/ui#/web-inputs/{row['id']}"
    for message in messages:
        assert message["Subject"] == "[OpenFlows] Your answer is needed: Approve the transfer?"
        assert message["X-OpenFlows-Kind"] == "web_input"
        assert message["X-OpenFlows-Link"] == link
        body = message.get_content()
        assert link in body and "the nightly archive" in body and "Approve, Reject" in body
    # nothing more on a second pass, nor once the run has ended
    clock.advance(5)
    answer(db, row["id"], 0, bob, clock)
    drive(executor, clock, max_seconds=0)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    assert len(outbox(settings)) == 3
    with db.read() as conn:
        sent = store_notifications.list_notifications(conn, run_id=run_id, kind="web_input")
    assert [n["status"] for n in sent] == ["sent"] * 3


def test_a_notification_neither_waits_for_nor_holds_up_its_run(
    db: Database, start_run: Callable[..., uuid.UUID], clock: FakeClock, executor: Executor, person: Identity
) -> None:
    bob = person("bob", email_address="bob@example.org")
    run_id = start_run(ask([bob]), {"why": "x"})
    # the first step commits the web input and its notification; the run's next item is due too
    executor.tick(limit=1)
    with db.read() as conn:
        pending = {i.kind for i in list_work_items(conn, run_id=run_id)}
    assert {kinds.NOTIFY, kinds.WEB_INPUT} <= pending
    with db.begin() as conn:
        notify = claim_work_items(conn, owner="mailer", now=clock.now(), lease_seconds=60, limit=10)
    assert {i.kind for i in notify} == {kinds.NOTIFY, kinds.WEB_INPUT}
    with db.begin() as conn:  # give the run's item back: the notification stays leased (being sent)
        release_leases(conn, owner="mailer", item_ids=[i.id for i in notify if i.kind != kinds.NOTIFY])
        claimed = claim_work_items(conn, owner="engine", now=clock.now(), lease_seconds=60, limit=10)
    assert [i.kind for i in claimed] == [kinds.WEB_INPUT]


def test_outbox_files_are_named_after_the_notification(tmp_path: Path) -> None:
    """A second delivery of the same notification (after a crash between sending and recording it) replaces
    the outbox file instead of adding a copy."""
    from openflows.engine import notices
    from openflows.providers.config import ProviderSettings
    from openflows.providers.mail import Mailer

    row = {
        "id": uuid.uuid4(),
        "kind": "activity",
        "run_id": uuid.uuid4(),
        "recipient_urn": "urn:globus:auth:identity:00000000-0000-4000-8000-000000000001",
        "payload": {"status": "SUCCEEDED", "run_id": "r", "flow_title": "F"},
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    mailer = Mailer(ProviderSettings(outbox_dir=tmp_path))
    for _ in range(2):
        message = notices.render(row, base_url="http://h/", sender="s@h", address="a@h", name="A")
        mailer.deliver(message, name=notices.file_name(row))
    [only] = list(tmp_path.iterdir())
    assert only.name == f"notification-{row['id']}.eml"


def test_a_timeout_replayed_after_a_crash_is_still_a_timeout(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    """The handler closes the timed-out web input in its own transaction; if the step then never commits (a
    crash), the replayed item must still see a timeout (not `WebInputClosed`)."""
    definition = ask(
        [person("bob")],
        WaitTime=60,
        Catch=[{"ErrorEquals": ["WebInputTimeout"], "ResultPath": "$.late", "Next": "Done"}],
    )
    run_id = start_run(definition, {"why": "x"})
    drive(executor, clock, max_seconds=0)
    clock.advance(60)
    [row] = web_input_rows(db, run_id)
    db.transact(
        lambda conn: store_web_inputs.close_web_input(
            conn, row["id"], now=clock.now(), reason=store_web_inputs.TIMED_OUT
        )
    )
    drive(executor, clock, max_seconds=0)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["run_state"]["late"]["Error"] == "WebInputTimeout"


def test_a_redriven_wait_gets_its_question_open_again(
    db: Database, executor: Executor, start_run: Callable[..., uuid.UUID], clock: FakeClock, person: Identity
) -> None:
    """Issue 19: a run that failed waiting (WebInputTimeout) is redriven at its AwaitWebInput state; the web
    input its end closed is open again (a new WaitTime), and an answer then finishes the run. The
    CreateWebInput state before it is not run again (no second web input)."""
    from test_redrive import redrive

    bob = person("bob")
    run_id = start_run(ask([bob], WaitTime=60), {"why": "approve"})
    drive(executor, clock, max_seconds=120)
    failed = get_run(db, run_id)
    assert failed["status"] == "FAILED" and failed["details"]["details"]["error"] == "WebInputTimeout"
    [row] = web_input_rows(db, run_id)
    assert row["status"] == "closed" and row["close_reason"] == store_web_inputs.TIMED_OUT

    redrive(db, run_id, clock.now())
    [row] = web_input_rows(db, run_id)
    assert row["status"] == "open" and row["closed_at"] is None and row["close_reason"] is None
    drive(executor, clock, max_seconds=0)
    assert get_run(db, run_id)["status"] == "ACTIVE"
    answer(db, row["id"], 0, bob, clock)
    drive(executor, clock, max_seconds=0)
    done = get_run(db, run_id)
    assert done["status"] == "SUCCEEDED", done["details"]
    assert done["details"]["output"]["answer"]["value"] == option_id(str(row["id"]), 0)
    codes = log_codes(db, run_id)
    assert codes.count("CreateWebInputStarted") == 1 and codes.count("AwaitWebInputStarted") == 2
