"""External providers over real HTTP: a separate Action Provider process (external_ap.py) on a free port, and
flows run against it through the executor (fake clock, nothing sleeps): slow actions with Retry-After,
failures, rejections, INACTIVE and resume, 503s retried with the same request_id, garbage answers, a provider
restart in the middle of a run, cached introspection, and credentials that never leave their URL prefix."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apkit import APProcess

from engine.enginekit import drive, get_run, insert_run
from openflows.engine.actions import ActionClient, _parse_credentials, credential_for
from openflows.engine.executor import Executor
from openflows.providers.base import Provider, ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store import kinds
from openflows.store.db import Database
from openflows.store.schema import runs
from openflows.store.work import NewWorkItem, enqueue_work_item

TOKEN = "admin-configured-token"


@pytest.fixture(scope="module")
def ap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APProcess]:
    process = APProcess(tmp_path_factory.mktemp("ap"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(ap: APProcess, clock: FakeClock, providers: dict[str, Provider]) -> Iterator[ActionClient]:
    registry = ProviderRegistry(providers.values())
    action_client = ActionClient(
        registry, credentials={f"{ap.url}/": TOKEN}, clock=clock, sleep=lambda seconds: None, timeout=5
    )
    yield action_client
    action_client.close()


@pytest.fixture
def executor(
    db: Database, settings: Settings, providers: dict[str, Provider], clock: FakeClock, client: ActionClient
) -> Executor:
    registry = client.registry
    return Executor(db, settings, registry=registry, clock=clock, threads=1, action_client=client)


def flow(url: str, body: dict[str, Any], **state: Any) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Action",
                "ActionUrl": url,
                "Parameters": body,
                "ResultPath": "$.out",
                "End": True,
                **state,
            }
        },
    }


def run_flow(
    db: Database, executor: Executor, clock: FakeClock, definition: dict[str, Any]
) -> dict[str, Any]:
    run_id = insert_run(db, definition, {}, now=clock.now())
    drive(executor, clock)
    return get_run(db, run_id) | {"run_id": run_id}


def test_slow_action_is_polled_after_retry_after(
    db: Database, executor: Executor, clock: FakeClock, ap: APProcess
):
    before = ap.stats()["status_calls"]
    started = clock.now()
    run = run_flow(db, executor, clock, flow(ap.url, {"mode": "slow", "polls": 3, "echo": "e"}))
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["out"]["details"] == {"mode": "slow", "echo": "e"}
    assert ap.stats()["status_calls"] - before == 4
    # Retry-After: 1 on every ACTIVE answer: polls came 1 s apart instead of the doubling back-off
    assert run["completion_time"] - started <= dt.timedelta(seconds=5)


def test_failure_and_rejection(db: Database, executor: Executor, clock: FakeClock, ap: APProcess):
    failed = run_flow(db, executor, clock, flow(ap.url, {"mode": "fail", "reason": "disk on fire"}))
    assert failed["status"] == "FAILED"
    assert "disk on fire" in str(failed["details"])
    rejected = run_flow(db, executor, clock, flow(ap.url, {"mode": "reject"}))
    assert rejected["status"] == "FAILED"
    assert rejected["details"]["details"]["error"] == "ActionUnableToRun"
    assert rejected["details"]["details"]["cause"]["code"] == "BadActionRequest"
    assert "mode reject" in str(rejected["details"]["details"]["cause"])


def test_inactive_then_resume(db: Database, executor: Executor, clock: FakeClock, ap: APProcess):
    run = run_flow(db, executor, clock, flow(ap.url, {"mode": "inactive"}))
    assert run["status"] == "INACTIVE"
    with db.begin() as conn:
        enqueue_work_item(
            conn, NewWorkItem(run_id=run["run_id"], kind=kinds.RESUME, due_at=clock.now()), now=clock.now()
        )
    drive(executor, clock)
    assert get_run(db, run["run_id"])["status"] == "SUCCEEDED"


def test_503_is_retried_with_the_same_request_id(
    db: Database, executor: Executor, clock: FakeClock, ap: APProcess
):
    run = run_flow(db, executor, clock, flow(ap.url, {"mode": "flaky", "failures": 4}))
    assert run["status"] == "SUCCEEDED", run["details"]
    stats = ap.stats()
    request_id = f"{run['run_id']}/Call/1/0"
    assert stats["run_calls"][request_id] == 5  # 4 refusals, then the action: one request_id throughout
    assert sum(1 for r in stats["by_request"] if r == request_id) == 1


def test_garbage_answers(db: Database, executor: Executor, clock: FakeClock, ap: APProcess):
    garbage = run_flow(db, executor, clock, flow(ap.url, {"mode": "garbage"}))
    assert garbage["status"] == "FAILED"
    assert garbage["details"]["details"]["cause"]["code"] == "InvalidActionStatus"
    bad_status = run_flow(db, executor, clock, flow(ap.url, {"mode": "garbage_status"}))
    assert bad_status["status"] == "FAILED"
    assert "InvalidActionStatus" in str(bad_status["details"])


def test_provider_restart_in_the_middle_of_a_run(
    db: Database, executor: Executor, clock: FakeClock, tmp_path: Path
):
    ap = APProcess(tmp_path)
    ap.start()
    try:
        executor.actions._credentials = _parse_credentials({f"{ap.url}/": TOKEN})
        run_id = insert_run(
            db, flow(ap.url, {"mode": "slow", "polls": 2}, WaitTime=3600), {}, now=clock.now()
        )
        executor.run_until_idle()  # started: ACTIVE at the provider
        assert get_run(db, run_id)["status"] == "ACTIVE"
        ap.stop()
        for _ in range(3):  # polls while the provider is down: retried later, the run stays ACTIVE
            clock.set(executor.next_due_at())
            executor.run_until_idle()
        assert get_run(db, run_id)["status"] == "ACTIVE"
        ap.start()  # same port, same state file
        drive(executor, clock)
        run = get_run(db, run_id)
        assert run["status"] == "SUCCEEDED", run["details"]
        assert len(ap.stats()["by_request"]) == 1
    finally:
        ap.stop()


def test_credentials_only_under_their_prefix(client: ActionClient, ap: APProcess, tmp_path: Path):
    other = APProcess(tmp_path)
    other.start()
    try:
        from openflows.providers.base import Caller

        caller = Caller("urn:test:caller")
        assert client.start(
            ap.url, {"request_id": uuid.uuid4().hex, "body": {}}, caller=caller, token="run"
        ).ok
        assert ap.stats()["authorizations"][-1] == f"Bearer {TOKEN}"
        # another host:port gets the run's own token (or none), never the administrator's
        assert client.start(other.url, {"request_id": "x", "body": {}}, caller=caller, token=None).ok
        assert client.start(other.url, {"request_id": "y", "body": {}}, caller=caller, token="run").ok
        assert other.stats()["authorizations"] == [None, "Bearer run"]
    finally:
        other.stop()
    creds = _parse_credentials({"https://ap.example.org/tenant/": "t1", "https://ap.example.org/": "t0"})
    assert credential_for(creds, "https://ap.example.org/tenant/x/run") == "t1"
    assert credential_for(creds, "https://AP.example.org:443/other") == "t0"
    assert credential_for(creds, "https://ap.example.org/tenantx") == "t0"
    assert credential_for(creds, "http://ap.example.org/") is None
    assert credential_for(creds, "https://ap.example.org.evil.com/") is None
    assert credential_for(creds, "https://ap.example.org:8443/") is None


def test_introspection_is_cached(client: ActionClient, ap: APProcess, tmp_path: Path):
    before = ap.stats()["introspections"]
    for _ in range(5):
        assert client.describe(ap.url)["title"] == "external"  # type: ignore[index]
    assert ap.stats()["introspections"] - before == 1
    assert client.is_synchronous(ap.url) is False
    sync = APProcess(tmp_path, synchronous=True)
    sync.start()
    try:
        assert client.is_synchronous(sync.url + "/") is True
    finally:
        sync.stop()


def test_a_synchronous_provider_is_never_polled(
    db: Database, executor: Executor, clock: FakeClock, tmp_path: Path
):
    sync = APProcess(tmp_path, synchronous=True)
    sync.start()
    try:
        run = run_flow(db, executor, clock, flow(sync.url, {"mode": "ok"}))
        assert run["status"] == "SUCCEEDED"
        assert sync.stats()["status_calls"] == 0
    finally:
        sync.stop()


# --- what an action request carries: the run's label, monitors and managers (spec §11 "Action Request") ---

MANAGER = "urn:globus:groups:id:22222222-2222-4222-8222-222222222222"
MONITOR = "urn:globus:auth:identity:33333333-3333-4333-8333-333333333333"
OWNER = "urn:globus:auth:identity:11111111-1111-4111-8111-111111111111"  # enginekit's run owner


def request_of(ap: APProcess, run_id: uuid.UUID) -> dict[str, Any]:
    """The one action request the provider received for the run."""
    requests = [r for rid, r in ap.stats()["requests"].items() if rid.startswith(str(run_id))]
    assert len(requests) == 1, requests
    return requests[0]


def test_requests_carry_the_runs_label_monitors_and_managers(
    db: Database, executor: Executor, clock: FakeClock, ap: APProcess
):
    label = "nightly " + "x" * 100  # runs may have labels of 256 characters, actions of 64
    run_id = insert_run(
        db,
        flow(ap.url, {"mode": "slow", "polls": 1}),
        {},
        now=clock.now(),
        label=label,
        run_managers=(MANAGER,),
        run_monitors=(MONITOR,),
    )
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    expected = {"label": label[:64], "monitor_by": [MONITOR], "manage_by": [MANAGER]}
    request = request_of(ap, run_id)
    assert {key: request.get(key) for key in expected} == expected
    # the action's result in the run output is the provider's status, which carries them too
    result = run["details"]["output"]["out"]
    assert {key: result.get(key) for key in expected} == expected


def test_an_action_run_as_another_identity_lets_the_owner_manage_it(
    db: Database, executor: Executor, clock: FakeClock, ap: APProcess
):
    run_id = insert_run(db, flow(ap.url, {"mode": "ok"}, RunAs="Flow"), {}, now=clock.now(), label=None)
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    request = request_of(ap, run_id)
    assert "label" not in request  # no run label: none sent (the interface wants 1 to 64 characters)
    assert request["monitor_by"] == [] and request["manage_by"] == [OWNER]


def test_a_replayed_start_sends_the_request_decided_first(
    db: Database, executor: Executor, clock: FakeClock, tmp_path: Path
):
    """The fields are fixed when the action is decided: a start retried after the run's managers changed
    sends the same request (same request_id, same content)."""
    later = APProcess(tmp_path)  # not started yet: the first tries fail and are retried later
    executor.actions._credentials = []
    run_id = insert_run(
        db, flow(later.url, {"mode": "ok"}), {}, now=clock.now(), run_managers=(MANAGER,), label="first"
    )
    executor.run_until_idle()
    assert get_run(db, run_id)["status"] == "ACTIVE"
    with db.begin() as conn:
        conn.execute(
            sa.update(runs).where(runs.c.id == run_id).values(run_managers=[MONITOR], label="second")
        )
    later.start()
    try:
        drive(executor, clock)
        assert get_run(db, run_id)["status"] == "SUCCEEDED"
        request = request_of(later, run_id)
        assert request["manage_by"] == [MANAGER] and request["label"] == "first"
    finally:
        later.stop()


def test_builtin_actions_carry_them_too(db: Database, executor: Executor, clock: FakeClock):
    run_id = insert_run(
        db,
        flow("https://actions.globus.org/hello_world", {"echo_string": "hi"}),
        {},
        now=clock.now(),
        label="built-in",
        run_managers=(MANAGER,),
        run_monitors=(MONITOR,),
    )
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    result = run["details"]["output"]["out"]
    assert result["details"]["hello"] == "hi"
    assert (result["label"], result["monitor_by"], result["manage_by"]) == ("built-in", [MONITOR], [MANAGER])
    assert result["creator_id"] == OWNER
