"""Web inputs end to end through the real globus-sdk 4.x (`list_web_inputs`, `get_web_input`,
`respond_to_web_input`, `paginated.list_web_inputs`) against a live uvicorn server, with an executor on an
injected clock driven by the test.

alice's flow asks bob (respondent) and carol (viewer, through a group) to choose; documents, summaries and
errors are compared with the SDK's own fixtures (globus_sdk.testing.data.flows)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import globus_sdk
import pytest
import uvicorn
from globus_sdk.testing.data.flows import get_web_input as fixture_get
from globus_sdk.testing.data.flows import list_web_inputs as fixture_list
from globus_sdk.testing.data.flows import respond_to_web_input as fixture_respond

from openflows.api.app import create_app
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store.db import Database

from .conftest import LiveServer, SdkUser, _free_port

pytestmark = pytest.mark.skipif(
    not hasattr(globus_sdk.FlowsClient, "list_web_inputs"), reason="globus-sdk < 4.9 has no web input methods"
)


class World:
    def __init__(self, server: LiveServer, executor: Executor, clock: FakeClock) -> None:
        self.server = server
        self.executor = executor
        self.clock = clock
        self.alice = server.user("alice")
        self.bob = server.user("bob")
        self.carol = server.user("carol", groups=("reviewers",))
        self.dave = server.user("dave")

    def drive(self, seconds: float = 0) -> None:
        self.clock.advance(seconds)
        self.executor.run_until_idle()


@pytest.fixture
def world(settings: Settings, db: Database) -> Iterator[World]:
    clock = FakeClock(dt.datetime(2026, 8, 1, 10, 30, tzinfo=dt.UTC))
    executor = Executor(db, settings, registry=ProviderRegistry([]), clock=clock, threads=1)
    app = create_app(settings, db=db, clock=clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield World(LiveServer(f"http://127.0.0.1:{port}/", db), executor, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def ask_flow(bob: SdkUser, carol_group: str, **await_fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": {
                    "context": {
                        "title": "Approve deployment to production?",
                        "presentation_style": "table",
                        "rows": [{"field": "Version", "value.$": "$.version"}],
                    },
                    "options": [
                        {"label": "Approve", "description": "Proceed with the production deployment."},
                        {"label": "Reject", "description": "Halt the deployment."},
                    ],
                    "roles": {"respondent_urns": [bob.urn], "viewer_urns": [carol_group]},
                },
                "ResultPath": "$.web_input",
                "Next": "Wait",
            },
            "Wait": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.web_input.id"},
                "ResultPath": "$.decision",
                **await_fields,
                "End": True,
            },
        },
    }


def start(world: World, definition: dict[str, Any], body: dict[str, Any], label: str = "deploy") -> str:
    flow = world.alice.flows.create_flow("Multi Step Deploy", definition, {})
    run = world.alice.specific(flow["id"]).run_flow(body, label=label)
    world.drive()
    return run["run_id"]


def shape(value: Any) -> Any:
    """The keys (recursively) and JSON types of a document, for comparing with a fixture."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else "null"


def fails(call: Any, *args: Any, **kwargs: Any) -> globus_sdk.FlowsAPIError:
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        call(*args, **kwargs)
    return info.value


