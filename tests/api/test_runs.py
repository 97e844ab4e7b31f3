"""Run routes through the ASGI app: starting (row, work item, context), validation, listing and filters,
update semantics, cancel / resume / release in one transaction each, the run log, batch changes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from openflows.auth import scopes
from openflows.store import kinds
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.schema import runs as runs_table

from .conftest import WAIT_DEFINITION, MakeUser, User

SCHEMA = {"type": "object", "required": ["x"], "properties": {"x": {"type": "boolean"}}}


def _set_run(db: Database, run_id: str, **values: Any) -> None:
    """Stand in for the executor: change a run row directly."""
    with db.begin() as conn:
        conn.execute(sa.update(runs_table).where(runs_table.c.id == uuid.UUID(run_id)).values(**values))


def test_run_flow_creates_the_run_and_one_step_item(alice: User, db: Database) -> None:
    flow = alice.create_flow(input_schema=SCHEMA)
    run = alice.run_flow(flow["id"], {"x": True, "_private_key": "hidden"}, label="l", tags=[" a \t b "])
    assert run["status"] == run["display_status"] == "ACTIVE"
    assert run["details"] == {
        "code": "FlowStarting",
        "description": "The Flow is starting execution",
        "details": {"input": {"x": True}},
    }
    assert run["tags"] == ["a b"] and run["label"] == "l" and "completion_time" not in run
    assert run["activity_notification_policy"] == {"status": ["INACTIVE"]}
    assert run["blocking_web_input_id"] is None
    run_id = uuid.UUID(run["run_id"])
    with db.read() as conn:
        items = store_work.list_work_items(conn, run_id=run_id)
        stored = store_work.load_run_for_step(conn, run_id)
    assert [(i.kind, i.payload) for i in items] == [(kinds.STEP, {"event": "start"})]
    assert stored is not None
    assert stored.input == stored.run_state == {"x": True, "_private_key": "hidden"}
    assert stored.cursor["state"] is None and stored.flow_version == 1
    context = stored.context
    assert (context["flow_id"], context["run_id"], context["user_id"]) == (
        flow["id"],
        run["run_id"],
        alice.urn,
    )
    assert context["username"] == "alice" and context["identities"] == [alice.urn]
    assert context["token_info"]["exp"] > context["token_info"]["iat"] == context["token_info"]["nbf"]


def test_run_flow_wakes_the_executor(settings: Any, db: Database, make_user: MakeUser) -> None:
    from fastapi.testclient import TestClient

    from openflows.api.app import create_app

    woken: list[int] = []
    app = create_app(settings, db=db, waker=lambda: woken.append(1))
    user = make_user()
    with TestClient(app) as client:
        flow = client.post(
            "/flows",
            json={"title": "w", "definition": WAIT_DEFINITION, "input_schema": {}},
            headers=user.headers,
        ).json()
        client.post(f"/flows/{flow['id']}/run", json={"body": {}}, headers=user.headers)
    assert woken == [1]


def test_input_schema_errors(alice: User) -> None:
    flow = alice.create_flow(input_schema=SCHEMA)
    response = alice.post(f"/flows/{flow['id']}/run", json={"body": {"x": "no"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "FLOW_INPUT_ERROR"
    assert error["detail"] == [
        {"loc": ["$.x"], "type": "InvalidActionInput", "msg": "'no' is not of type 'boolean'"}
    ]
    assert error["message"] == "Input failed schema validation with 1 error."
    validate = alice.post(f"/flows/{flow['id']}/validate_run", json={"body": {}})
    assert validate.json()["error"]["code"] == "FLOW_INPUT_ERROR"
    ok = alice.post(
        f"/flows/{flow['id']}/validate_run", json={"body": {"x": False}, "label": None, "tags": ["t"]}
    )
    assert ok.json() == {"message": "validation successful"}
    assert alice.get("/runs").json()["runs"] == []


@pytest.mark.parametrize(
    "extra",
    [
        {"label": ""},
        {"label": "x" * 65},
        {"tags": [" "]},
        {"run_managers": ["bob"]},
        {"body": []},
        {"body": None},
    ],
)
def test_run_options_are_validated(alice: User, extra: dict[str, Any]) -> None:
    flow = alice.create_flow()
    response = alice.post(f"/flows/{flow['id']}/run", json={"body": {}, **extra})
    assert response.status_code == 422, response.text


def test_get_run_and_definition(alice: User) -> None:
    flow = alice.create_flow(title="described", description="d", keywords=["k"])
    run = alice.run_flow(flow["id"])
    for value in ("True", "true", "TRUE"):
        doc = alice.get(f"/runs/{run['run_id']}", params={"include_flow_description": value}).json()
        assert doc["flow_description"]["title"] == "described" and doc["flow_description"]["keywords"] == [
            "k"
        ]
    assert (
        "flow_description"
        not in alice.get(f"/runs/{run['run_id']}", params={"include_flow_description": "False"}).json()
    )
    assert (
        alice.get(f"/runs/{run['run_id']}", params={"include_flow_description": "maybe"}).status_code == 422
    )
    alice.put(f"/flows/{flow['id']}", json={"definition": WAIT_DEFINITION})
    definition = alice.get(f"/runs/{run['run_id']}/definition").json()
    assert definition == {"flow_id": flow["id"], "definition": flow["definition"], "input_schema": {}}


def test_update_run_absent_null_and_empty(alice: User, bob: User) -> None:
    run = alice.run_flow(alice.create_flow()["id"], label="keep", tags=["t"], run_managers=[bob.urn])
    path = f"/runs/{run['run_id']}"
    same = alice.put(path, json={"label": None, "tags": None}).json()
    assert (same["label"], same["tags"], same["run_managers"]) == ("keep", ["t"], [bob.urn])
    assert alice.put(path, json={}).json()["label"] == "keep"
    cleared = alice.put(path, json={"tags": [], "run_managers": []}).json()
    assert (cleared["tags"], cleared["run_managers"], cleared["label"]) == ([], [], "keep")
    assert bob.get(path).status_code == 404  # no longer a manager


def test_run_roles(alice: User, bob: User, make_user: MakeUser) -> None:
    carol = make_user("carol", groups=("team",))
    dave = make_user("dave")
    flow = alice.create_flow(definition=WAIT_DEFINITION, flow_starters=[bob.urn], run_monitors=[dave.urn])
    run = bob.run_flow(flow["id"], run_managers=[carol.group_urns[0]])
    path = f"/runs/{run['run_id']}"
    assert carol.get(path).json()["user_role"] == "run_manager"
    dave_view = dave.get(path).json()
    assert dave_view["user_role"] == "flow_run_monitor"
    assert dave_view["run_managers"] == [] and dave_view["manage_by"] == []
    assert dave.post(f"{path}/cancel").status_code == 403
    assert (
        dave.put(path, json={"label": "x"}).json()["error"]["detail"].endswith("Missing permissions: UPDATE.")
    )
    stranger = make_user("eve")
    assert stranger.get(path).json()["error"] == {
        "code": "NOT_FOUND",
        "detail": f"No Run exists with id value {run['run_id']}",
    }
    assert alice.get(path).json()["user_role"] == "flow_run_manager"
    # flow-level run managers may not resume (§9); run managers may
    assert alice.post(f"{path}/resume").status_code == 403
    assert carol.post(f"{path}/resume").status_code == 200


def _run_ids(user: User, **params: Any) -> list[str]:
    response = user.get("/runs", params=params)
    assert response.status_code == 200, response.text
    return [run["run_id"] for run in response.json()["runs"]]


def test_list_runs_filters(alice: User, bob: User, db: Database) -> None:
    flow_a = alice.create_flow(title="Alpha flow", flow_starters=[bob.urn])["id"]
    flow_b = alice.create_flow(title="Beta")["id"]
    first = alice.run_flow(flow_a, label="nightly batch", tags=["red"])["run_id"]
    second = alice.run_flow(flow_b, label="other")["run_id"]
    third = bob.run_flow(flow_a, run_monitors=[alice.urn])["run_id"]
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    _set_run(db, second, status="SUCCEEDED", completion_time=when)
    assert set(_run_ids(alice)) == {first, second, third}
    assert set(_run_ids(alice, filter_flow_id=flow_a)) == {first, third}
    assert set(_run_ids(alice, filter_flow_id=f"{flow_a},{flow_b}", filter_roles="")) == {
        first,
        second,
        third,
    }
    assert set(_run_ids(alice, filter_status="SUCCEEDED")) == {second}
    assert set(_run_ids(alice, filter_status="active,succeeded")) == {first, second, third}
    assert set(_run_ids(alice, filter_label="BATCH")) == {first}
    assert set(_run_ids(alice, filter_flow_title="alpha")) == {first, third}
    assert set(_run_ids(alice, filter_tags="red")) == {first}
    assert set(_run_ids(alice, filter_roles="run_owner")) == {first, second}
    assert set(_run_ids(alice, filter_roles="run_monitors")) == {third}
    assert set(_run_ids(alice, filter_roles="flow_run_managers")) == {first, second, third}
    assert set(_run_ids(bob)) == {third}
    assert set(_run_ids(alice, filter_completion_time=f"{when.isoformat()},")) == {second}
    assert set(_run_ids(alice, filter_completion_time=f",{when.isoformat()}")) == set()
    assert set(_run_ids(alice, filter_start_time="2000-01-01T00:00:00Z,")) == {first, second, third}
    assert _run_ids(alice, filter_start_time=",2000-01-01") == []
    assert set(_run_ids(alice, filter_start_time="")) == {first, second, third}
    path_ids = [r["run_id"] for r in alice.get(f"/flows/{flow_a}/runs").json()["runs"]]
    assert set(path_ids) == {first, third}
    assert alice.get(f"/flows/{uuid.uuid4()}/runs").status_code == 404
    for bad in (
        {"filter_status": "NOPE"},
        {"filter_flow_id": "x"},
        {"filter_start_time": "yesterday,"},
        {"filter_start_time": ",,,"},
        {"orderby": "flow_owner ASC"},
        {"per_page": "0"},
    ):
        assert alice.get("/runs", params=bad).status_code == 422, bad


def test_list_runs_ordering_and_keyset_pages(alice: User, db: Database) -> None:
    flow = alice.create_flow()["id"]
    ids = [alice.run_flow(flow, label=label)["run_id"] for label in ("b", "a", "b", "a", "c")]
    _set_run(db, ids[4], label=None)
    assert _run_ids(alice) == list(reversed(ids))  # start_time DESC by default
    assert _run_ids(alice, orderby="start_time ASC", per_page="100") == ids

    def walk(**params: Any) -> list[str]:
        seen: list[str] = []
        query: dict[str, Any] = {**params, "per_page": 2}
        while True:
            page = alice.get("/runs", params=query).json()
            seen += [run["run_id"] for run in page["runs"]]
            if not page["has_next_page"]:
                assert page["marker"] is None
                return seen
            query = {"pagination_token": page["marker"], **params, "per_page": 2}

    assert walk(orderby=["label ASC", "start_time DESC"]) == [ids[3], ids[1], ids[2], ids[0], ids[4]]
    assert walk(orderby="label DESC,start_time ASC") == [ids[4], ids[0], ids[2], ids[1], ids[3]]
    _set_run(db, ids[1], completion_time=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert walk(orderby="completion_time ASC")[0] == ids[1]
    assert len(walk(orderby="status DESC")) == 5


def test_cancel_run(alice: User, db: Database) -> None:
    run = alice.run_flow(alice.create_flow(definition=WAIT_DEFINITION)["id"], {"a": 1})
    run_id = uuid.UUID(run["run_id"])
    action = {
        "action_url": "https://actions.globus.org/hello_world",
        "action_id": "a1",
        "request_id": f"{run_id}/W/0",
        "started_at": "2026-01-01T00:00:00+00:00",
        "deadline": "2026-01-02T00:00:00+00:00",
        "run_as": "User",
        "last_status": "ACTIVE",
    }
    _set_run(db, run["run_id"], cursor={"state": "W", "attempt": 0, "retries": [], "action": action})
    response = alice.post(f"/runs/{run_id}/cancel")
    assert response.status_code == 202
    canceled = response.json()
    assert canceled["status"] == "FAILED" and canceled["completion_time"]
    assert canceled["details"]["code"] == "FlowCanceled" and canceled["details"]["details"] == {}
    with db.read() as conn:
        items = store_work.list_work_items(conn, run_id=run_id)
        stored = store_work.load_run_for_step(conn, run_id)
    assert [(i.kind, i.payload) for i in items] == [(kinds.ACTION_CANCEL, action)]
    assert stored is not None and stored.version == 1 and stored.log_seq == 2  # version bumped once
    log = alice.get(f"/runs/{run_id}/log").json()
    assert [e["code"] for e in log["entries"]] == ["FlowStarted", "FlowCanceled"]
    assert log["entries"][0]["details"] == {"input": {"a": 1}}
    again = alice.post(f"/runs/{run_id}/cancel").json()  # idempotent on an ended run
    assert again["details"] == canceled["details"]
    with db.read() as conn:
        assert store_work.load_run_for_step(conn, run_id).version == 1  # type: ignore[union-attr]


def test_resume_run(alice: User, db: Database) -> None:
    flow = alice.create_flow(definition=WAIT_DEFINITION)
    run = alice.run_flow(flow["id"])
    run_id = run["run_id"]
    _set_run(
        db, run_id, status="INACTIVE", details={"code": "ConsentRequired", "required_scope": "s"}, log_seq=0
    )
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM work_items"))
    resumed = alice.post(f"/runs/{run_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "ACTIVE"
    with db.read() as conn:
        assert [i.kind for i in store_work.list_work_items(conn, run_id=uuid.UUID(run_id))] == [kinds.RESUME]
    assert [e["code"] for e in alice.get(f"/runs/{run_id}/log").json()["entries"]] == ["FlowResumed"]
    legacy = alice.post(f"/flows/{flow['id']}/{run_id}/resume")
    assert legacy.status_code == 200  # ACTIVE: unchanged
    assert alice.post(f"/flows/{uuid.uuid4()}/{run_id}/resume").status_code == 404
    alice.post(f"/runs/{run_id}/cancel")
    conflict = alice.post(f"/runs/{run_id}/resume")
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "STATE_CONFLICT")


def test_resume_needs_the_flow_scope(make_user: MakeUser) -> None:
    owner = make_user("olga")
    flow = owner.create_flow()
    run = owner.run_flow(flow["id"])
    status_only = make_user("olga", scopes=[scopes.RUN_STATUS, scopes.RUN_MANAGE])
    response = status_only.post(f"/runs/{run['run_id']}/resume")
    assert response.json()["error"] == {
        "code": "MISSING_SCOPE",
        "detail": f"This action requires the following scope: {scopes.flow_scope(flow['id'])}",
    }


def test_release_run(alice: User, db: Database) -> None:
    run_id = alice.run_flow(alice.create_flow()["id"])["run_id"]
    conflict = alice.post(f"/runs/{run_id}/release")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["detail"] == (
        f"Run {run_id} has status 'ACTIVE' but must have status in {{'ENDED', 'FAILED', 'SUCCEEDED'}} "
        "for requested operation"
    )
    _set_run(db, run_id, status="SUCCEEDED", completion_time=dt.datetime.now(dt.UTC))
    released = alice.post(f"/runs/{run_id}/release")
    assert released.status_code == 200 and released.json()["status"] == "SUCCEEDED"
    assert alice.get(f"/runs/{run_id}").status_code == 404
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM run_roles")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM run_logs")).scalar_one() == 0


def test_run_log_pages(alice: User, db: Database) -> None:
    flow = alice.create_flow()
    run_id = alice.run_flow(flow["id"])["run_id"]
    from openflows.store.work import LogRow, append_run_logs

    now = dt.datetime.now(dt.UTC)
    with db.begin() as conn:
        append_run_logs(
            conn,
            run_id=uuid.UUID(run_id),
            first_seq=0,
            entries=[
                LogRow(time=now, code=f"C{i}", description="d", details={"i": i, "_private": 1})
                for i in range(25)
            ],
        )
    default = alice.get(f"/runs/{run_id}/log").json()
    assert default["limit"] == 10 and len(default["entries"]) == 10 and default["has_next_page"] is True
    assert default["entries"][0] == {
        "time": now.isoformat(),
        "code": "C0",
        "description": "d",
        "details": {"i": 0},
    }
    codes: list[str] = []
    params: dict[str, Any] = {"limit": "7", "reverse_order": "True"}
    while True:
        page = alice.get(f"/flows/{flow['id']}/runs/{run_id}/log", params=params).json()
        codes += [e["code"] for e in page["entries"]]
        if not page["has_next_page"]:
            assert "marker" not in page
            break
        params = {"limit": "7", "reverse_order": "True", "marker": page["marker"]}
    assert codes == [f"C{i}" for i in reversed(range(25))]
    for limit in ("0", "101", "-1", "x"):
        assert alice.get(f"/runs/{run_id}/log", params={"limit": limit}).status_code == 422
    other = alice.run_flow(flow["id"])["run_id"]
    assert alice.get(f"/runs/{other}/log", params={"marker": default["marker"]}).status_code == 400
    assert alice.get(f"/flows/{uuid.uuid4()}/runs/{run_id}/log").status_code == 404


def test_batch_runs(alice: User, bob: User) -> None:
    flow = alice.create_flow(definition=WAIT_DEFINITION)["id"]
    first = alice.run_flow(flow, tags=["a"])["run_id"]
    second = alice.run_flow(flow, tags=["b"])["run_id"]
    response = alice.post(
        "/batch/runs",
        json={
            "filters": {"run_ids": [first, second]},
            "add": {"tags": ["x"], "run_monitors": [bob.urn]},
            "remove": {"tags": ["a"]},
        },
    )
    assert response.status_code == 202
    docs = response.json()["runs"]
    assert [(d["run_id"], d["tags"], d["run_monitors"]) for d in docs] == [
        (first, ["x"], [bob.urn]),
        (second, ["b", "x"], [bob.urn]),
    ]
    assert (
        bob.post("/batch/runs", json={"filters": {"run_ids": [first]}, "set": {"tags": []}}).status_code
        == 403
    )
    unknown = alice.post(
        "/batch/runs", json={"filters": {"run_ids": [str(uuid.uuid4())]}, "set": {"status": "cancel"}}
    )
    assert unknown.status_code == 404
    canceled = alice.post(
        "/batch/runs", json={"filters": {"run_ids": [first]}, "set": {"status": "cancel", "tags": ["done"]}}
    )
    assert [(d["status"], d["tags"]) for d in canceled.json()["runs"]] == [("FAILED", ["done"])]
    assert alice.post("/batch/runs", json={"filters": {"run_ids": []}}).status_code == 422
