"""Flows call registered APIs (issue 15): a real HTTP API on a free port (tests/thingserver.py), the engine's
synchronous call, the mapping of every kind of answer, Catch, Retry and the run log."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from enginekit import OWNER, drive, get_logs, get_run

from openflows.engine.executor import Executor
from openflows.language.openapi_target import (
    check_target,
    default_data_templates,
    reduce_document,
    state_input_schema,
)
from openflows.shared.clock import FakeClock
from openflows.store import registered_apis as store
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.registered_apis import registered_api_scopes
from thingserver import ThingServer, openapi_document, thing_server


@pytest.fixture(scope="module")
def _thing_server() -> Iterator[ThingServer]:
    with thing_server() as server:
        yield server


@pytest.fixture
def things(_thing_server: ThingServer) -> ThingServer:
    """The module's server, with the requests of earlier tests (and backends) forgotten."""
    _thing_server.requests.clear()
    return _thing_server


@pytest.fixture
def register(db: Database, clock: FakeClock, things: ThingServer) -> Callable[..., str]:
    """`register("GET", "/things/{thing_id}")` -> the id of a registered API for that operation."""

    def make(method: str, path: str, **columns: Any) -> str:
        target, problems = reduce_document(openapi_document(things.base_url), method, path)
        assert target is not None, problems
        operation, problems = check_target(target)
        assert operation is not None, problems
        api_id = uuid.uuid4()
        with db.begin() as conn:
            store.create_registered_api(
                conn,
                api_id=api_id,
                created_by=OWNER,
                name=f"{method} {path}",
                description="",
                target=target,
                data_templates=columns.pop("data_templates", default_data_templates(operation)),
                state_input_schema=columns.pop("state_input_schema", state_input_schema(operation)),
                scopes=list(operation.scopes),
                owners=[OWNER],
                now=clock.now(),
            )
        return str(api_id)

    return make


