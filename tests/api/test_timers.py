"""The Timers API over HTTP (TestClient), with a fake clock shared with an executor that fires the timers:
documents with the fields of globus-sdk's timer fixtures, creation checks (scope, schedule, flow, role, input,
collections), owner isolation, pause/resume/update/delete, the legacy `POST /jobs/`, listing and paging."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import globus_sdk
import pytest
from globus_sdk.testing.data.timer._common import V1_TIMER, V2_FLOW_TIMER, V2_TRANSFER_TIMER
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from openflows.api.app import create_app
from openflows.auth import catalog
from openflows.auth import scopes as flows_scopes
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store.collections import add_collection
from openflows.store.db import Database

from .conftest import PASS_DEFINITION, User, create_user

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def timer_settings(settings: Settings) -> Settings:
    return settings.replace(timers_min_interval_seconds=10)


@pytest.fixture
def client(timer_settings: Settings, db: Database, clock: FakeClock) -> Iterator[TestClient]:
    app = create_app(timer_settings, db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def executor(db: Database, timer_settings: Settings, clock: FakeClock) -> Executor:
    return Executor(db, timer_settings, registry=ProviderRegistry([]), clock=clock, threads=1)


def user(db: Database, client: TestClient, name: str, scopes: list[str] | None = None) -> User:
    token, identity_id, urns, urn = create_user(db, name, scopes=scopes)
    return User(name, identity_id, urn, token, tuple(urns), client)


@pytest.fixture
def alice(db: Database, client: TestClient) -> User:
    return user(db, client, "alice")


@pytest.fixture
def bob(db: Database, client: TestClient) -> User:
    return user(db, client, "bob")


def patch(who: User, path: str, json: Any) -> Any:
    return who.http.patch(path, json=json, headers=who.headers)


def plain(value: Any) -> Any:
    """An SDK payload as the SDK sends it: MISSING values dropped, UUIDs as strings."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not globus_sdk.MISSING}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value if v is not globus_sdk.MISSING]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def flow_timer(flow_id: str, **overrides: Any) -> dict[str, Any]:
    timer = globus_sdk.FlowTimer(
        flow_id=flow_id,
        name="every minute",
        schedule=globus_sdk.RecurringTimerSchedule(60, end={"condition": "iterations", "count": 3}),
        body={"body": {"n": 1}, "label": "from a timer", "tags": ["t"]},
    )
    return {"timer": {**plain(dict(timer)), **overrides}}