def test_alice_asks_bob_carol_sees_and_the_run_goes_on_with_bobs_choice(world: World) -> None:
    alice, bob, carol, dave = world.alice, world.bob, world.carol, world.dave
    run_id = start(world, ask_flow(bob, carol.group_urns[0]), {"version": "v2.4.1"})

    run = alice.flows.get_run(run_id)
    web_input_id = run["blocking_web_input_id"]
    assert run["status"] == "ACTIVE" and uuid.UUID(web_input_id)

    [summary] = list(bob.flows.list_web_inputs())
    assert summary["id"] == web_input_id and summary["user_roles"] == ["respondent"]
    assert shape(summary) == {**shape(fixture_list.FIRST_WEB_INPUT_SUMMARY), "closed_timestamp": "null"}
    assert summary["title"] == "Approve deployment to production?"
    assert summary["flow"]["title"] == "Multi Step Deploy" and summary["run"] == {
        "id": run_id,
        "label": "deploy",
    }

    doc = bob.flows.get_web_input(web_input_id).data
    expected = shape(fixture_get.WEB_INPUT_DOC_TABLE_CONTEXT)
    expected["roles"]["viewer_urns"] = ["str"]
    assert shape(doc) == expected
    assert doc["context"]["rows"] == [{"field": "Version", "value": "v2.4.1"}]
    assert doc["roles"] == {"viewer_urns": [carol.group_urns[0]], "respondent_urns": [bob.urn]}
    assert doc["creator_urn"] == alice.urn
    approve, reject = (option["option_id"] for option in doc["options"])
    assert doc["input_schema"]["oneOf"][1] == {
        "const": reject,
        "title": "Reject",
        "description": "Halt the deployment.",
    }

    # carol sees it as a viewer (through her group) but may not answer
    assert carol.flows.get_web_input(web_input_id)["user_roles"] == ["viewer"]
    assert [s["id"] for s in carol.flows.list_web_inputs(filter_roles="viewer")] == [web_input_id]
    assert list(carol.flows.list_web_inputs(filter_roles="respondent")) == []
    error = fails(carol.flows.respond_to_web_input, web_input_id, approve)
    expected_error = fixture_respond.FORBIDDEN_RESPONSE["error"]
    assert (error.http_status, error.code) == (403, expected_error["code"])
    assert (
        error.raw_json["error"]["detail"] == f"User does not have respondent role on web input {web_input_id}"
    )

    # dave and alice (the creator) have no role: it does not exist for them
    for outsider in (dave, alice):
        error = fails(outsider.flows.get_web_input, web_input_id)
        assert (error.http_status, error.code) == (404, "NOT_FOUND")
        assert error.raw_json["error"]["detail"] == f"No Web Input exists with id value {web_input_id}"
        assert fails(outsider.flows.respond_to_web_input, web_input_id, approve).http_status == 404
        assert list(outsider.flows.list_web_inputs()) == []

    error = fails(bob.flows.respond_to_web_input, web_input_id, "not-a-real-option")
    assert (error.http_status, error.code) == (422, "UNPROCESSABLE_ENTITY")
    assert error.raw_json["error"] == fixture_respond.INVALID_OPTION_RESPONSE["error"]

    world.clock.advance(42)
    answered = bob.flows.respond_to_web_input(web_input_id, reject)
    assert answered.data == fixture_respond.RESPOND_OK_RESPONSE
    error = fails(bob.flows.respond_to_web_input, web_input_id, approve)
    assert (error.http_status, error.code) == (409, "STATE_CONFLICT")
    assert error.raw_json["error"]["detail"] == f"Web Input {web_input_id} is already closed."

    world.drive()
    run = alice.flows.get_run(run_id)
    assert run["status"] == "SUCCEEDED" and run["blocking_web_input_id"] is None
    decision = run["details"]["output"]["decision"]
    assert (decision["value"], decision["option"]["label"], decision["respondent_urn"]) == (
        reject,
        "Reject",
        bob.urn,
    )
    assert decision["response_timestamp"] == "2026-08-01T10:30:42+00:00"

    assert list(bob.flows.list_web_inputs()) == []  # open ones only, by default
    [closed] = list(bob.flows.list_web_inputs(filter_states=["closed"]))
    assert closed["status"] == "closed" and closed["closed_timestamp"] == "2026-08-01T10:30:42+00:00"
    assert bob.flows.get_web_input(web_input_id)["status"] == "closed"