def action(api_id: str, parameters: Any = None, **more: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Action", "Handler": {"Type": "RegisteredAPI", "Id": api_id}, **more}
    if parameters is not None:
        state["Parameters"] = parameters
    state.setdefault("ResultPath", "$.answer")
    if "Next" not in state:
        state["End"] = True
    return state


def run(
    start_run: Callable[..., uuid.UUID],
    executor: Executor,
    clock: FakeClock,
    db: Database,
    states: dict[str, Any],
    body: Any = None,
) -> dict[str, Any]:
    run_id = start_run({"StartAt": next(iter(states)), "States": states}, body or {})
    drive(executor, clock)
    return {**get_run(db, run_id), "logs": get_logs(db, run_id)}


def test_path_query_header_parameters_and_the_result(
    register, start_run, executor, clock, db, things
) -> None:
    api = register("GET", "/things/{thing_id}")
    params = {
        "path": {"thing_id.$": "$.id"},
        "query": {"verbose": True, "tag": ["a", "b"]},
        "headers": {"X-Trace": "t-1"},
    }
    done = run(
        start_run,
        executor,
        clock,
        db,
        {"Get": action(api, params)},
        {"id": "th/1 x", "_tokens": {"User": "tok-secret-123"}},
    )
    assert done["status"] == "SUCCEEDED", done["details"]
    answer = done["run_state"]["answer"]
    assert answer["status_code"] == 200
    assert answer["headers"]["etag"] == '"v1"' and answer["headers"]["content-type"] == "application/json"
    assert answer["body"] == {
        "id": "th%2F1%20x",  # one path segment, percent-encoded
        "verbose": ["true"],
        "tags": ["a", "b"],
        "trace": "t-1",
        "authorized": True,
    }
    [sent] = [r for r in things.requests if r["path"] == "/things/th%2F1%20x"]
    assert sent["method"] == "GET" and sent["headers"]["authorization"] == "Bearer tok-secret-123"
    completed = [e for e in done["logs"] if e["code"] == "ActionCompleted"][-1]
    call = completed["details"]["output"]["call"]
    assert call["method"] == "GET" and call["status_code"] == 200 and call["duration_ms"] >= 0
    assert call["url"].startswith(things.base_url + "/things/th%2F1%20x?")
    assert "tok-secret-123" not in str(done["logs"])  # the token never reaches the log


def test_body_parameters_post_and_the_tutorial_shape(
    register, start_run, executor, clock, db, things
) -> None:
    api = register("POST", "/things")
    done = run(start_run, executor, clock, db, {"Make": action(api, {"body": {"name": "kettle", "size": 3}})})
    assert done["status"] == "SUCCEEDED", done["details"]
    assert done["run_state"]["answer"]["status_code"] == 201
    assert done["run_state"]["answer"]["body"] == {"made": {"name": "kettle", "size": 3}}
    assert done["run_state"]["answer"]["headers"]["location"].endswith("/things/new")
    assert things.calls("/things")[-1]["headers"]["content-type"] == "application/json"


def test_a_404_is_caught(register, start_run, executor, clock, db) -> None:
    api = register("GET", "/things/{thing_id}")
    states = {
        "Get": action(
            api,
            {"path": {"thing_id": "missing"}},
            Catch=[{"ErrorEquals": ["ActionUnableToRun"], "ResultPath": "$.caught", "Next": "Recover"}],
            Next="Never",
        ),
        "Never": {"Type": "Pass", "End": True},
        "Recover": {"Type": "Pass", "End": True},
    }
    done = run(start_run, executor, clock, db, states)
    assert done["status"] == "SUCCEEDED"
    caught = done["run_state"]["caught"]
    assert caught["Error"] == "ActionUnableToRun"
    assert caught["Cause"]["status_code"] == 404 and caught["Cause"]["body"] == {"detail": "no such thing"}
    assert "ExceptionCaught" in [e["code"] for e in done["logs"]] or "Recover" in str(done["logs"])


def test_a_5xx_fails_with_action_failed_exception(register, start_run, executor, clock, db) -> None:
    api = register("GET", "/things/{thing_id}")
    done = run(start_run, executor, clock, db, {"Get": action(api, {"path": {"thing_id": "boom"}})})
    assert done["status"] == "FAILED"
    assert done["details"]["code"] == "ActionFailedException" or "ActionFailedException" in str(
        done["details"]
    )
    not_raised = run(
        start_run,
        executor,
        clock,
        db,
        {"Get": action(api, {"path": {"thing_id": "boom"}}, ExceptionOnActionFailure=False)},
    )
    assert not_raised["status"] == "SUCCEEDED"
    assert not_raised["run_state"]["answer"]["status_code"] == 503


def test_a_redirect_is_refused(register, start_run, executor, clock, db, things) -> None:
    api = register("GET", "/redirect")
    before = len(things.calls("/things/elsewhere"))
    done = run(start_run, executor, clock, db, {"Go": action(api, {})})
    assert done["status"] == "FAILED"
    assert "RedirectRefused" in str(done["details"])
    assert len(things.calls("/things/elsewhere")) == before  # not followed


def test_non_json_huge_and_slow_answers(register, start_run, executor, clock, db, make_executor) -> None:
    text = run(start_run, executor, clock, db, {"T": action(register("GET", "/text"), {})})
    assert text["run_state"]["answer"]["body"] == "plain words"
    huge = run(start_run, executor, clock, db, {"H": action(register("GET", "/huge"), {})})
    assert huge["status"] == "FAILED" and "ResponseTooLarge" in str(huge["details"])
    started = time.monotonic()
    slow = run(start_run, executor, clock, db, {"S": action(register("GET", "/slow"), {}, WaitTime=1)})
    elapsed = time.monotonic() - started
    assert slow["status"] == "FAILED" and "ActionTimeout" in str(slow["details"])
    assert elapsed < 2.5, elapsed


def test_parameters_that_do_not_fit_are_refused_before_any_call(
    register, start_run, executor, clock, db, things
) -> None:
    api = register("POST", "/things")
    before = len(things.calls("/things"))
    done = run(start_run, executor, clock, db, {"Make": action(api, {"body": {"size": "big"}})})
    assert done["status"] == "FAILED" and "InvalidParameters" in str(done["details"])
    assert len(things.calls("/things")) == before


def test_a_post_is_not_retried_by_states_all_but_by_a_named_retry(
    register, start_run, executor, clock, db, things
) -> None:
    api = register("POST", "/things")
    before = len(things.calls("/things"))
    retry_all = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3}]
    done = run(
        start_run, executor, clock, db, {"Make": action(api, {"body": {"name": "fail"}}, Retry=retry_all)}
    )
    assert done["status"] == "FAILED"
    assert len(things.calls("/things")) == before + 1
    named = [{"ErrorEquals": ["ActionFailedException"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    done = run(start_run, executor, clock, db, {"Make": action(api, {"body": {"name": "fail"}}, Retry=named)})
    assert done["status"] == "FAILED"
    assert len(things.calls("/things")) == before + 1 + 3


def test_a_get_is_retried_by_states_all(register, start_run, executor, clock, db, things) -> None:
    api = register("GET", "/things/{thing_id}")
    before = len(things.calls("/things/boom"))
    retry_all = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    run(start_run, executor, clock, db, {"Get": action(api, {"path": {"thing_id": "boom"}}, Retry=retry_all)})
    assert len(things.calls("/things/boom")) == before + 3


def test_a_post_interrupted_mid_call_is_not_sent_again(
    register, start_run, executor, clock, db, things
) -> None:
    api = register("POST", "/things")
    run_id = start_run({"StartAt": "Make", "States": {"Make": action(api, {"body": {"name": "once"}})}}, {})
    executor.run_until_idle(max_items=1)  # the start step: the call is queued
    with db.read() as conn:
        [item] = [i for i in store_work.list_work_items(conn, run_id=run_id) if i.kind == "action_start"]
    with db.begin() as conn:
        store_work.set_item_payload(conn, item_id=item.id, owner="nobody", payload={})  # not held: no change
        conn.execute(
            store_work.work_items.update()
            .where(store_work.work_items.c.id == item.id)
            .values(payload={**item.payload, "sent": True})
        )
    before = len(things.calls("/things"))
    drive(executor, clock)
    done = get_run(db, run_id)
    assert done["status"] == "FAILED" and "OutcomeUnknown" in str(done["details"])
    assert len(things.calls("/things")) == before


def test_a_deleted_or_unknown_api_fails_clearly(register, start_run, executor, clock, db) -> None:
    api = register("GET", "/text")
    with db.begin() as conn:
        store.mark_deleted(conn, api_id=uuid.UUID(api), now=clock.now(), grace=dt.timedelta(days=7))
    done = run(start_run, executor, clock, db, {"T": action(api, {})})
    assert done["status"] == "FAILED"
    assert "RegisteredAPIDeleted" in str(done["details"]) and "was deleted" in str(done["details"])
    unknown = run(start_run, executor, clock, db, {"T": action(str(uuid.uuid4()), {})})
    assert unknown["status"] == "FAILED" and "RegisteredAPINotFound" in str(unknown["details"])


def test_flattened_templates_like_the_hosted_globus_apis(register, start_run, executor, clock, db) -> None:
    flat = {
        "request": {
            "template": {
                "path": {"thing_id": {"$T_ref": "$.thing_id"}},
                "query": {"verbose": {"$T_ref": "$.verbose"}},
            }
        },
        "response": {"2XX": {"type": "success", "template": {"$T_ref": "$.body"}}},
    }
    schema = {"type": "object", "properties": {"thing_id": {"type": "string"}}, "required": ["thing_id"]}
    api = register("GET", "/things/{thing_id}", data_templates=flat, state_input_schema=schema)
    done = run(start_run, executor, clock, db, {"Get": action(api, {"thing_id": "flat"})})
    assert done["status"] == "SUCCEEDED", done["details"]
    assert done["run_state"]["answer"]["id"] == "flat" and done["run_state"]["answer"]["verbose"] is None


def test_registered_api_scopes_hook(register, db, clock) -> None:
    api = register("GET", "/things/{thing_id}")
    definition = {
        "StartAt": "A",
        "States": {
            "A": action(api, {}, Next="B"),
            "B": action(str(uuid.uuid4()), {}),
            "C": {"Type": "Pass", "End": True},
        },
    }
    with db.read() as conn:
        found = registered_api_scopes(conn, definition, now=clock.now())
    assert found == {"A": ["https://auth.globus.org/scopes/things/read"], "B": []}
