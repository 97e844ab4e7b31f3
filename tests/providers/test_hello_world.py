"""The built-in hello_world provider, in-process and over HTTP (a real FastAPI app with real tokens)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from openflows.auth.tokens import Authenticator, create_token
from openflows.providers.base import (
    ActionConflict,
    ActionNotFound,
    BadActionRequest,
    Caller,
    ForbiddenRequest,
    ProviderRegistry,
)
from openflows.providers.hello_world import HELLO_WORLD_SCOPE, HelloWorldProvider
from openflows.providers.http import create_provider_router
from openflows.shared.clock import FakeClock
from openflows.shared.urns import identity_urn
from openflows.store.db import Database
from openflows.store.identities import ensure_identity
from openflows.store.schema import provider_actions

with warnings.catch_warnings():  # starlette deprecates httpx in favour of httpx2, which is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ALICE = Caller("urn:globus:auth:identity:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
BOB = Caller("urn:globus:auth:identity:bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 5, 1, tzinfo=dt.UTC))


@pytest.fixture
def hello(db: Database, clock: FakeClock) -> HelloWorldProvider:
    return HelloWorldProvider(db, clock=clock)


def test_immediate_success_echoes(hello: HelloWorldProvider):
    doc, created = hello.run({"request_id": "r1", "body": {"echo_string": "hey"}}, ALICE)
    assert created
    assert doc["status"] == "SUCCEEDED"
    assert doc["details"] == {"Hello": "World", "hello": "hey"}
    assert doc["creator_id"] == ALICE.identity
    assert doc["completion_time"] == doc["start_time"]


def test_run_is_idempotent_on_creator_and_request_id(hello: HelloWorldProvider, db: Database):
    first, created1 = hello.run({"request_id": "same", "body": {"sleep_time": 10}}, ALICE)
    second, created2 = hello.run({"request_id": "same", "body": {"sleep_time": 10}}, ALICE)
    assert (created1, created2) == (True, False)
    assert first["action_id"] == second["action_id"]
    other, created3 = hello.run({"request_id": "same", "body": {"sleep_time": 10}}, BOB)
    assert created3 and other["action_id"] != first["action_id"]
    with pytest.raises(ActionConflict):
        hello.run({"request_id": "same", "body": {"sleep_time": 11}}, ALICE)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar_one() == 2


def test_sleep_time_keeps_the_action_active_until_due(hello: HelloWorldProvider, clock: FakeClock):
    doc, _ = hello.run({"request_id": "s", "body": {"sleep_time": 30, "echo_string": "late"}}, ALICE)
    assert doc["status"] == "ACTIVE"
    assert hello.next_change_at(doc["action_id"]) == clock.now() + dt.timedelta(seconds=30)
    clock.advance(29)
    assert hello.status(doc["action_id"], ALICE)["status"] == "ACTIVE"
    clock.advance(5)
    done = hello.status(doc["action_id"], ALICE)
    assert done["status"] == "SUCCEEDED"
    assert done["details"] == {"Hello": "World", "hello": "late"}
    assert dt.datetime.fromisoformat(done["completion_time"]) == dt.datetime.fromisoformat(
        doc["start_time"]
    ) + dt.timedelta(seconds=30)
    assert hello.next_change_at(doc["action_id"]) is None


def test_the_wake_up_time_is_known_without_a_read_in_the_process_that_started_it(
    db: Database, hello: HelloWorldProvider, clock: FakeClock
) -> None:
    doc, _ = hello.run({"request_id": "w", "body": {"sleep_time": 30}}, ALICE)
    due = clock.now() + dt.timedelta(seconds=30)
    reads = []
    real_read = db.read
    db.read = lambda: reads.append(1) or real_read()  # type: ignore[method-assign]
    try:
        assert hello.next_change_at(doc["action_id"]) == due
        assert reads == []  # remembered at the start
        other = HelloWorldProvider(db, clock=clock)  # another process: reads the row
        assert other.next_change_at(doc["action_id"]) == due and reads == [1]
    finally:
        db.read = real_read  # type: ignore[method-assign]
    hello.cancel(doc["action_id"], ALICE)  # ended: no wake-up, in either process
    assert hello.next_change_at(doc["action_id"]) is None
    assert other.next_change_at(doc["action_id"]) is None


def test_required_dependent_scope_is_inactive_until_resumed(hello: HelloWorldProvider):
    doc, _ = hello.run({"request_id": "c", "body": {"required_dependent_scope": "scope:x"}}, ALICE)
    assert doc["status"] == "INACTIVE"
    assert doc["details"]["code"] == "ConsentRequired"
    assert doc["details"]["required_scope"] == "scope:x"
    assert doc["details"]["authorization_parameters"]["required_scopes"] == ["scope:x"]
    assert hello.status(doc["action_id"], ALICE)["status"] == "INACTIVE"
    resumed = hello.resume(doc["action_id"], ALICE)
    assert resumed["status"] == "SUCCEEDED"


def test_cancel_release_and_not_found(hello: HelloWorldProvider):
    doc, _ = hello.run({"request_id": "x", "body": {"sleep_time": 100}}, ALICE)
    with pytest.raises(ActionConflict):
        hello.release(doc["action_id"], ALICE)
    canceled = hello.cancel(doc["action_id"], ALICE)
    assert canceled["status"] == "FAILED"
    assert hello.cancel(doc["action_id"], ALICE)["status"] == "FAILED"  # terminal: unchanged
    released = hello.release(doc["action_id"], ALICE)
    assert released["status"] == "FAILED"
    with pytest.raises(ActionNotFound):
        hello.status(doc["action_id"], ALICE)
    with pytest.raises(ActionNotFound):
        hello.status("not-a-uuid", ALICE)


def test_others_cannot_see_an_action_unless_monitor_or_manager(hello: HelloWorldProvider):
    doc, _ = hello.run({"request_id": "p", "body": {"sleep_time": 5}, "monitor_by": [BOB.identity]}, ALICE)
    assert hello.status(doc["action_id"], BOB)["action_id"] == doc["action_id"]
    with pytest.raises(ForbiddenRequest):
        hello.cancel(doc["action_id"], BOB)
    private, _ = hello.run({"request_id": "q", "body": {}}, ALICE)
    with pytest.raises(ActionNotFound):
        hello.status(private["action_id"], BOB)


@pytest.mark.parametrize(
    "request_doc",
    [
        {"body": {}},
        {"request_id": "", "body": {}},
        {"request_id": "r", "body": []},
        {"request_id": "r", "body": {"echo_string": 5}},
        {"request_id": "r", "body": {"sleep_time": "soon"}},
        {"request_id": "r", "body": {"sleep_time": -1}},
        {"request_id": "r", "body": {"sleep_time": True}},
        {"request_id": "r", "body": {}, "label": ""},
    ],
)
def test_bad_requests_are_rejected(hello: HelloWorldProvider, request_doc: dict):
    with pytest.raises(BadActionRequest):
        hello.run(request_doc, ALICE)


def test_registry_resolves_hosted_and_local_urls(hello: HelloWorldProvider):
    registry = ProviderRegistry([hello], base_urls=["http://127.0.0.1:8765/"])
    for url in (
        "https://actions.globus.org/hello_world",
        "https://actions.globus.org/hello_world/",
        "HTTPS://Actions.Globus.org/hello_world",
        "https://actions.automate.globus.org/hello_world",
        "http://127.0.0.1:8765/actions/hello_world",
    ):
        assert registry.resolve(url) is hello, url
    assert registry.resolve("https://transfer.actions.globus.org/transfer") is None
    assert registry.resolve("http://127.0.0.1:9999/actions/hello_world") is None
    off = ProviderRegistry([hello], emulate_globus_providers=False)
    assert off.resolve("https://actions.globus.org/hello_world") is None


# --- over HTTP ----------------------------------------------------------------------------------------------


@pytest.fixture
def http(db: Database, hello: HelloWorldProvider) -> Iterator[tuple[TestClient, str, str]]:
    now = dt.datetime.now(dt.UTC)
    with db.begin() as conn:
        identity = ensure_identity(conn, "alice", now=now)
        token, _ = create_token(conn, identity_id=identity.id, now=now)
    app = FastAPI()
    app.include_router(create_provider_router(ProviderRegistry([hello]), Authenticator(db).authenticate))
    with TestClient(app) as client:
        yield client, token, identity_urn(identity.id)


def test_http_introspection_is_public(http):
    client, _, _ = http
    response = client.get("/actions/hello_world")
    assert response.status_code == 200
    doc = response.json()
    assert doc["globus_auth_scope"] == HELLO_WORLD_SCOPE
    assert doc["types"] == ["Action"] and doc["api_version"] == "1.0"
    assert "echo_string" in doc["input_schema"]["properties"]
    assert client.get("/actions/nope").status_code == 404


def test_http_run_status_cancel_release_log(http, clock: FakeClock):
    client, token, urn = http
    auth = {"Authorization": f"Bearer {token}"}
    request = {"request_id": "h1", "body": {"echo_string": "web", "sleep_time": 3}}
    assert client.post("/actions/hello_world/run", json=request).status_code == 401
    started = client.post("/actions/hello_world/run", json=request, headers=auth)
    assert started.status_code == 202
    action = started.json()
    assert action["status"] == "ACTIVE" and action["creator_id"] == urn
    again = client.post("/actions/hello_world/actions", json=request, headers=auth)
    assert again.status_code == 200 and again.json()["action_id"] == action["action_id"]
    action_id = action["action_id"]
    assert client.get(f"/actions/hello_world/{action_id}/status", headers=auth).json()["status"] == "ACTIVE"
    assert client.post(f"/actions/hello_world/{action_id}/release", headers=auth).status_code == 409
    clock.advance(3)
    status = client.get(f"/actions/hello_world/actions/{action_id}", headers=auth).json()
    assert status["status"] == "SUCCEEDED" and status["details"]["hello"] == "web"
    log = client.get(f"/actions/hello_world/{action_id}/log", params={"limit": 5}, headers=auth).json()
    assert [entry["code"] for entry in log["entries"]] == ["ActionStarted", "ActionSucceeded"]
    assert client.delete(f"/actions/hello_world/actions/{action_id}", headers=auth).status_code == 200
    missing = client.get(f"/actions/hello_world/{action_id}/status", headers=auth)
    assert missing.status_code == 404 and missing.json()["code"] == "ActionNotFound"


def test_http_bad_body_is_400(http):
    client, token, _ = http
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post("/actions/hello_world/run", content=b"{not json", headers=auth)
    assert response.status_code == 400 and response.json()["code"] == "BadActionRequest"
    response = client.post(
        "/actions/hello_world/run", json={"request_id": "z", "body": {"sleep_time": "x"}}, headers=auth
    )
    assert response.status_code == 400


def test_http_cancel_and_resume(http):
    client, token, _ = http
    auth = {"Authorization": f"Bearer {token}"}
    inactive = client.post(
        "/actions/hello_world/run",
        json={"request_id": "i", "body": {"required_dependent_scope": "s"}},
        headers=auth,
    ).json()
    assert inactive["status"] == "INACTIVE"
    resumed = client.post(f"/actions/hello_world/actions/{inactive['action_id']}/resume", headers=auth)
    assert resumed.status_code == 200 and resumed.json()["status"] == "SUCCEEDED"
    active = client.post(
        "/actions/hello_world/run", json={"request_id": "a", "body": {"sleep_time": 50}}, headers=auth
    ).json()
    canceled = client.post(f"/actions/hello_world/{active['action_id']}/cancel", headers=auth)
    assert canceled.status_code == 200 and canceled.json()["status"] == "FAILED"


def test_release_in_the_engines_transaction(hello: HelloWorldProvider, db: Database, clock: FakeClock):
    """`release_in` (the engine's release in a step's transaction): the creator's ended action in one
    statement; a manager's release, and one of an action still sleeping, take the whole check as `release`
    does; a released action is not found."""
    ended, _ = hello.run({"request_id": "ended", "body": {}}, ALICE)
    managed, _ = hello.run({"request_id": "managed", "body": {}, "manage_by": [BOB.identity]}, ALICE)
    sleeping, _ = hello.run({"request_id": "sleeping", "body": {"sleep_time": 60}}, ALICE)
    statements: list[str] = []

    def spy(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        statements.append(statement.split()[0])

    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        with db.begin() as conn:
            statements.clear()
            doc = hello.release_in(conn, ended["action_id"], ALICE, clock.now())
            assert statements == ["UPDATE"]  # one statement
            assert doc is not None and doc["status"] == "SUCCEEDED"
            assert hello.release_in(conn, managed["action_id"], BOB, clock.now()) is not None
            with pytest.raises(ActionConflict):
                hello.release_in(conn, sleeping["action_id"], ALICE, clock.now())
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)
    with db.read() as conn:
        released = {
            row.request_id: row.released_at
            for row in conn.execute(sa.select(provider_actions.c.request_id, provider_actions.c.released_at))
        }
    assert released["ended"] is not None and released["managed"] is not None and released["sleeping"] is None
    with pytest.raises(ActionNotFound):
        hello.release(ended["action_id"], ALICE)


def test_a_repeated_start_in_the_engines_transaction_answers_the_stored_action(
    hello: HelloWorldProvider, db: Database, clock: FakeClock
):
    request = {"request_id": "again", "body": {"echo_string": "x"}}
    with db.begin() as conn:
        first, created = hello.run_in(conn, request, ALICE, clock.now())
        again, created_again = hello.run_in(conn, request, ALICE, clock.now())
    assert (created, created_again) == (True, False) and first["action_id"] == again["action_id"]
    with db.begin() as conn, pytest.raises(ActionConflict):
        hello.run_in(conn, {"request_id": "again", "body": {"echo_string": "y"}}, ALICE, clock.now())