def test_paging_over_more_than_25_web_inputs(world: World) -> None:
    bob = world.bob
    loop = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "ExpressionEval",
                "Parameters": {"n.=": "n + 1"},
                "ResultPath": "$",
                "Next": "Ask",
            },
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": {
                    "context": {"title.=": "'Question ' + str(n)", "presentation_style": "text", "text": ""},
                    "options": [{"label": "Yes"}],
                    "roles": {"respondent_urns": [bob.urn]},
                },
                "ResultPath": "$.last",
                "Next": "More",
            },
            "More": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 27, "Next": "Count"}],
                "Default": "Stop",
            },
            "Stop": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.last.id"},
                "End": True,
            },
        },
    }
    run_id = start(world, loop, {"n": 0})
    pages = list(bob.flows.paginated.list_web_inputs(per_page=10, orderby="created_timestamp ASC"))
    assert [len(page["web_input_summaries"]) for page in pages] == [10, 10, 7]
    assert [page["marker"] is None for page in pages] == [False, False, True]
    titles = [s["title"] for page in pages for s in page["web_input_summaries"]]
    assert sorted(titles, key=lambda t: int(t.split()[1])) == [f"Question {i}" for i in range(1, 28)]
    assert len({s["id"] for page in pages for s in page["web_input_summaries"]}) == 27
    items = list(bob.flows.paginated.list_web_inputs(per_page=25, filter_run_ids=[run_id]).items())
    assert len(items) == 27
    error = fails(bob.flows.list_web_inputs, filter_run_ids=[str(uuid.uuid4()) for _ in range(11)])
    assert (error.http_status, error.code) == (422, "UNPROCESSABLE_ENTITY")


def test_a_catch_on_an_await_that_timed_out(world: World) -> None:
    bob = world.bob
    definition = ask_flow(
        bob,
        world.carol.group_urns[0],
        WaitTime=3600,
        Catch=[{"ErrorEquals": ["WebInputTimeout"], "ResultPath": "$.timed_out", "Next": "NoAnswer"}],
    )
    definition["States"]["NoAnswer"] = {
        "Type": "Pass",
        "Result": "rejected by default",
        "ResultPath": "$.decision",
        "End": True,
    }
    run_id = start(world, definition, {"version": "v3"})
    web_input_id = world.alice.flows.get_run(run_id)["blocking_web_input_id"]
    world.drive(3599)
    assert world.alice.flows.get_run(run_id)["status"] == "ACTIVE"
    world.drive(1)
    run = world.alice.flows.get_run(run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    output = run["details"]["output"]
    assert output["decision"] == "rejected by default"
    assert output["timed_out"]["Error"] == "WebInputTimeout"
    assert bob.flows.get_web_input(web_input_id)["status"] == "closed"
    option = bob.flows.get_web_input(web_input_id)["options"][0]["option_id"]
    assert fails(bob.flows.respond_to_web_input, web_input_id, option).http_status == 409


def test_update_run_changes_the_activity_notification_policy(world: World) -> None:
    run_id = start(world, ask_flow(world.bob, world.carol.group_urns[0]), {"version": "x"})
    assert world.alice.flows.get_run(run_id)["activity_notification_policy"] == {"status": ["INACTIVE"]}
    updated = world.alice.flows.update_run(
        run_id, additional_fields={"activity_notification_policy": {"status": ["SUCCEEDED", "FAILED"]}}
    )
    assert updated["activity_notification_policy"] == {"status": ["SUCCEEDED", "FAILED"]}
    error = fails(
        world.alice.flows.update_run,
        run_id,
        additional_fields={"activity_notification_policy": {"status": ["DONE"]}},
    )
    assert (error.http_status, error.code) == (422, "UNPROCESSABLE_ENTITY")


def test_the_web_input_scopes_are_needed(world: World) -> None:
    from openflows.auth.scopes import RUN_STATUS, WEB_INPUT_VIEW

    run_id = start(world, ask_flow(world.bob, world.carol.group_urns[0]), {"version": "x"})
    web_input_id = world.alice.flows.get_run(run_id)["blocking_web_input_id"]
    viewer_only = world.server.user("bob", scopes=[WEB_INPUT_VIEW])
    assert viewer_only.flows.get_web_input(web_input_id)["user_roles"] == ["respondent"]
    option = viewer_only.flows.get_web_input(web_input_id)["options"][0]["option_id"]
    error = fails(viewer_only.flows.respond_to_web_input, web_input_id, option)
    assert (error.http_status, error.code) == (403, "MISSING_SCOPE")
    status_only = world.server.user("bob", scopes=[RUN_STATUS])
    assert fails(status_only.flows.list_web_inputs).code == "MISSING_SCOPE"