def create(who: User, payload: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = who.post("/v2/timer", json=payload)
    assert response.status_code == status, response.text
    return response.json()


def test_create_show_and_fire_a_flow_timer(alice: User, executor: Executor, clock: FakeClock, db: Database):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    created = create(alice, flow_timer(flow["id"]))["timer"]
    # every field of the SDK's create_timer fixtures (flow and transfer) is there
    assert set(V2_FLOW_TIMER) | set(V2_TRANSFER_TIMER) <= set(created)
    assert created["timer_type"] == "flow" and created["status"] == "new"
    assert created["schedule"] == {
        "type": "recurring",
        "interval_seconds": 60,
        "start": T0.isoformat(),
        "end": {"condition": "iterations", "count": 3},
    }
    assert (created["next_run"], created["last_ran_at"], created["number_of_runs"]) == (
        T0.isoformat(),
        None,
        0,
    )
    assert created["stop_after"] == {"date": None, "n_runs": 3} and created["interval"] == 60
    assert created["callback_url"].endswith(f"/flows/{flow['id']}/run")
    assert created["callback_body"] == {"body": {"n": 1}, "label": "from a timer", "tags": ["t"]}
    assert created["scope"] == flows_scopes.flow_scope(flow["id"])
    assert created["activity"] == {"code": "awaiting_next_run", "start_timestamp": None}
    assert created["results"] == {"data": [], "page_next": None}
    job_id = created["job_id"]

    executor.run_until_idle()
    shown = alice.get(f"/jobs/{job_id}").json()
    assert set(V1_TIMER) <= set(shown)
    assert (shown["status"], shown["n_runs"], shown["number_of_runs"], shown["n_errors"]) == (
        "loaded",
        1,
        1,
        0,
    )
    assert shown["last_ran_at"] == T0.isoformat()
    assert shown["next_run"] == (T0 + dt.timedelta(seconds=60)).isoformat()
    [result] = shown["results"]["data"]
    assert (result["status"], result["errors"], result["ran_at"]) == (201, None, T0.isoformat())
    run = alice.get(f"/runs/{result['data']['run_id']}").json()
    assert (run["run_owner"], run["label"], run["tags"], run["status"]) == (
        alice.urn,
        "from a timer",
        ["t"],
        "SUCCEEDED",
    )
    assert result["data"]["status"] == "SUCCEEDED"


def test_transfer_timer_document(alice: User, db: Database, clock: FakeClock, tmp_path: Path):
    ids = []
    for name in ("src", "dst"):
        (tmp_path / name).mkdir()
        ids.append(uuid.uuid4())
        db.transact(
            lambda conn, name=name: add_collection(
                conn,
                collection_id=ids[-1],
                name=name,
                root=(tmp_path / name).resolve(),
                now=clock.now(),
                owner=alice.urn,
            )
        )
    data = globus_sdk.TransferData(source_endpoint=ids[0], destination_endpoint=ids[1], sync_level="mtime")
    data.add_item("/", "/copy/", recursive=True)
    timer = globus_sdk.TransferTimer(
        name="sync", schedule=globus_sdk.OnceTimerSchedule(datetime=T0 + dt.timedelta(days=1)), body=data
    )
    created = create(alice, {"timer": plain(dict(timer))})["timer"]
    assert set(V2_TRANSFER_TIMER) <= set(created)
    assert created["body"]["source_endpoint"] == str(ids[0]) and "submission_id" not in created["body"]
    assert created["schedule"] == {"type": "once", "datetime": (T0 + dt.timedelta(days=1)).isoformat()}
    assert created["stop_after"] == {"date": None, "n_runs": 1} and created["interval"] is None
    assert created["callback_url"].endswith("/actions/transfer/run")
    assert created["callback_body"] == {"body": created["body"]}
    # a missing collection is refused at once
    missing = plain(dict(data))
    missing["destination_endpoint"] = str(uuid.uuid4())
    refused = create(alice, {"timer": {**plain(dict(timer)), "body": missing}}, status=422)
    assert refused["error"]["code"] == "UNPROCESSABLE_ENTITY"
    assert refused["error"]["detail"][0]["loc"] == ["timer", "body"]
    assert "not a local collection" in refused["error"]["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("schedule", "loc"),
    [
        ({"type": "recurring", "interval_seconds": 9}, ["interval_seconds"]),
        ({"type": "recurring", "interval_seconds": "often"}, ["interval_seconds"]),
        ({"type": "weekly"}, ["type"]),
        ({"type": "once", "datetime": "tomorrow"}, ["datetime"]),
        (
            {"type": "recurring", "interval_seconds": 60, "end": {"condition": "sometime"}},
            ["end", "condition"],
        ),
        (
            {"type": "recurring", "interval_seconds": 60, "end": {"condition": "iterations", "count": 0}},
            ["end", "count"],
        ),
        (
            {
                "type": "recurring",
                "interval_seconds": 60,
                "start": "2026-05-02T00:00:00Z",
                "end": {"condition": "time", "datetime": "2026-05-01T00:00:00Z"},
            },
            ["end", "datetime"],
        ),
    ],
)
def test_bad_schedules_are_refused(alice: User, schedule: dict[str, Any], loc: list[str]):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    refused = create(alice, flow_timer(flow["id"], schedule=schedule), status=422)
    assert refused["error"]["detail"][0]["loc"] == ["timer", "schedule", *loc]


def test_the_minimum_interval_is_the_settings(alice: User):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    refused = create(
        alice, flow_timer(flow["id"], schedule={"type": "recurring", "interval_seconds": 9}), 422
    )
    assert "at least 10 seconds" in refused["error"]["detail"][0]["msg"]
    create(alice, flow_timer(flow["id"], schedule={"type": "recurring", "interval_seconds": 10}))


def test_a_flow_timer_is_checked_as_run_flow_would_check_its_run(alice: User, bob: User):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    missing = create(alice, flow_timer(str(uuid.uuid4())), status=404)
    assert missing["error"]["code"] == "NOT_FOUND"
    viewer_only = alice.create_flow(definition=PASS_DEFINITION, flow_viewers=[bob.urn])
    forbidden = create(bob, flow_timer(viewer_only["id"]), status=403)
    assert forbidden["error"]["code"] == "FORBIDDEN"
    bad_input = create(alice, flow_timer(flow["id"], body={"body": {"n": "one"}}), status=400)
    assert bad_input["error"]["code"] == "FLOW_INPUT_ERROR"
    assert (
        bad_input["error"]["detail"]
        == alice.post(f"/flows/{flow['id']}/run", json={"body": {"n": "one"}}).json()["error"]["detail"]
    )
    no_body = create(alice, flow_timer(flow["id"], body={"label": "x"}), status=422)
    assert no_body["error"]["detail"][0]["loc"] == ["timer", "body", "body"]
    bad_label = create(alice, flow_timer(flow["id"], body={"body": {"n": 1}, "label": ""}), status=422)
    assert bad_label["error"]["detail"][0]["loc"][:3] == ["timer", "body", "label"]


def test_the_timers_scope_is_required(db: Database, client: TestClient, alice: User):
    flows_only = user(db, client, "carol", scopes=[flows_scopes.ALL])
    for method, path in (("GET", "/jobs/"), ("POST", "/v2/timer"), ("GET", f"/jobs/{uuid.uuid4()}")):
        response = flows_only.http.request(method, path, headers=flows_only.headers, json={"timer": {}})
        assert response.status_code == 403 and response.json()["error"]["code"] == "MISSING_SCOPE", path
    timers_only = user(db, client, "dave", scopes=[catalog.TIMERS_TIMER])
    assert timers_only.get("/jobs/").json() == {"jobs": []}


def test_a_timer_is_its_owners_only(alice: User, bob: User):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    job_id = create(alice, flow_timer(flow["id"]))["timer"]["job_id"]
    assert bob.get(f"/jobs/{job_id}").status_code == 404
    assert bob.post(f"/jobs/{job_id}/pause").status_code == 404
    assert bob.delete(f"/jobs/{job_id}").status_code == 404
    assert patch(bob, f"/jobs/{job_id}", {"name": "mine"}).status_code == 404
    assert bob.get("/jobs/").json() == {"jobs": []}
    assert [j["job_id"] for j in alice.get("/jobs/").json()["jobs"]] == [job_id]


def test_pause_resume_update_delete(alice: User, executor: Executor, clock: FakeClock):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    job_id = create(alice, flow_timer(flow["id"]))["timer"]["job_id"]
    executor.run_until_idle()
    paused = alice.post(f"/jobs/{job_id}/pause")
    assert paused.json() == {"message": f"Successfully paused job {job_id}."}
    shown = alice.get(f"/jobs/{job_id}").json()
    assert (shown["status"], shown["inactive_reason"], shown["next_run"]) == (
        "inactive",
        {"cause": "user", "detail": None},
        None,
    )
    assert shown["activity"] == {"code": "paused", "start_timestamp": None}
    clock.advance(120)
    executor.run_until_idle()
    assert alice.get(f"/jobs/{job_id}").json()["n_runs"] == 1
    resumed = alice.post(f"/jobs/{job_id}/resume", json={"update_credentials": True})
    assert resumed.json() == {"message": f"Successfully resumed job {job_id}."}
    shown = alice.get(f"/jobs/{job_id}").json()
    assert (shown["status"], shown["inactive_reason"]) == ("loaded", None)
    assert shown["next_run"] == (T0 + dt.timedelta(seconds=180)).isoformat()

    renamed = patch(alice, f"/jobs/{job_id}", {"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    refused = patch(alice, f"/jobs/{job_id}", {"schedule": {"type": "once"}})
    assert refused.status_code == 422 and refused.json()["error"]["detail"][0]["loc"] == ["schedule"]

    deleted = alice.delete(f"/jobs/{job_id}")
    assert deleted.status_code == 200
    assert (deleted.json()["status"], deleted.json()["job_id"], deleted.json()["activity"]) == (
        "deleted",
        job_id,
        None,
    )
    assert alice.get(f"/jobs/{job_id}").status_code == 404
    clock.advance(3600)
    assert executor.run_until_idle() == 0


def test_an_ended_timer_cannot_be_paused_or_resumed(alice: User, executor: Executor):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    job_id = create(alice, flow_timer(flow["id"], schedule={"type": "once"}))["timer"]["job_id"]
    executor.run_until_idle()
    assert alice.get(f"/jobs/{job_id}").json()["status"] == "ended"
    for action in ("pause", "resume"):
        response = alice.post(f"/jobs/{job_id}/{action}")
        assert response.status_code == 409 and response.json()["error"]["code"] == "STATE_CONFLICT"


def test_legacy_create_job(alice: User, executor: Executor, clock: FakeClock):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    job = globus_sdk.TimerJob(
        f"https://flows.automate.globus.org/flows/{flow['id']}/run",
        {"body": {"n": 2}},
        T0,
        dt.timedelta(minutes=5),
        name="legacy",
        stop_after_n=2,
    )
    response = alice.post("/jobs/", json=plain(dict(job)))
    assert response.status_code == 201, response.text
    doc = response.json()
    assert set(V1_TIMER) <= set(doc)
    assert (doc["name"], doc["interval"], doc["stop_after"], doc["timer_type"]) == (
        "legacy",
        300,
        {"date": None, "n_runs": 2},
        "flow",
    )
    executor.run_until_idle()
    clock.advance(300)
    executor.run_until_idle()
    assert alice.get(f"/jobs/{doc['job_id']}").json()["status"] == "ended"
    missing = alice.post("/jobs/", json={"callback_body": {}})
    assert missing.status_code == 422
    assert [p["loc"] for p in missing.json()["error"]["detail"]] == [["start"], ["callback_url"]]
    elsewhere = alice.post(
        "/jobs/",
        json={"callback_url": "https://example.org/run", "callback_body": {}, "start": T0.isoformat()},
    )
    assert elsewhere.status_code == 422


def test_listing_orders_and_pages(alice: User, clock: FakeClock):
    flow = alice.create_flow(definition=PASS_DEFINITION, input_schema=SCHEMA)
    ids = []
    for _ in range(5):
        ids.append(create(alice, flow_timer(flow["id"]))["timer"]["job_id"])
        clock.advance(1)
    assert [
        j["job_id"] for j in alice.get("/jobs/", params={"order": "submitted_at asc"}).json()["jobs"]
    ] == ids
    newest = alice.get("/jobs/", params={"order": "submitted_at desc"}).json()["jobs"]
    assert [j["job_id"] for j in newest] == ids[::-1]
    seen: list[str] = []
    page = alice.get("/jobs/", params={"limit": 2}).json()
    while True:
        seen += [j["job_id"] for j in page["jobs"]]
        if "next_marker" not in page:
            break
        page = alice.get("/jobs/", params={"marker": page["next_marker"]}).json()
    assert seen == ids
    assert alice.get("/jobs/", params={"order": "name"}).status_code == 422


def test_transfer_endpoint_documents(alice: User, db: Database, clock: FakeClock, tmp_path: Path):
    collection_id = uuid.uuid4()
    db.transact(
        lambda conn: add_collection(
            conn, collection_id=collection_id, name="scratch", root=tmp_path.resolve(), now=clock.now()
        )
    )
    doc = alice.get(f"/v0.10/endpoint/{collection_id}").json()
    assert (doc["DATA_TYPE"], doc["id"], doc["display_name"]) == ("endpoint", str(collection_id), "scratch")
    assert (doc["entity_type"], doc["high_assurance"]) == ("GCSv5_guest_collection", False)
    assert alice.get(f"/v0.10/endpoint/{uuid.uuid4()}").status_code == 404
