"""`POST /runs/{run_id}/redrive` (issue 19): a FAILED run starts again at the state that failed, with the
input it had there, on the definition it started with; the states before it are not run again (the run log
and the provider both show it). Error documents for every refusal; two concurrent redrives: one wins."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from openflows.auth import scopes
from openflows.engine.executor import Executor
from openflows.providers.base import Caller, Provider, ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import SystemClock
from openflows.store.db import Database
from openflows.store.schema import runs, work_items

from .conftest import MakeUser, User

BASE_URL = "http://openflows.test"


class Recorder(Provider):
    """Records every `/run` (state name from the body, request id); its actions end at once: FAILED for a
    body with `fail_first` on the first `fail_first` calls of that body's `name`, else SUCCEEDED."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def introspect(self) -> dict[str, Any]:
        return {}

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        body = request["body"]
        self.calls.append((body["name"], request["request_id"]))
        made = sum(1 for name, _ in self.calls if name == body["name"])
        failed = made <= int(body.get("fail_first", 0))
        details = {"name": body["name"], "seen": body.get("seen")}
        doc = {
            "action_id": uuid.uuid4().hex,
            "status": "FAILED" if failed else "SUCCEEDED",
            "details": details,
        }
        return doc, True

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        raise AssertionError("actions end at once")

    resume = status

    def release(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return {"action_id": action_id, "status": "SUCCEEDED", "details": {}}

    cancel = release

    def log(self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False) -> dict:
        return {"entries": []}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def three_steps(fail_first: int = 1) -> dict[str, Any]:
    url = f"{BASE_URL}/actions/recorder"

    def action(name: str, nxt: str | None, **extra: Any) -> dict[str, Any]:
        state: dict[str, Any] = {
            "Type": "Action",
            "ActionUrl": url,
            "Parameters": {"name": name, **extra},
            "ResultPath": f"$.{name}",
        }
        state.update({"Next": nxt} if nxt else {"End": True})
        return state

    return {
        "StartAt": "One",
        "States": {
            "One": action("One", "Two"),
            "Two": action("Two", "Three"),
            "Three": action("Three", None, fail_first=fail_first, **{"seen.$": "$.Two.details.name"}),
        },
    }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(db: Database, settings: Settings, recorder: Recorder) -> Executor:
    registry = ProviderRegistry([recorder], base_urls=[BASE_URL])
    return Executor(db, settings, registry=registry, clock=SystemClock(), threads=1)


def _log(user: User, run_id: str) -> list[dict[str, Any]]:
    response = user.get(f"/runs/{run_id}/log", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def _failed_run(alice: User, executor: Executor, definition: dict[str, Any], **fields: Any) -> dict:
    flow = alice.create_flow(definition=definition)
    run = alice.run_flow(flow["id"], {"x": 1}, **fields)
    executor.run_until_idle()
    run = alice.get(f"/runs/{run['run_id']}").json()
    assert run["status"] == "FAILED", run
    return run


def test_a_run_failing_at_its_third_state_is_redriven_without_running_the_first_two(
    alice: User, executor: Executor, recorder: Recorder
) -> None:
    run = _failed_run(alice, executor, three_steps())
    run_id = run["run_id"]
    assert run["details"]["details"]["state_name"] == "Three"
    assert recorder.names() == ["One", "Two", "Three"]
    # the flow changes after the run started: the redrive still runs the version the run started with
    changed = {"StartAt": "Nope", "States": {"Nope": {"Type": "Fail", "Error": "Changed"}}}
    assert alice.put(f"/flows/{run['flow_id']}", json={"definition": changed}).status_code == 200

    response = alice.post(f"/runs/{run_id}/redrive")
    assert response.status_code == 200, response.text
    redriven = response.json()
    assert redriven["status"] == "ACTIVE" and redriven.get("completion_time") is None
    assert redriven["details"]["code"] == "FlowRedriven"
    assert redriven["details"]["details"] == {"redrive_count": 1, "state_name": "Three"}

    executor.run_until_idle()
    done = alice.get(f"/runs/{run_id}").json()
    assert done["status"] == "SUCCEEDED", done
    # One and Two ran once; Three twice, each time a new action (a new request id: a new visit)
    assert recorder.names() == ["One", "Two", "Three", "Three"]
    first, second = recorder.calls[2][1], recorder.calls[3][1]
    assert first == f"{run_id}/Three/3/0" and second == f"{run_id}/Three/4/0"
    # Three got the input it had when it failed (what One and Two wrote)
    assert done["details"]["output"]["Three"]["details"] == {"name": "Three", "seen": "Two"}
    assert done["details"]["output"]["One"]["details"]["name"] == "One"

    entries = _log(alice, run_id)
    codes = [entry["code"] for entry in entries]
    assert codes == [
        "FlowStarted",
        "ActionStarted",
        "ActionCompleted",
        "ActionStarted",
        "ActionCompleted",
        "ActionStarted",
        "ActionFailed",
        "FlowFailed",
        "FlowRedriven",
        "ActionStarted",
        "ActionCompleted",
        "FlowSucceeded",
    ]
    redrive_entry = entries[8]
    assert redrive_entry["details"] == {
        "redrive_count": 1,
        "state_name": "Three",
        "previous_error": "ActionFailedException",
    }
    assert entries[9]["details"]["state_name"] == "Three"
    definition = alice.get(f"/runs/{run_id}/definition").json()["definition"]
    assert definition == three_steps()


def test_each_redrive_is_counted(alice: User, executor: Executor, recorder: Recorder) -> None:
    run_id = _failed_run(alice, executor, three_steps(fail_first=2))["run_id"]
    assert alice.post(f"/runs/{run_id}/redrive").json()["details"]["details"]["redrive_count"] == 1
    executor.run_until_idle()
    assert alice.get(f"/runs/{run_id}").json()["status"] == "FAILED"
    assert alice.post(f"/runs/{run_id}/redrive").json()["details"]["details"]["redrive_count"] == 2
    executor.run_until_idle()
    assert alice.get(f"/runs/{run_id}").json()["status"] == "SUCCEEDED"
    assert recorder.names() == ["One", "Two", "Three", "Three", "Three"]
    assert [call[1].rsplit("/", 2)[1] for call in recorder.calls[2:]] == ["3", "4", "5"]
    counts = [e["details"]["redrive_count"] for e in _log(alice, run_id) if e["code"] == "FlowRedriven"]
    assert counts == [1, 2]


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    document = response.json()
    assert set(document) >= {"error", "debug_id"}
    assert document["error"]["code"] == code, document
    return document["error"]


def test_only_failed_runs_that_did_not_end_by_choice_are_redriven(
    alice: User, executor: Executor, db: Database
) -> None:
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    flow = alice.create_flow(definition=wait)
    active = alice.run_flow(flow["id"])["run_id"]
    error = _error(alice.post(f"/runs/{active}/redrive"), 409, "STATE_CONFLICT")
    assert "has status 'ACTIVE'" in error["detail"] and "FAILED" in error["detail"]

    assert alice.post(f"/runs/{active}/cancel").status_code == 202
    error = _error(alice.post(f"/runs/{active}/redrive"), 409, "STATE_CONFLICT")
    assert "canceled" in error["detail"]

    succeeded = alice.run_flow(alice.create_flow()["id"])["run_id"]
    executor.run_until_idle()
    _error(alice.post(f"/runs/{succeeded}/redrive"), 409, "STATE_CONFLICT")

    fail = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Next": "F"}, "F": {"Type": "Fail", "Error": "Bad", "Cause": "no"}},
    }
    at_fail = _failed_run(alice, executor, fail)["run_id"]
    error = _error(alice.post(f"/runs/{at_fail}/redrive"), 409, "STATE_CONFLICT")
    assert "Fail state 'F'" in error["detail"] and "start a new run" in error["detail"]

    # past the retention period (not purged yet)
    old = _failed_run(alice, executor, three_steps())["run_id"]
    with db.begin() as conn:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
        conn.execute(sa.update(runs).where(runs.c.id == uuid.UUID(old)).values(completion_time=long_ago))
    error = _error(alice.post(f"/runs/{old}/redrive"), 409, "STATE_CONFLICT")
    assert "retention period" in error["detail"]


def test_who_may_redrive(alice: User, bob: User, make_user: MakeUser, executor: Executor) -> None:
    carol = make_user()
    run_id = _failed_run(alice, executor, three_steps(), run_monitors=[carol.urn])["run_id"]
    _error(bob.post(f"/runs/{run_id}/redrive"), 404, "NOT_FOUND")  # no role: as if it did not exist
    error = _error(carol.post(f"/runs/{run_id}/redrive"), 403, "FORBIDDEN")  # a monitor
    assert "REDRIVE" in error["detail"]
    _error(alice.post(f"/runs/{uuid.uuid4()}/redrive"), 404, "NOT_FOUND")
    status_only = make_user(scopes=[scopes.RUN_STATUS])
    _error(status_only.post(f"/runs/{run_id}/redrive"), 403, "MISSING_SCOPE")

    # a run manager may redrive (this flow acts as nobody: no consent to give again)
    assert alice.put(f"/runs/{run_id}", json={"run_managers": [bob.urn]}).status_code == 200
    response = bob.post(f"/runs/{run_id}/redrive")
    assert response.status_code == 200, response.text
    executor.run_until_idle()
    assert alice.get(f"/runs/{run_id}").json()["status"] == "SUCCEEDED"


def test_the_flow_scope_is_enough(make_user: MakeUser, executor: Executor) -> None:
    owner = make_user()
    flow = owner.create_flow(definition=three_steps(), flow_starters=["all_authenticated_users"])
    flow_only = make_user(scopes=[flow["globus_auth_scope"]])
    run = flow_only.run_flow(flow["id"])
    executor.run_until_idle()
    assert flow_only.post(f"/runs/{run['run_id']}/redrive").status_code == 200


def test_two_redrives_at_once_one_wins(live_server: Any, executor: Executor, db: Database) -> None:
    user = live_server.user()
    with httpx.Client(
        base_url=live_server.base_url, headers={"Authorization": f"Bearer {user.token}"}
    ) as http:
        flow = http.post(
            "/flows", json={"title": "t", "definition": three_steps(), "input_schema": {}}
        ).json()
        run_id = http.post(f"/flows/{flow['id']}/run", json={"body": {}}).json()["run_id"]
        executor.run_until_idle()
        assert http.get(f"/runs/{run_id}").json()["status"] == "FAILED"
        barrier = threading.Barrier(2)
        answers: list[httpx.Response] = []

        def redrive() -> None:
            with httpx.Client(base_url=live_server.base_url, headers=http.headers) as own:
                barrier.wait()
                answers.append(own.post(f"/runs/{run_id}/redrive"))

        threads = [threading.Thread(target=redrive) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(answer.status_code for answer in answers) == [200, 409], [a.text for a in answers]
    loser = next(answer for answer in answers if answer.status_code == 409)
    assert loser.json()["error"]["code"] == "STATE_CONFLICT"
    with db.read() as conn:
        items = conn.execute(
            sa.select(work_items.c.kind, work_items.c.payload).where(work_items.c.run_id == uuid.UUID(run_id))
        ).all()
    steps = [payload for kind, payload in items if kind == "step"]
    assert len(steps) == 1 and steps[0]["event"] == "redrive" and steps[0]["redrive"] == 1
